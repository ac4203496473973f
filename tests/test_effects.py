"""Detail enhancement and pencil sketches on synthetic images whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2lab

import deepprior
from deepprior.cli import main
from deepprior.errors import InputError
from deepprior.io import read_image, write_image
from helpers import smooth_image


def _textured(size: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    texture = 0.06 * np.sin(xx * 1.7) * np.sin(yy * 2.1)
    image = smooth_image(size) * 0.8 + 0.1
    return np.clip(image + texture[..., None], 0, 1).astype(np.float32)


def test_enhance_with_gain_one_returns_the_input():
    image = _textured()
    same = deepprior.enhance(image, amount=1.0, method="region-fusion")
    np.testing.assert_allclose(same.image, image, atol=1e-4)
    assert same.record.task == "enhance" and same.record.extra["amount"] == 1.0


def test_enhance_scales_the_detail_and_keeps_the_hue():
    image = _textured()
    base = deepprior.smooth(image, method="region-fusion").image
    flat = deepprior.enhance(image, amount=0.0, method="region-fusion").image
    strong = deepprior.enhance(image, amount=3.0, method="region-fusion").image
    lightness = lambda a: rgb2lab(a)[..., 0]
    np.testing.assert_allclose(lightness(flat), lightness(base), atol=0.5)  # K = 0: the base's lightness
    detail, boosted = lightness(image) - lightness(base), lightness(strong) - lightness(base)
    inside = np.abs(detail) > 0.5  # away from clipping, the detail is tripled
    assert np.corrcoef(detail[inside], boosted[inside])[0, 1] > 0.95
    assert np.abs(boosted).mean() > 2.5 * np.abs(detail).mean()
    hue = lambda a: np.arctan2(rgb2lab(a)[..., 2], rgb2lab(a)[..., 1])
    chroma = np.hypot(*np.moveaxis(rgb2lab(image)[..., 1:], 2, 0)) > 5
    unclipped = chroma & (strong.min(axis=2) > 0.01) & (strong.max(axis=2) < 0.99)
    assert np.abs(np.angle(np.exp(1j * (hue(strong) - hue(image))))[unclipped]).max() < 0.05
    with pytest.raises(InputError, match="amount"):
        deepprior.enhance(image, amount=-1.0, method="region-fusion")


def test_a_flat_image_gives_a_blank_sketch_and_a_step_one_stroke():
    blank = deepprior.sketch(np.full((40, 40, 3), 0.3), method="region-fusion")
    assert blank.image.shape == (40, 40) and blank.image.min() == 1.0 and blank.record.task == "sketch"
    step = np.zeros((40, 40, 3), np.float32)
    step[:, 20:] = 0.8
    drawn = deepprior.sketch(step, method="region-fusion").image
    dark_columns = sorted(set(np.where(drawn < 0.5)[1]))
    assert dark_columns == [19, 20]  # the stroke runs along the edge, nowhere else
    assert drawn[:, :17].min() == 1.0 and drawn[:, 23:].min() == 1.0


def test_enhance_and_sketch_commands(tmp_path):
    source = write_image(tmp_path / "img.png", _textured())
    assert main(["enhance", str(source), "--method", "region-fusion", "--amount", "2", "--quiet"]) == 0
    assert read_image(tmp_path / "img_enhance.png").pixels.shape == (48, 48, 3)
    assert main(["sketch", str(source), "--method", "l0-smooth", "--quiet", "-o", str(tmp_path / "s.png")]) == 0
    assert read_image(tmp_path / "s.png").pixels.shape == (48, 48, 1)
