"""A seed ensemble fitted one seed at a time against the same seeds stepped together (``batch_seeds``).

F16 at σ = 25 (the paper's noisy input), the denoise paper row without backtracking (a rewind would send the two
ways down different paths: a batch does not rewind Adam's step count), a fixed number of steps, for each network
width: seconds from the call to the result, fits per hour, peak GPU memory, and the PSNR of the mean and of each
seed (the two ways must agree, up to rounding); where the device's default is channels_last (a CPU with
AVX-512), also one at a time in the contiguous format of the stacked pass, so that the format is not mistaken for
the cost of stacking.
The GPU campaign's ``batch-seeds`` stage runs it at full size on the GPU; on this machine's CPU, a labelled
reduced profile (a 128² centre crop, 2 threads)::

    python -m benchmarks.bench_batch_seeds --size 128 --iterations 100 --threads 2

writes ``benchmarks/results/batch_seeds_cpu.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import common

IMAGE = "dip/project_page/Denoising/Color/25/F16"  # + _noisy.png / _GT.png: 512², the paper's input
WIDTHS = (32, 128)  # the fast row's width, where one network leaves an H100 launch-bound, and the paper's
SEEDS = 4
#: mode → the overrides that make it: the package's default loop, the seeds stepped together, and (where the
#: default is channels_last, which the stacked pass cannot be) one at a time in the stacked pass's memory format
MODES: dict[str, dict[str, Any]] = {
    "one at a time": {},
    "together": {"batch_seeds": True},
    "one at a time, contiguous": {"channels_last": False},
}


def read_f16(data_dir: Path | None, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """F16's noisy input and ground truth, centre-cropped to ``size``² when given."""
    from deepprior.io import read_image

    source = common.data_dir(data_dir)
    noisy, clean = (read_image(source / f"{IMAGE}_{kind}.png").pixels for kind in ("noisy", "GT"))
    return common.centre_crop(noisy, size), common.centre_crop(clean, size)


def measure(
    noisy: np.ndarray,
    clean: np.ndarray,
    device: str,
    widths: tuple[int, ...] = WIDTHS,
    seeds: int = SEEDS,
    iterations: int = 500,
    threads: int | None = None,
) -> list[dict[str, Any]]:
    """One row per width and mode (after one short warm-up fit, which takes the one-off start-up costs); a mode
    that fails gives a row with ``ok`` False and the error."""
    import torch

    from deepprior import denoise
    from deepprior.device import fast_defaults
    from deepprior.metrics import psnr

    options = {"device": device, "stop": "fixed", "backtrack": False, "reference": clean, "threads": threads}
    denoise(noisy, **options, iterations=20, width=widths[0])
    cuda = torch.device(device).type == "cuda"
    channels_last_by_default = fast_defaults(torch.device(device))[0]
    rows = []
    for width in widths:
        for mode, overrides in MODES.items():
            if "channels_last" in overrides and not channels_last_by_default:
                continue  # "one at a time" is contiguous already
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            try:
                start = time.perf_counter()
                fit = {"iterations": iterations, "width": width, "seeds": seeds, **overrides}
                result = denoise(noisy, **options, **fit)
                seconds = time.perf_counter() - start
            except Exception as exc:  # recorded, and the other modes still run
                rows.append({"width": width, "mode": mode, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
                continue
            rows.append(
                {
                    "ok": True,
                    "size": list(noisy.shape[:2]),
                    "width": width,
                    "seeds": seeds,
                    "mode": mode,
                    "iterations": iterations,
                    "seconds": seconds,
                    "fit_seconds": result.record.seconds,
                    "fits_per_hour": seeds * 3600 / seconds,
                    "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
                    "psnr": psnr(np.clip(result.image, 0, 1), clean),
                    "psnr_seeds": [run["psnr"] for run in result.record.seeds],
                }
            )
    return rows


def markdown(result: dict[str, Any]) -> str:
    """The rows as a table, with the speed-up of stepping together at each width."""
    rows = [row for row in result["rows"] if row["ok"]]
    lines = [
        f"# {SEEDS} seeds of F16 one at a time and stepped together ({result['label']})",
        "",
        "| width | mode | seconds | fits per hour | PSNR of the mean | PSNR per seed |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        seeds = ", ".join(f"{p:.2f}" for p in row["psnr_seeds"])
        lines.append(
            f"| {row['width']} | {row['mode']} | {row['seconds']:.1f} | {row['fits_per_hour']:.0f} | "
            f"{row['psnr']:.2f} | {seeds} |"
        )
    lines.append("")
    for width in sorted({row["width"] for row in rows}):
        seconds = {row["mode"]: row["seconds"] for row in rows if row["width"] == width}
        for alone in ("one at a time", "one at a time, contiguous"):
            if alone in seconds and "together" in seconds:
                ratio = seconds[alone] / seconds["together"]
                lines.append(f"- {width} channels: together {ratio:.2f}× the fits per hour of {alone}.")
    provenance = result["provenance"]
    lines += [
        "",
        f"Command: `{result['command']}`; {provenance['cpu']}, torch {provenance['versions'].get('torch')}, "
        f"git {provenance['git_commit']}, {provenance['date']}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=128, help="centre crop (0: the whole 512² image)")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--widths", type=int, nargs="+", default=list(WIDTHS), help="network widths (channels)")
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR)
    common.add_data_dir_argument(parser)
    args = parser.parse_args(argv)
    noisy, clean = read_f16(args.data_dir, args.size or None)
    rows = measure(noisy, clean, args.device, tuple(args.widths), iterations=args.iterations, threads=args.threads)
    size = f"{noisy.shape[1]}×{noisy.shape[0]}"
    label = f"{args.device}, {size}, {args.iterations} steps, {args.threads} threads"
    if args.device == "cpu" and args.size:
        label = f"reduced CPU profile: {label}"
    result = {"label": label, "rows": rows, "command": common.command_line(argv), "provenance": common.provenance()}
    common.write_result(args.out / f"batch_seeds_{args.device.split(':')[0]}", result, markdown(result), echo=True)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_script(main))
