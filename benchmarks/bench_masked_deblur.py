"""Deblurring an image with bad pixels: does leaving them out of the fit (``deepprior.deblur(..., mask)``) beat
fitting them, or filling them in first? The ``deblur-gauss2`` suite's inputs (a Gaussian PSF of σ = 2 px, noise of
σ = 0.01, 8 bits, 128×128 centre crops) with a fraction of their pixels set to 0 or 1 on every channel, one by one as
dead and hot pixels are, or in small discs as saturated stars and cosmic-ray clusters are; the mask of them is given,
as a detector's bad-pixel map is.

Each image is restored by scikit-image's Richardson-Lucy (the suite's peer) and by the DIP fast row three ways: on
the corrupted image as it is, with the bad pixels left out (the mask), and on the image with the bad pixels replaced
by their 3×3 median first. On the CPU::

    python -m benchmarks.bench_masked_deblur --limit 4 --threads 2 [--defects blobs]

writes ``benchmarks/results/masked_deblur_{pixels,blobs}_crops.{json,md}``.
"""

from __future__ import annotations

import argparse
import functools
import warnings
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import common

#: Of the pixels, about the share set to 0 or 1 (on every channel).
BAD_FRACTION = 0.02


def corrupt(
    observation: np.ndarray, name: str, fraction: float, defects: str = "pixels"
) -> tuple[np.ndarray, np.ndarray]:
    """The observation with about ``fraction`` of its pixels set to 0 or 1 on every channel, seeded by the image's
    name, and the mask of the others (True = known). ``defects``: ``"pixels"``, each pixel on its own (dead and hot
    pixels, 0 or 1 at random); ``"blobs"``, discs of radius 2 to 4 pixels (saturated stars, cosmic-ray clusters,
    0 or 1 per disc), which a small median cannot fill in."""
    rng = np.random.default_rng(zlib.crc32(f"bad {defects} {name}".encode()))
    height, width = observation.shape[:2]
    corrupted = observation.copy()
    if defects == "pixels":
        bad = rng.random((height, width)) < fraction
        corrupted[bad] = rng.integers(0, 2, int(bad.sum()))[:, None].astype(observation.dtype)
        return corrupted, ~bad
    if defects != "blobs":
        raise ValueError(f"unknown defects {defects!r}")
    bad = np.zeros((height, width), bool)
    rows, columns = np.mgrid[:height, :width]
    while bad.mean() < fraction:
        radius = rng.uniform(2, 4)
        disc = (rows - rng.uniform(0, height)) ** 2 + (columns - rng.uniform(0, width)) ** 2 <= radius**2
        corrupted[disc] = float(rng.integers(0, 2))
        bad |= disc
    return corrupted, ~bad


def median_filled(corrupted: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The bad pixels replaced by the median of their 3×3 neighbourhood, each channel apart."""
    from scipy.ndimage import median_filter

    return np.where(known[..., None], corrupted, median_filter(corrupted, size=(3, 3, 1), mode="mirror"))


_DEFECTS = {"pixels": "each pixel on its own", "blobs": "in discs of radius 2 to 4 pixels"}


def _methods(args: argparse.Namespace) -> dict[str, Callable[[Any, np.ndarray, np.ndarray], np.ndarray]]:
    """Each method: (the suite's sample, the corrupted observation, the known pixels) → the restored image."""
    from dataclasses import replace

    import deepprior
    from benchmarks.suite.methods import RunOptions, _richardson_lucy

    # --iterations cuts the steps on purpose: the library's under-fitting warning is noise here
    warnings.filterwarnings("ignore", message=r"iterations=\d+ is far below", category=UserWarning)
    options = {"preset": "fast", "device": "cpu", "progress": False, "threads": args.threads, "seed": 0}
    if args.iterations is not None:
        options["iterations"] = args.iterations

    def richardson_lucy(sample: Any, observation: np.ndarray) -> np.ndarray:
        return _richardson_lucy(replace(sample, inputs={"observation": observation}), "deblur", RunOptions()).image

    def dip(observation: np.ndarray, sample: Any, mask: np.ndarray | None = None) -> np.ndarray:
        return deepprior.deblur(observation, sample.meta["psf"], mask, **options).image

    return {
        "input": lambda sample, y, known: y,
        "richardson-lucy": lambda sample, y, known: richardson_lucy(sample, y),
        "richardson-lucy, filled": lambda sample, y, known: richardson_lucy(sample, median_filled(y, known)),
        "dip": lambda sample, y, known: dip(y, sample),
        "dip, mask": lambda sample, y, known: dip(y, sample, known),
        "dip, filled": lambda sample, y, known: dip(median_filled(y, known), sample),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    methods, rows = _methods(args), []
    for name, sample in common.suite_crops(args, "deblur-gauss2"):
        corrupted, known = corrupt(sample.observation, name, args.fraction, args.defects)
        runs = {method: functools.partial(restore, sample, corrupted, known) for method, restore in methods.items()}
        rows += common.score_methods(name, sample.truth, runs)
    return common.crop_fit_result(args, rows, fraction=args.fraction, defects=args.defects, psf=sample.meta["psf"])


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    steps = common.steps_text(result)
    lines = [
        "# Deblurring with bad pixels: fitted, left out, or filled in first",
        "",
        f"The `deblur-gauss2` suite's inputs (`{result['psf']}`, noise σ = 0.01, 8 bits), {result['crop']}×"
        f"{result['crop']} centre crops, with {result['fraction']:.0%} of the pixels set to 0 or 1 on every channel, "
        f"{_DEFECTS[result.get('defects', 'pixels')]}; "
        "the mask of them is given. Richardson-Lucy: scikit-image's, 30 iterations, the true PSF. DIP: "
        f"`deepprior.deblur`, the fast row ({steps}), seed 0; on the corrupted image, with the mask "
        "(the bad pixels left out of the fit), or on the image whose bad pixels were replaced by their 3×3 median. "
        "Outputs rounded to 8 bits, scored on RGB against the sharp crop. CPU, "
        f"{result['threads']} threads.",
        "",
        *common.method_tables(rows),
    ]
    return "\n".join([*lines, "", common.provenance_line(result["provenance"])]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_data_dir_argument(parser)
    common.add_crop_fit_arguments(parser)
    parser.add_argument("--fraction", type=float, default=BAD_FRACTION)
    parser.add_argument("--defects", choices=("pixels", "blobs"), default="pixels", help="see corrupt()")
    parser.add_argument("--out", help="default: benchmarks/results/masked_deblur_DEFECTS_crops")
    args = parser.parse_args(argv)
    args.out = args.out or str(common.RESULTS_DIR / f"masked_deblur_{args.defects}_crops")
    result = run(args)
    common.write_result(args.out, result, markdown(result), echo=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.run_script(main))
