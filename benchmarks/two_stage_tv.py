"""Two-stage DIP-TV (seed 002) against plain DIP and constant-λ DIP-TV on F16 (σ = 25), same iterations and seed.

The seed claims the two-stage schedule (TV for the first third, then plain DIP, Adam state kept) no longer peaks
and drops early, and ends above plain DIP's peak. This script records the PSNR curve of each method and reports the
peak, its step and the final PSNR, for the raw output and the 0.99 average.

    python -m benchmarks.two_stage_tv                      # CPU profile: 128×128 centre crop of F16, skip128
    python -m benchmarks.two_stage_tv --size 0 --device cuda   # the full 512×512 image (needs an accelerator)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import deepprior
from benchmarks import common
from deepprior.device import device_name, resolve_device
from deepprior.io import read_image
from deepprior.plot import plot_series

DENOISE_DIR = "dip/project_page/Denoising/Color/25"  # inside the shared data folder (common.data_dir)
METHODS = ("dip", "dip-tv", "two-stage-tv")


def results_stem(image: str, size: int) -> str:
    """The name (without suffix) of the JSON, Markdown and plot that a run writes."""
    return f"two_stage_tv_{image}_{'full' if size <= 0 else size}"


def _methods(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(METHODS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(METHODS)}, got {text!r}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default="F16")
    parser.add_argument("--size", type=int, default=128, help="centre crop size; 0 = full image")
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--lam", type=float, default=0.01, help="TV weight (per pixel value, mean-reduced)")
    parser.add_argument("--fraction", type=float, default=1 / 3)
    parser.add_argument(
        "--methods",
        type=_methods,
        default=list(METHODS),
        help=f"comma-separated, of {', '.join(METHODS)} (default all; plain DIP does not depend on --lam)",
    )
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's default)")
    common.add_data_dir_argument(parser, f"; the images are read from its {DENOISE_DIR}")
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    data = common.data_path(DENOISE_DIR, args.data_dir)
    noisy = common.centre_crop(read_image(data / f"{args.image}_noisy.png").pixels, args.size)
    clean = common.centre_crop(read_image(data / f"{args.image}_GT.png").pixels, args.size)
    device = resolve_device(args.device)
    fit_kwargs = {
        "iterations": args.iterations,
        "reference": clean,
        "seed": args.seed,
        "device": args.device,
        "stop": "fixed",
        "generator_options": {"channels_down": args.channels, "channels_up": args.channels},
    }
    variants = {
        "dip": {},
        "dip-tv": {"regularizer": "tv", "lam": args.lam},
        "two-stage-tv": {
            "regularizer": "two-stage-tv",
            "lam": args.lam,
            "regularizer_options": {"fraction": args.fraction},
        },
    }
    rows, curves = {}, []
    for name, extra in ((name, variants[name]) for name in args.methods):
        start = time.perf_counter()
        result = deepprior.denoise(noisy, progress=name, **fit_kwargs, **extra)
        seconds = time.perf_counter() - start
        raw = np.array(result.history.psnr)
        avg = np.array(result.history.psnr_average)
        rows[name] = {
            "peak_raw": float(raw.max()),
            "peak_raw_step": int(raw.argmax()),
            "final_raw": float(raw[-1]),
            "peak_average": float(avg.max()),
            "peak_average_step": int(avg.argmax()),
            "final_average": float(avg[-1]),
            "seconds": seconds,
        }
        curves.append((name, result.history.psnr))
        print(name, json.dumps(rows[name]))

    label = (
        "full image"
        if args.size <= 0
        else f"{args.size}×{args.size} centre crop (CPU profile, not the paper's setting)"
    )
    prov = common.provenance()  # date, command, git commit, host, CPU, torch threads, load, versions
    commit = (prov["git_commit"] or "unknown")[:7]
    record = {
        "image": args.image,
        "crop": label,
        "iterations": args.iterations,
        "lam": args.lam,
        "fraction": args.fraction,
        "channels": args.channels,
        "seed": args.seed,
        "device": device_name(device),
        "torch": prov["versions"]["torch"],
        "deepprior": deepprior.__version__,
        "python": prov["versions"]["python"],
        "commit": commit,
        "command": prov["command"],
        "provenance": prov,
        "results": rows,
        "curves": dict(curves),
    }
    stem = results_stem(args.image, args.size)
    common.write_json(args.out / f"{stem}.json", record)
    plot_series(
        args.out / f"{stem}.png",
        list(range(len(curves[0][1]))),
        curves,
        f"{args.image} sigma=25, {label}: PSNR of the raw output per step".replace("×", "x"),
    )
    lines = [
        f"# Two-stage DIP-TV vs DIP vs DIP-TV — {args.image}, σ=25, {label}",
        "",
        (
            f"{args.iterations} iterations, skip{args.channels}, λ={args.lam} (anisotropic TV, mean-reduced), "
            f"TV for the first {args.fraction:.3f} in two-stage, seed {args.seed}, {device_name(device)}, "
            f"torch {torch.__version__}, commit {commit}."
        ),
        "",
        "| method | peak PSNR (raw) | at step | final PSNR (raw) | peak PSNR (avg 0.99) | final PSNR (avg) | s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['peak_raw']:.2f} | {r['peak_raw_step']} | {r['final_raw']:.2f} | "
            f"{r['peak_average']:.2f} | {r['final_average']:.2f} | {r['seconds']:.0f} |"
        )
    common.write_text(args.out / f"{stem}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(common.run_script(main))
