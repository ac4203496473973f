"""Which step after the fit? The denoise fast row's fits (seeds 0-3, no refiner) on the 9 colour crops at σ = 25,
each refined in several ways, from one seed's fit and from the mean of four: nothing, the sliding-window DCT
Wiener filter (no grouping), BM3D's Wiener stage with groups of 16, 32 (the fast row's refiner) and 64 patches,
that stage run twice, its result averaged with the pilot, BM3D as written here on y alone (the pilot unused), the
plain mean of the Wiener stage and that, and their mean weighted by how much of y the pilot explains (the best
row's refiner; each pilot's weight is recorded). σ is always estimated from y (blind); CBM3D, given the true σ, and
the committed suite entries are read from ``results/denoise-color25-crops.jsonl``.

On 128² crops on the CPU, one thread per fit (a labelled CROPS measurement; the fits are most of the time)::

    python -m benchmarks.bench_refine --jobs 2

writes ``benchmarks/results/refine_crops.{json,md}``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import common
from benchmarks.bench_ensemble_transforms import SUITE, fit_members, parse_crops_arguments
from benchmarks.suite.suites import PROFILES, SUITES, quantize, score

IMAGES = ("baboon", "F16", "hill", "kodim01", "kodim02", "kodim03", "kodim12", "lena", "peppers")
SEEDS = 4  # the ensemble that the pilot's second column averages
FAST = "BM3D Wiener, groups of 32 (`wiener`: the fast row)"
ALONE = "BM3D alone, as written here (the pilot unused)"
MEAN = "(BM3D Wiener + BM3D alone) / 2"
BEST = "BM3D Wiener and BM3D alone, weighted by the pilot's residual (`wiener-bm3d`: the best row)"


def _fit(name: str, seed: int, observation: np.ndarray) -> tuple[str, int, np.ndarray, int]:
    """The fast row's fit without its refiner (runs in a worker, one thread)."""
    import torch

    import deepprior

    torch.set_num_threads(1)
    fit = deepprior.denoise(observation, preset="fast", refine=None, seed=seed, device="cpu", progress=False)
    return name, seed, fit.image, fit.record.iterations_run


def variants() -> dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """name → f(y, pilot): the refinements compared."""
    from deepprior.metrics import noise_sigma
    from deepprior.refiners.bm3d import bm3d_denoise, wiener_bm3d_refine
    from deepprior.refiners.wiener import wiener_refine

    def plain_mean(y: np.ndarray, pilot: np.ndarray) -> np.ndarray:
        sigma = noise_sigma(y)  # once for both halves, as wiener_bm3d_refine does
        return (wiener_refine(y, pilot, sigma) + bm3d_denoise(y, sigma)) / 2

    return {
        "none (the pilot)": lambda y, p: p,
        "sliding-window DCT Wiener": lambda y, p: wiener_refine(y, p, group=1, window=1, step=1),
        "BM3D Wiener, groups of 16": lambda y, p: wiener_refine(y, p, group=16),
        FAST: lambda y, p: wiener_refine(y, p),
        "BM3D Wiener, groups of 64": lambda y, p: wiener_refine(y, p, group=64),
        "BM3D Wiener twice": lambda y, p: wiener_refine(y, wiener_refine(y, p)),
        "(BM3D Wiener + pilot) / 2": lambda y, p: (wiener_refine(y, p) + p) / 2,
        ALONE: lambda y, p: bm3d_denoise(y),
        MEAN: plain_mean,
        BEST: lambda y, p: wiener_bm3d_refine(y, p),
    }


def markdown(result: dict[str, Any]) -> str:
    names = list(result["variants"])
    lines = [
        f"# Refining the fast row's fits ({SUITE}, σ = 25)",
        "",
        f"> **{PROFILES['crops'].label}.** {len(result['images'])} images, 128×128 centre crops, fits of "
        f"`--preset fast --refine none`, one thread each, {result['jobs']} at a time; σ estimated from y.",
        "",
        f"Mean PSNR (dB) over the images, pilot = one fit (seed 0) or the mean of the fits of seeds 0–{SEEDS - 1}:",
        "",
        "| refinement | seed 0 | mean of 4 seeds | s / image (refinement only) |",
        "|---|---|---|---|",
    ]
    for name in names:
        v = result["variants"][name]
        lines.append(f"| {name} | {v['single']:.2f} | {v['ensemble']:.2f} | {v['seconds']:.2f} |")
    lines += [
        "",
        f"For comparison (`results/{SUITE}-crops.jsonl`): CBM3D given the true σ {result['bm3d']:.2f}; the committed "
        f"`dip@fast` {result['fast']:.2f} and `dip@best` {result['best']:.2f} entries, which should repeat the seed-0 "
        "column of the fast and best rows' refiners.",
        "",
        "PSNR per image from seed 0's fit, the fast and best rows' refiners against CBM3D; α is the weight of the "
        "pilot's half in `wiener-bm3d` (½ while the pilot's RMS residual is within 1.05 σ̂, 0 from 1.15 σ̂):",
        "",
        "| image | pilot | `wiener` (fast) | BM3D alone (ours) | plain mean | α | `wiener-bm3d` (best) | CBM3D |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["images"]:
        single = row["single"]
        lines.append(
            f"| {row['image']} | {single[names[0]]:.2f} | {single[FAST]:.2f} | {single[ALONE]:.2f} | "
            f"{single[MEAN]:.2f} | {row['pilot_weight']['single']:.2f} | {single[BEST]:.2f} | {row['bm3d']:.2f} |"
        )
    lines += [
        "",
        f"Command: `{result['command']}`; {result['provenance']['cpu']}, "
        f"torch {result['provenance']['versions'].get('torch')}, git {result['provenance']['git_commit']}, "
        f"{result['provenance']['date']}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import time

    from deepprior.metrics import noise_sigma
    from deepprior.refiners.bm3d import pilot_weight

    args, reference, samples = parse_crops_arguments(__doc__.split("\n\n")[0], list(IMAGES), argv)
    fits = fit_members(_fit, samples, SEEDS, args.jobs)
    metric = SUITES.get(SUITE).metric
    refine = variants()
    seconds = dict.fromkeys(refine, 0.0)
    images = []
    for name, sample in samples.items():
        y = sample.inputs["observation"]
        pilots = {"single": fits[name][0], "ensemble": np.mean([fits[name][k] for k in range(SEEDS)], axis=0)}
        row: dict[str, Any] = {"image": name, "bm3d": reference.get((name, "bm3d"), float("nan"))}
        sigma = noise_sigma(y)
        row["pilot_weight"] = {which: pilot_weight(y, pilot, sigma) for which, pilot in pilots.items()}
        for which, pilot in pilots.items():
            row[which] = {}
            for label, run in refine.items():
                start = time.perf_counter()
                out = run(y, pilot)
                seconds[label] += (time.perf_counter() - start) / (2 * len(samples))
                row[which][label] = score(metric, quantize(out), sample.truth)[0]
        images.append(row)

    def mean(which: str, label: str) -> float:
        return float(np.mean([r[which][label] for r in images]))

    def committed_mean(method: str) -> float:
        return float(np.mean([reference.get((r["image"], method), float("nan")) for r in images]))

    result: dict[str, Any] = {
        "jobs": args.jobs,
        "command": common.command_line(),
        "provenance": common.provenance(),
        "variants": {
            label: {"single": mean("single", label), "ensemble": mean("ensemble", label), "seconds": seconds[label]}
            for label in refine
        },
        "bm3d": float(np.mean([r["bm3d"] for r in images])),
        "fast": committed_mean("dip@fast"),
        "best": committed_mean("dip@best"),
        "images": images,
    }
    common.write_result(args.out / "refine_crops", result, markdown(result), echo=True)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_script(main))
