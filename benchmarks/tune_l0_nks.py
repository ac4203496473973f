"""Parameter sweep of the classical smoothers on the NKS validation split (the split meant for tuning).

Scores every validation image against its structure ground truth (gt/S{s}.png; S11 against
gt/S11_reconstructed.png, an estimate, since S11.png is missing from the release) with skimage PSNR / SSIM on RGB
in [0, 1], and prints the mean per setting beside REFERENCE.md §3's tuned test-split figures. The solvers are
deepprior's ℓ0 solvers (λ) and OpenCV contrib's smoothers (``benchmarks.suite.opencv_filters``, the bench extra).

    python -m benchmarks.tune_l0_nks                 # deepprior's two solvers, their λ grids (about 2 minutes)
    python -m benchmarks.tune_l0_nks --solvers cv-l0-smooth cv-fgs cv-guided --name tune_opencv_nks
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numba  # noqa: F401 - imported so that the recorded versions include it
import numpy as np

from benchmarks import common
from benchmarks.suite import opencv_filters
from benchmarks.suite.methods import METHODS
from deepprior.errors import InputError
from deepprior.io import read_image
from deepprior.metrics import psnr, ssim
from deepprior.regularizers.l0 import l0_smooth, region_fusion

PAPER = {
    "region-fusion": "33.57 dB at λ=0.03 (test split, REFERENCE §3)",
    "l0-smooth": "33.20 dB at λ=0.01 (test split, REFERENCE §3)",
}
# solver → (function of the image and one setting, the settings swept)
SOLVERS: dict[str, tuple[Callable[..., np.ndarray], list[dict[str, float]]]] = {
    "region-fusion": (region_fusion, [{"lam": lam} for lam in (0.01, 0.02, 0.03, 0.04, 0.06, 0.08)]),
    "l0-smooth": (l0_smooth, [{"lam": lam} for lam in (0.005, 0.01, 0.015, 0.02, 0.03)]),
    **{name: (opencv_filters.TUNED[name][0], grid) for name, grid in opencv_filters.GRIDS.items()},
}


def _label(setting: dict[str, float]) -> str:
    return ", ".join(f"{'λ' if key == 'lam' else key}={value:g}" for key, value in setting.items())


def ground_truth(nks: Path, name: str) -> tuple[np.ndarray, bool]:
    structure = name.split("_")[0]
    path = nks / "gt" / f"{structure}.png"
    estimated = not path.exists()
    if estimated:
        path = nks / "gt" / f"{structure}_reconstructed.png"
    return read_image(path).pixels, estimated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--solvers", nargs="+", default=["region-fusion", "l0-smooth"], choices=list(SOLVERS))
    parser.add_argument("--name", default="tune_l0_nks", help="results file stem (default tune_l0_nks)")
    parser.add_argument("--limit", type=int, default=0, help="first N images only (0 = all 80)")
    common.add_data_dir_argument(parser, "; the images are read from its nks/validation and nks/gt")
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR)
    args = parser.parse_args(argv)
    for solver in args.solvers:  # each is the suites' method of that name: it knows what it needs installed
        missing = METHODS.get(solver).unavailable()
        if missing:
            raise InputError(f"{solver} cannot run here: {missing}")
    nks = common.data_path("nks", args.data_dir)
    images = sorted((nks / "validation").glob("*.png"))
    if args.limit:
        images = images[: args.limit]
    data = [(p.stem, read_image(p).pixels, *ground_truth(nks, p.stem)) for p in images]
    results: dict[str, dict[str, dict[str, float]]] = {}
    for solver in args.solvers:
        results[solver] = {}
        run, grid = SOLVERS[solver]
        for setting in grid:
            scores, start = [], time.perf_counter()
            for _, image, gt, _ in data:
                out = run(image, **setting)
                out = np.round(np.clip(out, 0, 1) * 255) / 255  # scored as the 8-bit image a user saves
                scores.append((psnr(out, gt), ssim(out, gt)))
            mean = np.mean(scores, axis=0)
            results[solver][_label(setting)] = {
                "setting": setting,
                "psnr": float(mean[0]),
                "ssim": float(mean[1]),
                "seconds_per_image": (time.perf_counter() - start) / len(data),
            }
            print(f"{solver:14s} {_label(setting):<24} PSNR {mean[0]:.2f}  SSIM {mean[1]:.4f}")
    inputs = np.mean([(psnr(im, gt), ssim(im, gt)) for _, im, gt, _ in data], axis=0)
    prov = common.provenance()  # date, command, git commit, host, CPU, torch threads, load, versions
    command, commit = prov["command"], (prov["git_commit"] or "unknown")[:7]
    record = {
        "split": "NKS validation",
        "images": len(data),
        "input": {"psnr": inputs[0], "ssim": inputs[1]},
        "results": results,
        "paper": PAPER,
        "command": command,
        "commit": commit,
        "provenance": prov,
        "versions": prov["versions"],
        "machine": prov["cpu"],
        "s11": "S11 inputs scored against gt/S11_reconstructed.png (an estimate)",
    }
    common.write_json(args.out / f"{args.name}.json", record)
    lines = [
        f"# Parameter sweep of {', '.join(args.solvers)} on the NKS validation split ({len(data)} images)",
        "",
        (
            f"`{command}` at commit {commit}; PSNR/SSIM on RGB in [0, 1] of the 8-bit output, mean over images. "
            f"S11 images are scored against `gt/S11_reconstructed.png` (an estimate). Input: "
            f"{inputs[0]:.2f} dB / {inputs[1]:.4f}."
        ),
        "",
        "| solver | setting | PSNR | SSIM | s / image | paper (test split, tuned) |",
        "|---|---|---|---|---|---|",
    ]
    for solver, rows in results.items():
        best = max(rows, key=lambda label: rows[label]["psnr"])
        for label, r in rows.items():
            mark = "**" if label == best else ""
            lines.append(
                f"| {solver} | {mark}{label}{mark} | {r['psnr']:.2f} | {r['ssim']:.4f} | "
                f"{r['seconds_per_image']:.3f} | {PAPER.get(solver, '')} |"
            )
    common.write_text(args.out / f"{args.name}.md", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(common.run_script(main))
