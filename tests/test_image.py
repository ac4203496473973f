"""Tests for deepprior.image: the Image type and the as_image boundary convertor."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import deepprior.image
from deepprior.errors import InputError
from deepprior.image import Image, ImageLike, as_image


def test_image_properties():
    img = Image(np.zeros((4, 5, 3), np.float32), np.ones((4, 5), np.float32), 16, Path("x.png"))
    assert img.height == 4 and img.width == 5 and img.channels == 3 and img.shape == (4, 5)
    assert not img.gray and img.has_alpha
    gray = Image(np.zeros((4, 5, 1), np.float32), None, 8)
    assert gray.gray and not gray.has_alpha and gray.path is None


def test_image_is_returned_as_is():
    img = Image(np.zeros((2, 2, 1), np.float32), None, 16)
    assert as_image(img) is img


@pytest.mark.parametrize(
    "dtype,bit_depth",
    [(np.uint8, 8), (np.int8, 8), (np.uint16, 16), (np.int16, 16), (np.int32, 16), (np.uint32, 16), (np.int64, 16)],
)
def test_integers_scaled_by_dtype_maximum(dtype, bit_depth):
    info = np.iinfo(dtype)
    a = np.array([[0, 1, info.max // 2, info.max]], dtype)
    img = as_image(a)
    assert img.bit_depth == bit_depth
    assert img.pixels.dtype == np.float32 and img.pixels.shape == (1, 4, 1)
    expected = (a.astype(np.float64) / info.max).astype(np.float32)
    assert np.array_equal(img.pixels[:, :, 0], expected)
    assert img.pixels.max() == 1.0 and img.alpha is None and img.path is None


def test_signed_integers_clipped_at_zero():
    img = as_image(np.array([[-128, -1, 0, 127]], np.int8))
    assert img.pixels[:, :, 0].tolist() == [[0.0, 0.0, 0.0, 1.0]]


def test_uint8_and_uint16_round_trip_exactly():
    a8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(np.round(as_image(a8).pixels[:, :, 0] * 255).astype(np.uint8), a8)
    a16 = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    assert np.array_equal(np.round(as_image(a16).pixels[:, :, 0] * 65535).astype(np.uint16), a16)


def test_bool_becomes_0_1():
    img = as_image(np.array([[True, False]]))
    assert img.bit_depth == 8
    assert img.pixels[:, :, 0].tolist() == [[1.0, 0.0]]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_floats_clipped_to_float32(dtype):
    img = as_image(np.array([[-0.5, 0.25], [1.5, 1.0]], dtype))
    assert img.bit_depth == 32 and img.pixels.dtype == np.float32
    assert img.pixels[:, :, 0].tolist() == [[0.0, 0.25], [1.0, 1.0]]


def test_lists_are_accepted():
    img = as_image([[0.0, 0.5], [1.0, 0.5]])
    assert img.shape == (2, 2) and img.gray and img.bit_depth == 32


@pytest.mark.parametrize("channels,colour,has_alpha", [(1, 1, False), (2, 1, True), (3, 3, False), (4, 3, True)])
def test_channels_and_alpha(channels, colour, has_alpha):
    a = np.random.default_rng(0).integers(0, 256, (3, 5, channels)).astype(np.uint8)
    img = as_image(a)
    assert img.channels == colour and img.has_alpha == has_alpha
    assert np.array_equal(np.round(img.pixels * 255).astype(np.uint8), a[:, :, :colour])
    if has_alpha:
        assert img.alpha.shape == (3, 5) and img.alpha.dtype == np.float32
        assert img.alpha.flags.c_contiguous and img.pixels.flags.c_contiguous
        assert np.array_equal(np.round(img.alpha * 255).astype(np.uint8), a[:, :, -1])


def test_2d_becomes_one_channel():
    img = as_image(np.zeros((3, 4), np.uint16))
    assert img.pixels.shape == (3, 4, 1) and img.gray and img.bit_depth == 16


@pytest.mark.parametrize(
    "data,words",
    [
        (np.array([["a", "b"]]), "numeric"),
        (np.zeros((2, 2), complex), "numeric"),
        (np.array([[None, 1]], dtype=object), "numeric"),
        (np.zeros(5), "(H, W)"),
        (np.zeros((2, 2, 2, 2)), "(H, W)"),
        (np.zeros((2, 2, 5)), "C in 1..4"),
        (np.zeros((2, 2, 0)), "C in 1..4"),
        (np.zeros((0, 4)), "empty"),
        (np.zeros((4, 0, 3), np.uint8), "empty"),
        (np.array([[0.5, np.nan]]), "NaN"),
        (np.array([[np.inf, 0.5]], np.float32), "infinite"),
    ],
)
def test_errors_name_what(data, words):
    with pytest.raises(InputError) as e:
        as_image(data, what="the noisy input")
    msg = str(e.value)
    assert msg.startswith("the noisy input") and words in msg and "\n" not in msg
    assert isinstance(e.value, ValueError)


def test_default_what_is_image():
    with pytest.raises(InputError, match="^image "):
        as_image(np.zeros((0, 0)))


def test_with_pixels():
    alpha = np.ones((3, 4), np.float32)
    img = Image(np.zeros((3, 4, 3), np.float32), alpha, 16, Path("in.tif"))
    new = img.with_pixels(np.full((3, 4, 3), 0.5))
    assert new is not img and new.pixels.dtype == np.float32 and np.all(new.pixels == 0.5)
    assert new.alpha is alpha and new.bit_depth == 16 and new.path == Path("in.tif")
    assert np.all(img.pixels == 0)  # the original is unchanged

    gray = img.with_pixels(np.zeros((3, 4)))
    assert gray.pixels.shape == (3, 4, 1) and gray.gray

    with pytest.raises(InputError, match="C 1 or 3"):
        img.with_pixels(np.zeros((3, 4, 2)))
    with pytest.raises(InputError, match="alpha"):
        img.with_pixels(np.zeros((5, 4, 3)))
    no_alpha = Image(np.zeros((3, 4, 1), np.float32), None, 8)
    assert no_alpha.with_pixels(np.zeros((5, 6, 3))).shape == (5, 6)


def test_image_like_alias():
    assert Image in ImageLike.__args__ and np.ndarray in ImageLike.__args__


def test_doctests():
    result = doctest.testmod(deepprior.image, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2 and result.failed == 0


def test_numpy_only():
    code = (
        "import deepprior.image, sys; assert not {'torch', 'scipy', 'skimage'} & set(sys.modules), sys.modules.keys()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
