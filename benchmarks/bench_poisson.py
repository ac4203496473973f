"""Photon-count noise: denoising as if it were Gaussian, or through the Poisson-Gaussian noise model
(``deepprior.denoise(..., noise="poisson")``: the generalized Anscombe transform, the fit, its exact unbiased
inverse), with the model's parameters estimated from each noisy image, per channel or pooled.

The ``denoise-color25`` suite's clean images (128×128 centre crops), recorded by a simulated sensor of PEAK photons
at white that saturates at twice that (one stop of headroom): y = Poisson(PEAK · x) / (2 PEAK), clipped to [0, 1],
16 bits; the restored image, doubled, is scored against x. With ``--gains R,G,B`` the sensor is a white-balanced
colour camera: channel c counts PEAK / g_c photons at white and is multiplied by g_c, so its photons are g_c times
larger. With ``--read-noise R`` the sensor adds Gaussian read noise of σ R photons (before the gain) to the counts,
cut at 0 like a sensor without a black offset. Each is restored by BM3D (the suite's peer) as Gaussian noise of the
σ estimated from y and through the same transform (BM3D's authors' recipe), and by the DIP fast row both ways; the
transform's (a, b) is estimated per channel (the package's way) and, in the "pooled" rows, from all channels at
once. On the CPU::

    python -m benchmarks.bench_poisson --limit 4 --peak 30 --threads 2
    python -m benchmarks.bench_poisson --limit 4 --peak 30 --gains 2,1,1.5 --threads 2
    python -m benchmarks.bench_poisson --limit 4 --peak 10 --read-noise 2 --threads 2

writes ``benchmarks/results/poisson_peakPEAK[_gainsR-G-B][_readR]_crops.{json,md}`` (a gain of 1.5 written 1p5).
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
from deepprior.argtypes import numbers

#: The sensor saturates at this many times the photons of white.
HEADROOM = 2.0


def record(
    clean: np.ndarray, peak: float, name: str, gains: tuple[float, ...] = (1.0,), read_noise: float = 0.0
) -> np.ndarray:
    """``clean`` as a sensor of ``peak`` photons at white, saturating at :data:`HEADROOM` times that, records it
    (seeded by the image's name), in 16 bits; with ``gains`` (one per channel), a white-balanced colour sensor
    whose channel c counts ``peak / g_c`` photons at white, multiplied by ``g_c``; with ``read_noise``, Gaussian
    noise of that σ (in photons, before the gain) is added to the counts."""
    rng = np.random.default_rng(zlib.crc32(f"poisson {peak} {name}".encode()))
    gain = np.asarray(gains, np.float64)
    counts = rng.poisson(clean.astype(np.float64) * peak / gain).astype(np.float64)
    if read_noise:  # drawn after the photons, so that a run without it draws the same photons
        counts += rng.normal(0.0, read_noise, counts.shape)
    counts *= gain
    return (np.round(np.clip(counts / (HEADROOM * peak), 0, 1) * 65535) / 65535).astype(np.float32)


def _methods(args: argparse.Namespace) -> dict[str, Callable[[np.ndarray], tuple[np.ndarray, dict[str, Any]]]]:
    """Each method: the noisy image → the restored image and what to record of the run."""
    import deepprior
    from deepprior.metrics import noise_level_function, noise_sigma
    from deepprior.noise.poisson import PoissonGaussian

    # --iterations cuts the steps on purpose: the library's under-fitting warning is noise here
    warnings.filterwarnings("ignore", message=r"iterations=\d+ is far below", category=UserWarning)
    options = {"preset": "fast", "device": "cpu", "progress": False, "threads": args.threads, "seed": 0}
    if args.iterations is not None:
        options["iterations"] = args.iterations

    def bm3d_gaussian(y: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        import bm3d

        sigma = noise_sigma(y)
        return np.asarray(bm3d.bm3d(y, sigma_psd=sigma)), {"sigma": sigma}

    def bm3d_stabilised(y: np.ndarray, pooled: bool) -> tuple[np.ndarray, dict[str, Any]]:
        import bm3d

        model = PoissonGaussian(*noise_level_function(y), estimated=True) if pooled else PoissonGaussian.estimate(y)
        described = model.describe()
        stabilised = bm3d.bm3d(model.stabilise(y), sigma_psd=described["stabilised_sigma"])
        return model.unstabilise(np.clip(stabilised, 0, 1)), {"noise": described}

    def dip(y: np.ndarray, noise: str, pooled: bool = False) -> tuple[np.ndarray, dict[str, Any]]:
        level = noise_level_function(y) if pooled else None
        result = deepprior.denoise(y, noise=noise, noise_level=level, **options)
        record = result.record
        return result.image, {"steps": record.iterations_run, "noise": record.extra.get("noise")}

    return {
        "input": lambda y: (y, {}),
        "bm3d, Gaussian": bm3d_gaussian,
        "bm3d, noise model, pooled": lambda y: bm3d_stabilised(y, pooled=True),
        "bm3d, noise model": lambda y: bm3d_stabilised(y, pooled=False),
        "dip, Gaussian": lambda y: dip(y, "gaussian"),
        "dip, noise model, pooled": lambda y: dip(y, "poisson", pooled=True),
        "dip, noise model": lambda y: dip(y, "poisson"),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    methods, rows = _methods(args), []
    for name, sample in common.suite_crops(args, "denoise-color25"):
        noisy = record(sample.truth, args.peak, name, args.gains, args.read_noise)
        runs = {method: functools.partial(restore, noisy) for method, restore in methods.items()}
        rows += common.score_methods(name, sample.truth, runs, lambda output: np.clip(output * HEADROOM, 0, 1))
    return common.crop_fit_result(args, rows, peak=args.peak, gains=list(args.gains), read_noise=args.read_noise)


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    steps = common.steps_text(result)
    gains = result.get("gains", [1.0])
    camera = ""
    if any(gain != 1 for gain in gains):
        camera = (
            f" A white-balanced colour sensor: channel c counts {result['peak']:g} / g_c photons at white and is "
            f"multiplied by g_c, with gains g = ({', '.join(f'{gain:g}' for gain in gains)})."
        )
    if result.get("read_noise"):
        camera += (
            f" Read noise: Gaussian, σ = {result['read_noise']:g} photons (before the gain), added to the counts "
            "and cut at 0 (no black offset)."
        )
    lines = [
        f"# Photon-count noise, {result['peak']:g} photons at white: denoised as Gaussian or through its noise model",
        "",
        f"The `denoise-color25` suite's clean images, {result['crop']}×{result['crop']} centre crops, recorded by a "
        f"simulated sensor of {result['peak']:g} photons at white that saturates at {HEADROOM:g} times that (y = "
        f"Poisson({result['peak']:g} x) / {HEADROOM * result['peak']:g}, clipped, 16 bits; the outputs are "
        f"multiplied by {HEADROOM:g} to be scored against x).{camera} "
        '"Gaussian": the method as it is, σ estimated from y (BM3D: `noise_sigma`; DIP: its own stop and refiner). '
        '"noise model": through `deepprior.noise.poisson.PoissonGaussian`, its (a, b) estimated from y per channel '
        '(`PoissonGaussian.estimate`, the package\'s way) or, "pooled", from all channels at once '
        "(`noise_level_function`): the generalized Anscombe transform, the method at the stabilised σ, the exact "
        "unbiased inverse. DIP: `deepprior.denoise`, the fast row "
        f"({steps}), seed 0. Outputs rounded to 8 bits, scored on RGB against the clean crop. CPU, "
        f"{result['threads']} threads.",
        "",
    ]

    def estimated_photon(same: list[dict[str, Any]]) -> str:
        noise = next((row["noise"] for row in same if row["method"] == "dip, noise model" and row.get("noise")), None)
        if noise is None:
            return "—"
        return " / ".join(f"{a * HEADROOM * result['peak']:.2f}" for a in np.atleast_1d(noise["a"]))

    heading = f"estimated a · {HEADROOM:g} peak (true: {' / '.join(f'{gain:g}' for gain in gains)})"
    lines += common.method_tables(rows, (heading, estimated_photon))
    return "\n".join([*lines, "", common.provenance_line(result["provenance"])]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_data_dir_argument(parser)
    common.add_crop_fit_arguments(parser)
    parser.add_argument("--peak", type=float, default=30.0, help="photons at white")
    parser.add_argument(
        "--gains", type=numbers, default=(1.0,), metavar="R,G,B", help="a white-balanced colour sensor's gains"
    )
    parser.add_argument("--read-noise", type=float, default=0.0, metavar="R", help="read noise σ in photons")
    parser.add_argument("--out", help="default: benchmarks/results/poisson_peakPEAK[_gainsR-G-B][_readR]_crops")
    args = parser.parse_args(argv)
    if not all(gain > 0 for gain in args.gains):
        parser.error("--gains must be positive")
    if not args.read_noise >= 0:
        parser.error("--read-noise must be at least 0")
    camera = (
        ""
        if all(gain == 1 for gain in args.gains)
        else "_gains" + "-".join(f"{g:g}".replace(".", "p") for g in args.gains)
    )
    if args.read_noise:
        camera += f"_read{args.read_noise:g}".replace(".", "p")
    args.out = args.out or str(common.RESULTS_DIR / f"poisson_peak{args.peak:g}{camera}_crops")
    result = run(args)
    common.write_result(args.out, result, markdown(result), echo=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.run_script(main))
