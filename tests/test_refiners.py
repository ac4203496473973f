"""Refiners: the step after the fit that re-filters y with the fit as a pilot (every registered one), and its
place in the pipeline (preset rows, overrides, the record, the command line)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deepprior
from deepprior.errors import InputError
from deepprior.metrics import psnr
from deepprior.refiners.wiener import wiener_refine
from deepprior.registry import REFINERS
from helpers import add_noise, smooth_image

SIGMA = 0.1


def _pilot(noisy: np.ndarray) -> np.ndarray:
    """A crude estimate that blurs edges and detail, as a fit stopped early does: y smoothed by a Gaussian."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(noisy, (1.5, 1.5, 0) if noisy.ndim == 3 else 1.5)


@pytest.mark.parametrize("name", REFINERS.names())
@pytest.mark.parametrize("channels", [1, 3])
def test_every_refiner_improves_on_a_good_pilot_and_keeps_the_layout(name, channels):
    clean = smooth_image(48, channels)
    noisy = add_noise(clean, SIGMA)
    pilot = _pilot(noisy)
    refine = REFINERS.get(name)
    out = refine(noisy, pilot, SIGMA)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert psnr(out, clean) > psnr(np.clip(pilot, 0, 1), clean) + 1.0  # detail comes back
    assert psnr(out, clean) > psnr(noisy, clean) + 4.0
    gray = refine(noisy[..., 0], pilot[..., 0], SIGMA)  # an (H, W) image comes back (H, W)
    assert gray.shape == noisy.shape[:2]
    np.testing.assert_allclose(refine(noisy, pilot, 0.0), np.clip(pilot, 0, 1), atol=1e-6)  # σ = 0: the pilot


def _sliding_dct_wiener(y: np.ndarray, pilot: np.ndarray, sigma: float, b: int) -> np.ndarray:
    """The sliding-window DCT Wiener filter written out patch by patch (gray images), to check against."""
    from scipy.fft import dctn, idctn

    numerator, denominator = np.zeros_like(y), np.zeros_like(y)
    for i in range(y.shape[0] - b + 1):
        for j in range(y.shape[1] - b + 1):
            signal = dctn(pilot[i : i + b, j : j + b], norm="ortho") ** 2
            gain = signal / (signal + sigma**2)
            weight = 1 / (sigma**2 * (gain**2).sum())
            numerator[i : i + b, j : j + b] += weight * idctn(
                gain * dctn(y[i : i + b, j : j + b], norm="ortho"), norm="ortho"
            )
            denominator[i : i + b, j : j + b] += weight
    return np.clip(numerator / denominator, 0, 1)


def test_wiener_without_grouping_is_the_sliding_window_filter_and_grouping_does_better():
    clean = smooth_image(24, 1)[..., 0]
    noisy = add_noise(clean, SIGMA)
    pilot = _pilot(noisy)
    single = wiener_refine(noisy, pilot, SIGMA, patch=4, group=1, window=1, step=1)
    np.testing.assert_allclose(single, _sliding_dct_wiener(noisy, pilot, SIGMA, 4), atol=1e-5)
    colour = smooth_image(48)
    noisy = add_noise(colour, SIGMA)
    grouped, alone = wiener_refine(noisy, _pilot(noisy), SIGMA), wiener_refine(noisy, _pilot(noisy), SIGMA, group=1)
    assert psnr(grouped, colour) > psnr(alone, colour) + 0.2  # similar patches average out more noise
    assert psnr(wiener_refine(noisy, _pilot(noisy)), colour) == pytest.approx(psnr(grouped, colour), abs=0.5)
    tiny = np.full((5, 6, 3), 0.5)  # smaller than a patch and than a group: the patch shrinks, the reference repeats
    assert wiener_refine(tiny + 0.01, tiny, SIGMA).shape == (5, 6, 3)


@pytest.mark.parametrize(
    ("y", "pilot", "options", "message"),
    [
        (np.zeros((8, 8, 3)), np.zeros((8, 9, 3)), {}, "the pilot is shaped"),
        (np.full((8, 8), np.nan), np.zeros((8, 8)), {}, "NaN"),
        (np.zeros((8, 8)), np.zeros((8, 8)), {"sigma": -1.0}, "sigma must be"),
        (np.zeros((8, 8)), np.zeros((8, 8)), {"sigma": 0.1, "patch": 1}, "patch must be"),
        (np.zeros((8, 8)), np.zeros((8, 8)), {"sigma": 0.1, "group": 0}, "group must be"),
        (np.zeros((8, 8)), np.zeros((8, 8)), {"sigma": 0.1, "window": 8}, "window must be odd"),
        (np.zeros((2, 2, 2, 2)), np.zeros((2, 2, 2, 2)), {}, "must be an"),
    ],
)
def test_wiener_refuses_bad_input_with_one_clear_error(y, pilot, options, message):
    with pytest.raises(InputError, match=message):
        wiener_refine(y, pilot, **options)


def test_refine_is_a_setting_the_record_keeps_and_only_denoising_takes_it():
    clean = smooth_image(32)
    noisy = add_noise(clean, SIGMA)
    options = {"iterations": 20, "width": 8, "threads": 1}
    plain = deepprior.denoise(noisy, **options)
    refined = deepprior.denoise(noisy, refine="wiener", **options)
    assert plain.record.refinement is None
    assert refined.record.refinement["name"] == "wiener" and refined.record.refinement["sigma"] > 0
    np.testing.assert_allclose(
        refined.image, wiener_refine(noisy, plain.image, refined.record.refinement["sigma"]), atol=1e-6
    )
    back = deepprior.RunRecord.from_dict(refined.record.to_dict())
    assert back.refinement == refined.record.refinement
    mask = np.ones((32, 32), dtype=bool)
    refuse = {**options, "callbacks": [lambda state: pytest.fail("fitted before the refiner was checked")]}
    with pytest.raises(InputError, match="needs a task whose observation is the image"):
        deepprior.inpaint(noisy, mask, refine="wiener", **refuse)
    with pytest.raises(InputError, match="unknown refiner 'median'"):
        deepprior.denoise(noisy, refine="median", **refuse)


def test_the_command_line_turns_the_presets_refiner_off(tmp_path):
    from deepprior.cli import main
    from deepprior.io import write_image

    source = write_image(tmp_path / "noisy.png", add_noise(smooth_image(32), SIGMA))
    out = tmp_path / "clean.png"
    argv = ["denoise", str(source), "-o", str(out), "--preset", "fast", "--iterations", "4", "-q", "--refine", "none"]
    assert main(argv) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["preset"] == "fast" and record["refinement"] is None and record["version"] == 6


@pytest.mark.parametrize("group", [16, 12])  # Haar along a power-of-two stack, else the DCT
def test_the_group_transform_is_orthonormal(group):
    import torch

    from deepprior.refiners._grouping import transform_groups

    image = torch.rand(3, 20, 20, dtype=torch.float32)
    rows = torch.randint(0, 13, (5, group, 1, 1)) + torch.arange(8)[:, None]
    cols = torch.randint(0, 13, (5, group, 1, 1)) + torch.arange(8)
    coefficients = transform_groups(image, rows, cols)
    assert coefficients.shape == (3, 5, group, 8, 8)
    energy = image[:, rows, cols].square().sum()
    assert coefficients.square().sum() == pytest.approx(float(energy), rel=1e-5)  # Parseval: nothing lost or made


def test_bm3d_stages_each_improve_and_the_hybrid_refiner_is_the_weighted_mean_of_two_estimates():
    from deepprior.refiners.bm3d import bm3d_denoise, hard_threshold, pilot_weight, wiener_bm3d_refine

    clean = smooth_image(48)
    noisy = add_noise(clean, SIGMA)
    basic = hard_threshold(noisy, SIGMA)
    final = bm3d_denoise(noisy, SIGMA)
    assert basic.shape == noisy.shape and basic.dtype == np.float32
    assert psnr(basic, clean) > psnr(noisy, clean) + 4.0
    assert psnr(final, clean) > psnr(basic, clean)  # the Wiener stage improves on its pilot
    pilot = _pilot(noisy)
    weight = pilot_weight(noisy.astype(np.float64), pilot.astype(np.float64), SIGMA)
    np.testing.assert_allclose(
        wiener_bm3d_refine(noisy, pilot, SIGMA),
        weight * wiener_refine(noisy, pilot, SIGMA) + (1 - weight) * final,
        atol=1e-6,
    )
    np.testing.assert_allclose(hard_threshold(noisy, 0.0), np.clip(noisy, 0, 1), atol=1e-6)
    assert hard_threshold(noisy[..., 0], SIGMA).shape == noisy.shape[:2]
    with pytest.raises(InputError, match="lam must be a number > 0"):
        hard_threshold(noisy, SIGMA, lam=0)
    with pytest.raises(InputError, match="the pilot is shaped"):
        wiener_bm3d_refine(noisy, pilot[:8], SIGMA)


def test_the_hybrid_refiner_drops_a_pilot_that_left_signal_in_its_residual():
    """A pilot whose residual to y is the noise gets half the weight; one that missed the picture (a flat grey:
    its residual holds the whole image) gets none, and the refiner returns BM3D on y alone."""
    from deepprior.refiners.bm3d import EXPLAINED, MISSED, bm3d_denoise, pilot_weight, wiener_bm3d_refine

    clean = smooth_image(48)
    noisy = add_noise(clean, SIGMA).astype(np.float64)
    assert pilot_weight(noisy, clean.astype(np.float64), SIGMA) == pytest.approx(0.5)
    flat = np.full_like(noisy, noisy.mean())
    assert pilot_weight(noisy, flat, SIGMA) == 0.0
    np.testing.assert_allclose(wiener_bm3d_refine(noisy, flat, SIGMA), bm3d_denoise(noisy, SIGMA), atol=1e-6)
    noise = np.std(noisy - clean)  # what the noise is after clipping
    offset = np.sqrt(((EXPLAINED + MISSED) / 2) ** 2 - 1) * noise  # a pilot this far off leaves r halfway
    assert pilot_weight(noisy, clean + offset, noise) == pytest.approx(0.25, abs=0.02)


@pytest.mark.parametrize(
    ("name", "pinned"),
    [
        ("wiener", (0.024886278, 0.385383576, 0.685787559)),
        ("wiener-bm3d", (0.029075878, 0.378709257, 0.685760915)),
    ],
)
def test_the_refiners_outputs_are_those_of_their_revision(name, pinned):
    """Stored benchmark results name the refiners by ``deepprior.refiners.REVISION``: if this fails, a refiner's
    output changed, so raise the revision (its results are stale) and pin the new outputs here."""
    from deepprior.refiners import REVISION
    from deepprior.registry import REFINERS

    assert REVISION == 2
    rng = np.random.default_rng(0)
    clean = np.kron(rng.uniform(0.2, 0.8, (12, 12, 3)), np.ones((8, 8, 1))).astype(np.float32)[:96, :96]
    noisy = np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
    pilot = np.clip(clean + 0.02 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
    out = REFINERS.get(name)(noisy, pilot, 0.1)
    found = (float(np.abs(out - clean).mean()), float(out[10, 20, 1]), float(out[50, 70, 2]))
    np.testing.assert_allclose(found, pinned, atol=2e-6)
