"""Reading and writing images, masks and JSON reports.

Every bad-input condition (missing file, a folder where a file is expected,
a file that is not an image, a truncated file, an unsupported output format,
a missing output folder, an empty image, a mask of the wrong size) raises
:class:`deepprior.errors.InputError` with a single line that names the file.

Supported formats
-----------------
======  =====================  ===================================================
Format  Read                   Write
======  =====================  ===================================================
PNG     8/16-bit, gray/RGB,    8-bit through Pillow; 16-bit through the small PNG
        with or without alpha  encoder in this module (Pillow cannot write 16-bit
                               RGB/RGBA/gray+alpha PNG). Float requests -> 16-bit.
TIFF    8/16-bit integer,      8/16-bit integer and float32 through ``tifffile``
        float32/64, gray/RGB,  (deflate compressed, horizontal predictor for
        alpha, CMYK, palette   integers). Alpha is stored as an unassociated
                               extra sample. TIFFs that tifffile cannot decode
                               without ``imagecodecs`` (LZW, JPEG-in-TIFF) and
                               palette TIFFs are read through Pillow.
JPEG    8-bit gray/RGB/CMYK    8-bit only (16-bit/float requests -> 8-bit); JPEG
                               has no alpha, so alpha is dropped with a warning.
BMP     8-bit gray/RGB, RGBA   8-bit only (16-bit/float requests -> 8-bit); alpha
        (bitfields with alpha) is dropped with a warning (see write_image).
======  =====================  ===================================================

Anything else Pillow can open (GIF, WebP, ...) is read as well (first frame).

16-bit colour PNG
-----------------
Pillow (checked with 13.0) decodes 16-bit RGB, RGBA and gray+alpha PNG files
to 8 bits per channel, silently dropping the low byte, and cannot write them
at all.  Those three colour types are therefore decoded and encoded here, with
``zlib`` and ``numpy`` only (no extra dependency).  The decoder undoes the PNG
row filters on anti-diagonal wavefronts: pixel ``(i, j)`` depends only on
``(i, j-1)``, ``(i-1, j)`` and ``(i-1, j-1)``, so all pixels with the same
``i + j`` are reconstructed in one vectorised step, which takes ``H + W`` numpy
steps instead of ``H * W`` Python steps (about 0.05 s for a 512 x 512 RGB
file, about 2 s for 6 megapixels; memory is bounded by working in bands of rows).
Interlaced (Adam7) files, ``tRNS`` colour keys and ``eXIf`` orientation are
handled; CRCs are checked.  16-bit gray PNG without alpha is read by Pillow
(mode ``I;16``), which keeps all 16 bits.

EXIF orientation
----------------
The EXIF/TIFF ``Orientation`` tag is applied on read, exactly as
:func:`PIL.ImageOps.exif_transpose` does, but on the numpy array so that it
works for 16-bit and float data too.  Written files carry no orientation tag.
"""

from __future__ import annotations

import json
import os
import secrets
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from .errors import InputError

__all__ = [
    "IMAGE_SUFFIXES",
    "Image",
    "atomic_write",
    "effective_bit_depth",
    "list_images",
    "read_image",
    "read_mask",
    "write_image",
    "write_json",
]

#: Suffixes (lower case) that :func:`list_images` picks up and :func:`write_image` can write.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_ORIENTATION_TAG = 0x0112
_JPEG_SUFFIXES = (".jpg", ".jpeg")
_TIFF_SUFFIXES = (".tif", ".tiff")
_ALPHA_SUFFIXES = (".png", ".tif", ".tiff")


# --------------------------------------------------------------------------- #
# The image container
# --------------------------------------------------------------------------- #
@dataclass
class Image:
    """An image as floating point pixels in ``[0, 1]`` plus an optional alpha channel.

    Attributes
    ----------
    pixels : np.ndarray
        ``float32`` array of shape ``(H, W, C)`` with ``C`` 1 (gray) or 3 (RGB),
        values in ``[0, 1]``.
    alpha : np.ndarray or None
        ``float32`` array of shape ``(H, W)`` in ``[0, 1]``, or ``None`` when the
        file has no alpha channel.  It is split off on read so that restoration
        never touches it; pass it back to :func:`write_image`.
    bit_depth : int
        Bits per sample of the source: 8, 16, or 32 (floating point TIFF).
        Pass it to :func:`write_image` to keep a 16-bit input 16-bit.
    path : Path or None
        The file the image was read from.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    path: Path | None = None

    @property
    def height(self) -> int:
        """Number of rows."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Number of columns."""
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        """Number of colour channels (1 or 3), alpha not counted."""
        return int(self.pixels.shape[2])

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return self.height, self.width

    @property
    def gray(self) -> bool:
        """True for a single-channel image."""
        return self.channels == 1

    @property
    def has_alpha(self) -> bool:
        """True when an alpha channel was read."""
        return self.alpha is not None


@dataclass
class _Raw:
    """Decoded samples in their native dtype, before scaling to ``[0, 1]``.

    ``data`` is ``(H, W, C)`` with C in {1, 3}; ``alpha`` is ``(H, W)`` or None;
    both have the same dtype (bool, an integer type, or a float type).
    """

    data: np.ndarray
    alpha: np.ndarray | None


# --------------------------------------------------------------------------- #
# Small helpers
# --------------------------------------------------------------------------- #
def _q(path: str | os.PathLike[str] | Path) -> str:
    """The path quoted as the user typed it, for error messages."""
    return f"'{os.fspath(path)}'"


def _orient(a: np.ndarray, orientation: int | None) -> np.ndarray:
    """Apply an EXIF/TIFF orientation (1-8) to an ``(H, W, ...)`` array like ``exif_transpose``."""
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:
        a = a.swapaxes(0, 1)
    elif orientation == 6:
        a = np.rot90(a, -1)
    elif orientation == 7:
        a = a[::-1, ::-1].swapaxes(0, 1)
    elif orientation == 8:
        a = np.rot90(a, 1)
    return np.ascontiguousarray(a)


def _int_max(dtype: np.dtype) -> int:
    return int(np.iinfo(dtype).max)


def _to_float(a: np.ndarray) -> np.ndarray:
    """Scale samples to float32 in [0, 1]: integers by their dtype maximum, floats clipped."""
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        f = a.astype(np.float64) / _int_max(a.dtype)
        return np.clip(f, 0.0, 1.0).astype(np.float32)
    return np.clip(a.astype(np.float32), 0.0, 1.0)


def _bit_depth_of(dtype: np.dtype) -> int:
    if dtype == np.bool_ or dtype == np.uint8:
        return 8
    if np.issubdtype(dtype, np.integer):
        return 16
    return 32


def _split_channels(a: np.ndarray, name: str, has_alpha: bool | None = None) -> _Raw:
    """Split ``(H, W)`` / ``(H, W, C)`` samples into colour and alpha.

    With ``has_alpha=None`` the channel count decides: 2 = gray+alpha, 4 = RGBA.
    Two channels are always gray+alpha; four channels without alpha are RGB
    plus an ignored extra sample.
    """
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise InputError(f"cannot read {name}: unsupported sample layout {a.shape}")
    c = a.shape[2]
    if has_alpha is None:
        has_alpha = c in (2, 4)
    if c == 2 or (has_alpha and c == 4):
        return _Raw(a[:, :, :-1], a[:, :, -1])
    if c in (1, 3):
        return _Raw(a, None)
    if c > 4:
        raise InputError(f"cannot read {name}: unsupported number of channels ({c})")
    return _Raw(a[:, :, :3], None)  # 4 channels that are not RGBA: ignore the extra one


# --------------------------------------------------------------------------- #
# PNG: 16-bit colour decoding and 16-bit encoding (Pillow cannot do these)
# --------------------------------------------------------------------------- #
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The PNG Paeth predictor on signed integer arrays."""
    pa = np.abs(b - c)
    pb = np.abs(a - c)
    pc = np.abs(a + b - 2 * c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _png_unfilter(rows: np.ndarray, bpp: int, max_cells: int = 1 << 25) -> np.ndarray:
    """Undo PNG filtering.

    Parameters
    ----------
    rows : np.ndarray
        ``uint8`` array ``(h, 1 + w * bpp)``: a filter type byte then the filtered row.
    bpp : int
        Bytes per pixel.
    max_cells : int
        Memory bound: rows are processed in bands whose skewed work array has
        at most this many bytes (32 MiB by default).

    Returns
    -------
    np.ndarray
        ``uint8`` array ``(h, w * bpp)`` of reconstructed bytes.

    Raises
    ------
    ValueError
        On a filter type other than 0-4.

    Notes
    -----
    Pixel ``(i, j)`` depends on ``(i, j-1)``, ``(i-1, j)`` and ``(i-1, j-1)`` only,
    so an anti-diagonal ``i + j = d`` is computed in one vectorised step.  The
    band is kept "skewed" (pixel ``(i, j)`` stored at ``[i + 1, i + j + 2]``) so
    that each anti-diagonal is a contiguous column slice; row 0 holds the row
    above the band (zeros above the image) and the unused cells stay zero,
    which is the PNG's zero padding on the left.
    """
    h = rows.shape[0]
    w = (rows.shape[1] - 1) // bpp
    types = rows[:, 0]
    if types.max(initial=0) > 4:
        raise ValueError("invalid PNG filter type")
    if not types.any():
        return rows[:, 1:].copy()
    out = np.empty((h, w, bpp), np.uint8)
    prev = np.zeros((w, bpp), np.uint8)
    # largest band with band * (band + w) * bpp <= max_cells (at least 16 rows)
    band = int((np.sqrt(w * w + 4.0 * max_cells / bpp) - w) / 2)
    band = max(16, min(h, band))
    for r0 in range(0, h, band):
        r1 = min(h, r0 + band)
        n = r1 - r0
        ii = np.arange(n)[:, None]
        jj = np.arange(w)[None, :]
        fs = np.zeros((n, n + w + 1, bpp), np.uint8)
        fs[ii, ii + jj + 1] = rows[r0:r1, 1:].reshape(n, w, bpp)
        s = np.zeros((n + 1, n + w + 2, bpp), np.uint8)
        s[0, 1 : w + 1] = prev
        t = types[r0:r1, None, None]
        for d in range(n + w - 1):
            lo, hi = max(0, d - w + 1), min(n - 1, d)
            a = s[lo + 1 : hi + 2, d + 1].astype(np.int16)
            b = s[lo : hi + 1, d + 1].astype(np.int16)
            c = s[lo : hi + 1, d].astype(np.int16)
            tt = t[lo : hi + 1, 0]
            pred = np.where(
                tt == 1,
                a,
                np.where(tt == 2, b, np.where(tt == 3, (a + b) >> 1, np.where(tt == 4, _paeth(a, b, c), 0))),
            )
            s[lo + 1 : hi + 2, d + 2] = (fs[lo : hi + 1, d + 1] + pred) & 0xFF
        out[r0:r1] = s[ii + 1, ii + jj + 2]
        prev = out[r1 - 1]
    return out.reshape(h, w * bpp)


def _png_filter(raw: np.ndarray, bpp: int, block: int = 256) -> bytes:
    """Filter ``uint8`` scanlines ``(h, w * bpp)`` choosing the best of the 5 filters per row.

    Uses the usual "minimum sum of absolute signed bytes" heuristic, vectorised
    over blocks of rows.  Returns the bytes to be zlib-compressed.
    """
    h, n = raw.shape
    out = np.empty((h, n + 1), np.uint8)
    for r0 in range(0, h, block):
        r1 = min(h, r0 + block)
        x = raw[r0:r1]
        up = np.zeros_like(x)
        up[1:] = x[:-1]
        if r0 > 0:
            up[0] = raw[r0 - 1]
        left = np.zeros_like(x)
        left[:, bpp:] = x[:, :-bpp]
        upleft = np.zeros_like(x)
        upleft[:, bpp:] = up[:, :-bpp]
        a, b, c = left.astype(np.int16), up.astype(np.int16), upleft.astype(np.int16)
        avg = ((a + b) >> 1).astype(np.uint8)
        paeth = _paeth(a, b, c).astype(np.uint8)
        cands = np.stack([x, x - left, x - up, x - avg, x - paeth])  # uint8 arithmetic wraps mod 256
        cost = np.abs(cands.view(np.int8).astype(np.int16)).sum(axis=2, dtype=np.int64)
        best = cost.argmin(axis=0)  # (rows,)
        out[r0:r1, 0] = best
        out[r0:r1, 1:] = np.take_along_axis(cands, best[None, :, None], axis=0)[0]
    return out.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _encode_png16(samples: np.ndarray) -> bytes:
    """Encode ``uint16`` samples ``(H, W, C)``, C in 1..4 (gray, gray+alpha, RGB, RGBA), as a PNG."""
    h, w, c = samples.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = np.ascontiguousarray(samples, dtype=">u2").view(np.uint8).reshape(h, w * c * 2)
    header = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    payload = zlib.compress(_png_filter(raw, 2 * c), 6)
    step = 1 << 20
    idat = b"".join(_png_chunk(b"IDAT", payload[i : i + step]) for i in range(0, max(len(payload), 1), step))
    return _PNG_SIGNATURE + _png_chunk(b"IHDR", header) + idat + _png_chunk(b"IEND", b"")


def _png_header(data: bytes) -> tuple[int, int] | None:
    """``(bit_depth, color_type)`` from a PNG's IHDR, or None if the header is not there."""
    if len(data) < 33 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    return data[24], data[25]


def _decode_png16(data: bytes, name: str) -> tuple[_Raw, int | None]:
    """Decode a 16-bit PNG (any colour type but palette) into ``uint16`` samples.

    Returns the samples and the EXIF orientation found in an ``eXIf`` chunk (or None).
    """
    corrupt = f"cannot read {name}: PNG file is truncated or corrupt"
    pos = 8
    ihdr: bytes | None = None
    idat: list[bytes] = []
    trns: bytes | None = None
    exif: bytes | None = None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            break  # truncated chunk: whatever IDAT we have is checked below
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : end])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise InputError(f"{corrupt} (bad checksum in {kind.decode('latin-1')} chunk)")
        if kind == b"IHDR":
            ihdr = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"tRNS":
            trns = body
        elif kind == b"eXIf":
            exif = body
        elif kind == b"IEND":
            break
        pos = end
    if ihdr is None or len(ihdr) != 13:
        raise InputError(corrupt)
    width, height, depth, color_type, _comp, _filt, interlace = struct.unpack(">IIBBBBB", ihdr)
    if depth != 16 or color_type not in _PNG_CHANNELS or width == 0 or height == 0:
        raise InputError(corrupt)
    channels = _PNG_CHANNELS[color_type]
    bpp = 2 * channels

    passes = _ADAM7 if interlace == 1 else ((0, 0, 1, 1),)
    sizes = []
    for x0, y0, dx, dy in passes:
        pw = (width - x0 + dx - 1) // dx if width > x0 else 0
        ph = (height - y0 + dy - 1) // dy if height > y0 else 0
        sizes.append((pw, ph))
    expected = sum(ph * (1 + pw * bpp) for pw, ph in sizes if pw and ph)
    try:
        stream = zlib.decompressobj().decompress(b"".join(idat), expected)
    except zlib.error as exc:
        raise InputError(f"{corrupt} ({exc})") from None
    if len(stream) < expected:
        raise InputError(corrupt)

    out = np.empty((height, width, channels), np.uint16)
    offset = 0
    buf = np.frombuffer(stream, np.uint8)
    for (x0, y0, dx, dy), (pw, ph) in zip(passes, sizes):
        if not (pw and ph):
            continue
        n = ph * (1 + pw * bpp)
        rows = buf[offset : offset + n].reshape(ph, 1 + pw * bpp)
        offset += n
        try:
            recon = _png_unfilter(rows, bpp)
        except ValueError:
            raise InputError(f"{corrupt} (invalid filter type)") from None
        out[y0::dy, x0::dx] = recon.view(">u2").reshape(ph, pw, channels)

    alpha: np.ndarray | None = None
    if channels in (2, 4):
        alpha = out[:, :, -1]
        out = out[:, :, :-1]
    elif trns is not None and len(trns) == 2 * channels:
        key = np.frombuffer(trns, ">u2").astype(np.uint16)
        alpha = np.where(np.all(out == key, axis=2), 0, 65535).astype(np.uint16)

    orientation = None
    if exif is not None:
        try:
            ex = PILImage.Exif()
            ex.load(exif)
            orientation = ex.get(_ORIENTATION_TAG)
        except Exception:  # a broken EXIF block does not make the pixels unreadable
            orientation = None
    return _Raw(out, alpha), orientation


# --------------------------------------------------------------------------- #
# Readers
# --------------------------------------------------------------------------- #
def _read_tiff(path: Path, name: str) -> tuple[_Raw, int | None] | None:
    """Read the first page of a TIFF with tifffile; None if tifffile cannot decode it."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            a = page.asarray()
            axes = page.axes
            photometric = int(page.photometric)
            extrasamples = tuple(int(e) for e in (page.extrasamples or ()))
            tag = page.tags.get("Orientation")
            orientation = int(tag.value) if tag is not None else None
    except (zlib.error, EOFError) as exc:  # a damaged deflate stream or a short file
        raise InputError(f"cannot read {name}: file is truncated or corrupt ({exc})") from None
    except Exception:  # codec that needs imagecodecs (LZW, JPEG, ...), odd layout: let Pillow try
        return None

    if "S" in axes:  # samples last
        a = np.moveaxis(a, axes.index("S"), -1)
        axes = axes.replace("S", "") + "S"
    keep = [i for i, ax in enumerate(axes) if ax in "YXS"]
    extra = [i for i, ax in enumerate(axes) if ax not in "YXS"]
    if any(a.shape[i] != 1 for i in extra) or "Y" not in axes or "X" not in axes:
        return None
    a = a.reshape([a.shape[i] for i in keep])

    if photometric == 3:  # palette: Pillow expands it to RGB
        return None
    if photometric == 0 and np.issubdtype(a.dtype, np.integer):  # min-is-white
        a = np.iinfo(a.dtype).max - a if np.issubdtype(a.dtype, np.unsignedinteger) else a
    if photometric == 5 and a.ndim == 3 and a.shape[2] >= 4:  # CMYK
        f = _to_float(a[:, :, :4]).astype(np.float64)
        k = 1.0 - f[:, :, 3:4]
        rgb = (1.0 - f[:, :, :3]) * k
        a_out = rgb.astype(np.float32) if a.dtype.kind == "f" else np.round(rgb * _int_max(a.dtype)).astype(a.dtype)
        alpha = a[:, :, 4] if a.shape[2] > 4 and extrasamples else None
        return _Raw(a_out, alpha), orientation
    return _split_channels(a, name, bool(extrasamples)), orientation


def _pil_to_raw(im: PILImage.Image, name: str) -> _Raw:
    """Convert a loaded Pillow image of any mode to native-dtype samples."""
    mode = im.mode
    transparency = im.info.get("transparency")
    if mode == "1":
        return _Raw(np.array(im, dtype=bool)[:, :, None], None)
    if mode.startswith("I;16") or mode == "I":
        a = np.array(im)
        if mode == "I" or a.dtype != np.uint16:
            a = np.clip(a, 0, 65535).astype(np.uint16)
        alpha = None
        if isinstance(transparency, int):
            alpha = np.where(a == transparency, 0, 65535).astype(np.uint16)
        return _Raw(a[:, :, None], alpha)
    if mode == "F":
        return _Raw(np.array(im, dtype=np.float32)[:, :, None], None)
    if mode in ("L", "RGB") and transparency is not None:
        a = np.array(im)
        a3 = a if a.ndim == 3 else a[:, :, None]
        key = np.atleast_1d(np.asarray(transparency)).astype(a.dtype)
        if key.size == a3.shape[2]:
            alpha = np.where(np.all(a3 == key, axis=2), 0, 255).astype(np.uint8)
            return _Raw(a3, alpha)
    if mode == "L":
        return _Raw(np.array(im)[:, :, None], None)
    if mode == "RGB":
        return _Raw(np.array(im), None)
    if mode in ("LA", "La"):
        a = np.array(im.convert("LA") if mode != "LA" else im)
        return _Raw(a[:, :, :1], a[:, :, 1])
    if mode in ("RGBA", "RGBa"):
        a = np.array(im.convert("RGBA") if mode != "RGBA" else im)
        return _Raw(a[:, :, :3], a[:, :, 3])
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or transparency is not None or (im.palette is not None and im.palette.mode == "RGBA")
        a = np.array(im.convert("RGBA" if has_alpha else "RGB"))
        return _Raw(a[:, :, :3], a[:, :, 3]) if has_alpha else _Raw(a, None)
    try:  # CMYK, YCbCr, RGBX, HSV, ...
        return _Raw(np.array(im.convert("RGB")), None)
    except (ValueError, OSError):
        raise InputError(f"cannot read {name}: unsupported colour mode '{mode}'") from None


def _read_pil(path: Path, name: str) -> tuple[_Raw, int | None]:
    try:
        with warnings.catch_warnings(), PILImage.open(path) as im:
            # Pillow warns about e.g. corrupt EXIF blocks; errors that matter are raised below
            warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
            im.load()
            try:
                orientation = im.getexif().get(_ORIENTATION_TAG)
            except Exception:  # malformed EXIF: keep the pixels as stored
                orientation = None
            raw = _pil_to_raw(im, name)
    except UnidentifiedImageError:
        raise InputError(f"cannot read {name}: not an image file (or an unsupported format)") from None
    except PILImage.DecompressionBombError:
        raise InputError(f"cannot read {name}: image is too large") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        if isinstance(exc, InputError):
            raise
        if isinstance(exc, PermissionError):
            raise InputError(f"cannot read {name}: permission denied") from None
        raise InputError(f"cannot read {name}: file is truncated or corrupt ({exc})") from None
    return raw, orientation


def _read_raw(path: str | os.PathLike[str]) -> _Raw:
    """Decode any supported file to native-dtype samples, orientation applied."""
    name = _q(path)
    p = Path(path)
    if p.is_dir():
        raise InputError(f"cannot read {name}: is a folder, not an image file")
    if not p.exists():
        raise InputError(f"cannot read {name}: file does not exist")
    try:
        with open(p, "rb") as fh:
            head = fh.read(64)
            data = head + fh.read() if head.startswith(_PNG_SIGNATURE) else head
    except PermissionError:
        raise InputError(f"cannot read {name}: permission denied") from None
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
    if not data:
        raise InputError(f"cannot read {name}: file is empty")

    result: tuple[_Raw, int | None] | None = None
    header = _png_header(data)
    if header is not None and header[0] == 16 and header[1] in (2, 4, 6):
        result = _decode_png16(data, name)
    elif data[:4] in _TIFF_SIGNATURES:
        result = _read_tiff(p, name)
    if result is None:
        result = _read_pil(p, name)
    raw, orientation = result

    if raw.data.size == 0 or raw.data.shape[0] == 0 or raw.data.shape[1] == 0:
        raise InputError(f"cannot read {name}: image is empty ({raw.data.shape[1]}x{raw.data.shape[0]} pixels)")
    if raw.data.dtype.kind == "f" and not np.all(np.isfinite(raw.data)):
        raise InputError(f"cannot read {name}: image contains NaN or infinite values")
    if raw.data.dtype.kind not in "buif":
        raise InputError(f"cannot read {name}: unsupported sample type {raw.data.dtype}")
    if raw.alpha is not None and raw.alpha.dtype != raw.data.dtype:
        raw.alpha = raw.alpha.astype(raw.data.dtype)
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        raw = _Raw(_orient(raw.data, orientation), None if raw.alpha is None else _orient(raw.alpha, orientation))
    return raw


def read_image(path: str | os.PathLike[str]) -> Image:
    """Read an image file.

    Parameters
    ----------
    path : str or path-like
        PNG, TIFF, JPEG, BMP (or anything else Pillow opens; first frame only).

    Returns
    -------
    Image
        ``pixels`` float32 ``(H, W, 1)`` or ``(H, W, 3)`` in ``[0, 1]``; ``alpha``
        split off (or None); ``bit_depth`` 8, 16 or 32.  The EXIF orientation is
        applied.  Palette images become RGB (RGBA with transparency), ``LA``
        becomes gray + alpha, ``I;16`` 16-bit gray, CMYK/YCbCr RGB, 1-bit 8-bit
        gray.  Integer TIFF samples wider than 16 bits are scaled by their type's
        maximum and reported as 16-bit; float samples are clipped to ``[0, 1]``.

    Raises
    ------
    InputError
        If the file is missing, is a folder, is not a readable image, is
        truncated, is empty, or holds NaN/infinite float samples.
    """
    raw = _read_raw(path)
    bit_depth = _bit_depth_of(raw.data.dtype)
    pixels = _to_float(raw.data)
    alpha = None if raw.alpha is None else _to_float(raw.alpha)
    return Image(pixels=pixels, alpha=alpha, bit_depth=bit_depth, path=Path(path))


def read_mask(path: str | os.PathLike[str], shape: Sequence[int]) -> np.ndarray:
    """Read a mask of known pixels.

    Parameters
    ----------
    path : str or path-like
        Any image file :func:`read_image` accepts.
    shape : sequence of int
        Shape of the image the mask belongs to; only ``shape[:2]`` (H, W) is used.

    Returns
    -------
    np.ndarray
        ``bool`` array ``(H, W)``; True marks a KNOWN (kept) pixel, False a
        missing one that the restoration should fill in.

    Notes
    -----
    Thresholds, per channel, on the stored values (EXIF orientation applied):

    * 1-bit / boolean: True is known.
    * integer samples whose maximum in the file is <= 1 (0/1 masks): known = value > 0.
    * other integer samples: known = value >= half the type's range, i.e.
      >= 128 for 8-bit and >= 32768 for 16-bit (0/255 and 0/65535 masks).
    * float samples: known = value >= 0.5.

    A colour mask marks a pixel known only if all its colour channels do.
    An alpha channel in the mask file is ignored.

    Raises
    ------
    InputError
        If the file cannot be read (see :func:`read_image`) or its size differs
        from ``shape``.
    """
    raw = _read_raw(path)
    a = raw.data
    if a.dtype == np.bool_:
        known = a
    elif np.issubdtype(a.dtype, np.integer):
        if int(a.max()) <= 1:
            known = a > 0
        else:
            known = a >= (_int_max(a.dtype) + 1) // 2
    else:
        known = a >= 0.5
    known = np.all(known, axis=2)
    h, w = int(shape[0]), int(shape[1])
    if known.shape != (h, w):
        raise InputError(
            f"mask {_q(path)} is {known.shape[1]}x{known.shape[0]} pixels but the image is {w}x{h} (width x height)"
        )
    return np.ascontiguousarray(known)


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """List the image files in a folder.

    Parameters
    ----------
    folder : str or path-like
        The folder to scan (not recursive).

    Returns
    -------
    list of Path
        Regular files whose suffix (any case) is one of :data:`IMAGE_SUFFIXES`,
        sorted by name.  Hidden files (name starting with ``.``, e.g. macOS
        ``._x.png`` files or temporary files left by an interrupted write) are skipped.

    Raises
    ------
    InputError
        If ``folder`` does not exist or is not a folder.
    """
    p = Path(folder)
    if not p.exists():
        raise InputError(f"folder {_q(folder)} does not exist")
    if not p.is_dir():
        raise InputError(f"{_q(folder)} is not a folder")
    files = [
        f
        for f in p.iterdir()
        if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".") and f.is_file()
    ]
    return sorted(files, key=lambda f: f.name)


# --------------------------------------------------------------------------- #
# Writers
# --------------------------------------------------------------------------- #
def atomic_write(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Create ``path`` atomically.

    ``writer`` is called with a temporary path in the same folder (hidden name,
    same suffix as ``path``); once it returns, the data is flushed to disk and
    the temporary file is renamed onto ``path`` with :func:`os.replace`.  On any
    failure (including KeyboardInterrupt) the temporary file is removed, so no
    partial output is ever left behind and an existing ``path`` is untouched.

    Parameters
    ----------
    path : str or path-like
        Final file name.
    writer : callable
        ``writer(tmp_path)`` writes the whole file to ``tmp_path``.

    Returns
    -------
    Path
        ``path`` as a Path.

    Raises
    ------
    InputError
        If the output folder does not exist or is not a folder, ``path`` is a
        folder, or the file system refuses the write (``OSError`` from the
        writer, e.g. permission denied or disk full).  Other exceptions from
        ``writer`` propagate unchanged.
    """
    target = Path(path)
    parent = target.parent
    if not parent.exists():
        raise InputError(f"output folder {_q(parent)} does not exist")
    if not parent.is_dir():
        raise InputError(f"output folder {_q(parent)} is not a folder")
    if target.is_dir():
        raise InputError(f"cannot write {_q(path)}: is a folder")
    tmp: Path | None = None
    try:
        for _ in range(100):
            candidate = parent / f".{target.name}.{secrets.token_hex(4)}.tmp{target.suffix}"
            try:
                # created with the default permissions (umask), unlike mkstemp's 0600
                with open(candidate, "xb"):
                    pass
            except FileExistsError:
                continue
            tmp = candidate
            break
        if tmp is None:
            raise InputError(f"cannot write {_q(path)}: no free temporary file name")
        writer(tmp)
        try:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass  # fsync is best effort (some file systems do not support it)
        os.replace(tmp, target)
        tmp = None
    except InputError:
        raise
    except PermissionError:
        raise InputError(f"cannot write {_q(path)}: permission denied") from None
    except OSError as exc:
        raise InputError(f"cannot write {_q(path)}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            try:
                tmp.unlink()
            except OSError:
                pass
    return target


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON (``indent=2``), atomically.

    Paths become strings, numpy scalars and arrays plain numbers and lists,
    anything else unknown ``str(obj)``.

    Returns
    -------
    Path
        ``path`` as a Path.

    Raises
    ------
    InputError
        As :func:`atomic_write`.
    """
    text = json.dumps(obj, indent=2, default=_json_default) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def effective_bit_depth(path: str | os.PathLike[str], bit_depth: int) -> int:
    """The bit depth :func:`write_image` will actually write for this file name.

    PNG holds 8 or 16 bits (a float request gives 16); TIFF holds 8, 16 or
    float32; JPEG and BMP hold 8 bits only.

    Raises
    ------
    InputError
        If the suffix is not a supported output format or ``bit_depth`` is not
        8, 16 or 32.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        supported = ", ".join(IMAGE_SUFFIXES[:-1]) + " or " + IMAGE_SUFFIXES[-1]
        shown = f"'{suffix}'" if suffix else "(no suffix)"
        raise InputError(f"cannot write {_q(path)}: unsupported output format {shown} (use {supported})")
    if bit_depth not in (8, 16, 32):
        raise InputError(f"cannot write {_q(path)}: bit depth must be 8, 16 or 32, not {bit_depth}")
    if suffix in _TIFF_SUFFIXES:
        return bit_depth
    if suffix == ".png":
        return min(bit_depth, 16)
    return 8


def _as_unit_float(a: Any, what: str, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == np.bool_:
        return a.astype(np.float64)
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.float64) / _int_max(a.dtype)
    if a.dtype.kind != "f":
        raise InputError(f"cannot write {name}: {what} must be a numeric array, not {a.dtype}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"cannot write {name}: {what} contain NaN or infinite values")
    return np.clip(a.astype(np.float64), 0.0, 1.0)


def write_image(
    path: str | os.PathLike[str],
    pixels: Any,
    alpha: Any | None = None,
    bit_depth: int = 8,
    *,
    quality: int = 95,
) -> Path:
    """Write an image atomically; the format follows the suffix.

    Parameters
    ----------
    path : str or path-like
        Output file, suffix ``.png``, ``.tif``, ``.tiff``, ``.jpg``, ``.jpeg`` or ``.bmp``.
    pixels : array-like
        ``(H, W)`` or ``(H, W, C)`` with ``C`` 1 (gray) or 3 (RGB); 2 or 4
        channels are taken as gray+alpha / RGBA when ``alpha`` is None.  Floats
        are clipped to ``[0, 1]``; integer arrays are scaled by their type's
        maximum (``uint8`` / 255, ``uint16`` / 65535), booleans are 0/1.
    alpha : array-like, optional
        ``(H, W)`` alpha channel in ``[0, 1]`` (as returned by :func:`read_image`).
    bit_depth : int
        8, 16 or 32 (float); usually the ``bit_depth`` of the input image.  A
        format that cannot hold it gets the closest it can (see
        :func:`effective_bit_depth`): 16 for PNG asked for 32, 8 for JPEG/BMP.
    quality : int
        JPEG quality (1-95).

    Returns
    -------
    Path
        ``path`` as a Path.

    Notes
    -----
    Values are rounded to the nearest integer level, so an 8/16-bit image read
    with :func:`read_image` and written back at the same bit depth is
    reproduced exactly.  JPEG and BMP outputs cannot keep alpha (Pillow writes
    32-bit BMP without an alpha mask and reads it back as RGB): it is dropped
    with a ``UserWarning``.

    Raises
    ------
    InputError
        Unsupported suffix or bit depth, missing output folder, empty image,
        bad shape, NaN/infinite values, or a failed write.
    """
    name = _q(path)
    target = Path(path)
    suffix = target.suffix.lower()
    depth = effective_bit_depth(path, bit_depth)

    px = _as_unit_float(pixels, "pixels", name)
    if px.ndim == 2:
        px = px[:, :, None]
    if px.ndim != 3 or px.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"cannot write {name}: pixels must be (H, W) or (H, W, C) with C in 1..4, got {px.shape}")
    if px.shape[0] == 0 or px.shape[1] == 0:
        raise InputError(f"cannot write {name}: image is empty ({px.shape[1]}x{px.shape[0]} pixels)")
    if px.shape[2] in (2, 4):
        if alpha is not None:
            raise InputError(f"cannot write {name}: pixels already have an alpha channel and alpha was given too")
        px, al = px[:, :, :-1], px[:, :, -1]
    else:
        al = None if alpha is None else _as_unit_float(alpha, "alpha values", name)
        if al is not None:
            if al.ndim == 3 and al.shape[2] == 1:
                al = al[:, :, 0]
            if al.shape != px.shape[:2]:
                raise InputError(f"cannot write {name}: alpha has shape {al.shape} but the pixels are {px.shape[:2]}")
    if al is not None and suffix not in _ALPHA_SUFFIXES:
        kind = "JPEG" if suffix in _JPEG_SUFFIXES else "BMP"
        warnings.warn(f"{name}: {kind} cannot store an alpha channel; it was dropped", UserWarning, stacklevel=2)
        al = None

    samples = px if al is None else np.concatenate([px, al[:, :, None]], axis=2)
    if depth == 32:
        data = samples.astype(np.float32)
    elif depth == 16:
        data = np.round(samples * 65535.0).astype(np.uint16)
    else:
        data = np.round(samples * 255.0).astype(np.uint8)
    channels = data.shape[2]

    if suffix in _TIFF_SUFFIXES:
        import tifffile

        def writer(tmp: Path) -> None:
            tifffile.imwrite(
                tmp,
                data if channels > 1 else data[:, :, 0],
                photometric="rgb" if channels >= 3 else "minisblack",
                extrasamples=[2] if channels in (2, 4) else None,  # 2 = unassociated alpha
                compression="zlib",
                predictor=depth != 32,  # the float predictor needs imagecodecs
                metadata=None,
            )

    elif suffix == ".png" and depth == 16:
        encoded = _encode_png16(data)

        def writer(tmp: Path) -> None:
            tmp.write_bytes(encoded)

    else:
        im = PILImage.fromarray(data[:, :, 0] if channels == 1 else data)  # L, LA, RGB or RGBA
        if suffix == ".png":
            fmt, options = "PNG", {}
        elif suffix == ".bmp":
            fmt, options = "BMP", {}
        else:
            fmt, options = "JPEG", {"quality": int(quality)}

        def writer(tmp: Path) -> None:
            im.save(tmp, format=fmt, **options)

    return atomic_write(target, writer)
