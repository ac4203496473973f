"""Tests for deepprior.io: formats, bit depths, orientation, masks, errors, atomic writes."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from PIL import ImageCms, ImageOps, JpegImagePlugin

import deepprior
from deepprior.errors import InputError
from deepprior.image import as_image
from deepprior.io import (
    IMAGE_SUFFIXES,
    Image,
    atomic_write,
    check_writable,
    effective_bit_depth,
    list_images,
    read_image,
    read_mask,
    write_image,
    write_json,
)

RNG = np.random.default_rng(1234)


def _u8(shape):
    return RNG.integers(0, 256, shape).astype(np.uint8)


def _u16(shape):
    a = RNG.integers(0, 65536, shape).astype(np.uint16)
    flat = a.reshape(-1)
    flat[:4] = [0, 1234, 65535, 257]  # values that an 8-bit round trip would lose
    return a


def _smooth_rgb(h, w):
    """An image without high frequencies, so JPEG reproduces it closely."""
    y, x = np.mgrid[:h, :w]
    return np.stack([x / (w - 1), y / (h - 1), 0.5 + 0.4 * np.sin(x / 7.0) * np.cos(y / 9.0)], axis=2)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _with_chunk(png: bytes, kind: bytes, data: bytes, after_idat: bool = False) -> bytes:
    """Insert a chunk right after IHDR (or right before IEND)."""
    chunk = _png_chunk(kind, data)
    return png[:-12] + chunk + png[-12:] if after_idat else png[:33] + chunk + png[33:]


# --------------------------------------------------------------------------- #
# Round trips
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "suffix,channels",
    [(s, c) for s in (".png", ".tif", ".tiff", ".bmp") for c in (1, 3, 4) if (s, c) != (".bmp", 4)],
)  # BMP drops alpha: tested separately
def test_8bit_round_trip_exact(tmp_path, suffix, channels):
    a = _u8((13, 17, channels))
    px, alpha = a[:, :, : 3 if channels == 4 else channels], (a[:, :, 3] if channels == 4 else None)
    out = write_image(tmp_path / f"x{suffix}", px / 255.0, None if alpha is None else alpha / 255.0, bit_depth=8)
    assert out == tmp_path / f"x{suffix}"
    img = read_image(out)
    assert isinstance(img, Image)
    assert img.bit_depth == 8
    assert img.pixels.dtype == np.float32 and img.pixels.shape == px.shape
    assert img.gray == (channels == 1)
    assert img.shape == (13, 17) and img.height == 13 and img.width == 17
    assert np.array_equal(np.round(img.pixels * 255).astype(np.uint8), px)
    if alpha is None:
        assert img.alpha is None and not img.has_alpha
    else:
        assert img.alpha.dtype == np.float32 and img.alpha.shape == (13, 17)
        assert np.array_equal(np.round(img.alpha * 255).astype(np.uint8), alpha)
    assert img.path == out


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg", ".bmp"])
def test_a_strided_view_is_written_as_its_pixels(tmp_path, suffix):
    """A (C, H, W) array moved to (H, W, C) is a view with a channel stride of H·W: the encoders need it
    contiguous (PNG refused it with a ValueError)."""
    planes = _u8((3, 13, 17))
    pixels = np.moveaxis(planes, 0, -1)
    assert not pixels.flags.c_contiguous
    restored = read_image(write_image(tmp_path / f"x{suffix}", pixels)).pixels
    exact = suffix != ".jpg"
    np.testing.assert_allclose(restored * 255, pixels, atol=0.5 if exact else 40)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_round_trip_exact(tmp_path, suffix, channels):
    a = _u16((19, 23, channels))
    has_alpha = channels in (2, 4)
    px = a[:, :, :-1] if has_alpha else a
    alpha = a[:, :, -1] if has_alpha else None
    path = write_image(tmp_path / f"x{suffix}", px / 65535.0, None if alpha is None else alpha / 65535.0, bit_depth=16)
    img = read_image(path)
    assert img.bit_depth == 16
    assert np.array_equal(np.round(img.pixels * 65535).astype(np.uint16), px)
    if has_alpha:
        assert np.array_equal(np.round(img.alpha * 65535).astype(np.uint16), alpha)
    else:
        assert img.alpha is None
    # a second generation is identical too (read -> write at the read bit depth -> read)
    again = read_image(write_image(tmp_path / f"y{suffix}", img.pixels, img.alpha, img.bit_depth))
    assert np.array_equal(again.pixels, img.pixels)


def test_16bit_png_is_a_valid_png(tmp_path):
    """Pillow decodes our 16-bit PNGs: exactly for gray, to the high byte for colour."""
    gray = _u16((11, 12))
    write_image(tmp_path / "g.png", gray / 65535.0, bit_depth=16)
    with PILImage.open(tmp_path / "g.png") as im:
        assert im.mode == "I;16"
        assert np.array_equal(np.array(im), gray)
    rgba = _u16((11, 12, 4))
    write_image(tmp_path / "c.png", rgba / 65535.0, bit_depth=16)
    with PILImage.open(tmp_path / "c.png") as im:
        assert im.mode == "RGBA"
        assert np.array_equal(np.array(im), (rgba >> 8).astype(np.uint8))


def test_16bit_rgb_png_keeps_all_16_bits(tmp_path):
    """Pillow reads 16-bit RGB PNG as 8 bits per channel; read_image keeps the low byte."""
    a = _u16((9, 10, 3))
    a[0, 0] = [257, 258, 65534]  # same high byte as neighbours of 256 levels, different low bytes
    path = write_image(tmp_path / "x.png", a, bit_depth=16)
    with PILImage.open(path) as im:
        truncated = np.array(im)
    assert truncated.dtype == np.uint8  # what Pillow alone would give
    img = read_image(path)
    assert img.bit_depth == 16
    back = np.round(img.pixels * 65535).astype(np.uint16)
    assert np.array_equal(back, a)
    assert np.any(back & 0xFF)  # the low bytes are there
    assert np.array_equal(back >> 8, truncated)


def test_large_16bit_png_round_trip(tmp_path):
    y, x = np.mgrid[:200, :300]
    base = (np.sin(x / 13.0) + np.cos(y / 17.0)) * 16000 + 32768
    a = np.stack([base + RNG.integers(0, 500, base.shape) for _ in range(3)], axis=2)
    a = np.clip(a, 0, 65535).astype(np.uint16)
    path = write_image(tmp_path / "x.png", a / 65535.0, bit_depth=16)
    header = path.read_bytes()[:33]
    assert header[24] == 16 and header[25] == 2  # 16-bit RGB
    assert np.array_equal(np.round(read_image(path).pixels * 65535).astype(np.uint16), a)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("png_filter", ["NONE", "SUB", "UP", "AVG", "PAETH", "ALL"])
def test_16bit_png_from_imagecodecs_read_exactly(tmp_path, channels, png_filter):
    a = _u16((17, 19, channels))
    data = imagecodecs.png_encode(a if channels > 1 else a[:, :, 0], filter=imagecodecs.PNG.FILTER[png_filter])
    (tmp_path / "x.png").write_bytes(data)
    img = read_image(tmp_path / "x.png")
    assert img.bit_depth == 16
    if channels in (2, 4):
        assert np.array_equal(np.round(img.pixels * 65535).astype(np.uint16), a[:, :, :-1])
        assert np.array_equal(np.round(img.alpha * 65535).astype(np.uint16), a[:, :, -1])
    else:
        assert np.array_equal(np.round(img.pixels * 65535).astype(np.uint16), a)
        assert img.alpha is None


def test_png_interoperates_with_pillow(tmp_path):
    """8-bit PNGs written here are read exactly by Pillow, and Pillow's (optimized) PNGs exactly here."""
    y, x = np.mgrid[:64, :80]
    rgb = np.clip(np.stack([x * 3, y * 4, x + y], axis=2) + RNG.integers(0, 30, (64, 80, 3)), 0, 255)
    rgba = np.dstack([rgb, RNG.integers(0, 256, (64, 80))]).astype(np.uint8)
    for mode, a in (("L", rgba[:, :, 0]), ("LA", rgba[:, :, [0, 3]]), ("RGB", rgba[:, :, :3]), ("RGBA", rgba)):
        path = write_image(tmp_path / f"ours_{mode}.png", a)
        with PILImage.open(path) as im:
            assert im.mode == mode
            assert np.array_equal(np.array(im), a)
        PILImage.fromarray(a, mode).save(tmp_path / f"pil_{mode}.png", optimize=True)
        img = read_image(tmp_path / f"pil_{mode}.png")
        samples = img.pixels if img.alpha is None else np.dstack([img.pixels, img.alpha])
        assert np.array_equal(np.round(samples * 255).astype(np.uint8), a.reshape(samples.shape))


_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _interlaced_png16(a: np.ndarray) -> bytes:
    """A 16-bit RGB Adam7-interlaced PNG, filter 0 for every row."""
    h, w, _ = a.shape
    stream = b""
    for x0, y0, dx, dy in _ADAM7:
        sub = a[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub.astype(">u2"):
            stream += b"\x00" + row.tobytes()
    return (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 1))
        + _png_chunk(b"IDAT", zlib.compress(stream))
        + _png_chunk(b"IEND", b"")
    )


def test_16bit_interlaced_png(tmp_path, capfd):
    a = _u16((13, 11, 3))
    path = tmp_path / "i.png"
    path.write_bytes(_interlaced_png16(a))
    with PILImage.open(path) as im:  # the file is valid: Pillow agrees on the high bytes
        assert np.array_equal(np.array(im), (a >> 8).astype(np.uint8))
    img = read_image(path)
    assert img.bit_depth == 16
    assert np.array_equal(np.round(img.pixels * 65535).astype(np.uint16), a)
    assert "PNG warning" not in capfd.readouterr().err  # libpng's remarks are not shown to the user


def test_16bit_png_trns_colour_key(tmp_path):
    a = _u16((5, 6, 3))
    a[2, 3] = [1234, 65535, 7]
    data = _with_chunk(imagecodecs.png_encode(a), b"tRNS", struct.pack(">HHH", 1234, 65535, 7))
    (tmp_path / "t.png").write_bytes(data)
    img = read_image(tmp_path / "t.png")
    expected = np.ones((5, 6), np.float32)
    expected[2, 3] = 0
    assert np.array_equal(img.alpha, expected)
    assert np.array_equal(np.round(img.pixels * 65535).astype(np.uint16), a)

    g = _u16((5, 6))
    g[1, 1] = 4321
    (tmp_path / "g.png").write_bytes(_with_chunk(imagecodecs.png_encode(g), b"tRNS", struct.pack(">H", 4321)))
    img = read_image(tmp_path / "g.png")
    assert img.gray and img.bit_depth == 16
    assert np.array_equal(img.alpha == 0, g == 4321)


def test_float32_tiff_round_trip(tmp_path):
    a = RNG.random((9, 10, 3)).astype(np.float32)
    a[0, 0] = [0.0, 1.0, 1e-7]
    path = write_image(tmp_path / "f.tiff", a, bit_depth=32)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].dtype == np.float32
        assert int(tif.pages[0].predictor) == 3  # floating point predictor
        assert int(tif.pages[0].compression) == 8  # zlib (deflate)
    with tifffile.TiffFile(write_image(tmp_path / "i.tif", a, bit_depth=16)) as tif:
        assert int(tif.pages[0].predictor) == 2  # horizontal differencing for integers
    img = read_image(path)
    assert img.bit_depth == 32
    assert np.array_equal(img.pixels, a)


def test_float_tiff_out_of_range_is_scaled_in_and_back_and_nan_rejected(tmp_path):
    """Scientific float data (here -0.5 … 2.0) is mapped onto [0, 1], not clipped, and written back as it was."""
    a = np.array([[-0.5, 0.25], [2.0, 1.0]], np.float32)
    tifffile.imwrite(tmp_path / "f.tif", a)
    img = read_image(tmp_path / "f.tif")
    assert img.bit_depth == 32 and img.gray and img.value_range == (-0.5, 2.0)
    np.testing.assert_allclose(img.pixels[:, :, 0], (a + 0.5) / 2.5, atol=1e-7)
    write_image(tmp_path / "back.tif", img)
    np.testing.assert_allclose(tifffile.imread(tmp_path / "back.tif"), a, atol=1e-6)
    inside = np.array([[0.0, 0.25], [0.5, 1.0]], np.float32)  # in [0, 1]: kept as is, no range
    tifffile.imwrite(tmp_path / "in.tif", inside)
    assert read_image(tmp_path / "in.tif").value_range is None
    tifffile.imwrite(tmp_path / "n.tif", np.array([[np.nan, 0.5]], np.float32))
    with pytest.raises(InputError, match="n.tif"):
        read_image(tmp_path / "n.tif")


def test_stacks_and_animations_are_refused_with_their_count(tmp_path):
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((5, 8, 8), np.uint16))
    with pytest.raises(InputError, match="5 pages"):
        read_image(tmp_path / "stack.tif")
    frames = [PILImage.fromarray(np.full((8, 8), v, np.uint8)) for v in (0, 128, 255)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match="3 frames"):
        read_image(tmp_path / "anim.gif")


def test_check_writable_reports_before_any_work(tmp_path, monkeypatch):
    import errno

    from deepprior.io import files

    check_writable(tmp_path / "ok.png")
    assert list(tmp_path.iterdir()) == []  # the probe is gone
    with pytest.raises(InputError, match="does not exist"):
        check_writable(tmp_path / "missing" / "x.png")
    for error, message in ((errno.EROFS, "Read-only file system"), (errno.ENOSPC, "No space left on device")):

        def refuse(*args, error=error, message=message, **kwargs):
            raise OSError(error, message)

        monkeypatch.setattr(files, "open", refuse, raising=False)  # the file system says no
        with pytest.raises(InputError, match=message):
            check_writable(tmp_path / "x.png")
    monkeypatch.setattr(files, "open", lambda *a, **k: (_ for _ in ()).throw(PermissionError()), raising=False)
    with pytest.raises(InputError, match="permission denied"):
        check_writable(tmp_path / "x.png")


def test_tiff_layouts_from_other_writers(tmp_path):
    a = _u16((6, 7, 3))
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(a, 2, 0), photometric="rgb", planarconfig="separate")
    assert np.array_equal(np.round(read_image(tmp_path / "planar.tif").pixels * 65535).astype(np.uint16), a)

    g = _u8((6, 7))
    tifffile.imwrite(tmp_path / "white.tif", g, photometric="miniswhite")
    assert np.array_equal(np.round(read_image(tmp_path / "white.tif").pixels[:, :, 0] * 255), 255 - g)

    rgb = _u8((6, 7, 3))
    PILImage.fromarray(rgb).save(tmp_path / "lzw.tif", compression="tiff_lzw")  # tifffile + imagecodecs
    assert np.array_equal(np.round(read_image(tmp_path / "lzw.tif").pixels * 255).astype(np.uint8), rgb)
    smooth = np.round(_smooth_rgb(32, 48) * 255).astype(np.uint8)
    PILImage.fromarray(smooth).save(tmp_path / "jpeg.tif", compression="jpeg")  # JPEG-in-TIFF
    img = read_image(tmp_path / "jpeg.tif")
    assert img.pixels.shape == (32, 48, 3) and img.bit_depth == 8
    assert np.abs(img.pixels * 255 - smooth).mean() < 3
    PILImage.fromarray(smooth).convert("YCbCr").save(tmp_path / "ycbcr.tif")  # uncompressed YCbCr: via Pillow
    img = read_image(tmp_path / "ycbcr.tif")
    assert np.abs(img.pixels * 255 - smooth).max() <= 4
    PILImage.fromarray(rgb).quantize(8).save(tmp_path / "pal.tif")  # palette TIFF goes through Pillow
    img = read_image(tmp_path / "pal.tif")
    with PILImage.open(tmp_path / "pal.tif") as im:
        assert np.array_equal(np.round(img.pixels * 255).astype(np.uint8), np.array(im.convert("RGB")))

    PILImage.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.tif")
    img = read_image(tmp_path / "cmyk.tif")
    assert img.pixels.shape == (6, 7, 3)
    assert np.abs(img.pixels * 255 - rgb).max() <= 1


def test_jpeg_round_trip_and_bit_depth_fallback(tmp_path):
    rgb = _smooth_rgb(32, 48)
    path = write_image(tmp_path / "x.jpg", rgb, bit_depth=16)  # JPEG holds 8 bits only
    img = read_image(path)
    assert img.bit_depth == 8 and img.pixels.shape == (32, 48, 3) and img.alpha is None
    assert np.abs(img.pixels - rgb).mean() < 0.01
    gray = write_image(tmp_path / "g.jpeg", rgb[:, :, 0])
    g = read_image(gray)
    assert g.gray and np.abs(g.pixels[:, :, 0] - rgb[:, :, 0]).mean() < 0.01
    with PILImage.open(path) as im:
        assert JpegImagePlugin.get_sampling(im) == 0  # 4:4:4: the colour is not subsampled


def test_bit_depth_fallbacks():
    assert effective_bit_depth("a.png", 32) == 16
    assert effective_bit_depth("a.png", 16) == 16
    assert effective_bit_depth("a.TIF", 32) == 32
    assert effective_bit_depth("a.tiff", 16) == 16
    assert effective_bit_depth("a.jpg", 16) == 8
    assert effective_bit_depth("a.bmp", 32) == 8
    with pytest.raises(InputError, match="a.png"):
        effective_bit_depth("a.png", 12)


def test_float_request_on_png_writes_16bit(tmp_path):
    a = RNG.random((4, 5)).astype(np.float32)
    img = read_image(write_image(tmp_path / "x.png", a, bit_depth=32))
    assert img.bit_depth == 16
    assert np.abs(img.pixels[:, :, 0] - a).max() <= 0.5 / 65535 + 1e-7


@pytest.mark.parametrize("suffix", [".jpg", ".bmp"])
def test_alpha_dropped_with_warning_where_format_cannot_hold_it(tmp_path, suffix):
    rgb = _smooth_rgb(8, 8)
    with pytest.warns(UserWarning, match="alpha"):
        path = write_image(tmp_path / f"x{suffix}", rgb, np.ones((8, 8)))
    assert read_image(path).alpha is None


def test_write_accepts_2d_integer_and_packed_alpha(tmp_path):
    g = _u8((5, 6))
    img = read_image(write_image(tmp_path / "g.png", g))  # uint8 scaled by 255
    assert np.array_equal(np.round(img.pixels[:, :, 0] * 255), g)
    rgba = _u16((5, 6, 4))
    img = read_image(write_image(tmp_path / "c.png", rgba, bit_depth=16))  # 4 channels = RGBA
    assert np.array_equal(np.round(img.alpha * 65535).astype(np.uint16), rgba[:, :, 3])
    # clipping
    img = read_image(write_image(tmp_path / "clip.png", np.array([[-1.0, 2.0]])))
    assert np.array_equal(img.pixels[:, :, 0], np.array([[0.0, 1.0]], np.float32))


def test_alpha_carried_through(tmp_path):
    rgb = _u8((10, 12, 3))
    alpha = np.zeros((10, 12), np.uint8)
    alpha[:, 6:] = 255
    alpha[0, 0] = 77
    PILImage.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "in.png")
    img = read_image(tmp_path / "in.png")
    assert img.pixels.shape == (10, 12, 3)  # alpha is not part of the pixels
    restored = 1.0 - img.pixels  # some processing of the colour channels only
    out = write_image(tmp_path / "out.png", restored, img.alpha, img.bit_depth)
    with PILImage.open(out) as im:
        assert im.mode == "RGBA"
        arr = np.array(im)
    assert np.array_equal(arr[:, :, 3], alpha)
    assert np.array_equal(arr[:, :, :3], 255 - rgb)


def test_write_accepts_an_image(tmp_path):
    rgb = _u16((6, 7, 3))
    alpha = _u16((6, 7))
    write_image(tmp_path / "in.png", rgb, alpha / 65535.0, bit_depth=16)
    img = read_image(tmp_path / "in.png")
    # bit depth and alpha come from the Image
    back = read_image(write_image(tmp_path / "same.png", img))
    assert back.bit_depth == 16
    assert np.array_equal(back.pixels, img.pixels) and np.array_equal(back.alpha, img.alpha)
    # with_pixels keeps alpha, bit depth and path
    processed = img.with_pixels(1.0 - img.pixels)
    assert processed.alpha is img.alpha and processed.bit_depth == 16 and processed.path == img.path
    back = read_image(write_image(tmp_path / "processed.png", processed))
    assert np.array_equal(np.round(back.pixels * 65535).astype(np.uint16), 65535 - rgb)
    # explicit arguments win
    back = read_image(write_image(tmp_path / "eight.png", img, np.ones((6, 7)), bit_depth=8))
    assert back.bit_depth == 8 and np.all(back.alpha == 1)
    assert np.array_equal(np.round(back.pixels * 255), np.round(img.pixels * 255))
    # a float Image keeps 32 bits in TIFF
    f = as_image(RNG.random((4, 5)).astype(np.float32))
    assert read_image(write_image(tmp_path / "f.tif", f)).bit_depth == 32
    # arrays still default to 8 bits
    assert read_image(write_image(tmp_path / "arr.png", rgb)).bit_depth == 8
    # a hand-made Image is checked like an array
    with pytest.raises(InputError) as e:
        write_image(tmp_path / "bad.png", Image(np.full((2, 2, 1), np.nan, np.float32), None, 8))
    _check(e, "bad.png")


# --------------------------------------------------------------------------- #
# Pillow modes
# --------------------------------------------------------------------------- #
def test_pillow_modes(tmp_path):
    rgb = _u8((6, 8, 3))
    pal = PILImage.fromarray(rgb).quantize(16)
    pal.save(tmp_path / "p.png")
    img = read_image(tmp_path / "p.png")
    assert img.pixels.shape == (6, 8, 3) and img.alpha is None and img.bit_depth == 8
    assert np.array_equal(np.round(img.pixels * 255).astype(np.uint8), np.array(pal.convert("RGB")))

    pal.save(tmp_path / "pt.png", transparency=0)
    img = read_image(tmp_path / "pt.png")
    assert img.alpha is not None
    assert np.array_equal(img.alpha == 0, np.array(pal) == 0)

    la = _u8((6, 8, 2))
    PILImage.fromarray(la, "LA").save(tmp_path / "la.png")
    img = read_image(tmp_path / "la.png")
    assert img.gray and np.array_equal(np.round(img.alpha * 255).astype(np.uint8), la[:, :, 1])

    g16 = _u16((6, 8))
    PILImage.fromarray(g16).save(tmp_path / "i16.png")  # Pillow mode I;16
    img = read_image(tmp_path / "i16.png")
    assert img.bit_depth == 16 and np.array_equal(np.round(img.pixels[:, :, 0] * 65535).astype(np.uint16), g16)

    PILImage.fromarray(_u8((6, 8)) > 127).save(tmp_path / "bw.png")  # mode 1
    img = read_image(tmp_path / "bw.png")
    assert img.gray and set(np.unique(img.pixels)) <= {0.0, 1.0}

    PILImage.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    img = read_image(tmp_path / "cmyk.jpg")
    assert img.pixels.shape == (6, 8, 3)

    PILImage.fromarray(rgb[:, :, 0]).convert("F").save(tmp_path / "f.tif")
    img = read_image(tmp_path / "f.tif")
    assert img.bit_depth == 32 and img.gray


# --------------------------------------------------------------------------- #
# EXIF orientation
# --------------------------------------------------------------------------- #
def test_exif_orientation_6_jpeg(tmp_path):
    h, w = 32, 48
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = [255, 0, 0]  # top-left red
    a[: h // 2, w // 2 :] = [0, 255, 0]  # top-right green
    a[h // 2 :, : w // 2] = [0, 0, 255]  # bottom-left blue
    a[h // 2 :, w // 2 :] = [255, 255, 255]  # bottom-right white
    exif = PILImage.Exif()
    exif[0x0112] = 6  # the camera was rotated: display rotated 90 degrees clockwise
    PILImage.fromarray(a).save(tmp_path / "o.jpg", exif=exif, quality=95)
    img = read_image(tmp_path / "o.jpg")
    assert img.pixels.shape == (w, h, 3)  # transposed
    expected = np.rot90(a, -1) / 255.0  # clockwise: the old left column is now the top row
    assert np.abs(img.pixels - expected).mean() < 0.03
    # the top-left quadrant of the displayed image is blue (was bottom-left)
    assert np.allclose(img.pixels[2, 2], [0, 0, 1], atol=0.1)
    with PILImage.open(tmp_path / "o.jpg") as im:
        ref = np.array(ImageOps.exif_transpose(im)) / 255.0
    assert np.array_equal(np.round(img.pixels * 255), np.round(ref * 255))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_exif_transpose(tmp_path, orientation):
    a = _u8((5, 7, 3))
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    PILImage.fromarray(a).save(tmp_path / "o.png", exif=exif)
    with PILImage.open(tmp_path / "o.png") as im:
        ref = np.array(ImageOps.exif_transpose(im))
    img = read_image(tmp_path / "o.png")
    assert np.array_equal(np.round(img.pixels * 255).astype(np.uint8), ref)


def _icc(space: bytes = b"RGB ") -> bytes:
    """A real sRGB ICC profile, its header's colour space set to ``space`` (readers do not check the rest)."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return profile[:16] + space + profile[20:]


def _written_profile(path: Path) -> bytes | None:
    """The profile in a file as another reader sees it (tifffile for TIFF, Pillow for the rest)."""
    if path.suffix == ".tif":
        with tifffile.TiffFile(path) as tif:
            return tif.pages[0].iccprofile
    with PILImage.open(path) as im:
        return im.info.get("icc_profile")


@pytest.mark.parametrize("source", ["png8", "png16", "tif16", "jpg"])
@pytest.mark.parametrize("suffix,bit_depth", [(".png", 8), (".png", 16), (".tif", 8), (".tif", 32), (".jpg", 8)])
def test_a_colour_profile_is_read_and_written_back(tmp_path, source, suffix, bit_depth):
    profile = _icc()
    kind, depth = source[:3], int(source[3:] or 8)
    path = tmp_path / f"in.{kind}"
    if depth == 16:  # Pillow writes no 16-bit RGB: the PNG gets its iCCP chunk by hand, the TIFF its tag
        a = _u16((6, 5, 3))
        if kind == "png":
            body = b"p\x00\x00" + zlib.compress(profile)
            path.write_bytes(_with_chunk(imagecodecs.png_encode(a), b"iCCP", body))
        else:
            tifffile.imwrite(path, a, photometric="rgb", iccprofile=profile)
    else:
        PILImage.fromarray(_u8((6, 5, 3))).save(path, icc_profile=profile)
    image = read_image(path)
    assert image.icc_profile == profile and image.bit_depth == depth
    restored = image.with_pixels(1 - image.pixels)  # what a restoration returns
    written = write_image(tmp_path / f"out{suffix}", restored, bit_depth=bit_depth)
    assert _written_profile(written) == profile and read_image(written).icc_profile == profile


def test_a_profile_that_does_not_describe_the_samples_is_not_kept(tmp_path):
    cmyk = PILImage.fromarray(_u8((6, 5, 4)), mode="CMYK")
    cmyk.save(tmp_path / "cmyk.jpg", icc_profile=_icc(b"CMYK"))
    assert read_image(tmp_path / "cmyk.jpg").icc_profile is None  # read as RGB, which it does not describe
    PILImage.fromarray(_u8((6, 5))).save(tmp_path / "gray.png", icc_profile=_icc(b"GRAY"))
    gray = read_image(tmp_path / "gray.png")
    assert gray.icc_profile == _icc(b"GRAY")
    write_image(tmp_path / "gray-out.png", gray)
    assert _written_profile(tmp_path / "gray-out.png") == _icc(b"GRAY")
    as_colour = Image(np.repeat(gray.pixels, 3, axis=2), None, 8, icc_profile=gray.icc_profile)
    write_image(tmp_path / "rgb-out.png", as_colour)  # a gray profile does not describe RGB: not written
    assert _written_profile(tmp_path / "rgb-out.png") is None


def test_bmp_drops_a_colour_profile_with_a_warning(tmp_path):
    image = Image(np.full((4, 4, 3), 0.5, np.float32), None, 8, icc_profile=_icc())
    with pytest.warns(UserWarning, match="BMP cannot store the input's colour profile"):
        write_image(tmp_path / "out.bmp", image)
    assert read_image(tmp_path / "out.bmp").icc_profile is None


def _camera_exif(orientation: int = 1) -> PILImage.Exif:
    """A camera's EXIF: make, model, copyright, software; exposure, lens, size and a maker note; a GPS position."""
    exif = PILImage.Exif()
    exif.update({0x010F: "Canon", 0x0110: "EOS R5", 0x8298: "(c) A. Photographer", 0x0131: "firmware 1.8"})
    exif[0x0112] = orientation
    exif.get_ifd(0x8769).update({0x829A: (1, 200), 0xA434: "RF 50mm", 0xA002: 7, 0xA003: 5, 0x927C: b"private"})
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 30.0)})
    return exif


def _written_exif(path: Path) -> tuple[dict, dict, dict]:
    with PILImage.open(path) as im:
        exif = im.getexif()
        return dict(exif), exif.get_ifd(0x8769), exif.get_ifd(0x8825)


@pytest.mark.parametrize("source", [".jpg", ".png"])
@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_a_photographs_exif_is_written_back_with_the_outputs_size(tmp_path, source, suffix):
    """Camera, copyright, exposure, lens and GPS are carried; the orientation (applied to the pixels), the maker
    note (its offsets break when rewritten) and the old size are not; the software says deepprior."""
    PILImage.fromarray(_u8((5, 7, 3))).save(tmp_path / f"in{source}", exif=_camera_exif(orientation=6))
    image = read_image(tmp_path / f"in{source}")
    assert image.pixels.shape == (7, 5, 3) and image.exif is not None
    bigger = image.with_pixels(np.zeros((14, 10, 3), np.float32))  # what a ×2 super-resolution returns
    first, exposure, gps = _written_exif(write_image(tmp_path / f"out{suffix}", bigger))
    assert first[0x010F] == "Canon" and first[0x0110] == "EOS R5" and first[0x8298] == "(c) A. Photographer"
    assert first[0x0131] == f"deepprior {deepprior.__version__}" and 0x0112 not in first
    assert exposure[0x829A] == (1, 200) and exposure[0xA434] == "RF 50mm" and 0x927C not in exposure
    assert (exposure[0xA002], exposure[0xA003]) == (10, 14)  # width, height
    assert gps[1] == "N" and gps[2] == (48.0, 51.0, 30.0)
    assert read_image(tmp_path / f"out{suffix}").pixels.shape == (14, 10, 3)  # no orientation applied twice


def test_exif_reaches_a_tiff_as_its_text_and_a_tiffs_is_read(tmp_path):
    PILImage.fromarray(_u8((5, 7, 3))).save(tmp_path / "in.jpg", exif=_camera_exif())
    written = write_image(tmp_path / "out.tif", read_image(tmp_path / "in.jpg"), bit_depth=16)
    with tifffile.TiffFile(written) as tif:
        tags = {tag.code: tag.value for tag in tif.pages[0].tags}
    assert tags[271] == "Canon" and tags[33432] == "(c) A. Photographer" and tags[305].startswith("deepprior")
    PILImage.fromarray(_u8((5, 7, 3))).save(tmp_path / "in.tif", exif=_camera_exif())  # a TIFF with an Exif IFD
    first, _, _ = _written_exif(write_image(tmp_path / "out.png", read_image(tmp_path / "in.tif")))
    assert first[0x0110] == "EOS R5" and 0x0100 not in first  # the TIFF's own layout tags are not EXIF to carry
    assert read_image(write_image(tmp_path / "plain.png", _u8((4, 4)))).exif is None


def test_bmp_drops_exif_with_a_warning_and_a_bad_block_is_refused(tmp_path):
    PILImage.fromarray(_u8((5, 7, 3))).save(tmp_path / "in.jpg", exif=_camera_exif())
    with pytest.warns(UserWarning, match="BMP cannot store the input's EXIF metadata"):
        write_image(tmp_path / "out.bmp", read_image(tmp_path / "in.jpg"))
    with pytest.raises(InputError, match="the image's exif is not an EXIF block"):
        write_image(tmp_path / "out.jpg", Image(np.zeros((4, 4, 3), np.float32), None, 8, exif=b"not EXIF"))
    assert not (tmp_path / "out.jpg").exists()


def test_orientation_for_16bit_png_and_tiff(tmp_path):
    a = _u16((5, 7, 3))
    exif = PILImage.Exif()
    exif[0x0112] = 8
    for after_idat in (False, True):  # eXIf belongs before IDAT, but some writers put it after
        data = _with_chunk(imagecodecs.png_encode(a), b"eXIf", exif.tobytes(), after_idat)
        (tmp_path / "o.png").write_bytes(data)
        img = read_image(tmp_path / "o.png")
        assert img.bit_depth == 16
        assert np.array_equal(np.round(img.pixels * 65535).astype(np.uint16), np.rot90(a, 1))

    exif[0x0112] = 6  # written by Pillow (it can write 16-bit gray)
    g = _u16((5, 7))
    PILImage.fromarray(g).save(tmp_path / "g.png", exif=exif)
    img = read_image(tmp_path / "g.png")
    assert np.array_equal(np.round(img.pixels[:, :, 0] * 65535).astype(np.uint16), np.rot90(g, -1))

    f = RNG.random((5, 7)).astype(np.float32)  # float data
    tifffile.imwrite(tmp_path / "f.tif", f, extratags=[(274, "H", 1, 3, True)])
    assert np.array_equal(read_image(tmp_path / "f.tif").pixels[:, :, 0], f[::-1, ::-1])

    tifffile.imwrite(tmp_path / "o.tif", a, photometric="rgb", extratags=[(274, "H", 1, 6, True)])
    img = read_image(tmp_path / "o.tif")
    assert np.array_equal(np.round(img.pixels * 65535).astype(np.uint16), np.rot90(a, -1))


# --------------------------------------------------------------------------- #
# Masks
# --------------------------------------------------------------------------- #
def _pattern(h=6, w=9):
    known = np.zeros((h, w), bool)
    known[1:4, 2:7] = True
    known[0, 0] = True
    return known


def test_mask_0_255_and_0_1(tmp_path):
    known = _pattern()
    PILImage.fromarray(known.astype(np.uint8) * 255).save(tmp_path / "m255.png")
    PILImage.fromarray(known.astype(np.uint8)).save(tmp_path / "m01.png")
    for name in ("m255.png", "m01.png"):
        m = read_mask(tmp_path / name, (6, 9))
        assert m.dtype == np.bool_ and m.shape == (6, 9)
        assert np.array_equal(m, known), name


def test_mask_threshold_is_half_range(tmp_path):
    v = np.array([[0, 127, 128, 255]], np.uint8)
    PILImage.fromarray(v).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png", (1, 4)).tolist() == [[False, False, True, True]]
    v16 = np.array([[0, 255, 32767, 32768, 65535]], np.uint16)
    write_image(tmp_path / "m16.png", v16, bit_depth=16)
    assert read_mask(tmp_path / "m16.png", (1, 5)).tolist() == [[False, False, False, True, True]]
    tifffile.imwrite(tmp_path / "mf.tif", np.array([[0.0, 0.49, 0.5, 1.0]], np.float32))
    assert read_mask(tmp_path / "mf.tif", (1, 4)).tolist() == [[False, False, True, True]]


def test_mask_bool_like_rgb_and_alpha_ignored(tmp_path):
    known = _pattern()
    PILImage.fromarray(known).save(tmp_path / "bw.png")  # 1-bit
    assert np.array_equal(read_mask(tmp_path / "bw.png", (6, 9)), known)
    tifffile.imwrite(tmp_path / "bool.tif", known)
    assert np.array_equal(read_mask(tmp_path / "bool.tif", (6, 9, 3)), known)  # shape[:2] is used

    rgb = np.repeat(known[:, :, None], 3, axis=2).astype(np.uint8) * 255
    rgb[5, 8] = [255, 255, 0]  # not all channels say known
    rgb[5, 7] = [255, 255, 255]
    expected = known.copy()
    expected[5, 7] = True
    rgba = np.dstack([rgb, np.zeros((6, 9), np.uint8)])  # fully transparent: alpha is ignored
    PILImage.fromarray(rgba).save(tmp_path / "rgba.png")
    assert np.array_equal(read_mask(tmp_path / "rgba.png", (6, 9)), expected)


def test_mask_size_mismatch(tmp_path):
    PILImage.fromarray(np.zeros((6, 9), np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(InputError) as exc:
        read_mask(tmp_path / "m.png", (10, 20))
    msg = str(exc.value)
    assert "m.png" in msg and "9×6" in msg and "20×10" in msg and "(width×height)" in msg and "\n" not in msg


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #
def _check(exc_info, name):
    msg = str(exc_info.value)
    assert name in msg, msg
    assert "\n" not in msg
    assert isinstance(exc_info.value, ValueError)


def test_read_errors(tmp_path):
    with pytest.raises(InputError) as e:
        read_image(tmp_path / "missing.png")
    _check(e, "missing.png")
    assert "does not exist" in str(e.value)

    (tmp_path / "adir.png").mkdir()
    with pytest.raises(InputError) as e:
        read_image(tmp_path / "adir.png")
    _check(e, "adir.png")
    assert "folder" in str(e.value)

    (tmp_path / "text.png").write_text("this is not an image\n")
    with pytest.raises(InputError) as e:
        read_image(tmp_path / "text.png")
    _check(e, "text.png")
    assert "not an image" in str(e.value)

    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError) as e:
        read_image(tmp_path / "empty.png")
    _check(e, "empty.png")

    with pytest.raises(InputError) as e:
        read_mask(tmp_path / "nomask.png", (3, 3))
    _check(e, "nomask.png")


@pytest.mark.parametrize("name", ["photo.DNG", "photo.nef", "photo.cr2"])
def test_a_camera_raw_file_is_refused_not_read_as_its_preview(tmp_path, name):
    tifffile.imwrite(tmp_path / name, _u8((8, 12, 3)), photometric="rgb")  # TIFF inside, as DNG, NEF and CR2 are
    with pytest.raises(InputError, match="camera RAW file") as e:
        read_image(tmp_path / name)
    _check(e, name)


def test_heic_without_a_reader_gets_its_own_message(tmp_path):
    (tmp_path / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    with pytest.raises(InputError, match="HEIC/HEIF is not supported; export it as JPEG, PNG or TIFF"):
        read_image(tmp_path / "photo.heic")


@pytest.mark.parametrize("suffix,depth", [(".png", 8), (".png", 16), (".tif", 16), (".jpg", 8)])
def test_truncated_file(tmp_path, suffix, depth):
    y, x = np.mgrid[:64, :64]
    a = np.stack([x * 1000, y * 1000, (x + y) * 500], axis=2) + RNG.integers(0, 999, (64, 64, 3))
    path = write_image(tmp_path / f"full{suffix}", a.astype(np.uint16), bit_depth=depth)
    data = path.read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as e:
        read_image(tmp_path / f"cut{suffix}")
    _check(e, f"cut{suffix}")
    assert "truncated" in str(e.value)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_corrupt_16bit_png_checksum(tmp_path, channels):
    data = bytearray(imagecodecs.png_encode(_u16((8, 8, channels))))
    data[50] ^= 0xFF  # inside IDAT
    (tmp_path / "bad.png").write_bytes(bytes(data))
    with pytest.raises(InputError) as e:
        read_image(tmp_path / "bad.png")
    _check(e, "bad.png")
    assert "corrupt" in str(e.value)


def test_png_with_unknown_critical_chunk(tmp_path):
    """libpng rejects it; Pillow reads it exactly up to 8 bits, a 16-bit colour one is an error."""
    g = _u8((6, 7))
    (tmp_path / "g.png").write_bytes(_with_chunk(imagecodecs.png_encode(g), b"ABCD", b"x"))
    assert np.array_equal(np.round(read_image(tmp_path / "g.png").pixels[:, :, 0] * 255), g)
    c = _u16((6, 7, 3))
    (tmp_path / "c.png").write_bytes(_with_chunk(imagecodecs.png_encode(c), b"ABCD", b"x"))
    with pytest.raises(InputError) as e:
        read_image(tmp_path / "c.png")
    _check(e, "c.png")


def test_write_errors(tmp_path):
    px = np.zeros((4, 4))
    with pytest.raises(InputError) as e:
        write_image(tmp_path / "nope" / "out.png", px)
    _check(e, "nope")
    assert "output folder" in str(e.value) and "does not exist" in str(e.value)

    with pytest.raises(InputError) as e:
        write_image(tmp_path / "out.gif", px)
    _check(e, "out.gif")
    assert "unsupported" in str(e.value)

    with pytest.raises(InputError) as e:
        write_image(tmp_path / "noext", px)
    _check(e, "noext")

    with pytest.raises(InputError) as e:
        write_image(tmp_path / "empty.png", np.zeros((0, 4)))
    _check(e, "empty.png")

    with pytest.raises(InputError) as e:
        write_image(tmp_path / "nan.png", np.full((2, 2), np.nan))
    _check(e, "nan.png")

    with pytest.raises(InputError) as e:
        write_image(tmp_path / "shape.png", np.zeros((2, 2, 5)))
    _check(e, "shape.png")

    with pytest.raises(InputError) as e:
        write_image(tmp_path / "a.png", np.zeros((2, 2, 3)), alpha=np.zeros((3, 3)))
    _check(e, "a.png")

    (tmp_path / "isdir.png").mkdir()
    with pytest.raises(InputError) as e:
        write_image(tmp_path / "isdir.png", px)
    _check(e, "isdir.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["isdir.png"]  # nothing written


# --------------------------------------------------------------------------- #
# Atomic writes and JSON
# --------------------------------------------------------------------------- #
def test_atomic_write_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.png"

    def bad_writer(tmp: Path) -> None:
        tmp.write_bytes(b"half a file")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_write(target, bad_writer)
    assert list(tmp_path.iterdir()) == []

    target.write_bytes(b"old content")
    with pytest.raises(RuntimeError):
        atomic_write(target, bad_writer)
    assert target.read_bytes() == b"old content"  # the previous output is untouched
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_write_success_and_oserror(tmp_path):
    target = tmp_path / "x.bin"
    seen = []

    def writer(tmp: Path) -> None:
        seen.append(tmp)
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"data")

    assert atomic_write(target, writer) == target
    assert target.read_bytes() == b"data"
    assert not seen[0].exists()
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600

    def failing(tmp: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(InputError) as e:
        atomic_write(tmp_path / "full.bin", failing)
    _check(e, "full.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]

    with pytest.raises(InputError) as e:
        atomic_write(tmp_path / "missing" / "x.bin", writer)
    assert str(e.value) == f"output folder '{tmp_path / 'missing'}' does not exist"


def test_write_image_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(PILImage.Image, "save", explode)
    monkeypatch.setattr(imagecodecs, "png_encode", explode)
    monkeypatch.setattr(tifffile, "imwrite", explode)
    for name in ("x.png", "x.jpg", "x.bmp", "x.tif"):
        with pytest.raises(RuntimeError):
            write_image(tmp_path / name, np.zeros((3, 3)))
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_nothing(tmp_path):
    def interrupted(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "x.png", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_write_json(tmp_path):
    obj = {
        "path": tmp_path / "a.png",
        "psnr": np.float32(31.5),
        "iters": np.int64(3000),
        "curve": np.array([1.0, 2.0]),
        "nested": [{"ok": True}],
    }
    path = write_json(tmp_path / "report.json", obj)
    text = path.read_text()
    assert text.startswith("{\n  ")  # indent=2
    back = json.loads(text)
    assert back == {
        "path": str(tmp_path / "a.png"),
        "psnr": 31.5,
        "iters": 3000,
        "curve": [1.0, 2.0],
        "nested": [{"ok": True}],
    }
    with pytest.raises(InputError):
        write_json(tmp_path / "no" / "r.json", {})


# --------------------------------------------------------------------------- #
# list_images
# --------------------------------------------------------------------------- #
def test_list_images(tmp_path):
    names = ["b.png", "a.TIF", "c.jpeg", "d.bmp", "e.tiff", "f.JPG", "notes.txt", "g.gif", ".hidden.png", "noext"]
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    (tmp_path / "sub.png" / "inner.png").write_bytes(b"x")
    found = list_images(tmp_path)
    assert [p.name for p in found] == ["a.TIF", "b.png", "c.jpeg", "d.bmp", "e.tiff", "f.JPG"]
    assert all(p.parent == tmp_path for p in found)
    assert set(IMAGE_SUFFIXES) == {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"}

    with pytest.raises(InputError) as e:
        list_images(tmp_path / "nofolder")
    _check(e, "nofolder")
    with pytest.raises(InputError) as e:
        list_images(tmp_path / "b.png")
    _check(e, "b.png")


@pytest.mark.parametrize("layout", ["ome-czyx", "rgb-q", "float-tzyx"])
def test_stacks_round_trip_with_their_layout_and_metadata(tmp_path, layout):
    from deepprior.io import is_stack, read_stack, write_stack

    rng = np.random.default_rng(0)
    path = tmp_path / "s.tif"
    if layout == "ome-czyx":
        data = (rng.random((2, 3, 16, 20)) * 65535).astype(np.uint16)
        tifffile.imwrite(path, data, ome=True, metadata={"axes": "CZYX", "PhysicalSizeX": 0.25})
    elif layout == "rgb-q":
        data = (rng.random((4, 16, 20, 3)) * 255).astype(np.uint8)
        tifffile.imwrite(path, data, photometric="rgb")
    else:
        data = (rng.random((2, 2, 16, 20)) * 300 - 50).astype(np.float32)  # -50 … 250: not clipped
        tifffile.imwrite(path, data, metadata={"axes": "TZYX"})
    assert is_stack(path) and not is_stack(write_image(tmp_path / "one.tif", np.zeros((4, 4))))
    stack = read_stack(path)
    assert len(stack.planes) == int(np.prod([n for a, n in zip(stack.axes, stack.shape) if a not in "YXS"]))
    assert all(0 <= p.pixels.min() and p.pixels.max() <= 1 for p in stack.planes)
    write_stack(tmp_path / "back.tif", stack, [p.pixels for p in stack.planes])
    with tifffile.TiffFile(tmp_path / "back.tif") as tif:
        back, axes = tif.series[0].asarray(), tif.series[0].axes
        ome = tif.ome_metadata
    assert back.dtype == data.dtype and axes == stack.axes
    if layout == "float-tzyx":
        np.testing.assert_allclose(back, data, rtol=1e-5, atol=1e-3)
    else:
        assert np.array_equal(back, data)
    if layout == "ome-czyx":
        assert 'PhysicalSizeX="0.25"' in ome


def test_fits_cube_round_trip_keeps_values_header_and_missing_pixels(tmp_path):
    fits = pytest.importorskip("astropy.io.fits")
    from deepprior.io import is_stack, read_stack, write_stack

    cube = np.random.default_rng(0).normal(5.0, 3.0, (3, 16, 20)).astype(np.float32)
    cube[1, 2, 3] = np.nan
    fits.PrimaryHDU(cube, header=fits.Header({"BUNIT": "Jy"})).writeto(tmp_path / "c.fits")
    assert is_stack(tmp_path / "c.fits")
    stack = read_stack(tmp_path / "c.fits")
    assert len(stack.planes) == 3 and stack.planes[1].missing[2, 3] and stack.planes[0].missing is None
    write_stack(tmp_path / "back.fits", stack, [p.pixels for p in stack.planes])
    with fits.open(tmp_path / "back.fits") as hdus:
        back, header = hdus[0].data, hdus[0].header
    finite = np.isfinite(cube)
    np.testing.assert_allclose(back[finite], cube[finite], rtol=1e-5, atol=1e-5)
    assert header["BUNIT"] == "Jy" and "deepprior" in str(header["HISTORY"])
