"""Images that fill a small part of [0, 1]: the DIP fast row fitted on the values as they are, or stretched from
their lowest to their highest onto [0, 1] (``deepprior.stretch``; automatic below half the range, ``stretch=``
True / False to force it).

The ``denoise-color25`` suite's clean images (128×128 centre crops) with Gaussian noise of σ = 25/255 of their
range, recorded by a camera that fills FRACTION of a 16-bit file and saturates there: y = clip(x + n, 0, 1) ·
FRACTION in 16 bits (1/16: a 12-bit camera's counts in a 16-bit file; 1/100: a dim exposure). The output,
divided by FRACTION, is scored against x; a FRACTION of 1 is the full-range baseline. On the CPU::

    python -m benchmarks.bench_stretch --limit 4 --threads 2

writes ``benchmarks/results/stretch_crops.{json,md}``.
"""

from __future__ import annotations

import argparse
import functools
import warnings
import zlib
from typing import Any

import numpy as np

from benchmarks import common
from deepprior.argtypes import numbers

SIGMA = 25 / 255


def record(clean: np.ndarray, fraction: float, name: str) -> np.ndarray:
    """``clean`` plus Gaussian noise of σ :data:`SIGMA` (seeded by the image's name, the same for every
    ``fraction``), clipped to [0, 1], scaled by ``fraction`` and rounded to 16 bits."""
    rng = np.random.default_rng(zlib.crc32(f"stretch {name}".encode()))
    noisy = np.clip(clean.astype(np.float64) + rng.normal(0.0, SIGMA, clean.shape), 0, 1)
    return (np.round(noisy * fraction * 65535) / 65535).astype(np.float32)


def _fraction_text(fraction: float) -> str:
    return "1" if fraction == 1 else f"1/{1 / fraction:g}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    import deepprior

    warnings.filterwarnings("ignore", message=r"iterations=\d+ is far below", category=UserWarning)
    options = {"preset": "fast", "device": "cpu", "progress": False, "threads": args.threads, "seed": 0}
    if args.iterations is not None:
        options["iterations"] = args.iterations

    def dip(y: np.ndarray, stretch: bool) -> tuple[np.ndarray, dict[str, Any]]:
        result = deepprior.denoise(y, stretch=stretch, **options)
        return result.image, {"steps": result.record.iterations_run, "stretch": result.record.extra.get("stretch")}

    rows = []
    for name, sample in common.suite_crops(args, "denoise-color25"):
        for fraction in args.fractions:
            y = record(sample.truth, fraction, name)
            label = f"{_fraction_text(fraction)} of the range"
            ways = {"": False} if fraction == 1 else {", as it is": False, ", stretched": True}
            runs = {label + way: functools.partial(dip, y, stretch) for way, stretch in ways.items()}
            rows += common.score_methods(name, sample.truth, runs, lambda output, f=fraction: output / f)
    return common.crop_fit_result(args, rows, fractions=list(args.fractions), sigma=SIGMA)


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    steps = common.steps_text(result)
    lines = [
        "# Images that fill part of the range: fitted as they are, or stretched onto [0, 1]",
        "",
        f"The `denoise-color25` suite's clean images, {result['crop']}×{result['crop']} centre crops, with Gaussian "
        f"noise of σ = 25/255 of their range, clipped to [0, 1], recorded as FRACTION of a 16-bit file (1/16: a "
        "12-bit camera; 1/100: a dim exposure); the output divided by FRACTION is scored against the clean crop, "
        "rounded to 8 bits, on RGB. DIP: `deepprior.denoise`, the fast row "
        f"({steps}), seed 0, `stretch=False` (as it is) or `stretch=True` (from the lowest to the highest value "
        f"onto [0, 1], the result mapped back; automatic below half the range). CPU, {result['threads']} threads.",
        "",
    ]
    lines += common.method_tables(rows)
    lines += ["", "Steps (mean over the images):", "", "| method | steps |", "|---|---|"]
    for method in dict.fromkeys(row["method"] for row in rows):
        lines.append(f"| {method} | {np.mean([r['steps'] for r in rows if r['method'] == method]):.0f} |")
    return "\n".join([*lines, "", common.provenance_line(result["provenance"])]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_data_dir_argument(parser)
    common.add_crop_fit_arguments(parser)
    parser.add_argument(
        "--fractions",
        type=numbers,
        default=(1.0, 1 / 16, 1 / 100),
        metavar="F,F,...",
        help="the parts of the 16-bit range the camera fills (default 1, 1/16, 1/100)",
    )
    parser.add_argument("--out", help="default: benchmarks/results/stretch_crops")
    args = parser.parse_args(argv)
    if not all(0 < fraction <= 1 for fraction in args.fractions):
        parser.error("--fractions must be in (0, 1]")
    args.out = args.out or str(common.RESULTS_DIR / "stretch_crops")
    result = run(args)
    common.write_result(args.out, result, markdown(result), echo=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.run_script(main))
