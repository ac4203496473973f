"""How well the Poisson-Gaussian noise level is estimated from one noisy image: ``PoissonGaussian.estimate`` (one
(a, b) per channel, the package's way) and ``noise_level_function`` (all channels pooled), against the truth of a
simulated sensor.

The ``denoise-color25`` suite's clean images (centre crops of ``--crop``), recorded by ``bench_poisson.record``:
PEAK photons at white, saturating at twice that, 16 bits; a white-balanced colour sensor with ``--gains`` (channel c
counts PEAK / g_c photons, multiplied by g_c; the gains 1,1,1 run too), with and without ``--read-noise`` (σ in
photons, added before the gain). The truth of channel c: a_c = g_c / (2 PEAK), b_c = (g_c r / (2 PEAK))². Scored
per image and channel: the error of a, and of the noise's σ = √(a x + b) at x = 0.25 and 0.75 of white (what a
denoiser sees). No fitting, seconds in all::

    python -m benchmarks.bench_noise_level --limit 0

writes ``benchmarks/results/noise_level_estimate.{json,md}``.
"""

from __future__ import annotations

import argparse
import itertools
import warnings
from typing import Any

import numpy as np

from benchmarks import common
from benchmarks.bench_poisson import HEADROOM, record
from deepprior.argtypes import numbers

#: Intensities (as shares of white) at which the estimated noise σ is scored.
SCORED_AT = (0.25, 0.75)


def _estimates(noisy: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, bool]]:
    """Each way's (a per channel, b per channel, whether it fell back or failed) for one image."""
    from deepprior.errors import InputError
    from deepprior.metrics import noise_level_function
    from deepprior.noise.poisson import PoissonGaussian

    channels = noisy.shape[2]
    found: dict[str, tuple[np.ndarray, np.ndarray, bool]] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = PoissonGaussian.estimate(noisy)
            a, b = np.broadcast_to(model.a, channels), np.broadcast_to(model.b, channels)
            found["per channel"] = (a, b, any("no noise level found" in str(w.message) for w in caught))
        except InputError:
            found["per channel"] = (np.full(channels, np.nan), np.full(channels, np.nan), True)
    try:
        a_pooled, b_pooled = noise_level_function(noisy)
        found["pooled"] = (np.full(channels, a_pooled), np.full(channels, b_pooled), False)
    except InputError:
        found["pooled"] = (np.full(channels, np.nan), np.full(channels, np.nan), True)
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    images = list(common.suite_crops(args, "denoise-color25"))
    cameras = list(dict.fromkeys([(1.0, 1.0, 1.0), tuple(args.gains)]))
    for peak, gains, read_noise in itertools.product(args.peaks, cameras, args.read_noise):
        gain = np.asarray(gains)
        true_a, true_b = gain / (HEADROOM * peak), (gain * read_noise / (HEADROOM * peak)) ** 2
        for name, sample in images:
            noisy = record(sample.truth, peak, name, gains, read_noise)
            for way, (a, b, fell_back) in _estimates(noisy).items():
                row = {"peak": peak, "gains": list(gains), "read_noise": read_noise, "image": name, "way": way}
                row.update(a=a.tolist(), b=b.tolist(), true_a=true_a.tolist(), true_b=true_b.tolist())
                row["fell_back"] = fell_back
                rows.append(row)
        print(f"{peak:g} photons, gains {gains}, read noise {read_noise:g}: done", flush=True)
    return {"rows": rows, "crop": args.crop, "provenance": common.provenance()}


def _errors(row: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Relative errors of a, and of σ at :data:`SCORED_AT`, per channel (NaN where the estimate failed)."""
    a, b, true_a, true_b = (np.asarray(row[key], np.float64) for key in ("a", "b", "true_a", "true_b"))
    x = np.asarray(SCORED_AT)[:, None] / HEADROOM  # in the recorded image's units
    sigma = np.sqrt(np.maximum(a * x + b, 0))
    true_sigma = np.sqrt(true_a * x + true_b)
    return a / true_a - 1, (sigma / true_sigma - 1).ravel()


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    lines = [
        "# The Poisson-Gaussian noise level estimated from one image, against the simulated sensor's truth",
        "",
        f"The `denoise-color25` suite's clean images, {result['crop']}×{result['crop']} centre crops, recorded by "
        "`bench_poisson.record` (PEAK photons at white, saturating at twice that, 16 bits; gains g per channel: "
        "channel c counts PEAK / g_c photons, multiplied by g_c; read noise r in photons, before the gain). "
        '"per channel": `PoissonGaussian.estimate` (the package\'s way; an image falls back where a channel '
        'takes the pooled level or the other channels\' mean); "pooled": `noise_level_function` on all channels at '
        "once, scored against each channel's truth; a failure has no level (left out of the errors). Errors are "
        "relative, over every image and channel: |Δa| / a, and |Δσ| / σ of the noise"
        f" σ = √(a x + b) at x = {' and '.join(f'{x:g}' for x in SCORED_AT)} of white.",
        "",
        "| photons at white | gains | read noise (photons) | way | mean \\|Δa\\| / a | worst Δa / a "
        "| mean \\|Δσ\\| / σ | images fallen back or failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    settings: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        settings.setdefault((row["peak"], tuple(row["gains"]), row["read_noise"], row["way"]), []).append(row)
    for (peak, gains, read_noise, way), same in settings.items():
        a_errors, sigma_errors = (np.concatenate(parts) for parts in zip(*map(_errors, same), strict=True))
        if np.isfinite(a_errors).any():
            worst = a_errors[np.nanargmax(np.abs(a_errors))]
            scores = f"{np.nanmean(np.abs(a_errors)):.1%} | {worst:+.1%} | {np.nanmean(np.abs(sigma_errors)):.1%}"
        else:
            scores = "— | — | —"
        lines.append(
            f"| {peak:g} | {','.join(f'{g:g}' for g in gains)} | {read_noise:g} | {way} | {scores} "
            f"| {sum(row['fell_back'] for row in same)} of {len(same)} |"
        )
    return "\n".join([*lines, "", common.provenance_line(result["provenance"])]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_data_dir_argument(parser)
    parser.add_argument("--limit", type=int, default=0, help="N of the suite's images, as its --limit picks them")
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--peaks", type=numbers, default=(2.0, 4.0, 10.0, 30.0, 100.0), help="photons at white")
    parser.add_argument("--gains", type=numbers, default=(2.0, 1.0, 1.5), metavar="R,G,B")
    parser.add_argument("--read-noise", type=numbers, default=(0.0, 2.0), metavar="R", help="σ in photons")
    parser.add_argument("--out", default=str(common.RESULTS_DIR / "noise_level_estimate"))
    args = parser.parse_args(argv)
    if len(args.gains) != 3 or not all(gain > 0 for gain in args.gains):
        parser.error("--gains needs three positive numbers")
    if not all(peak > 0 for peak in args.peaks) or not all(r >= 0 for r in args.read_noise):
        parser.error("--peaks must be positive and --read-noise at least 0")
    args.threads = 1  # suite_crops sets torch's threads; nothing here runs torch
    result = run(args)
    common.write_result(args.out, result, markdown(result), echo=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.run_script(main))
