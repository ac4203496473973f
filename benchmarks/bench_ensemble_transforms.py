"""Does a transform ensemble beat the seed ensemble of ``--preset best``? Four fast fits on the dihedral
transforms of the noisy image (identity, a quarter turn, a mirror, both), each from its own seed and mapped back,
averaged — against ``dip@best``'s four seeds on the untransformed image (geometric self-ensembles: Lim et al.,
EDSR, CVPRW 2017; Timofte et al., CVPR 2016).

The network's prior is not equivariant to these transforms (strided convolutions, padding), so its fits of a
turned image may differ more than two seeds' fits of the same one; the question is whether that adds quality. The
identity member is the fast row's seed-0 fit, which should repeat the committed ``dip@fast`` entry (the script
reports the largest difference). On 128² crops on the CPU, one thread per fit (a labelled CROPS measurement)::

    python -m benchmarks.bench_ensemble_transforms --images kodim01 kodim12 hill --jobs 2

writes ``benchmarks/results/ensemble_transforms_crops.{json,md}``; the seed ensemble's and CBM3D's numbers are read
from the committed ``results/denoise-color25-crops.jsonl`` (the suite run that measured them).
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import common
from benchmarks.suite.suites import PROFILES, SUITES, score
from deepprior.errors import InputError

SUITE = "denoise-color25"
MEMBERS = 4  # identity, quarter turn, mirror, mirror then quarter turn: the size of the best row's ensemble


def transform(x: np.ndarray, k: int) -> np.ndarray:
    """The k-th transform (k = 0..3) of an (h, w, C) image."""
    return np.ascontiguousarray(np.rot90(np.fliplr(x) if k >= 2 else x, k % 2))


def untransform(x: np.ndarray, k: int) -> np.ndarray:
    """The inverse of :func:`transform`."""
    x = np.rot90(x, -(k % 2))
    return np.ascontiguousarray(np.fliplr(x) if k >= 2 else x)


def crop_sample(name: str, data: Path | None) -> Any:
    """The crops-profile sample (noisy 128² crop and its truth) of one image of the colour denoising suite."""
    suite = SUITES.get(SUITE)
    items = [item for item in suite.items(common.data_dir(data)) if item.name == name]
    if not items:
        raise InputError(f"no image {name!r} in {SUITE}")
    return suite.load(items[0], PROFILES["crops"])


def parse_crops_arguments(
    description: str, images: list[str], argv: list[str] | None
) -> tuple[argparse.Namespace, dict[tuple[str, str], float], dict[str, Any]]:
    """The command line of a script over the colour crops (``--images --jobs --out --data-dir``): the arguments,
    the committed suite entries (:func:`committed`) and each image's sample (:func:`crop_sample`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--images", nargs="+", default=images)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR)
    common.add_data_dir_argument(parser)
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    reference = committed(common.RESULTS_DIR / f"{SUITE}-crops.jsonl")
    return args, reference, {name: crop_sample(name, args.data_dir) for name in args.images}


def fit_members(worker: Any, samples: dict[str, Any], members: int, jobs: int) -> dict[str, dict[int, np.ndarray]]:
    """``worker(name, k, observation) → (name, k, image, steps)`` for k < ``members`` on every sample, ``jobs``
    processes at a time: image → k → output."""
    outputs: dict[str, dict[int, np.ndarray]] = {name: {} for name in samples}
    with ProcessPoolExecutor(jobs) as pool:
        futures = [
            pool.submit(worker, name, k, sample.inputs["observation"])
            for name, sample in samples.items()
            for k in range(members)
        ]
        for future in futures:
            name, k, image, steps = future.result()
            outputs[name][k] = image
            print(name, k, steps, file=sys.stderr)
    return outputs


def _member(name: str, k: int, observation: np.ndarray) -> tuple[str, int, np.ndarray, int]:
    """One fast fit of the k-th transform with seed k, mapped back (runs in a worker, one thread)."""
    import torch

    import deepprior

    torch.set_num_threads(1)
    fit = deepprior.denoise(transform(observation, k), preset="fast", seed=k, device="cpu", progress=False)
    return name, k, untransform(fit.image, k), fit.record.iterations_run


def committed(path: Path) -> dict[tuple[str, str], float]:
    """(image, method) → PSNR of the committed crops suite run."""
    rows = common.read_jsonl(path) if path.exists() else []
    return {(r["image"], r["method"]): r["psnr"] for r in rows if r.get("record") == "entry" and r["seed"] == 0}


def markdown(result: dict[str, Any]) -> str:
    rows = result["images"]
    lines = [
        f"# A transform ensemble against the seed ensemble ({SUITE}, σ = 25)",
        "",
        f"> **{PROFILES['crops'].label}.** {len(rows)} images, 128×128 centre crops, one thread per fit, "
        f"{result['jobs']} fits at a time.",
        "",
        "| image | members (dB) | transform ensemble | `dip@best` (4 seeds) | `dip@fast` | CBM3D |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        members = ", ".join(f"{p:.2f}" for p in r["members"])
        lines.append(
            f"| {r['image']} | {members} | {r['ensemble']:.2f} | {r['best']:.2f} | {r['fast']:.2f} | {r['bm3d']:.2f} |"
        )
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("ensemble", "best", "fast", "bm3d")}
    lines += [
        f"| **mean** | | {mean['ensemble']:.2f} | {mean['best']:.2f} | {mean['fast']:.2f} | {mean['bm3d']:.2f} |",
        "",
        "Members: the identity (seed 0), a quarter turn (seed 1), a mirror (seed 2), a mirror then a quarter turn "
        "(seed 3), each a `--preset fast` fit mapped back. `dip@best`, `dip@fast` and CBM3D: "
        "`results/denoise-color25-crops.jsonl`.",
        "",
        f"Identity member against the committed `dip@fast` entry: at most {result['identity_difference']:.3f} dB "
        "apart. "
        f"Command: `{result['command']}`; {result['provenance']['cpu']}, "
        f"torch {result['provenance']['versions'].get('torch')}, {result['provenance']['date']}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args, reference, samples = parse_crops_arguments(__doc__.split("\n\n")[0], ["kodim01", "kodim12", "hill"], argv)
    missing = [n for n in args.images if (n, "dip@best") not in reference or (n, "bm3d") not in reference]
    if missing:
        raise InputError(f"no committed dip@best or bm3d entry for {', '.join(missing)}")
    outputs = fit_members(_member, samples, MEMBERS, args.jobs)
    metric = SUITES.get(SUITE).metric
    result: dict[str, Any] = {
        "jobs": args.jobs,
        "command": common.command_line(),
        "provenance": common.provenance(),
        "images": [],
    }
    for name, sample in samples.items():
        members = [outputs[name][k] for k in range(MEMBERS)]
        result["images"].append(
            {
                "image": name,
                "members": [score(metric, m, sample.truth)[0] for m in members],
                "ensemble": score(metric, np.mean(members, axis=0), sample.truth)[0],
                "best": reference[(name, "dip@best")],
                "fast": reference[(name, "dip@fast")],
                "bm3d": reference[(name, "bm3d")],
            }
        )
    result["identity_difference"] = max(abs(r["members"][0] - r["fast"]) for r in result["images"])
    common.write_result(args.out / "ensemble_transforms_crops", result, markdown(result), echo=True)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_script(main))
