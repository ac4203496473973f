"""Noise models: the noise level function's estimate, every registered model's contract, the Poisson-Gaussian
transform's stabilised variance and unbiased inverse, and denoising through a model."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deepprior
from deepprior.errors import InputError
from deepprior.metrics import channel_noise_levels, noise_level_function
from deepprior.noise import NoiseModel
from deepprior.noise.poisson import PoissonGaussian
from deepprior.registry import NOISE_MODELS
from helpers import smooth_image

RAMP = np.tile(np.linspace(0.02, 0.98, 512), (512, 1))


def _poisson_gaussian(clean: np.ndarray, photons: float, read_noise: float, seed: int = 0) -> np.ndarray:
    """``clean`` as a sensor of ``photons`` per unit intensity with Gaussian read noise would record it, clipped."""
    rng = np.random.default_rng(seed)
    noisy = rng.poisson(clean * photons) / photons + read_noise * rng.standard_normal(clean.shape)
    return np.clip(noisy, 0, 1)


@pytest.mark.parametrize(
    "photons, read_noise, brightest, tolerance",
    [(20, 0.0, 0.5, 0.1), (30, 0.0, 1.0, 0.05), (200, 0.01, 1.0, 0.05), (1000, 0.02, 1.0, 0.05)],
)
def test_the_noise_level_function_is_found_from_one_image(photons, read_noise, brightest, tolerance):
    """Photons per unit intensity (white), the read noise's σ; a dim image (20 photons at white, 10 at its
    brightest) has no clipped highlights, and its few discrete counts leave a larger error."""
    a, b = noise_level_function(_poisson_gaussian(RAMP * brightest, photons, read_noise))
    assert a == pytest.approx(1 / photons, rel=tolerance)
    for x in (0.1, 0.5, 0.9):  # the noise's σ at dark, middle and bright grey
        assert np.sqrt(a * x + b) == pytest.approx(np.sqrt(x / photons + read_noise**2), rel=tolerance / 2)


def test_the_noise_level_function_counts_a_photon_counters_zeros_as_counts_not_as_clipped_noise(monkeypatch):
    """A dim photon-counting image (0.1 to 5 photons, a fifth of its pixels zero): its zeros sit on the lattice of
    whole photons, so the intensity levels that touch 0 are kept and fitted with a line; taken as Gaussian noise
    clipped at 0, the reading would be off (a few photons are far from Gaussian)."""
    import deepprior.metrics

    dim = np.random.default_rng(5).poisson(RAMP * 5) / 10  # 1 photon = 0.1, up to 10 photons fit in [0, 1]
    a, b = noise_level_function(dim)
    assert (dim == 0).mean() > 0.15 and a == pytest.approx(0.1, rel=0.1) and abs(b) < 0.1 * a**2
    monkeypatch.setattr(deepprior.metrics, "_photon_lattice", lambda pixels, a: False)
    a_clipped, b_clipped = noise_level_function(dim)
    assert abs(a_clipped - 0.1) > 2 * abs(a - 0.1) and b_clipped > 0.5 * a**2


def test_the_noise_level_function_of_gaussian_noise_is_flat_and_skips_missing_and_clipped_pixels():
    rng = np.random.default_rng(1)
    noisy = np.clip(RAMP + 0.05 * rng.standard_normal(RAMP.shape), 0, 1)
    a, b = noise_level_function(noisy)
    assert a < 0.1 * b and b == pytest.approx(0.05**2, rel=0.05)
    known = np.ones(RAMP.shape, bool)
    known[:, 256:] = False
    spoiled = noisy.copy()
    spoiled[:, 256:] = rng.random((512, 256))  # uniform junk where no pixel is known
    assert noise_level_function(spoiled, known) == pytest.approx(noise_level_function(noisy[:, :256]), rel=0.05)
    with pytest.raises(InputError, match="too few 2×2 blocks"):
        noise_level_function(np.round(noisy))  # black and white only
    with pytest.raises(InputError, match="known must be 512×512"):
        noise_level_function(noisy, known[:, :100])


def _clipped_ramp(low: float, high: float, a: float, read_noise: float, seed: int = 0) -> np.ndarray:
    """A horizontal ramp from ``low`` to ``high`` with noise of variance a x + read_noise², clipped to [0, 1]."""
    clean = np.tile(np.linspace(low, high, 512), (512, 1))
    noise = np.sqrt(a * clean + read_noise**2) * np.random.default_rng(seed).standard_normal(clean.shape)
    return np.clip(clean + noise, 0, 1)


def test_read_noise_clipped_at_black_is_fitted_with_the_clipped_model_not_a_line(monkeypatch):
    """A dark ramp (0 to a quarter, 40 photons at white, read noise σ 0.04): every intensity level has pixels cut
    at 0, whose variance a line through the levels reads as photon noise; the clipped model does not."""
    import deepprior.metrics

    dark = _clipped_ramp(0, 0.25, 1 / 40, 0.04)
    a, b = noise_level_function(dark)
    assert a == pytest.approx(1 / 40, rel=0.1) and b == pytest.approx(0.04**2, rel=0.15)
    monkeypatch.setattr(deepprior.metrics, "_fit_clipped", deepprior.metrics._fit_level_line)
    line_a, line_b = noise_level_function(dark)  # the same intensity levels, a line through them
    assert abs(line_a - 1 / 40) > 2 * abs(a - 1 / 40) and abs(line_b - 0.04**2) > 2 * abs(b - 0.04**2)


def test_highlights_clipped_at_white_are_fitted_and_values_above_one_are_not_taken_as_clipped():
    """A ramp from 0.3 to 1.2, 100 photons at white, read noise σ 0.02: clipped at 1 (a fifth of it white), the
    clipped model finds the level; left unclipped (an image above 1 was not clipped there), a line does."""
    clean = np.tile(np.linspace(0.3, 1.2, 512), (512, 1))
    over = clean + np.sqrt(clean / 100 + 0.02**2) * np.random.default_rng(1).standard_normal(clean.shape)
    for image in (_clipped_ramp(0.3, 1.2, 1 / 100, 0.02), over):
        a, b = noise_level_function(image)
        assert a == pytest.approx(1 / 100, rel=0.1)
        for x in (0.4, 0.7, 0.95):  # b is a small part of the variance here: the noise's σ is what matters
            assert np.sqrt(a * x + b) == pytest.approx(np.sqrt(x / 100 + 0.02**2), rel=0.03)


def test_clipped_noise_is_measured_on_known_blocks_only():
    """Where half the image is unknown junk, the clipped model's groups (by the 12 neighbours of each block) use
    only blocks whose 4×4 window is known: the reading is that of the known half alone."""
    dark = _clipped_ramp(0, 0.25, 1 / 40, 0.04)
    known = np.ones(dark.shape, bool)
    known[:, 256:] = False
    spoiled = dark.copy()
    spoiled[:, 256:] = np.random.default_rng(2).random((512, 256))
    assert noise_level_function(spoiled, known) == pytest.approx(noise_level_function(dark[:, :256]), rel=1e-6)


@pytest.mark.parametrize("name", NOISE_MODELS.names())
def test_every_noise_model_keeps_its_contract(name):
    clean = smooth_image(64).astype(np.float64) * 0.8 + 0.1
    noisy = _poisson_gaussian(clean, 100, 0.005).astype(np.float32)
    model = NOISE_MODELS.get(name).estimate(noisy)
    assert isinstance(model, NoiseModel)
    described = model.describe()
    assert described["name"] == name and json.loads(json.dumps(described)) == described
    stabilised = model.stabilise(noisy)
    assert stabilised.shape == noisy.shape and stabilised.dtype == np.float32
    assert stabilised.min() >= 0 and stabilised.max() <= 1
    assert (stabilised is noisy) != model.stabilises  # a model that does nothing says so
    # the inverse of a clean image's transform is that image, up to the bias the unbiased inverse corrects
    round_trip = model.unstabilise(model.stabilise(clean.astype(np.float32)))
    assert np.abs(round_trip - clean).max() < 0.01


@pytest.mark.parametrize("a, b", [(1 / 30, 0.0), (1 / 200, 1e-4), (1 / 5, 0.0)])
def test_the_poisson_transform_stabilises_the_variance_and_its_inverse_is_unbiased(a, b):
    """Over many draws at one intensity x: the stabilised noise's σ is the one the model states (from 2 photons
    on), and mapping back the mean of the stabilised draws gives x (the algebraic inverse would not)."""
    model = PoissonGaussian(a, b)
    sigma = model.describe()["stabilised_sigma"]
    rng = np.random.default_rng(0)
    low, high = model.channels[0]._range
    for x in (0.01, 0.05, 0.2, 0.7):
        draws = a * rng.poisson(x / a, 200_000) + np.sqrt(b) * rng.standard_normal(200_000)
        stabilised = model.stabilise(draws).astype(np.float64)
        if x / a >= 2:
            assert stabilised.std() == pytest.approx(sigma, rel=0.1)
        assert model.unstabilise(np.array([stabilised.mean()]))[0] == pytest.approx(x, rel=0.02, abs=2e-4)
        if x / a < 2:  # the algebraic inverse, (D/2)² - 3/8 - b/a², would darken dim pixels
            algebraic = a * (((low + stabilised.mean() * (high - low)) / 2) ** 2 - 0.375 - b / a**2)
            assert algebraic < 0.9 * x


def test_a_cameras_offset_is_a_negative_b_found_and_inverted_without_bias():
    """y = a k + offset (a dark level, no read noise): var = a y - a · offset, so b < 0."""
    a, offset = 1 / 100, 0.05
    rng = np.random.default_rng(4)
    ramp = np.clip(RAMP, offset, None)
    estimated_a, estimated_b = noise_level_function(np.clip(a * rng.poisson((ramp - offset) / a) + offset, 0, 1))
    assert estimated_a == pytest.approx(a, rel=0.05) and estimated_b == pytest.approx(-a * offset, rel=0.2)
    model = PoissonGaussian(a, -a * offset)
    for x in (0.06, 0.15, 0.5):  # 1, 10 and 45 photons above the offset
        draws = a * rng.poisson((x - offset) / a, 200_000) + offset
        assert model.unstabilise(np.array([model.stabilise(draws).mean()]))[0] == pytest.approx(x, rel=0.01)


def _white_balanced(clean: np.ndarray, photons: float, gains: tuple[float, ...], seed: int = 0) -> np.ndarray:
    """``clean`` as a colour sensor records it whose channel c counts ``photons / g_c`` per unit intensity and is
    multiplied by ``g_c`` (white balance): its photons are ``g_c / photons`` in size."""
    gain = np.asarray(gains, float)
    return np.clip(np.random.default_rng(seed).poisson(clean * photons / gain) * gain / photons, 0, 1)


def test_a_colour_cameras_channels_get_a_noise_level_each_and_one_stabilised_sigma():
    gains = (2.0, 1.0, 1.5)
    noisy = _white_balanced(np.repeat(RAMP[..., None], 3, axis=2), 100, gains)
    model = PoissonGaussian.estimate(noisy)
    assert model.a == pytest.approx(tuple(gain / 100 for gain in gains), rel=0.05)
    pooled = PoissonGaussian(*noise_level_function(noisy))  # one level for all: right for none of the channels
    sigmas = _stabilised_sigmas(model, noisy)
    assert sigmas == pytest.approx(model.describe()["stabilised_sigma"], rel=0.05)  # the σ the record states
    assert sigmas.max() / sigmas.min() < 1.05
    pooled_sigmas = _stabilised_sigmas(pooled, noisy)
    assert pooled_sigmas.max() / pooled_sigmas.min() > 1.2
    # each channel maps back without bias, through its own inverse (1 to 30 photons)
    true = PoissonGaussian(tuple(gain / 100 for gain in gains))
    for x in (0.02, 0.3):
        draws = _white_balanced(np.full((200_000, 1, 3), x), 100, gains)
        means = true.stabilise(draws).mean(axis=(0, 1), keepdims=True)
        np.testing.assert_allclose(true.unstabilise(means).ravel(), x, rtol=0.02)


def test_channels_share_one_noise_level_unless_their_levels_differ():
    clean = np.repeat(RAMP[::2, ::2, None], 3, axis=2)  # 256×256
    for seed in range(5):  # one photon size in every channel: one line, fitted to all channels' groups
        levels = channel_noise_levels(_white_balanced(clean, 100, (1.0, 1.0, 1.0), seed))
        assert levels[0] == levels[1] == levels[2] and levels[0][0] == pytest.approx(1 / 100, rel=0.05)
    assert isinstance(PoissonGaussian.estimate(_white_balanced(clean, 100, (1.0, 1.0, 1.0))).a, float)
    # red's photons 25 % larger: told apart, each channel its own line
    levels = channel_noise_levels(_white_balanced(clean, 100, (1.25, 1.0, 1.0)))
    assert levels[0][0] == pytest.approx(1.25 / 100, rel=0.05) and levels[1][0] == pytest.approx(1 / 100, rel=0.05)
    # the same photons, but more read noise in blue
    rng = np.random.default_rng(1)
    noisy = np.clip(
        _white_balanced(clean, 100, (1.0, 1.0, 1.0)) + [0, 0, 0.03] * rng.standard_normal(clean.shape), 0, 1
    )
    levels = channel_noise_levels(noisy)
    assert levels[2][1] == pytest.approx(0.03**2, rel=0.2) and abs(levels[0][1]) < 0.2 * 0.03**2
    assert channel_noise_levels(clean[..., 0] + 0.01)[0] is None  # one plane without noise: no level
    with pytest.raises(InputError, match="significance"):
        channel_noise_levels(clean, significance=1.5)


def _stabilised_sigmas(model: PoissonGaussian, noisy: np.ndarray) -> np.ndarray:
    """Each channel's noise σ after ``model``'s transform, from the diagonal detail of 2×2 blocks (a smooth image
    cancels in it)."""
    stabilised = model.stabilise(noisy).astype(np.float64)
    detail = stabilised[:-1:2, :-1:2] - stabilised[:-1:2, 1::2] - stabilised[1::2, :-1:2] + stabilised[1::2, 1::2]
    return detail.std(axis=(0, 1)) / 2


def test_a_channel_whose_level_cannot_be_estimated_takes_the_pooled_one_or_the_others_mean(monkeypatch):
    import deepprior.metrics

    rgb = _poisson_gaussian(np.repeat(RAMP[..., None], 3, axis=2), 200, 0.0)
    flat = rgb.copy()
    flat[..., 2] = 0.5  # a channel without noise: nothing to estimate
    warning = r"channel\(s\) 2 of the image: no noise level found .* so they take that of all channels pooled"
    with pytest.warns(UserWarning, match=warning):
        model = PoissonGaussian.estimate(flat)
    assert model.a[2] == noise_level_function(flat)[0] and model.a[:2] == pytest.approx((1 / 200, 1 / 200), rel=0.05)
    with pytest.raises(InputError, match="give the noise level"):
        PoissonGaussian.estimate(np.round(rgb))  # black and white: no channel's level, nor the pooled one

    def no_pooled_level(pixels, known=None):  # as where the pooled blocks are clipped everywhere
        if np.ndim(pixels) == 3:
            raise InputError("too few 2×2 blocks")
        return noise_level_function(pixels, known)

    monkeypatch.setattr(deepprior.metrics, "noise_level_function", no_pooled_level)
    with pytest.warns(UserWarning, match="so they take that of the mean of the other channels'"):
        model = PoissonGaussian.estimate(flat)
    a, b = np.broadcast_to(model.a, 3), np.broadcast_to(model.b, 3)  # one level, where the others share one
    assert a[2] == pytest.approx(np.mean(a[:2])) and b[2] == pytest.approx(np.mean(b[:2]))


def test_a_poisson_model_without_signal_dependence_is_the_identity():
    model = PoissonGaussian(1e-5, 1e-3)
    pixels = smooth_image(16)
    assert not model.stabilises and model.stabilise(pixels) is pixels and model.unstabilise(pixels) is pixels
    with pytest.raises(InputError, match="a >= 0"):
        PoissonGaussian(-1.0, 0.0)


def test_denoising_poisson_noise_fits_the_stabilised_image_and_maps_it_back():
    clean = smooth_image(64).astype(np.float64) * 0.8 + 0.1
    noisy = _white_balanced(clean, 50, (3.0, 1.0, 2.0)).astype(np.float32)  # one photon size per channel
    keywords = {"iterations": 3, "width": 8, "seed": 0}
    result = deepprior.denoise(noisy, noise="poisson", **keywords)
    noise = result.record.extra["noise"]
    assert noise["name"] == "poisson" and noise["estimated"] and len(noise["a"]) == 3 and min(noise["a"]) > 0
    assert result.image.shape == noisy.shape and 0 <= result.image.min() and result.image.max() <= 1
    level = (*noise["a"], *noise["b"])  # one a per channel, then one b per channel
    given = deepprior.denoise(noisy, noise="poisson", noise_level=level, **keywords)
    assert given.record.extra["noise"]["estimated"] is False
    np.testing.assert_array_equal(given.image, result.image)  # the same model, given or estimated
    plain = deepprior.denoise(noisy, **keywords)
    assert "noise" not in plain.record.extra and not np.array_equal(plain.image, result.image)
    # the fit ran on the stabilised image: mapping the output back is the last step
    model = PoissonGaussian(noise["a"], noise["b"])
    on_stabilised = deepprior.denoise(model.stabilise(noisy), **keywords)
    np.testing.assert_allclose(result.image, model.unstabilise(on_stabilised.image), atol=1e-6)


def test_gaussian_noise_given_to_the_poisson_model_is_denoised_as_gaussian_with_a_warning():
    rng = np.random.default_rng(2)
    noisy = np.clip(RAMP[::4, ::4, None] + 0.05 * rng.standard_normal((128, 128, 3)), 0, 1)
    keywords = {"iterations": 2, "width": 8, "seed": 0}
    with pytest.warns(UserWarning, match="the noise hardly varies with the intensity"):
        result = deepprior.denoise(noisy, noise="poisson", **keywords)
    assert result.record.extra["noise"]["stabilised_sigma"] is None  # recorded, and not applied
    np.testing.assert_array_equal(result.image, deepprior.denoise(noisy, **keywords).image)


def test_a_classical_row_takes_no_noise_model():
    with pytest.raises(InputError, match="takes no noise model"):
        deepprior.tasks.base.blind_plan(
            "smooth", smooth_image(32), "region-fusion", "paper", 0, "cpu", {}, noise="poisson"
        )


def test_the_command_line_denoises_photon_noise_and_records_the_model(tmp_path, capsys):
    from deepprior.cli import main
    from deepprior.io import write_image

    clean = smooth_image(64).astype(np.float64) * 0.8 + 0.1
    noisy = write_image(tmp_path / "dim.png", _white_balanced(clean, 50, (3.0, 1.0, 2.0)).astype(np.float32))
    fast = ["--iterations", "2", "--channels", "8"]
    argv = ["denoise", str(noisy), "-o", str(tmp_path / "a.png"), "--noise", "poisson", "--report"]
    assert main([*argv, *fast]) == 0
    estimated = json.loads((tmp_path / "a.json").read_text())["extra"]["noise"]
    assert estimated["name"] == "poisson" and estimated["estimated"] and estimated["stabilised_sigma"] > 0
    assert "&quot;stabilised_sigma&quot;" in (tmp_path / "a.html").read_text()  # the report's settings show it
    # the summary line gives the level, to reuse for a series taken with the same camera
    summary = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("wrote"))
    a, b = (", ".join(f"{value:.4g}" for value in estimated[name]) for name in ("a", "b"))
    assert f"poisson noise a = ({a}), b = ({b}) (estimated)" in summary  # one per channel
    level = ",".join(map(repr, [*estimated["a"], *estimated["b"]]))
    argv = ["denoise", str(noisy), "-o", str(tmp_path / "b.png"), "--noise", "poisson", "--noise-level", level]
    assert main([*argv, *fast, "--quiet"]) == 0
    given = json.loads((tmp_path / "b.json").read_text())["extra"]["noise"]
    assert given == {**estimated, "estimated": False}


def test_a_stack_of_photon_counts_records_each_planes_noise_model(tmp_path):
    import tifffile

    from deepprior.cli import main

    planes = np.stack([RAMP[:64, ::8] * (0.4 + 0.2 * z) for z in range(3)])  # 64×64 planes, dim to bright
    counts = np.random.default_rng(3).poisson(planes * 400).astype(np.uint16)  # a camera's counts, 16 bits
    tifffile.imwrite(tmp_path / "z.tif", counts, imagej=True, metadata={"axes": "ZYX"})
    argv = ["denoise", str(tmp_path / "z.tif"), "-o", str(tmp_path / "out.tif"), "--noise", "poisson"]
    assert main([*argv, "--iterations", "2", "--channels", "8", "--quiet"]) == 0
    stack = json.loads((tmp_path / "out.json").read_text())["extra"]["stack"]
    models = [extra["noise"] for extra in stack["plane_extra"]]
    assert [m["name"] for m in models] == ["poisson"] * 3 and len({m["a"] for m in models}) == 3
    for model in models:  # one count is 1/65535 of the 16-bit range
        assert model["a"] * 65535 == pytest.approx(1, rel=0.25)
