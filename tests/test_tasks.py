import numpy as np
import pytest

import deepprior
from deepprior.errors import DeviceError, InputError
from deepprior.metrics import psnr

from conftest import TINY, smooth_image


def test_inpainting_brings_the_missing_pixels_closer_to_the_truth():
    clean = smooth_image(64)
    rng = np.random.default_rng(1)
    known = rng.random(clean.shape[:2]) > 0.5
    damaged = clean * known[..., None]
    result = deepprior.inpaint(damaged, known, kind="pixels", iterations=250, lr=0.01, progress=False,
                               generator_options=TINY)
    missing = ~known
    before = np.abs(damaged[missing] - clean[missing]).mean()
    after = np.abs(result.image[missing] - clean[missing]).mean()
    assert after < 0.5 * before
    assert result.settings["known_fraction"] == pytest.approx(known.mean())


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


def test_integer_images_are_scaled_by_their_dtype():
    image = (smooth_image(40) * 65535).astype(np.uint16)
    result = deepprior.denoise(image, iterations=2, progress=False, generator_options=TINY,
                               reference=image.astype(np.float32) / 65535)
    assert result.image.max() <= 1.0
    assert np.isfinite(result.history.psnr[-1])


def test_flash_noflash_uses_the_flash_image_as_input():
    flash, noflash = smooth_image(40), smooth_image(40, seed=1) * 0.5
    result = deepprior.flash_noflash(flash, noflash, iterations=3, progress=False, generator_options=TINY)
    assert result.settings["input"]["kind"] == "image" and result.settings["input"]["channels"] == 3
    with pytest.raises(InputError, match="flash image is"):
        deepprior.flash_noflash(flash, noflash[:30], iterations=1, progress=False)


def test_defaults_follow_the_presets_and_early_stopping_is_on_without_iterations():
    assert deepprior.PRESETS["denoise"].settings.average == 0.99
    assert deepprior.PRESETS["inpaint-pixels"].settings.lr == 0.001
    assert deepprior.PRESETS["denoise"].default_stop == "es-wmv"
    result = deepprior.denoise(smooth_image(40), iterations=2, progress=False,
                               generator_options={"channels_down": 16, "channels_up": 16})
    assert result.settings["fit"]["stop"] == "fixed"
    assert result.settings["fit"]["reg_noise_std"] == pytest.approx(1 / 30)
    assert result.settings["generator"]["channels_skip"] == [4] * 5


@pytest.mark.parametrize("call, message", [
    (lambda: deepprior.super_resolve(smooth_image(16), scale=1.5), "integer >= 2"),
    (lambda: deepprior.super_resolve(smooth_image(16), scale=1), "integer >= 2"),
    (lambda: deepprior.denoise(smooth_image(10), iterations=1), "needs at least"),
    (lambda: deepprior.inpaint(smooth_image(40), np.ones((30, 40), bool), iterations=1), "mask is"),
    (lambda: deepprior.inpaint(smooth_image(40), np.zeros((40, 40), bool), iterations=1), "no known pixel"),
    (lambda: deepprior.inpaint(smooth_image(40), np.ones((40, 40), bool), kind="blob"), "inpainting kind"),
    (lambda: deepprior.denoise(smooth_image(40), iterations=1, bogus=3), "unknown option"),
    (lambda: deepprior.denoise(np.zeros((40, 40, 5)), iterations=1), "C = 1 or 3"),
    (lambda: deepprior.denoise(np.full((40, 40), np.nan), iterations=1), "NaN"),
    (lambda: deepprior.denoise(smooth_image(40), iterations=1, generator="vgg"), "unknown generator"),
    (lambda: deepprior.denoise(smooth_image(40), iterations=1, regularizer="l1"), "unknown regulariser"),
    (lambda: deepprior.denoise(smooth_image(40), iterations=1, lr=-1), "lr"),
])
def test_bad_input_raises_one_clear_input_error(call, message):
    with pytest.raises(InputError, match=message):
        call()


@pytest.mark.parametrize("device", ["gpu", "cuda:7", "tpu"])
def test_unknown_or_missing_device_is_a_device_error(device):
    with pytest.raises(DeviceError):
        deepprior.denoise(smooth_image(40), iterations=1, device=device)
