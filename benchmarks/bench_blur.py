"""Where should the blur switch from a convolution to FFTs? The deblurring operator (:class:`deepprior.operators.Blur`)
applied both ways, forward and backward as a fit step does, for square PSFs of growing side on images of a few
sizes; then whole deblurring fits with a wide PSF, each way (the convolution forced by raising ``FFT_TAPS``).

On the CPU::

    python -m benchmarks.bench_blur --threads 2

writes ``benchmarks/results/blur_cpu.{json,md}``; the crossover it shows sets ``deepprior.operators.blur.FFT_TAPS``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from benchmarks import common


def _seconds_per_call(step: Any, repeats: int, rounds: int) -> float:
    """The smallest of ``rounds`` means over ``repeats`` calls, after two warm-up calls."""
    for _ in range(2):
        step()
    means = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        means.append((time.perf_counter() - start) / repeats)
    return min(means)


def operator_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch

    from deepprior.operators import Blur

    rows = []
    rng = np.random.default_rng(0)
    for size in args.sizes:
        x = torch.from_numpy(rng.random((1, 3, size, size), dtype=np.float32)).requires_grad_()
        for side in args.sides:
            psf = rng.random((side, side))
            row: dict[str, Any] = {"size": size, "side": side, "taps": side * side}
            outputs = {}
            for name, fft in (("convolution", False), ("fft", True)):
                blur = Blur(psf, fft=fft)

                def step(blur: Blur = blur, x: torch.Tensor = x) -> None:
                    blur(x).square().mean().backward()

                row[f"{name}_ms"] = 1000 * _seconds_per_call(step, args.repeats, args.rounds)
                with torch.no_grad():
                    outputs[name] = blur(x)
            row["max_difference"] = float((outputs["fft"] - outputs["convolution"]).abs().max())
            row["speedup"] = row["convolution_ms"] / row["fft_ms"]
            rows.append(row)
            print(f"{size}² PSF {side}²: conv {row['convolution_ms']:.1f} ms, fft {row['fft_ms']:.1f} ms", flush=True)
    return rows


def fit_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Whole deblurring fits (the fast row, a fixed step count) with a wide PSF, each way, twice in turn."""
    import deepprior
    import deepprior.operators.blur as blur_module
    from deepprior.psf import psf_from_spec

    rng = np.random.default_rng(1)
    image = rng.random((args.fit_size, args.fit_size, 3)).astype(np.float32)
    default = blur_module.FFT_TAPS
    side = psf_from_spec(args.fit_psf).shape[-1]
    seconds: dict[str, list[float]] = {"convolution": [], "fft": []}

    def fit(steps: int) -> None:
        options = dict(preset="fast", device="cpu", progress=False, threads=args.threads, refine=None)
        deepprior.deblur(image, args.fit_psf, iterations=steps, **options)

    try:
        fit(2)  # the first fit's one-off costs (imports, allocations) are no one's
        for _ in range(args.fit_rounds):
            for name, taps in (("convolution", 10**9), ("fft", 0)):
                blur_module.FFT_TAPS = taps
                start = time.perf_counter()
                fit(args.fit_steps)
                seconds[name].append(time.perf_counter() - start)
                print(f"fit {name}: {seconds[name][-1]:.1f} s", flush=True)
    finally:
        blur_module.FFT_TAPS = default
    median = {name: statistics.median(values) for name, values in seconds.items()}
    return [
        {
            "size": args.fit_size,
            "psf": args.fit_psf,
            "side": side,
            "steps": args.fit_steps,
            "convolution_s": median["convolution"],
            "fft_s": median["fft"],
            "speedup": median["convolution"] / median["fft"],
            "runs": seconds,
        }
    ]


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    return {
        "operator": operator_rows(args),
        "fits": fit_rows(args) if args.fit_steps else [],
        "threads": args.threads,
        "provenance": common.provenance(),
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# The blur: a convolution or FFTs",
        "",
        f"CPU, {result['threads']} threads, float32, batch 1, 3 channels, one PSF for all; forward and backward of "
        "the blurred image's mean square (a fit step's share), the best of the rounds' means.",
        "",
        "| image | PSF side | taps | convolution ms | FFT ms | convolution / FFT | max difference |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["operator"]:
        lines.append(
            f"| {row['size']}² | {row['side']} | {row['taps']} | {row['convolution_ms']:.1f} | {row['fft_ms']:.1f} "
            f"| {row['speedup']:.2f}× | {row['max_difference']:.1e} |"
        )
    lines += ["", "The smallest PSF side from which FFTs were faster at every larger side measured:", ""]
    for size in dict.fromkeys(row["size"] for row in result["operator"]):
        same = [row for row in result["operator"] if row["size"] == size]
        faster = [row["side"] for i, row in enumerate(same) if all(r["speedup"] > 1 for r in same[i:])]
        lines.append(f"- {size}²: {faster[0] if faster else 'none'}")
    if result["fits"]:
        lines += [
            "",
            "Whole deblurring fits (the fast row, a fixed step count, no refiner), the median of the runs taken in "
            "turn:",
            "",
            "| image | PSF | side | steps | convolution s | FFT s | convolution / FFT |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in result["fits"]:
            lines.append(
                f"| {row['size']}² | `{row['psf']}` | {row['side']} | {row['steps']} | {row['convolution_s']:.1f} | "
                f"{row['fft_s']:.1f} | {row['speedup']:.2f}× |"
            )
    return "\n".join([*lines, "", common.provenance_line(result["provenance"])]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--sides", type=int, nargs="+", default=[5, 7, 9, 11, 13, 15, 21, 31, 49, 63])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fit-size", type=int, default=256)
    parser.add_argument("--fit-psf", default="gaussian:8")
    parser.add_argument("--fit-steps", type=int, default=100, help="0: no whole fits")
    parser.add_argument("--fit-rounds", type=int, default=2)
    parser.add_argument("--out", default=str(common.RESULTS_DIR / "blur_cpu"))
    args = parser.parse_args(argv)
    result = run(args)
    common.write_result(args.out, result, markdown(result), echo=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.run_script(main))
