"""An observation that spans little of [0, 1] is fitted stretched onto it, and the result mapped back."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deepprior
from deepprior.errors import InputError
from deepprior.stretch import Stretch, choose_stretch
from helpers import add_noise, smooth_image

TINY_FIT = {"iterations": 4, "width": 8, "seed": 0, "amp": False}  # fp32: the comparisons are exact


def full_range(size: int = 32) -> np.ndarray:
    """A noisy picture whose values reach 0 and 1 exactly."""
    image = add_noise(smooth_image(size), 0.1)
    image[0, 0, 0], image[-1, -1, -1] = 0.0, 1.0
    return image


def test_the_stretch_is_chosen_by_the_span_of_the_observed_values():
    dim = smooth_image(16) * 0.25 + 0.05  # spans 0.2: a dim exposure
    stretch = choose_stretch(dim)
    assert stretch == Stretch(float(dim.min()), float(dim.max()))
    assert choose_stretch(smooth_image(16)) is None  # spans 0.8: as it is
    assert choose_stretch(smooth_image(16), requested=True) is not None
    assert choose_stretch(dim, requested=False) is None and choose_stretch(dim, below=0.1) is None
    assert choose_stretch(np.full((8, 8, 3), 0.01, np.float32), requested=True) is None  # nothing to stretch
    # only the observed values count: a mask's missing pixels (y = 0 there) do not widen the range
    known = np.ones((16, 16, 1), bool)
    known[:4] = False
    observation = dim * known
    assert choose_stretch(observation, known.astype(np.float32)) == choose_stretch(dim[4:])
    assert choose_stretch(observation).low == 0.0
    for below in (-0.1, 1.5, True, "half"):
        with pytest.raises(InputError, match="stretch_below must be a number in"):
            choose_stretch(dim, below=below)


def test_the_stretch_maps_the_observation_of_any_linear_forward_model_exactly():
    from deepprior.loop import as_numpy_image, as_tensor_image
    from deepprior.operators import Composed, Mask
    from deepprior.operators.blur import Blur

    image = smooth_image(32) * 0.2 + 0.3
    known = np.random.default_rng(0).random((32, 32)) > 0.5
    operator = Composed(Mask(known), Blur("gaussian:1.5"))
    forward = lambda x: as_numpy_image(operator(as_tensor_image(x.astype(np.float32))))
    y, ones = forward(image), forward(np.ones_like(image))
    stretch = choose_stretch(y, ones)
    stretched = stretch.observation(y, ones)
    # A(low + span x') = low A1 + span A x': the stretched image explains the stretched observation
    np.testing.assert_allclose(forward(stretch.image(image)), stretched, atol=1e-5)
    assert np.all(stretched[~known] == 0)
    assert stretched[known].min() == pytest.approx(0, abs=1e-6) and stretched[known].max() == pytest.approx(1)
    np.testing.assert_allclose(stretch.inverse(stretch.image(image)), image, atol=1e-6)


def test_a_dim_image_is_fitted_as_its_full_range_self_and_mapped_back(monkeypatch):
    bright = full_range()
    dim = bright / 16  # a 12-bit camera's range: dividing by a power of two is exact in floats
    result = deepprior.denoise(dim, reference=smooth_image(32) / 16, **TINY_FIT)
    assert result.record.extra["stretch"] == {"low": 0.0, "high": 1 / 16}
    baseline = deepprior.denoise(bright, reference=smooth_image(32), **TINY_FIT)
    assert "stretch" not in baseline.record.extra
    np.testing.assert_array_equal(result.image, baseline.image / 16)  # the same fit, on the dim image's scale
    # the history is in the image's units: an error 16 times smaller is 20 log10 16 dB more
    np.testing.assert_allclose(
        result.history.psnr, np.asarray(baseline.history.psnr) + 20 * np.log10(16), rtol=0, atol=1e-4
    )
    as_it_is = deepprior.denoise(dim, stretch=False, **TINY_FIT)
    assert "stretch" not in as_it_is.record.extra and not np.array_equal(as_it_is.image, result.image)
    # forced on a full-range image whose values reach 0 and 1, the stretch is the identity
    np.testing.assert_array_equal(deepprior.denoise(bright, stretch=True, **TINY_FIT).image, baseline.image)
    with pytest.raises(InputError, match="stretch must be True, False or None"):
        deepprior.denoise(dim, stretch="auto", **TINY_FIT)


def test_the_record_of_a_stretched_ensemble_and_refiner_is_in_the_images_units():
    bright = full_range(48)
    keywords = {**TINY_FIT, "seeds": 2, "refine": "wiener", "reference": smooth_image(48)}
    baseline = deepprior.denoise(bright, **keywords)
    result = deepprior.denoise(bright / 16, **{**keywords, "reference": smooth_image(48) / 16})
    np.testing.assert_allclose(result.image, baseline.image / 16, atol=1e-7)
    assert result.record.seed_spread == pytest.approx(baseline.record.seed_spread / 16, rel=1e-5)
    assert result.record.refinement["sigma"] == pytest.approx(baseline.record.refinement["sigma"] / 16, rel=1e-5)
    for dim, full in zip(result.record.seeds, baseline.record.seeds):
        assert dim["psnr"] == pytest.approx(full["psnr"] + 20 * np.log10(16), abs=1e-4)


def test_inpainting_stretches_the_known_pixels_and_keeps_them_as_given():
    image = smooth_image(32) * 0.1 + 0.2  # spans 0.08
    known = np.ones((32, 32), bool)
    known[8:16, 8:16] = False
    damaged = image.copy()
    damaged[~known] = 0.95  # what lies under the hole must not count
    plan = deepprior.inpaint.plan(damaged, known, **TINY_FIT)
    stretch = plan.problem.extra["stretch"]
    assert stretch == {"low": float(image[known].min()), "high": float(image[known].max())}
    observation = plan.problem.observation
    assert observation[known].min() == 0 and observation[known].max() == pytest.approx(1)
    assert np.all(observation[~known] == 0)
    restored = plan.run().image
    np.testing.assert_array_equal(restored[known], damaged[known])  # the known pixels come back as given
    hole = restored[~known]
    assert stretch["low"] - 1e-6 <= hole.min() and hole.max() <= stretch["high"] + 1e-6


def test_the_command_line_stretches_a_twelve_bit_image_and_says_so(tmp_path, capsys):
    import tifffile

    from deepprior.cli import main
    from deepprior.io import read_image

    counts = np.round(full_range() * 4095).astype(np.uint16)  # a 12-bit camera's counts in a 16-bit file
    tifffile.imwrite(tmp_path / "cells.tif", counts)
    fit = ["--iterations", "2", "--channels", "8"]
    assert main(["denoise", str(tmp_path / "cells.tif"), "-o", str(tmp_path / "a.tif"), "--save-every", "2", *fit]) == 0
    summary = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("wrote"))
    assert "fitted stretched from [0, 0.06249]" in summary
    record = json.loads((tmp_path / "a.json").read_text())
    assert record["extra"]["stretch"] == {"low": 0.0, "high": pytest.approx(4095 / 65535)}
    written = tifffile.imread(tmp_path / "a.tif")
    assert written.dtype == np.uint16 and written.max() <= 4096  # back on the camera's scale
    snapshot = read_image(tmp_path / "a_snapshots" / "step_000002.png")  # so is the snapshot
    assert snapshot.bit_depth == 16 and 0 < snapshot.pixels.max() <= 4096 / 65535
    assert main(["denoise", str(tmp_path / "cells.tif"), "-o", str(tmp_path / "b.tif"), "--no-stretch", *fit]) == 0
    assert "stretch" not in json.loads((tmp_path / "b.json").read_text())["extra"]
    # a classical solver fits nothing to stretch: the flag is refused in one line
    argv = ["smooth", str(tmp_path / "cells.tif"), "-o", str(tmp_path / "c.tif"), "--method", "region-fusion"]
    assert main([*argv, "--stretch"]) == 2
    assert "--stretch does not apply to region-fusion" in capsys.readouterr().err


def test_a_batch_of_dim_images_stepped_together_maps_each_back_with_its_own_range():
    rng = np.random.default_rng(1)
    images = [full_range() * scale for scale in (1 / 16, 1 / 8)]
    images[1] = np.clip(images[1] + 0.01 * rng.standard_normal(images[1].shape), 0, 1).astype(np.float32)
    plans = [deepprior.denoise.plan(image, **TINY_FIT) for image in images]
    together = deepprior.run_together(plans, at_once=2)
    for image, plan, restoration in zip(images, plans, together):
        assert restoration.record.at_once == 2
        assert restoration.record.extra["stretch"]["high"] == float(image.max())
        alone = plan.run()
        np.testing.assert_allclose(restoration.image, alone.image, atol=2e-5)
