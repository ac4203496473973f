"""DIP-ℓ0's returned image and its length: the average of g (the released code's), the ℓ0 iterate v, or the ℓ0
projection of the average, each after every ``--every`` outer iterations of one fit.

One fit per image gives every variant (the regulariser's state is read at each checkpoint, so the variants share
their iterations exactly). The classical solvers, Region Fusion and L0 smoothing at their preset λ, stand beside
them. On 128² crops on the CPU (a labelled CROPS measurement, not the paper's full images)::

    python -m benchmarks.bench_l0_output --suite smooth-nks --limit 8 --preset fast --threads 2
    python -m benchmarks.bench_l0_output --suite deblock-clipart --limit 5 --preset fast --threads 2

writes ``benchmarks/results/l0_output_<suite>_<preset>.{json,md}``, and ``..._paired.md`` (the two presets on
the images both measured) once both exist.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks import common
from benchmarks.suite.suites import PROFILES, SUITES, score, select_items
from deepprior.regularizers.admm import INITS, L0ADMM

TASKS = {"smooth-nks": "smooth", "deblock-clipart": "deblock"}


class _Checkpointed(L0ADMM):
    """L0ADMM that keeps, every ``every`` outer iterations, the three images the fit could return."""

    def __init__(self, *args: Any, every: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.every = every
        self.snapshots: dict[int, dict[str, np.ndarray]] = {}

    def after_step(self, step: int, forward: Any) -> None:
        super().after_step(step, forward)
        outer, rest = divmod(step + 1, self.inner_steps)
        if rest == 0 and outer % self.every == 0:
            images = {"average": self.avg, "v": self.v, "projected": self._l0_step(self.avg)}
            self.snapshots[outer] = {k: _hwc(x) for k, x in images.items()}


def _hwc(x: torch.Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).float().clamp(0, 1).cpu().numpy()


def _classical(task: str, observation: np.ndarray) -> dict[str, np.ndarray]:
    import deepprior

    if task != "smooth":
        return {}
    return {m: deepprior.smooth(observation, method=m).image for m in ("region-fusion", "l0-smooth")}


def run_image(
    sample: Any,
    task: str,
    preset: str,
    every: int,
    metric: str,
    outer: int | None,
    init: str | None,
    lr: float | None = None,
) -> dict[str, Any]:
    import deepprior
    from deepprior.presets import get_preset

    row = get_preset(task, "dip-l0", preset)
    observation = sample.inputs["observation"]
    f = torch.from_numpy(observation).permute(2, 0, 1)[None].float()
    options = {**row.regularizer_options, **({"init": init} if init else {})}
    start = time.perf_counter()  # a warm start's v-step on f is part of the fit's time
    regularizer = _Checkpointed(f, every=every, seed=0, **options)
    steps = row.settings.iterations if outer is None else outer * regularizer.inner_steps
    run = getattr(deepprior, task)
    run(
        observation,
        method="dip-l0",
        preset=preset,
        regularizer=regularizer,
        iterations=steps,
        **({"lr": lr} if lr is not None else {}),
        device="cpu",
        progress=False,
    )
    seconds = time.perf_counter() - start
    scores: dict[str, dict[str, float]] = {}
    for outer, images in regularizer.snapshots.items():
        for kind, image in images.items():
            scores[f"{kind}@{outer}"] = {"psnr": score(metric, image, sample.truth)[0]}
    for name, image in {"input": observation, **_classical(task, observation)}.items():
        scores[name] = {"psnr": score(metric, image, sample.truth)[0]}
    return {"image": sample.name, "seconds": seconds, "steps": steps, "scores": scores}


def markdown(result: dict[str, Any]) -> str:
    rows = result["images"]
    keys = list(rows[0]["scores"])
    mean = {k: float(np.mean([r["scores"][k]["psnr"] for r in rows])) for k in keys}
    lines = [
        f"# DIP-ℓ0: which image to return, and when ({result['suite']}, preset {result['preset']})",
        "",
        f"> **{PROFILES['crops'].label}.** {len(rows)} images, {result['crop']}×{result['crop']} centre crops; "
        f"one fit per image ({rows[0]['steps']} steps), every variant read from it.",
        "",
        "| returned image | mean PSNR (dB) |",
        "|---|---|",
    ]
    lines += [f"| {k} | {mean[k]:.2f} |" for k in keys]
    lines += [
        "",
        "`average@T`: the average of g after T outer iterations (the released code returns it at the end); `v@T`: "
        "the ℓ0 iterate; `projected@T`: the v-step's solver once more on the average (λ' = 2λ/β).",
        "",
        f"Mean seconds per fit: {np.mean([r['seconds'] for r in rows]):.1f}. Command: `{result['command']}`; "
        f"{result['provenance']['cpu']}, torch {result['provenance']['versions'].get('torch')}, "
        f"{result['threads']} threads, {result['provenance']['date']}.",
    ]
    return "\n".join(lines) + "\n"


def _when(paper_date: str, fast_date: str) -> str:
    """When the two runs were made, and whether their times compare (this machine's speed drifts between days)."""
    if paper_date[:10] == fast_date[:10]:
        return f"both runs on {paper_date[:10]}."
    return (
        f"the paper run on {paper_date[:10]}, the fast run on {fast_date[:10]}: on different days this machine's "
        "speed has differed by up to 1.5×, so the time ratio below is approximate."
    )


def paired(paper: dict[str, Any], fast: dict[str, Any]) -> str:
    """The fast and paper presets on the images both measured: mean PSNR of every variant and the time ratio."""
    slow = {r["image"]: r for r in paper["images"]}
    both = [(slow[r["image"]], r) for r in fast["images"] if r["image"] in slow]
    keys = [k for k in both[0][0]["scores"] if k in both[0][1]["scores"]]
    lines = [
        f"# DIP-ℓ0 on {paper['suite']}: the fast preset against the paper preset",
        "",
        f"> **{PROFILES['crops'].label}.** The {len(both)} images both runs measured "
        f"({', '.join(p['image'] for p, _ in both)}); {paper['crop']}×{paper['crop']} centre crops, "
        f"{paper['threads']} threads each, on an otherwise idle machine; "
        + _when(paper["provenance"]["date"], fast["provenance"]["date"]),
        "",
        "| returned image | paper (dB) | fast (dB) | fast − paper |",
        "|---|---|---|---|",
    ]
    for key in keys:
        a = float(np.mean([p["scores"][key]["psnr"] for p, _ in both]))
        b = float(np.mean([f["scores"][key]["psnr"] for _, f in both]))
        lines.append(f"| {key} | {a:.2f} | {b:.2f} | {b - a:+.2f} |")
    t_paper = float(np.mean([p["seconds"] for p, _ in both]))
    t_fast = float(np.mean([f["seconds"] for _, f in both]))
    lines += [
        "",
        f"Seconds per fit: paper {t_paper:.0f}, fast {t_fast:.0f} (fast takes 1/{t_paper / t_fast:.1f} of the time). "
        f"Commands: `{paper['command']}`; `{fast['command']}`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=list(TASKS), default="smooth-nks")
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--preset", choices=("paper", "fast"), default="fast")
    parser.add_argument("--every", type=int, default=25, help="outer iterations between checkpoints")
    parser.add_argument("--outer", type=int, help="outer iterations (default: the preset's)")
    parser.add_argument("--init", choices=INITS, help="v₀ and w₀ (default: the preset's, v₀ = f)")
    parser.add_argument("--lr", type=float, help="Adam's learning rate (default: the preset's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR)
    common.add_data_dir_argument(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    suite = SUITES.get(args.suite)
    profile = PROFILES["crops"]
    items = select_items(suite.items(common.data_dir(args.data_dir)), args.limit)
    if args.outer is not None and args.outer < 1:
        parser.error("--outer must be at least 1")
    if args.lr is not None and not args.lr > 0:
        parser.error("--lr must be positive")
    suffix = (
        ("" if args.outer is None else f"-outer{args.outer}")
        + ("" if args.init is None else f"-init-{args.init}")
        + ("" if args.lr is None else f"-lr{args.lr:g}".replace(".", "p"))  # a dot would end the file's stem
    )
    stem = args.out / f"l0_output_{args.suite}_{args.preset}{suffix}"
    result: dict[str, Any] = {
        "suite": args.suite,
        "preset": args.preset,
        "lr": args.lr,
        "crop": profile.crop,
        "threads": args.threads,
        "command": common.command_line(),
        "provenance": common.provenance(),
        "images": [],
    }
    task = TASKS[args.suite]
    for item in items:  # the files are rewritten after every image: a cut-off run keeps what it measured
        result["images"].append(
            run_image(
                suite.load(item, profile), task, args.preset, args.every, suite.metric, args.outer, args.init, args.lr
            )
        )
        print(item.name, f"{result['images'][-1]['seconds']:.0f} s", file=sys.stderr)
        common.write_result(stem, result, markdown(result))
        files = {name: args.out / f"l0_output_{args.suite}_{name}.json" for name in ("paper", f"fast{suffix}")}
        if all(path.exists() for path in files.values()):
            paper, fast = (json.loads(path.read_text()) for path in files.values())
            common.write_text(args.out / f"l0_output_{args.suite}_paired{suffix}.md", paired(paper, fast))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(common.run_script(main))
