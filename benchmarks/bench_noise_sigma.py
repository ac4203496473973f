"""How close the blind estimate of white Gaussian noise's σ comes, and what it changes for a blind denoiser.

``deepprior.metrics.noise_sigma`` (the weak-texture PCA estimate) against the estimate it replaced (the median of
the finest diagonal Haar coefficients, pooled over channels) and scikit-image's ``estimate_sigma`` (the same wavelet
median, per channel; where PyWavelets, which it needs, is installed), on the clean images the suites use (the
denoising suite's 9 ground truths, the inpainting suite's 11 gray ones, Set5, Set14 and the 20 NKS ground truths)
with noise of σ = 5, 15, 25 and 50 / 255 added: as floats (unclipped) and as an 8-bit file holds it (clipped to
[0, 1], rounded). The error is against the standard deviation of the noise the image really holds (clipping narrows it).
Then photon noise, whose level grows with the intensity: the same images recorded by ``bench_poisson.record``'s
sensor at 30 and 10 photons at white, and the colour ones by a white-balanced sensor's (gains 2, 1, 1.5), scored
against the RMS noise they hold.
Then BM3D as written here (``deepprior.refiners.bm3d.bm3d_denoise``: what the best row's refiner runs on y) on the
denoising suite's 9 images (``--crop`` centre crops, 8-bit noise), given the true σ or either estimate: what the
error costs. No fitting::

    python -m benchmarks.bench_noise_sigma --threads 2

writes ``benchmarks/results/noise_sigma.{json,md}``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import common

#: (label, folder under the data directory, file pattern): the clean images.
CLEAN = (
    ("denoise", "dip/project_page/Denoising/Color/25", "*_GT.png"),
    ("inpaint", "dip/project_page/Reconstruction/Gray/50p", "*_GT.png"),
    ("set5", "dip/project_page/SR/Set5/x4", "*_GT.png"),
    ("set14", "dip/project_page/SR/Set14/x4", "*_GT.png"),
    ("nks", "nks/gt", "*.png"),
)
SIGMAS = (5, 15, 25, 50)  # in 8-bit steps
PEAKS = (30, 10)  # photons at white
GAINS = (2.0, 1.0, 1.5)  # a white-balanced colour camera's (daylight): channel c's photons are g_c in size
NEW, BEFORE, SKIMAGE = "noise_sigma (weak-texture PCA)", "Haar median (before)", "scikit-image estimate_sigma"


def estimators() -> dict[str, Callable[[np.ndarray], float]]:
    """name → estimate; scikit-image's only where PyWavelets, which it needs, is installed."""
    import importlib.util

    from deepprior.metrics import _haar_sigma, noise_sigma

    ways = {NEW: noise_sigma, BEFORE: lambda y: _haar_sigma(y if y.ndim == 3 else y[..., None])}
    if importlib.util.find_spec("pywt") is not None:
        from skimage.restoration import estimate_sigma

        def skimage_sigma(y: np.ndarray) -> float:
            return float(estimate_sigma(y, channel_axis=-1 if y.ndim == 3 else None, average_sigmas=True))

        ways[SKIMAGE] = skimage_sigma
    return ways


def clean_images(root: Any, limit: int = 0) -> dict[str, np.ndarray]:
    """label/name → pixels of the clean images, in :data:`CLEAN`'s order (the first ``limit`` of them; 0: all)."""
    from deepprior.io import read_image

    paths = [(label, path) for label, folder, pattern in CLEAN for path in sorted((root / folder).glob(pattern))]
    return {f"{label}/{path.stem}": read_image(path).pixels for label, path in paths[: limit or None]}


def noisy(clean: np.ndarray, sigma: int, eight_bit: bool, seed: int) -> np.ndarray:
    y = clean + sigma / 255 * np.random.default_rng([seed, sigma, eight_bit]).standard_normal(clean.shape)
    return np.round(np.clip(y, 0, 1) * 255) / 255 if eight_bit else y


def _estimate(row: dict[str, Any], y: np.ndarray, ways: dict[str, Callable[[np.ndarray], float]]) -> dict[str, Any]:
    for way, estimate in ways.items():
        start = time.perf_counter()
        row[way] = estimate(y)
        row[f"{way} seconds"] = time.perf_counter() - start
    return row


def accuracy(images: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    rows = []
    ways = estimators()
    for index, (name, clean) in enumerate(images.items()):
        for sigma in SIGMAS:
            for eight_bit in (False, True):
                y = noisy(clean.astype(np.float64), sigma, eight_bit, index)
                row = {"image": name, "sigma": sigma, "eight_bit": eight_bit, "true": float(np.std(y - clean))}
                rows.append(_estimate(row, y, ways))
        print(f"{name}: done", flush=True)
    return rows


def photons(images: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    from benchmarks.bench_poisson import HEADROOM, record

    rows = []
    ways = estimators()
    for name, clean in images.items():
        colour = clean.ndim == 3 and clean.shape[2] == 3
        for peak in PEAKS:
            for gains in [(1.0,), GAINS] if colour else [(1.0,)]:
                y = record(clean, peak, name, gains).astype(np.float64)
                row = {"image": name, "peak": peak, "gains": list(gains), "true": float(np.std(y - clean / HEADROOM))}
                rows.append(_estimate(row, y, ways))
    print("photon noise: done", flush=True)
    return rows


def _error_cells(rows: list[dict[str, Any]], way: str) -> str:
    """Mean signed, mean absolute and worst relative error of one estimate over the rows, as table cells."""
    errors = np.array([row[way] / row["true"] - 1 for row in rows])
    return f"{errors.mean():+.1%} | {np.abs(errors).mean():.1%} | {np.abs(errors).max():.1%}"


def denoising(images: dict[str, np.ndarray], crop: int) -> list[dict[str, Any]]:
    from deepprior.metrics import psnr
    from deepprior.refiners.bm3d import bm3d_denoise

    ways = estimators()
    rows = []
    colour = {name: clean for name, clean in images.items() if name.startswith("denoise/")}
    for index, (name, clean) in enumerate(colour.items()):
        clean = common.centre_crop(clean.astype(np.float64), crop)
        for sigma in SIGMAS:
            y = noisy(clean, sigma, True, 1000 + index)
            given = {"true": float(np.std(y - clean)), NEW: ways[NEW](y), BEFORE: ways[BEFORE](y)}
            row = {"image": name, "sigma": sigma, "given": given}
            row["psnr"] = {way: psnr(bm3d_denoise(y, value), clean) for way, value in given.items()}
            rows.append(row)
        print(f"BM3D {name}: done", flush=True)
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    images = clean_images(common.data_dir(args.data_dir), args.limit)
    result = {"images": len(images), "crop": args.crop, "threads": args.threads}
    result["accuracy"] = accuracy(images)
    result["photons"] = photons(images)
    result["denoising"] = [] if args.no_denoising else denoising(images, args.crop)
    result["provenance"] = common.provenance()
    return result


def markdown(result: dict[str, Any]) -> str:
    rows = result["accuracy"]
    ways = [way for way in (NEW, BEFORE, SKIMAGE) if way in rows[0]]
    lines = [
        "# The blind estimate of white Gaussian noise's σ",
        "",
        f"{result['images']} clean images (the denoising suite's 9 ground truths, the inpainting suite's 11 gray "
        "ones, Set5, Set14, the 20 NKS ground truths) with white Gaussian noise added, as floats and as an 8-bit "
        "file holds it (clipped, rounded). Relative error of σ̂ against the standard deviation of the noise the "
        "image holds: mean (signed), mean of its size, and the worst.",
        "",
        "| σ (/255) | noise | estimate | mean error | mean \\|error\\| | worst \\|error\\| |",
        "|---|---|---|---|---|---|",
    ]
    for sigma in SIGMAS:
        for eight_bit in (False, True):
            same = [row for row in rows if row["sigma"] == sigma and row["eight_bit"] == eight_bit]
            for way in ways:
                noise = "8-bit, clipped" if eight_bit else "float"
                lines.append(f"| {sigma} | {noise} | {way} | {_error_cells(same, way)} |")
    if result.get("photons"):
        lines += [
            "",
            "Photon noise, whose variance grows with the intensity: the same images recorded by a sensor of PEAK "
            "photons at white that saturates at twice that, in 16 bits (`bench_poisson.record`); relative error "
            "against the RMS noise the image holds, which is what one σ for the whole image should be. The colour "
            f"images again as a white-balanced sensor records them, channel c counting PEAK / g_c photons at white "
            f"multiplied by g_c, g = ({', '.join(f'{gain:g}' for gain in GAINS)}): photons of a different size in "
            "each channel.",
            "",
            "| photons at white | sensor | images | estimate | mean error | mean \\|error\\| | worst \\|error\\| |",
            "|---|---|---|---|---|---|---|",
        ]
        for peak in PEAKS:
            for sensor, gains in (("one photon size", [1.0]), ("white-balanced", list(GAINS))):
                same = [row for row in result["photons"] if row["peak"] == peak and row.get("gains", [1.0]) == gains]
                lines += [f"| {peak} | {sensor} | {len(same)} | {way} | {_error_cells(same, way)} |" for way in ways]
    seconds = {way: np.mean([row[f"{way} seconds"] for row in rows]) for way in ways}
    lines += [
        "",
        "Seconds per call, mean over all images and conditions (one process, "
        f"{result['threads']} threads): " + ", ".join(f"{way} {value:.3f}" for way, value in seconds.items()) + ".",
    ]
    if result["denoising"]:
        lines += [
            "",
            f"## What it costs a blind denoiser: BM3D as written here, {result['crop']}×{result['crop']} centre crops "
            "of the denoising suite's 9 images, 8-bit noise",
            "",
            "Mean PSNR (dB) over the images, BM3D given the true σ or an estimate; in brackets the mean |error| of "
            "the σ it was given. The true σ is the standard deviation of the noise the image holds, which clipping "
            "lowers below the σ added (most at σ = 50); the weak-texture estimate leaves clipped patches out and "
            "reads the noise where it is not clipped.",
            "",
            f"| σ (/255) | true σ | {NEW} | {BEFORE} |",
            "|---|---|---|---|",
        ]
        for sigma in SIGMAS:
            same = [row for row in result["denoising"] if row["sigma"] == sigma]
            cells = []
            for way in ("true", NEW, BEFORE):
                score = np.mean([row["psnr"][way] for row in same])
                error = np.mean([abs(row["given"][way] / row["given"]["true"] - 1) for row in same])
                cells.append(f"{score:.2f}" if way == "true" else f"{score:.2f} ({error:.1%})")
            lines.append(f"| {sigma} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", common.provenance_line(result["provenance"])]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_data_dir_argument(parser)
    parser.add_argument("--crop", type=int, default=256, help="the denoising part's centre crops (default 256)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="the first N images only (0: all)")
    parser.add_argument("--no-denoising", action="store_true", help="the estimates' accuracy only")
    parser.add_argument("--out", default=str(common.RESULTS_DIR / "noise_sigma"))
    args = parser.parse_args(argv)
    if args.crop < 16 or args.threads < 1 or args.limit < 0:
        parser.error("--crop must be at least 16, --threads at least 1 and --limit at least 0")
    result = run(args)
    common.write_result(args.out, result, markdown(result), echo=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.run_script(main))
