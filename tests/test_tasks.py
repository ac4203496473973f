import re

import numpy as np
import pytest

import deepprior
from deepprior.errors import DeviceError, InputError
from helpers import TINY, smooth_image


@pytest.mark.slow
def test_inpainting_brings_the_missing_pixels_closer_to_the_truth():
    clean = smooth_image(64)
    rng = np.random.default_rng(1)
    known = rng.random(clean.shape[:2]) > 0.5
    damaged = clean * known[..., None]
    result = deepprior.inpaint(
        damaged, known, kind="pixels", iterations=250, lr=0.01, progress=False, generator_options=TINY
    )
    missing = ~known
    before = np.abs(damaged[missing] - clean[missing]).mean()
    after = np.abs(result.image[missing] - clean[missing]).mean()
    assert after < 0.5 * before
    assert result.record.extra["known_fraction"] == pytest.approx(known.mean())


def test_super_resolution_returns_the_scaled_size_and_fits_the_low_resolution_image():
    low = smooth_image(64)[::4, ::4]
    result = deepprior.super_resolve(low, scale=4, iterations=60, progress=False, generator_options=TINY)
    assert result.image.shape == (64, 64, 3)
    assert result.history.psnr_observation[-1] > result.history.psnr_observation[0] + 3


def test_gray_input_gives_gray_output_and_alpha_is_carried():
    gray = smooth_image(40, channels=1)[..., 0]
    result = deepprior.deblock(gray, iterations=3, progress=False)
    assert result.image.shape == gray.shape
    rgba = np.concatenate([smooth_image(40), np.full((40, 40, 1), 0.5, np.float32)], axis=2)
    result = deepprior.denoise(rgba, iterations=3, progress=False, generator_options=TINY)
    assert result.image.shape == (40, 40, 3)
    assert np.array_equal(result.alpha, rgba[..., 3])


@pytest.mark.parametrize("task", ["denoise", "super_resolve", "smooth-region-fusion"])
def test_the_input_colour_profile_is_the_outputs(task):
    image = deepprior.Image(smooth_image(40), None, 8, icc_profile=b"a profile, as read from the file")
    if task == "smooth-region-fusion":  # a classical solver's output
        result = deepprior.smooth(image, method="region-fusion")
    else:
        options = {"scale": 2} if task == "super_resolve" else {}
        result = getattr(deepprior, task)(image, iterations=2, progress=False, generator_options=TINY, **options)
    assert result.output.icc_profile == image.icc_profile


def test_integer_images_are_scaled_by_their_dtype():
    image = (smooth_image(40) * 65535).astype(np.uint16)
    result = deepprior.denoise(
        image, iterations=2, progress=False, generator_options=TINY, reference=image.astype(np.float32) / 65535
    )
    assert result.image.max() <= 1.0
    assert np.isfinite(result.history.psnr[-1])


def test_flash_noflash_uses_the_flash_image_as_input():
    flash, noflash = smooth_image(40), smooth_image(40, seed=1) * 0.5
    result = deepprior.flash_noflash(flash, noflash, iterations=3, progress=False, generator_options=TINY)
    assert result.record.input["kind"] == "image" and result.record.input["channels"] == 3
    with pytest.raises(InputError, match="flash image is"):
        deepprior.flash_noflash(flash, noflash[:30], iterations=1, progress=False)
    with pytest.raises(InputError, match="flash image is uniform"):
        deepprior.flash_noflash(np.ones_like(flash), noflash, iterations=1, progress=False)


def test_defaults_come_from_the_preset_row_and_early_stopping_is_on_without_iterations():
    row = deepprior.PRESETS.get("denoise/dip")
    result = deepprior.denoise(smooth_image(40), iterations=2, width=16)
    assert result.record.settings["stop"] == "fixed"  # an iteration count turns the default early stop off
    assert result.record.settings["reg_noise_std"] == row.settings.reg_noise_std
    assert result.record.generator["channels_skip"] == list(row.generator_options["channels_skip"])
    seen = {}
    deepprior.denoise(
        smooth_image(40), width=16, callbacks=[lambda state: seen.setdefault("s", state.settings) or True]
    )
    assert seen["s"].stop == row.default_stop == "es-wmv" and seen["s"].iterations == row.settings.iterations


def test_super_resolution_follows_the_rows_scale_schedule():
    row = deepprior.PRESETS.get("super-resolve/dip")
    assert row.for_scale(4).settings.iterations == 2000 and row.for_scale(8).settings.iterations == 4000
    assert row.for_scale(6).settings.iterations == 3000 and row.for_scale(6).settings.reg_noise_std == 0.04
    assert row.for_scale(2).settings.iterations == 2000 and row.for_scale(16).settings.reg_noise_std == 0.05


def test_smoothing_and_deblocking_lambdas_come_from_one_table():
    from deepprior.presets import get_preset

    clean = smooth_image(40)
    for method in ("region-fusion", "l0-smooth"):
        assert (
            deepprior.smooth(clean, method=method).record.settings["lam"]
            == get_preset("smooth", method).solver_options["lam"]
        )
    result = deepprior.deblock(clean, method="dip-l0", iterations=25, width=8)
    assert result.record.regularizer["beta"] == get_preset("deblock", "dip-l0").regularizer_options["beta"] == 2.0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: deepprior.super_resolve(smooth_image(16), scale=1.5), "integer >= 2"),
        (lambda: deepprior.super_resolve(smooth_image(16), scale=1), "integer >= 2"),
        (lambda: deepprior.denoise(smooth_image(10), iterations=1), "needs at least"),
        (lambda: deepprior.inpaint(smooth_image(40), np.ones((30, 40), bool), iterations=1), "mask is"),
        (lambda: deepprior.inpaint(smooth_image(40), np.zeros((40, 40), bool), iterations=1), "no known pixel"),
        (lambda: deepprior.inpaint(smooth_image(40), np.ones((40, 40), bool), kind="blob"), "inpainting kind"),
        (lambda: deepprior.denoise(smooth_image(40), method="bm3d"), "denoise method"),
        (lambda: deepprior.denoise(smooth_image(40), iterations=1, passes=3), "do not apply"),
        (lambda: deepprior.denoise(smooth_image(40), iterations=1, lam=0.1), "need a regularizer"),
        (lambda: deepprior.denoise(smooth_image(40), iterations=1, bogus=3), "unknown option(s): bogus"),
        (lambda: deepprior.denoise(smooth_image(40), iteration=1), "iteration (did you mean iterations?)"),
        (lambda: deepprior.denoise(smooth_image(40), channels=8), "the command line's --channels is width=..."),
        (lambda: deepprior.smooth(smooth_image(40), "region-fusion", lamda=0.1), "(did you mean lam?)"),
        (lambda: deepprior.denoise(np.zeros((40, 40, 5)), iterations=1), "C in 1..4"),
        (lambda: deepprior.denoise(np.full((40, 40), np.nan), iterations=1), "NaN"),
        (lambda: deepprior.denoise(smooth_image(40), iterations=1, generator="vgg"), "unknown generator"),
        (lambda: deepprior.denoise(smooth_image(40), iterations=1, regularizer="l1"), "unknown regulariser"),
        (lambda: deepprior.denoise(smooth_image(40), iterations=1, generator="decoder", width=0), "decoder"),
        (lambda: deepprior.denoise(smooth_image(40), iterations=1, reference=np.zeros((8, 8))), "reference is"),
        (lambda: deepprior.denoise(smooth_image(40), iterations=1, reference="gt.png"), "not the path 'gt.png'"),
        (lambda: deepprior.denoise("noisy.png", iterations=1), "read it with deepprior.io.read_image"),
        (lambda: deepprior.denoise(smooth_image(40), iterations=1, callbacks=[3]), "a callback must be"),
        (lambda: deepprior.denoise(smooth_image(40), iterations=1, lr=-1), "lr"),
    ],
)
def test_bad_input_raises_one_clear_input_error(call, message):
    with pytest.raises(InputError, match=re.escape(message)):
        call()


@pytest.mark.parametrize("device", ["gpu", "cuda:7", "tpu"])
def test_unknown_or_missing_device_is_a_device_error(device):
    with pytest.raises(DeviceError):
        deepprior.denoise(smooth_image(40), iterations=1, device=device)


@pytest.mark.parametrize("name", ["gpu0", "xpu", "cuda:x", "meta"])
def test_a_device_name_that_no_device_has_is_an_error_even_where_it_would_be_ignored(name):
    """A classical solver runs on the CPU whatever the device; a misspelt name is still refused, as a fit's is."""
    from deepprior.device import resolve_device

    with pytest.raises(DeviceError, match=f"unknown device '{name}'"):
        deepprior.smooth(smooth_image(16), "region-fusion", device=name)
    with pytest.raises(DeviceError, match=f"unknown device '{name}'"):
        resolve_device(name)
    assert deepprior.smooth(smooth_image(16), "region-fusion", device="cuda:1").record.device == "cpu"
