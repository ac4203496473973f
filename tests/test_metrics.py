import math

import numpy as np
import pytest
import torch

from deepprior.errors import InputError
from deepprior.metrics import mse_torch, psnr, psnr_torch, psnr_y_sr, rgb_to_y, sr_crop, ssim


def _rng(seed=0):
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------- rgb_to_y


@pytest.mark.parametrize(
    "rgb, y",
    [
        ((1.0, 0.0, 0.0), (219 * 0.299 + 16) / 255),
        ((0.0, 1.0, 0.0), (219 * 0.587 + 16) / 255),
        ((0.0, 0.0, 1.0), (219 * 0.114 + 16) / 255),
        ((1.0, 1.0, 1.0), 235 / 255),
        ((0.0, 0.0, 0.0), 16 / 255),
    ],
)
def test_rgb_to_y_pure_colours(rgb, y):
    img = np.broadcast_to(np.array(rgb), (2, 3, 3))
    out = rgb_to_y(img)
    assert out.shape == (2, 3)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, y, rtol=0, atol=1e-12)


def test_rgb_to_y_values_match_matlab_coefficients():
    # MATLAB rgb2ycbcr: Y = 16 + 65.481 R + 128.553 G + 24.966 B (R, G, B in [0, 1], Y in [0, 255]).
    img = _rng().random((4, 5, 3))
    expected = (16 + 65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255
    np.testing.assert_allclose(rgb_to_y(img), expected, rtol=0, atol=1e-12)


def test_rgb_to_y_gray_goes_through_affine_map():
    gray = np.array([[0.0, 0.5], [1.0, 0.25]])
    expected = (219 * gray + 16) / 255
    np.testing.assert_allclose(rgb_to_y(gray), expected, atol=1e-15)
    np.testing.assert_allclose(rgb_to_y(gray[..., None]), expected, atol=1e-15)
    # A gray image written as RGB gives the same luma.
    np.testing.assert_allclose(rgb_to_y(np.repeat(gray[..., None], 3, axis=2)), expected, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 4, 2), (4, 4, 4), (4,), (2, 4, 4, 3)])
def test_rgb_to_y_bad_shapes(shape):
    with pytest.raises(InputError):
        rgb_to_y(np.zeros(shape))


# ----------------------------------------------------------------------------- sr_crop


def test_sr_crop_known_array():
    a = np.arange(20 * 30).reshape(20, 30)
    c = sr_crop(a)
    assert c.shape == (20 - 9, 30 - 9)
    assert c[0, 0] == a[4, 4]
    assert c[-1, -1] == a[20 - 6, 30 - 6]
    np.testing.assert_array_equal(c, a[4:15, 4:25])


def test_sr_crop_keeps_channels_and_custom_margins():
    a = np.arange(10 * 12 * 3).reshape(10, 12, 3)
    c = sr_crop(a, top=1, left=2, bottom=0, right=3)
    np.testing.assert_array_equal(c, a[1:10, 2:9])


@pytest.mark.parametrize("kw", [{"top": -1}, {"left": 1.5}, {"top": 5, "bottom": 5}, {"left": 6, "right": 4}])
def test_sr_crop_bad_margins(kw):
    with pytest.raises(InputError):
        sr_crop(np.zeros((10, 10)), **kw)


# ----------------------------------------------------------------------------- psnr / ssim


@pytest.mark.parametrize("shape", [(16, 16), (16, 16, 3), (16, 16, 1)])
def test_psnr_constant_offset_is_20db(shape):
    ref = _rng().random(shape) * 0.8
    assert psnr(ref + 0.1, ref) == pytest.approx(20.0, abs=1e-9)
    assert psnr(ref - 0.01, ref) == pytest.approx(40.0, abs=1e-9)


def test_psnr_known_mse_and_data_range():
    ref = np.zeros((8, 8))
    x = ref.copy()
    x[:4] = 0.2  # MSE = 0.5 * 0.04 = 0.02
    assert psnr(x, ref) == pytest.approx(10 * math.log10(1 / 0.02), abs=1e-9)
    assert psnr(255 * x, 255 * ref, data_range=255) == pytest.approx(10 * math.log10(1 / 0.02), abs=1e-9)


def test_psnr_identical_is_inf():
    a = _rng().random((8, 8, 3))
    assert psnr(a, a.copy()) == math.inf


def test_psnr_shape_mismatch():
    with pytest.raises(InputError, match="shape"):
        psnr(np.zeros((8, 8, 3)), np.zeros((8, 8)))
    with pytest.raises(InputError):
        psnr(np.zeros((8, 8)), np.zeros((8, 8)), data_range=0)


@pytest.mark.parametrize("shape", [(16, 16), (16, 16, 3), (16, 16, 1)])
def test_ssim_identical_is_one(shape):
    a = _rng().random(shape)
    assert ssim(a, a.copy()) == pytest.approx(1.0, abs=1e-12)


def test_ssim_colour_is_mean_of_channels_and_drops():
    rng = _rng(1)
    ref = rng.random((24, 24, 3))
    x = np.clip(ref + 0.1 * rng.standard_normal(ref.shape), 0, 1)
    s = ssim(x, ref)
    assert 0.0 < s < 0.99
    per_channel = [ssim(x[..., c], ref[..., c]) for c in range(3)]
    assert s == pytest.approx(np.mean(per_channel), abs=1e-12)
    assert ssim(x[..., :1], ref[..., :1]) == pytest.approx(per_channel[0], abs=1e-12)


def test_ssim_errors():
    with pytest.raises(InputError, match="shape"):
        ssim(np.zeros((16, 16, 3)), np.zeros((16, 16, 1)))
    with pytest.raises(InputError, match="7x7"):
        ssim(np.zeros((5, 16)), np.zeros((5, 16)))


# ----------------------------------------------------------------------------- psnr_y_sr


def test_psnr_y_sr_matches_hand_computation():
    rng = _rng(2)
    ref = rng.random((40, 36, 3))
    x = np.clip(ref + 0.05 * rng.standard_normal(ref.shape), 0, 1)
    y_x = (16 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255
    y_r = (16 + 65.481 * ref[..., 0] + 128.553 * ref[..., 1] + 24.966 * ref[..., 2]) / 255
    mse = np.mean((y_x[4:-5, 4:-5] - y_r[4:-5, 4:-5]) ** 2)
    assert psnr_y_sr(x, ref) == pytest.approx(10 * np.log10(1 / mse), abs=1e-9)


def test_psnr_y_sr_ignores_border_and_scales_offset():
    ref = np.full((32, 32, 3), 0.5)
    x = ref.copy()
    x[:4] = 1.0  # only in the cropped border
    x[:, -5:] = 0.0
    assert psnr_y_sr(x, ref) == math.inf
    # A constant offset of 0.1 in every channel is an offset of 0.1 * 219 / 255 in Y'.
    assert psnr_y_sr(ref + 0.1, ref) == pytest.approx(-20 * math.log10(0.1 * 219 / 255), abs=1e-9)


def test_psnr_y_sr_shape_mismatch():
    with pytest.raises(InputError):
        psnr_y_sr(np.zeros((32, 32, 3)), np.zeros((32, 31, 3)))


# ----------------------------------------------------------------------------- torch helpers


def test_psnr_torch_matches_numpy():
    rng = _rng(3)
    ref = rng.random((16, 12, 3))
    x = np.clip(ref + 0.05 * rng.standard_normal(ref.shape), 0, 1)
    xt = torch.from_numpy(x).permute(2, 0, 1)[None].float()
    rt = torch.from_numpy(ref).permute(2, 0, 1)[None].float()
    value = psnr_torch(xt, rt)
    assert isinstance(value, torch.Tensor) and value.dim() == 0
    assert value.dtype == torch.float32 and value.device == xt.device
    assert value.item() == pytest.approx(psnr(x, ref), abs=1e-4)
    v64 = psnr_torch(xt.double(), rt.double())
    assert v64.dtype == torch.float64
    assert v64.item() == pytest.approx(
        psnr(xt[0].permute(1, 2, 0).double().numpy(), rt[0].permute(1, 2, 0).double().numpy()), abs=1e-10
    )


def test_psnr_torch_known_offset_and_range():
    ref = torch.rand(1, 3, 8, 8) * 0.8
    assert psnr_torch(ref + 0.1, ref).item() == pytest.approx(20.0, abs=1e-4)
    assert psnr_torch(255 * (ref + 0.1), 255 * ref, data_range=255).item() == pytest.approx(20.0, abs=1e-3)
    assert mse_torch(ref + 0.1, ref).item() == pytest.approx(0.01, rel=1e-5)
    assert math.isinf(psnr_torch(ref, ref.clone()).item())


def test_psnr_torch_errors_and_grad():
    with pytest.raises(InputError):
        psnr_torch(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))
    x = torch.full((1, 1, 4, 4), 0.6, requires_grad=True)
    mse_torch(x, torch.full((1, 1, 4, 4), 0.5)).backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 2 * 0.1 / 16))


# ----------------------------------------------------------------------------- noise_sigma (blind σ)


@pytest.mark.parametrize("sigma", [5 / 255, 15 / 255])
def test_noise_sigma_is_not_fooled_by_fur_where_the_wavelet_median_is(shared_data, sigma):
    from deepprior.io import read_image
    from deepprior.metrics import _haar_sigma, noise_sigma

    baboon = read_image(shared_data / "dip/project_page/Denoising/Color/25/baboon_GT.png").pixels[:256, 128:384]
    noisy = baboon + _rng(4).normal(0, sigma, baboon.shape)  # fur and whiskers: fine texture everywhere
    assert _haar_sigma(noisy) > 1.2 * sigma  # the wavelet median (the estimate before, scikit-image's), misled
    assert noise_sigma(noisy) == pytest.approx(sigma, rel=0.1)


def test_noise_sigma_leaves_out_the_patches_whose_noise_clipping_cut():
    from deepprior.metrics import noise_sigma

    sigma = 15 / 255
    clean = np.full((160, 160), 0.45)
    clean[:, 64:] = 1.0  # most of it white: its noise is cut in half, and its patches look the flattest
    noisy = np.round(np.clip(clean + _rng(5).normal(0, sigma, clean.shape), 0, 1) * 255) / 255
    assert noise_sigma(noisy) == pytest.approx(sigma, rel=0.08)
    assert noise_sigma(np.clip(noisy, 0, 254.5 / 255)) < 0.8 * sigma  # white no longer exactly 1: not left out


@pytest.mark.parametrize("gains", [(1, 1, 1), (2, 1, 1.5)], ids=["one-photon-size", "white-balanced"])
@pytest.mark.parametrize("name", ["kodim03", "lena"])
def test_noise_sigma_reads_the_rms_noise_where_the_noise_grows_with_the_intensity(shared_data, name, gains):
    import deepprior.metrics
    from deepprior.io import read_image
    from deepprior.metrics import noise_sigma

    clean = read_image(shared_data / f"dip/project_page/Denoising/Color/25/{name}_GT.png").pixels.astype(np.float64)
    clean = clean[128:384, 128:384]
    gain = np.array(gains)  # channel c counts 30 / g_c photons at white, multiplied by g_c: variance g_c x / 30
    photons = _rng(8).poisson(clean * 30 / gain) * gain / 30
    rms = float(np.std(photons - clean))
    assert noise_sigma(photons) == pytest.approx(rms, rel=0.05)
    if len(set(gains)) > 1:
        with pytest.MonkeyPatch.context() as pooled:  # one line for all: the weak patches read the quietest channel
            pooled.setattr(deepprior.metrics, "_channel_lines_variance", lambda *args: None)
            assert noise_sigma(photons) < 0.8 * rms
    with pytest.MonkeyPatch.context() as no_line:  # the weak-texture patches alone, the quieter ones
        no_line.setattr(deepprior.metrics, "_signal_dependent_level", lambda *args: None)
        assert noise_sigma(photons) < 0.8 * rms


def test_noise_sigma_refuses_channel_lines_that_read_skin_texture_as_noise(shared_data):
    from deepprior.io import read_image
    from deepprior.metrics import _line_mean, _signal_dependent_level, _weak_texture_estimate, noise_sigma

    face = read_image(shared_data / "dip/project_page/SR/Set14/x4/face_GT.png").pixels.astype(np.float64)
    sigma = 5 / 255
    noisy = face + _rng(10).normal(0, sigma, face.shape)  # white noise: one level in every channel
    variances = []
    for plane in np.moveaxis(noisy, 2, 0)[..., None]:
        own = _weak_texture_estimate(plane, 5)
        level = _signal_dependent_level(plane, own)
        variances.append(own.variance if level is None else _line_mean(plane, level, own.variance))
    assert np.sqrt(np.mean(variances)) > 1.4 * sigma  # channel by channel, the skin's fine texture reads as noise
    assert noise_sigma(noisy) == pytest.approx(sigma, rel=0.05)  # stabilised by those lines, the noise reads low


def test_noise_sigma_keeps_one_level_where_the_noise_is_the_same_at_every_intensity():
    from deepprior.metrics import _signal_dependent_level, _WeakTextureEstimate, _WeakTexturePatches, noise_sigma

    clean = np.repeat(np.linspace(0.05, 0.95, 8), 24)[None, :].repeat(192, axis=0)  # 8 flat steps, dark to bright
    gaussian = clean + _rng(9).normal(0, 0.1, clean.shape)
    patches = _WeakTexturePatches(gaussian[..., None], 5)
    assert _signal_dependent_level(gaussian[..., None], _WeakTextureEstimate(0.01, patches, patches.finite)) is None
    assert noise_sigma(gaussian) == pytest.approx(0.1, rel=0.05)
    art = np.zeros((128, 128, 3))  # flat colours, no noise: patches with none, and a line with some at the edges
    art[20:60, 30:90], art[70:120, 10:50] = (1, 0.5, 0.2), (0.1, 0.9, 0.3)
    assert noise_sigma(clean) < 1e-3 and noise_sigma(art) < 1e-3
    photons = _rng(8).poisson(clean * 30) / 30  # the same steps, photon noise: a level that grows 19-fold
    patches = _WeakTexturePatches(photons[..., None], 5)
    estimate = _WeakTextureEstimate(float(np.var(photons - clean)), patches, patches.finite)
    a, b = _signal_dependent_level(photons[..., None], estimate)
    assert a == pytest.approx(1 / 30, rel=0.1) and abs(b) < 1e-3
    holed = photons.copy()
    holed[10:60, 30:90] = np.nan  # missing pixels: their blocks left out of the line, not read as flat 0.5
    assert noise_sigma(holed) == pytest.approx(float(np.std(photons - clean)), rel=0.05)


def test_noise_sigma_skips_non_finite_pixels_and_falls_back_on_a_tiny_image():
    from deepprior.metrics import noise_sigma

    noisy = 0.5 + _rng(6).normal(0, 0.1, (96, 96, 3))
    noisy[10:30, 40:44] = np.nan
    assert noise_sigma(noisy) == pytest.approx(0.1, rel=0.06)
    tiny = 0.5 + _rng(7).normal(0, 0.1, (4, 4))
    assert 0 < noise_sigma(tiny) < 1  # smaller than a patch: the wavelet median
    for patch in (1, 2.5, True):
        with pytest.raises(InputError, match="patch"):
            noise_sigma(noisy, patch=patch)
