"""λ sweep of the classical ℓ0 solvers on the NKS validation split (the split meant for tuning).

Scores every validation image against its structure ground truth (gt/S{s}.png; S11 against
gt/S11_reconstructed.png, an estimate, since S11.png is missing from the release) with skimage PSNR / SSIM on RGB
in [0, 1], and prints the mean per λ beside REFERENCE.md §3's tuned test-split figures.

    python benchmarks/tune_l0_nks.py                 # both solvers, default λ grids (about 2 minutes)
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time
from pathlib import Path

import numba
import numpy as np

import deepprior
from deepprior.io import read_image, write_json
from deepprior.metrics import psnr, ssim
from deepprior.regularizers.l0 import l0_smooth, region_fusion

ROOT = Path(__file__).resolve().parents[1]
NKS = ROOT.parent / "shared" / "data" / "nks"
PAPER = {"region-fusion": "33.57 dB at λ=0.03 (test split, REFERENCE §3)",
         "l0-smooth": "33.20 dB at λ=0.01 (test split, REFERENCE §3)"}
GRIDS = {"region-fusion": [0.01, 0.02, 0.03, 0.04, 0.06, 0.08], "l0-smooth": [0.005, 0.01, 0.015, 0.02, 0.03]}


def ground_truth(name: str) -> tuple[np.ndarray, bool]:
    structure = name.split("_")[0]
    path = NKS / "gt" / f"{structure}.png"
    estimated = not path.exists()
    if estimated:
        path = NKS / "gt" / f"{structure}_reconstructed.png"
    return read_image(path).pixels, estimated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--solvers", nargs="+", default=list(GRIDS), choices=list(GRIDS))
    parser.add_argument("--limit", type=int, default=0, help="first N images only (0 = all 80)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    images = sorted((NKS / "validation").glob("*.png"))
    if args.limit:
        images = images[: args.limit]
    data = [(p.stem, read_image(p).pixels, *ground_truth(p.stem)) for p in images]
    results: dict[str, dict[str, dict[str, float]]] = {}
    for solver in args.solvers:
        results[solver] = {}
        for lam in GRIDS[solver]:
            scores, start = [], time.perf_counter()
            for _, image, gt, _ in data:
                out = region_fusion(image, lam) if solver == "region-fusion" else l0_smooth(image, lam=lam)
                out = np.round(np.clip(out, 0, 1) * 255) / 255  # scored as the 8-bit image a user saves
                scores.append((psnr(out, gt), ssim(out, gt)))
            mean = np.mean(scores, axis=0)
            results[solver][str(lam)] = {"psnr": float(mean[0]), "ssim": float(mean[1]),
                                         "seconds_per_image": (time.perf_counter() - start) / len(data)}
            print(f"{solver:14s} λ={lam:<6} PSNR {mean[0]:.2f}  SSIM {mean[1]:.4f}")
    inputs = np.mean([(psnr(im, gt), ssim(im, gt)) for _, im, gt, _ in data], axis=0)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    command = "python benchmarks/tune_l0_nks.py" + (f" --limit {args.limit}" if args.limit else "")
    record = {"split": "NKS validation", "images": len(data), "input": {"psnr": inputs[0], "ssim": inputs[1]},
              "results": results, "paper": PAPER, "command": command, "commit": commit,
              "versions": {"deepprior": deepprior.__version__, "numpy": np.__version__, "numba": numba.__version__,
                           "python": platform.python_version()}, "machine": platform.processor() or platform.machine(),
              "s11": "S11 inputs scored against gt/S11_reconstructed.png (an estimate)"}
    write_json(args.out / "tune_l0_nks.json", record)
    lines = [f"# λ sweep of the ℓ0 solvers on the NKS validation split ({len(data)} images)", "",
             f"`{command}` at commit {commit}; PSNR/SSIM on RGB in [0, 1] of the 8-bit output, mean over images. "
             f"S11 images are scored against `gt/S11_reconstructed.png` (an estimate). Input: "
             f"{inputs[0]:.2f} dB / {inputs[1]:.4f}.", "",
             "| solver | λ | PSNR | SSIM | s / image | paper (test split, tuned) |", "|---|---|---|---|---|---|"]
    for solver, rows in results.items():
        for lam, r in rows.items():
            lines.append(f"| {solver} | {lam} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['seconds_per_image']:.3f} | "
                         f"{PAPER[solver]} |")
    (args.out / "tune_l0_nks.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
