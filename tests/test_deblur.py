"""Deblurring: the blur operator is the convolution it claims, the PSFs are what they say, a blurred image gets
sharper, and bad PSFs are refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

import deepprior
from deepprior.cli import main
from deepprior.errors import InputError
from deepprior.io import read_image, write_image
from deepprior.metrics import psnr
from deepprior.operators import Blur
from deepprior.operators.blur import FFT_TAPS
from deepprior.psf import as_psf, disk_psf, gaussian_psf, psf_from_spec
from helpers import smooth_image


def _blur(image: np.ndarray, psf, fft: bool | None = None) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    return Blur(psf, fft=fft)(x)[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("fft", [False, True])
@pytest.mark.parametrize("shape", [(5, 7), (15, 21)])  # a few taps, and more than FFT_TAPS (odd: scipy's centre)
def test_the_blur_is_scipys_convolution_with_mirrored_borders(shape, fft):
    rng = np.random.default_rng(0)
    image = rng.random((30, 41, 3))
    psf = rng.random((*shape, 3))  # lopsided, one per channel: a flip or a channel mix-up shows
    out = _blur(image, psf, fft)
    for c in range(3):
        expected = ndi.convolve(image[..., c], psf[..., c] / psf[..., c].sum(), mode="mirror")
        np.testing.assert_allclose(out[..., c], expected, atol=1e-5)


def test_a_wide_psf_goes_through_ffts_with_the_convolutions_gradient():
    """Above FFT_TAPS taps the blur is a product of FFTs: the same values and the same gradient (what the fit
    steps on) as the convolution, for a batch of images."""
    assert not Blur(np.ones((10, 10))).fft and Blur(np.ones((11, 10))).fft and FFT_TAPS == 100
    rng = np.random.default_rng(1)
    psf = rng.random((21, 17))
    x = torch.from_numpy(rng.random((2, 3, 36, 44)).astype(np.float32))
    weights = torch.from_numpy(rng.random((2, 3, 36, 44)).astype(np.float32))
    grads = []
    for fft in (False, True):
        leaf = x.clone().requires_grad_()
        (Blur(psf, fft=fft)(leaf) * weights).sum().backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(Blur(psf, fft=True)(x), Blur(psf, fft=False)(x), atol=1e-5, rtol=0)
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("fft", [False, True])
@pytest.mark.parametrize("shape", [(5, 5), (4, 6)])
def test_a_delta_at_the_psfs_centre_changes_nothing(shape, fft):
    psf = np.zeros(shape)
    psf[(shape[0] - 1) // 2, (shape[1] - 1) // 2] = 3.0  # any scale: normalised
    image = smooth_image(24)
    np.testing.assert_allclose(_blur(image, psf, fft), image, atol=1e-6)


def test_the_built_in_psfs():
    gauss = gaussian_psf(2.0)[0]
    assert gauss.shape == (13, 13) and gauss.sum() == pytest.approx(1) and np.allclose(gauss, gauss.T)
    u = np.arange(13) - 6
    variance = (gauss.sum(axis=0) * u**2).sum()
    assert variance == pytest.approx(4.0, rel=0.02)  # σ² of the truncated profile
    disk = disk_psf(3.0)[0]
    assert disk.shape == (7, 7) and disk.sum() == pytest.approx(1)
    assert disk[3, 3] == disk.max() and disk[0, 0] == 0 and 0 < disk[3, 0] < disk[3, 3]  # edge pixels partly in
    assert (np.count_nonzero(disk) - np.pi * 9) < 2 * np.pi * 3  # about the disk's area, plus its rim
    np.testing.assert_array_equal(psf_from_spec(" Gaussian : 2 "), gaussian_psf(2.0))


@pytest.mark.parametrize(
    "psf, message",
    [
        ("gaussian:0", "σ must be a positive"),
        ("disk:-1", "radius must be a positive"),
        ("gaussian:nan", "σ must be a positive"),
        ("box:3", "unknown PSF 'box:3'"),
        ("gaussian:two", "'two' is not a number"),
        ("psf.png", "read it with deepprior.io.read_image"),
        ("gaussian:200", "at most 255"),
        (np.zeros((3, 3)), "no positive value"),
        (np.array([[1.0, np.nan]]), "not finite"),
        (np.ones((3, 3, 2)), "C = 1 or the image's 3"),
        (np.ones((2, 2, 2, 2)), "(h, w) or (h, w, C)"),
        ({"sigma": 2}, "must be an array"),
    ],
)
def test_a_bad_psf_is_refused_in_words(psf, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        as_psf(psf, 3)


def test_a_measured_psf_loses_its_negative_background_and_keeps_its_zero_level(tmp_path):
    measured = gaussian_psf(1.5)[0] * 40 - 0.01  # a float PSF with a little negative noise floor
    fits = pytest.importorskip("astropy.io.fits")
    fits.writeto(tmp_path / "psf.fits", measured.astype(np.float32))
    image = read_image(tmp_path / "psf.fits")
    assert image.value_range is not None  # the file's samples leave [0, 1]: mapped on read
    expected = measured.clip(0, None) / measured.clip(0, None).sum()
    np.testing.assert_allclose(as_psf(image, 1)[0], expected, rtol=1e-4, atol=1e-7)


def test_deblurring_sharpens_a_blurred_image():
    clean = smooth_image(64)
    blurred = _blur(clean, "gaussian:1.5")
    result = deepprior.deblur(blurred, "gaussian:1.5", iterations=400, width=16, reg_noise_std=0.0)
    assert psnr(result.image, clean) > psnr(blurred, clean) + 1.0
    assert result.record.task == "deblur" and result.record.extra == {"psf": "gaussian:1.5", "psf_size": [11, 11]}


def test_deblurring_refuses_what_it_cannot_do():
    image = smooth_image(32)
    with pytest.raises(InputError, match=r"PSF \(33×33\) must be smaller than the image \(32×32\)"):
        deepprior.deblur(image, np.ones((33, 33)))
    with pytest.raises(InputError, match="PSF must be .* C = 1 or the image's 1"):
        deepprior.deblur(image[..., 0], np.ones((3, 3, 3)))
    with pytest.raises(InputError, match=r"the mask is 32×16 but the image is 32×32"):
        deepprior.deblur(image, "gaussian:1", np.ones((16, 32), bool))
    missing = np.zeros((32, 32), bool)
    missing[:16] = True
    with pytest.raises(InputError, match="the mask marks no known pixel"):  # none left beside the NaN
        deepprior.deblur(deepprior.Image(image, None, 32, missing=missing), "gaussian:1", missing)


def test_pixels_left_out_of_a_deblurring_fit_do_not_change_it():
    """Saturated pixels under a mask, or missing in the image (a FITS file's NaN), weigh nothing: the fit is the
    one of the intact image, step for step; without the mask it is not."""
    intact = _blur(smooth_image(48), "gaussian:1")
    known = np.ones((48, 48), bool)
    known[10:20, 12:30] = False
    saturated = np.where(known[..., None], intact, 1.0)
    fast = {"iterations": 5, "width": 8, "progress": False}
    expected = deepprior.deblur(intact, "gaussian:1", known, **fast)
    masked = deepprior.deblur(saturated, "gaussian:1", known, **fast)
    np.testing.assert_array_equal(masked.image, expected.image)
    assert masked.record.operator == {"name": "Composed", "outer": {"name": "Mask"}, "inner": {"name": "Blur"}}
    assert masked.record.extra["known_fraction"] == pytest.approx(known.mean())
    missing = deepprior.deblur(deepprior.Image(saturated, None, 32, missing=~known), "gaussian:1", **fast)
    np.testing.assert_array_equal(missing.image, expected.image)
    assert not np.allclose(deepprior.deblur(saturated, "gaussian:1", **fast).image, expected.image, atol=1e-3)


def test_tiles_of_a_blurred_image_overlap_by_twice_the_blurs_reach():
    from deepprior.tiling import choose_tiling

    plan = deepprior.deblur.plan(smooth_image(160), "gaussian:3", tile=64, tile_overlap=0)
    tiling = choose_tiling(plan)
    assert Blur("gaussian:3").reach == 9 and tiling.overlap == 18
    tops = sorted({box[0] for box in tiling.boxes})
    assert all(later - earlier <= 64 - 18 for earlier, later in zip(tops, tops[1:]))


def test_the_command_line_deblurs_with_a_psf_file_or_a_shape(tmp_path):
    source = write_image(tmp_path / "blurred.png", _blur(smooth_image(48), "disk:2"))
    psf = write_image(tmp_path / "psf.tif", disk_psf(2)[0].astype(np.float32))
    fast = ["--iterations", "3", "--channels", "8", "--quiet", "--fp32"]  # fp32: the two runs agree to its rounding
    assert main(["deblur", str(source), "--psf", str(psf), "-o", str(tmp_path / "a.png"), *fast]) == 0
    record = json.loads((tmp_path / "a.json").read_text())
    assert record["inputs"] == {"image": str(source), "psf": str(psf)}
    assert record["extra"] == {"psf": "psf.tif", "psf_size": [5, 5]}
    assert main(["deblur", str(source), "--psf", "disk:2", "-o", str(tmp_path / "b.png"), *fast]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["extra"]["psf"] == "disk:2"
    # the same PSF from a file (float32) and from its shape: the same fit, up to one step of the 8-bit output
    np.testing.assert_allclose(
        read_image(tmp_path / "a.png").pixels, read_image(tmp_path / "b.png").pixels, atol=1.01 / 255
    )
    known = np.ones((48, 48), np.uint8)
    known[:8] = 0
    mask = write_image(tmp_path / "mask.png", known * 255)
    argv = ["deblur", str(source), "--psf", "disk:2", "--mask", str(mask), "-o", str(tmp_path / "c.png"), *fast]
    assert main(argv) == 0
    record = json.loads((tmp_path / "c.json").read_text())
    assert record["inputs"]["mask"] == str(mask) and record["extra"]["known_fraction"] == pytest.approx(40 / 48)


def test_the_blur_benchmark_times_both_ways_and_finds_them_equal(tmp_path):
    from benchmarks.bench_blur import main as bench

    out = tmp_path / "blur"
    argv = ["--sizes", "40", "--sides", "5", "13", "--repeats", "1", "--rounds", "1", "--fit-size", "40"]
    assert bench([*argv, "--fit-psf", "disk:4", "--fit-steps", "2", "--fit-rounds", "1", "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert [row["side"] for row in result["operator"]] == [5, 13]
    assert all(row["max_difference"] < 1e-5 and row["fft_ms"] > 0 for row in result["operator"])
    assert result["fits"][0]["side"] == 9 and "| 40² | `disk:4` | 9 | 2 |" in out.with_suffix(".md").read_text()


def test_the_bad_pixel_benchmark_corrupts_what_its_mask_leaves_out(tmp_path, shared_data):
    from benchmarks.bench_masked_deblur import corrupt, main, median_filled

    clean = np.full((40, 40, 3), 0.5, np.float32)
    corrupted, known = corrupt(clean, "F16", 0.1)
    assert 0.05 < 1 - known.mean() < 0.15 and np.array_equal(corrupted[known], clean[known])
    assert set(np.unique(corrupted[~known])) == {0.0, 1.0}
    np.testing.assert_array_equal(median_filled(corrupted, known), clean)  # 10%: no 3×3 median is a bad pixel
    corrupted, known = corrupt(clean, "F16", 0.1, "blobs")
    assert 0.1 <= 1 - known.mean() < 0.2 and set(np.unique(corrupted[~known])) <= {0.0, 1.0}
    assert not np.array_equal(median_filled(corrupted, known), clean)  # a disc's centre is beyond a 3×3 median
    out = tmp_path / "masked"
    argv = ["--data-dir", str(shared_data), "--limit", "1", "--crop", "40", "--iterations", "2", "--out", str(out)]
    assert main(argv) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    methods = ["input", "richardson-lucy", "richardson-lucy, filled", "dip", "dip, mask", "dip, filled"]
    assert [row["method"] for row in result["rows"]] == methods and result["rows"][0]["image"] == "F16"
    assert "| dip, mask |" in out.with_suffix(".md").read_text()
