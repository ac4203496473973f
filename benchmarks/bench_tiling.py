"""What does tiling cost? The denoise fast row without its refiner (so that the fits' own seams show) on centre
crops of the DIP paper's colour images at σ = 25: the whole crop, and the crop in tiles of ``--tile`` pixels for
each ``--overlaps`` value. PSNR against the ground truth over the whole crop and over the seam band (the pixels
within ``--band`` of a tile's edge inside the image, where the tiles meet), beside the whole crop's PSNR over the
same band; steps and seconds.

On the CPU (a labelled reduced profile: 256² crops, tiles of 128, not the photographs tiling is for)::

    python -m benchmarks.bench_tiling --threads 2 --iterations 600

writes ``benchmarks/results/tiling_cpu.{json,md}``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from benchmarks import common

IMAGES = ("F16", "kodim01", "baboon")
FOLDER = "dip/project_page/Denoising/Color/25"


def seam_band(size: tuple[int, int], boxes: list[tuple[int, int, int, int]], band: int) -> np.ndarray:
    """True within ``band`` pixels of a tile edge that lies inside the image."""
    height, width = size
    mask = np.zeros(size, bool)
    for top, left, h, w in boxes:
        for edge, inside in ((top, top > 0), (top + h, top + h < height)):
            if inside:
                mask[max(edge - band, 0) : edge + band, left : left + w] = True
        for edge, inside in ((left, left > 0), (left + w, left + w < width)):
            if inside:
                mask[top : top + h, max(edge - band, 0) : edge + band] = True
    return mask


def seam_penalty(row: dict[str, Any]) -> float:
    """dB by which the seam band trails the rest of the image further in the tiled result than in the whole one."""
    return (row["psnr_band_whole"] - row["psnr_rest_whole"]) - (row["psnr_band"] - row["psnr_rest"])


def _psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    from deepprior.metrics import psnr

    return psnr(a[where], b[where]) if where is not None else psnr(a, b)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    import deepprior
    from deepprior.io import read_image
    from deepprior.tiling import tile_boxes

    torch.set_num_threads(args.threads)
    folder = common.data_path(FOLDER, args.data_dir)
    rows = []
    for name in args.images:
        clean = common.centre_crop(read_image(folder / f"{name}_GT.png").pixels, args.crop)
        noisy = common.centre_crop(read_image(folder / f"{name}_noisy.png").pixels, args.crop)
        options = dict(preset="fast", refine=None, seed=0, device="cpu", progress=False, threads=args.threads)
        if args.iterations is not None:  # the row's network and loop for a fixed count, its early stop off
            options["iterations"] = args.iterations
        start = time.perf_counter()
        whole = deepprior.denoise(noisy, tile=None, **options)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "image": name,
                "overlap": None,
                "psnr": _psnr(whole.image, clean),
                "steps": whole.record.iterations_run,
                "seconds": seconds,
            }
        )
        print(f"{name} whole: {rows[-1]['psnr']:.2f} dB, {seconds:.0f} s", flush=True)
        for overlap in args.overlaps:
            start = time.perf_counter()
            tiled = deepprior.denoise(noisy, tile=args.tile, tile_overlap=overlap, **options)
            seconds = time.perf_counter() - start
            boxes = tile_boxes(clean.shape[:2], args.tile, overlap)
            band = seam_band(clean.shape[:2], boxes, args.band)
            rows.append(
                {
                    "image": name,
                    "overlap": overlap,
                    "tiles": len(boxes),
                    "psnr": _psnr(tiled.image, clean),
                    "psnr_band": _psnr(tiled.image, clean, band),
                    "psnr_band_whole": _psnr(whole.image, clean, band),
                    "psnr_rest": _psnr(tiled.image, clean, ~band),
                    "psnr_rest_whole": _psnr(whole.image, clean, ~band),
                    "steps": tiled.record.iterations_run,
                    "seconds": seconds,
                }
            )
            print(f"{name} overlap {overlap}: {rows[-1]['psnr']:.2f} dB, {seconds:.0f} s", flush=True)
    return {
        "rows": rows,
        "crop": args.crop,
        "tile": args.tile,
        "band": args.band,
        "threads": args.threads,
        "iterations": args.iterations,
        "provenance": common.provenance(),
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Tiling: the denoise fast row (no refiner) in tiles against the whole image, σ = 25",
        "",
        f"> **Reduced CPU profile.** {result['crop']}² centre crops of the DIP paper's colour images, tiles of "
        f"{result['tile']}, seed 0, {result['threads']} threads, "
        f"{str(result['iterations']) + ' steps each' if result['iterations'] else 'the early stop'}; not a paper "
        "reproduction. The seam band is the "
        f"pixels within {result['band']} of a tile edge inside the image.",
        "",
        "| image | overlap | tiles | PSNR | Δ vs whole | seam band | whole, same band | rest | whole, rest | steps "
        "| s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    whole = {row["image"]: row for row in result["rows"] if row["overlap"] is None}
    for row in result["rows"]:
        if row["overlap"] is None:
            lines.append(
                f"| {row['image']} | whole | 1 | {row['psnr']:.2f} | | | | | | {row['steps']} | {row['seconds']:.0f} |"
            )
            continue
        delta = row["psnr"] - whole[row["image"]]["psnr"]
        lines.append(
            f"| {row['image']} | {row['overlap']} | {row['tiles']} | {row['psnr']:.2f} | {delta:+.2f} | "
            f"{row['psnr_band']:.2f} | {row['psnr_band_whole']:.2f} | {row['psnr_rest']:.2f} | "
            f"{row['psnr_rest_whole']:.2f} | {row['steps']} | {row['seconds']:.0f} |"
        )
    tiled = [row for row in result["rows"] if row["overlap"] is not None]
    lines += [
        "",
        "Mean over the images, by overlap. The seam penalty is how much further the seam band trails the rest of the",
        "image in the tiled result than in the whole one, (band − rest)_whole − (band − rest)_tiled, in dB: it",
        "holds however far each fit got, where the PSNR against the whole restoration does not.",
        "",
        "| overlap | Δ PSNR vs whole | seam penalty |",
        "|---|---|---|",
    ]
    for overlap in dict.fromkeys(row["overlap"] for row in tiled):
        same = [row for row in tiled if row["overlap"] == overlap]
        delta = np.mean([row["psnr"] - whole[row["image"]]["psnr"] for row in same])
        penalty = np.mean([seam_penalty(row) for row in same])
        lines.append(f"| {overlap} | {delta:+.2f} | {penalty:+.2f} |")
    return "\n".join([*lines, "", common.provenance_line(result["provenance"])]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_data_dir_argument(parser)
    parser.add_argument("--images", nargs="+", default=list(IMAGES))
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--tile", type=int, default=128)
    parser.add_argument("--overlaps", type=int, nargs="+", default=[0, 16, 48])
    parser.add_argument("--band", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, help="a fixed step count (default: the row's early stop)")
    parser.add_argument("--out", default=str(common.RESULTS_DIR / "tiling_cpu"))
    args = parser.parse_args(argv)
    result = run(args)
    common.write_result(args.out, result, markdown(result), echo=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.run_script(main))
