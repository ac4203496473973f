"""Reading and writing image files.

Every bad-input condition (missing file, a folder where a file is expected,
a file that is not an image, a truncated file, an unsupported output format,
a missing output folder, an empty image, NaN/infinite samples, a bad shape)
raises :class:`deepprior.errors.InputError` with a single line that names the file.

Supported formats
-----------------
======  =========================  =================================================
Format  Read                       Write
======  =========================  =================================================
PNG     1/2/4/8/16-bit gray, gray  8 or 16-bit through ``imagecodecs`` (libpng),
        + alpha, RGB, RGBA,        alpha kept; float requests -> 16-bit.
        palette, ``tRNS`` colour
        keys, interlaced, through
        ``imagecodecs`` (all 16
        bits kept)
TIFF    8/16-bit integer,          8/16-bit integer and float32 through ``tifffile``
        float32/64, gray/RGB,      (zlib compressed; horizontal predictor for
        alpha, CMYK, LZW, JPEG,    integers, floating point predictor for float32).
        through ``tifffile``;      Alpha is stored as an unassociated extra sample.
        palette and uncompressed
        YCbCr through Pillow
JPEG    8-bit gray/RGB/CMYK        8-bit only (16-bit/float requests -> 8-bit), colour
        (Pillow)                   not subsampled (4:4:4); JPEG has no alpha, so alpha
                                   is dropped with a warning.
BMP     8-bit gray/RGB, RGBA       8-bit only (16-bit/float requests -> 8-bit); alpha
        (Pillow)                   is dropped with a warning (see write_image).
======  =========================  =================================================

Anything else Pillow can open (GIF, WebP, ...) is read as well (first frame).
A PNG that libpng rejects but Pillow reads exactly (bit depth up to 8, or 16-bit
gray) is handed to Pillow; a broken 16-bit colour PNG is an error (Pillow would
keep only the high byte of each sample).

Decoded samples go through :func:`deepprior.image.as_image`, so integer samples
are divided by their type's maximum. Float samples inside ``[0, 1]`` are kept;
float samples outside it (scientific TIFF) are mapped linearly from their
(min, max) onto ``[0, 1]``, and :attr:`Image.value_range` keeps the range so that
a float TIFF output maps them back: nothing is clipped. A file with several
pages or frames (a TIFF stack, an animated GIF) is refused with their count.

EXIF orientation
----------------
The EXIF/TIFF ``Orientation`` tag is applied on read, exactly as
:func:`PIL.ImageOps.exif_transpose` does, but on the numpy array so that it
works for 16-bit and float data too.  It is read by Pillow for PNG (``eXIf``
chunk), JPEG and the other Pillow formats, and by tifffile for TIFF.  Written
files carry no orientation tag.

EXIF metadata
-------------
The EXIF that describes the photograph is kept as :attr:`Image.exif`: make,
model, date, artist, copyright and print resolution of the first IFD, and the
Exif and GPS IFDs (exposure, lens, location) but for the Interop pointer, the
maker note (private offsets into the file, which rewriting breaks) and the
pixel dimensions. The orientation (applied) and the thumbnail (IFD1) are not
kept. JPEG and PNG outputs get it back (JPEG ``APP1``, PNG ``eXIf``) with the
output's pixel dimensions and ``deepprior VERSION`` as the software; a TIFF
output gets the make, model, date, artist and copyright as its own tags
(tifffile writes no Exif IFD); BMP none, with a warning.

Colour profiles
---------------
An embedded ICC profile (PNG ``iCCP`` chunk, TIFF tag 34675, JPEG ``APP2``) is
kept as :attr:`Image.icc_profile` when it describes the samples read (an RGB
profile for colour, a gray one for gray: a CMYK file's profile does not
describe the RGB it is converted to) and written back into PNG, TIFF and JPEG
outputs whose channels it describes. The samples themselves are never
converted. BMP cannot hold a profile: it is dropped with a warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from ..errors import InputError, warn
from ..image import Image, ImageLike, as_image
from .files import _q, atomic_write

__all__ = ["IMAGE_SUFFIXES", "effective_bit_depth", "list_images", "read_image", "write_image"]

#: FITS files (astronomy): read and written through :mod:`deepprior.io.stacks` with astropy.
FITS_SUFFIXES: tuple[str, ...] = (".fits", ".fit", ".fts")

#: Suffixes (lower case) that :func:`list_images` picks up (with FITS) and :func:`write_image` can write.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_ORIENTATION_TAG = 0x0112
_JPEG_SUFFIXES = (".jpg", ".jpeg")
_TIFF_SUFFIXES = (".tif", ".tiff")
_ALPHA_SUFFIXES = (".png", ".tif", ".tiff")
# camera RAW formats: many are TIFF inside, whose first page a TIFF reader would return (a small preview, not
# the photograph), so they are refused by name
_CAMERA_RAW_SUFFIXES = (
    ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf", ".rw2", ".raf", ".pef",
    ".srw", ".x3f", ".3fr", ".erf", ".kdc", ".dcr", ".mrw", ".mos", ".iiq", ".rwl",
)  # fmt: skip
_HEIF_SUFFIXES = (".heic", ".heif")
# where Pillow keeps a PNG's EXIF block: the eXIf chunk or an ImageMagick text chunk
_PNG_EXIF_MARKERS = (b"eXIf", b"Raw profile type exif")
# EXIF tags of the first IFD that describe the photograph, not the file's layout: make, model, date, artist,
# copyright, print resolution and its unit; the Exif and GPS IFDs (exposure, lens, location) are carried whole but
# for what rewriting would break or the restoration changes: the Interop pointer's offset, the maker note (private
# offsets into the file) and the pixel dimensions (set to the output's)
_EXIF_DESCRIPTIVE = (0x010F, 0x0110, 0x0132, 0x013B, 0x8298, 0x011A, 0x011B, 0x0128)
_EXIF_TEXT = (0x010F, 0x0110, 0x0132, 0x013B, 0x8298)  # of those, the text a TIFF output keeps
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_EXIF_DROPPED = (0xA005, 0x927C, 0xA002, 0xA003)
_EXIF_SOFTWARE = 0x0131
_TIFF_DESCRIPTIVE_TAGS = ("Make", "Model", "DateTime", "Artist", "Copyright", "ExifTag", "GPSTag")  # tifffile's names


@dataclass
class _Raw:
    """Decoded samples in their native dtype, before scaling to ``[0, 1]``.

    ``data`` is ``(H, W, C)`` with C in {1, 3}; ``alpha`` is ``(H, W)`` or None;
    both have the same dtype (bool, an integer type, or a float type).
    """

    data: np.ndarray
    alpha: np.ndarray | None
    icc_profile: bytes | None = None
    exif: bytes | None = None


# --------------------------------------------------------------------------- #
# Small helpers
# --------------------------------------------------------------------------- #
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


class _Silence(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextlib.contextmanager
def _quiet_imagecodecs() -> Iterator[None]:
    """Drop the warnings libpng reports through the ``imagecodecs`` logger (e.g. an ancillary chunk's CRC)."""
    logger = logging.getLogger("imagecodecs")
    silence = _Silence()
    logger.addFilter(silence)
    try:
        yield
    finally:
        logger.removeFilter(silence)


def _pil_tags(im: PILImage.Image) -> tuple[int | None, bytes | None, bytes | None]:
    """An open Pillow image's EXIF orientation (None without one, or with a malformed EXIF block), ICC
    profile (None without one) and EXIF block to carry (:func:`_exif_block`)."""
    try:
        exif = im.getexif()
        orientation = exif.get(_ORIENTATION_TAG)
        block = _exif_block(exif)
    except Exception:
        orientation, block = None, None
    return orientation, im.info.get("icc_profile") or None, block


def _pil_header_tags(path: Path) -> tuple[int | None, bytes | None, bytes | None]:
    """:func:`_pil_tags` of a file that another decoder reads: Pillow parses its header only, no pixels."""
    try:
        with warnings.catch_warnings(), PILImage.open(path) as im:
            warnings.simplefilter("ignore")
            return _pil_tags(im)
    except Exception:
        return None, None, None


def _exif_block(exif: PILImage.Exif) -> bytes | None:
    """The EXIF metadata that describes the photograph (camera, date, author, copyright, exposure, location) as
    an EXIF block (``Exif\\0\\0`` and a TIFF structure), None when it holds none; the orientation is left out (it
    is applied to the pixels on read)."""
    kept = PILImage.Exif()
    for tag in _EXIF_DESCRIPTIVE:
        if tag in exif:
            kept[tag] = exif[tag]
    for pointer in (_EXIF_IFD, _GPS_IFD):
        entries = {tag: value for tag, value in exif.get_ifd(pointer).items() if tag not in _EXIF_DROPPED}
        if entries:
            kept.get_ifd(pointer).update(entries)
    return kept.tobytes() if len(kept) or kept.get_ifd(_EXIF_IFD) or kept.get_ifd(_GPS_IFD) else None


def _exif_for_output(block: bytes, height: int, width: int, name: str) -> PILImage.Exif:
    """An input's EXIF block as the output's: its pixel dimensions, and deepprior as the software."""
    from .. import __version__

    exif = PILImage.Exif()
    try:
        exif.load(block)
    except Exception:
        raise InputError(f"cannot write {name}: the image's exif is not an EXIF block") from None
    exif[_EXIF_SOFTWARE] = f"deepprior {__version__}"
    if exif.get_ifd(_EXIF_IFD):
        exif.get_ifd(_EXIF_IFD).update({0xA002: width, 0xA003: height})
    return exif


def _describes(profile: bytes | None, channels: int) -> bool:
    """Whether an ICC profile's colour space (header bytes 16-19) is that of samples with ``channels`` colours."""
    return profile is not None and profile[16:20] == (b"RGB " if channels == 3 else b"GRAY")


def _with_chunk(png: bytes, kind: bytes, body: bytes) -> bytes:
    """A PNG file with one more chunk of type ``kind`` right after its ``IHDR`` (before any image data, where
    ``iCCP`` and ``eXIf`` must be)."""
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    end_of_ihdr = len(_PNG_SIGNATURE) + 8 + 13 + 4  # length, type, 13 data bytes, CRC
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


def _with_iccp_chunk(png: bytes, profile: bytes) -> bytes:
    """A PNG file with an ``iCCP`` chunk (PNG 1.2, §4.2.2.4): the profile's name, a null, compression method 0
    and the zlib-compressed profile (the PNG encoder writes none itself)."""
    return _with_chunk(png, b"iCCP", b"ICC profile\x00\x00" + zlib.compress(profile))


# --------------------------------------------------------------------------- #
# Readers: each returns native-dtype samples and the EXIF orientation, or None
# to let Pillow try
# --------------------------------------------------------------------------- #
def _read_png(data: bytes, path: Path, name: str) -> tuple[_Raw, int | None] | None:
    """Decode a PNG with imagecodecs (libpng); None hands a file libpng rejects to Pillow."""
    if len(data) >= 33 and data[12:16] == b"IHDR":
        width, height, depth, color_type = struct.unpack(">IIBB", data[16:26])
        limit = PILImage.MAX_IMAGE_PIXELS
        if limit and width * height > 2 * limit:  # Pillow's decompression bomb rule
            raise InputError(f"cannot read {name}: image is too large")
    else:
        depth, color_type = 0, 0
    try:
        with _quiet_imagecodecs():
            a = imagecodecs.png_decode(data)
    except (RuntimeError, ValueError) as exc:  # PngError, or a ValueError/UnicodeDecodeError from an odd chunk
        if depth <= 8 or (depth == 16 and color_type == 0):
            return None  # Pillow decodes these exactly; it raises the error if it cannot read the file either
        detail = exc if isinstance(exc, RuntimeError) else "rejected by libpng"
        raise InputError(f"cannot read {name}: PNG file is truncated or corrupt ({detail})") from None
    raw = _split_channels(a, name)
    orientation = None
    if b"iCCP" in data or any(marker in data for marker in _PNG_EXIF_MARKERS):
        orientation, raw.icc_profile, raw.exif = _pil_header_tags(path)
    return raw, orientation


def _is_decode_error(exc: BaseException) -> bool:
    """True for a damaged compressed stream or a short file (as opposed to a layout tifffile cannot handle)."""
    return isinstance(exc, (zlib.error, EOFError)) or (
        isinstance(exc, RuntimeError) and type(exc).__module__ == "imagecodecs"
    )


def _read_tiff(path: Path, name: str) -> tuple[_Raw, int | None] | None:
    """Read the first page of a TIFF with tifffile; None if tifffile cannot decode it."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            pages = len(tif.pages)
            if pages > 1:
                raise InputError(
                    f"cannot read {name}: it holds {pages} pages (a stack); read it plane by plane with "
                    "deepprior.io.read_stack"
                )
            page = tif.pages[0]
            photometric = int(page.photometric)
            compression = int(page.compression)
            if photometric == 3 or (photometric == 6 and compression not in (6, 7)):
                return None  # palette, or YCbCr that is not JPEG compressed: Pillow converts them to RGB
            a = page.asarray()
            axes = page.axes
            extrasamples = tuple(int(e) for e in (page.extrasamples or ()))
            tag = page.tags.get("Orientation")
            orientation = int(tag.value) if tag is not None else None
            icc_profile = page.iccprofile
            described = any(tag_name in page.tags for tag_name in _TIFF_DESCRIPTIVE_TAGS)
    except InputError:
        raise
    except Exception as exc:
        if _is_decode_error(exc):
            raise InputError(f"cannot read {name}: file is truncated or corrupt ({exc})") from None
        return None  # an odd layout or codec: let Pillow try

    if "S" in axes:  # samples last
        a = np.moveaxis(a, axes.index("S"), -1)
        axes = axes.replace("S", "") + "S"
    keep = [i for i, ax in enumerate(axes) if ax in "YXS"]
    extra = [i for i, ax in enumerate(axes) if ax not in "YXS"]
    if any(a.shape[i] != 1 for i in extra) or "Y" not in axes or "X" not in axes:
        return None
    a = a.reshape([a.shape[i] for i in keep])

    if photometric == 0 and np.issubdtype(a.dtype, np.integer):  # min-is-white
        a = np.iinfo(a.dtype).max - a if np.issubdtype(a.dtype, np.unsignedinteger) else a
    if photometric == 5 and a.ndim == 3 and a.shape[2] >= 4:  # CMYK
        try:
            cmyk = as_image(a[:, :, :4], what="image")  # C, M, Y as pixels, K split off as alpha
        except InputError as exc:
            raise InputError(f"cannot read {name}: {exc}") from None
        k = 1.0 - cmyk.alpha.astype(np.float64)[:, :, None]
        rgb = (1.0 - cmyk.pixels.astype(np.float64)) * k
        if a.dtype.kind == "f":
            a_out = rgb.astype(np.float32)
        else:
            a_out = np.round(rgb * np.iinfo(a.dtype).max).astype(a.dtype)
        alpha = a[:, :, 4] if a.shape[2] > 4 and extrasamples else None
        return _Raw(a_out, alpha), orientation  # the profile is CMYK's: it does not describe the RGB
    raw = _split_channels(a, name, bool(extrasamples))
    raw.icc_profile = icc_profile
    if described:  # Pillow reads the EXIF and GPS IFDs tifffile only lists
        raw.exif = _pil_header_tags(path)[2]
    return raw, orientation


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
    """Read the first frame of anything Pillow opens, with its EXIF orientation."""
    try:
        with warnings.catch_warnings(), PILImage.open(path) as im:
            # Pillow warns about e.g. corrupt EXIF blocks; errors that matter are raised below
            warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                raise InputError(
                    f"cannot read {name}: it holds {frames} frames (an animation or a stack); "
                    "deepprior restores one image at a time, so extract the frame you want first"
                )
            im.load()
            orientation, icc_profile, exif = _pil_tags(im)
            raw = _pil_to_raw(im, name)
            raw.icc_profile, raw.exif = icc_profile, exif
    except UnidentifiedImageError:
        what = "not an image file (or an unsupported format)"
        if path.suffix.lower() in _HEIF_SUFFIXES:  # Pillow reads them only with a plug-in registered
            what = "HEIC/HEIF is not supported; export it as JPEG, PNG or TIFF"
        raise InputError(f"cannot read {name}: {what}") from None
    except PILImage.DecompressionBombError:
        raise InputError(f"cannot read {name}: image is too large") from None
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        if isinstance(exc, PermissionError):
            raise InputError(f"cannot read {name}: permission denied") from None
        raise InputError(f"cannot read {name}: file is truncated or corrupt ({exc})") from None
    return raw, orientation


def _read_raw(path: str | os.PathLike[str]) -> tuple[_Raw, Image]:
    """Decode any supported file, orientation applied.

    Returns the native-dtype samples (for mask thresholds) and the checked
    :class:`Image` made from them by :func:`as_image` (``path`` not set).
    """
    name = _q(path)
    p = Path(path)
    if p.is_dir():
        raise InputError(f"cannot read {name}: is a folder, not an image file")
    if not p.exists():
        raise InputError(f"cannot read {name}: file does not exist")
    suffix = p.suffix.lower()
    if suffix in _CAMERA_RAW_SUFFIXES:
        raise InputError(
            f"cannot read {name}: a camera RAW file holds the sensor's data, not an image; develop it first (in "
            "your RAW converter, with noise reduction off) and save a 16-bit TIFF"
        )
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
    if data.startswith(_PNG_SIGNATURE):
        result = _read_png(data, p, name)
    elif data[:4] in _TIFF_SIGNATURES:
        result = _read_tiff(p, name)
    if result is None:
        result = _read_pil(p, name)
    raw, orientation = result

    if raw.alpha is not None and raw.alpha.dtype != raw.data.dtype:
        raw.alpha = raw.alpha.astype(raw.data.dtype)
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        oriented_alpha = None if raw.alpha is None else _orient(raw.alpha, orientation)
        raw = _Raw(_orient(raw.data, orientation), oriented_alpha, raw.icc_profile, raw.exif)
    value_range = None
    data = raw.data
    if data.dtype.kind == "f" and data.size and np.all(np.isfinite(data)):
        lo, hi = float(data.min()), float(data.max())
        if lo < 0 or hi > 1:  # scientific data: map its range onto [0, 1] (and back on write), never clip
            value_range = (lo, hi)
            data = (data.astype(np.float64) - lo) / (hi - lo if hi > lo else 1.0)
    try:
        image = as_image(data, what="image")
        image.value_range = value_range
        if _describes(raw.icc_profile, image.channels):  # a CMYK file's, say, does not describe its RGB
            image.icc_profile = raw.icc_profile
        image.exif = raw.exif
        if raw.alpha is not None:
            image.alpha = np.ascontiguousarray(as_image(raw.alpha, what="alpha channel").pixels[:, :, 0])
    except InputError as exc:
        raise InputError(f"cannot read {name}: {exc}") from None
    return raw, image


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
        split off (or None); ``bit_depth`` 8, 16 or 32; ``path`` the file.  The
        EXIF orientation is applied.  Palette images become RGB (RGBA with
        transparency), gray + alpha gray with alpha, 16-bit PNGs keep all 16
        bits, CMYK/YCbCr become RGB, 1-bit images 8-bit gray.  Integer TIFF
        samples wider than 16 bits are scaled by their type's maximum and
        reported as 16-bit; float samples outside ``[0, 1]`` are mapped linearly
        from their (min, max) onto it, which ``value_range`` keeps (a float
        TIFF write maps them back).

    Raises
    ------
    InputError
        If the file is missing, is a folder, is not a readable image, is
        truncated or corrupt, is empty, holds NaN/infinite float samples, or
        holds several pages or frames (a stack or an animation).
    """
    _, image = _read_raw(path)
    image.path = Path(path)
    return image


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
        if f.suffix.lower() in IMAGE_SUFFIXES + FITS_SUFFIXES and not f.name.startswith(".") and f.is_file()
    ]
    return sorted(files, key=lambda f: f.name)


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #
def effective_bit_depth(path: str | os.PathLike[str], bit_depth: int) -> int:
    """The bit depth :func:`write_image` will actually write for this file name.

    Parameters
    ----------
    path : str or path-like
        Output file name; only its suffix (any case) matters.
    bit_depth : int
        The requested depth: 8, 16 or 32 (float).

    Returns
    -------
    int
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


def _tiff_text_tags(exif: PILImage.Exif | None) -> list[tuple[int, str, int, str, bool]]:
    """The EXIF text a TIFF output keeps (make, model, date, artist, copyright) as tifffile's extra tags: tifffile
    writes no Exif or GPS IFD, so the exposure and the location are not kept."""
    if exif is None:
        return []
    texts = {tag: exif[tag] for tag in _EXIF_TEXT if isinstance(exif.get(tag), str) and exif[tag].isascii()}
    return [(tag, "s", 0, text, True) for tag, text in texts.items()]


def _checked(data: Any, what: str, name: str) -> Image:
    """:func:`as_image` with the file named in the error message."""
    try:
        return as_image(data, what=what)
    except InputError as exc:
        raise InputError(f"cannot write {name}: {exc}") from None


def write_image(
    path: str | os.PathLike[str],
    pixels: ImageLike | Any,
    alpha: Any | None = None,
    bit_depth: int | None = None,
    *,
    quality: int = 95,
) -> Path:
    """Write an image atomically; the format follows the suffix.

    Parameters
    ----------
    path : str or path-like
        Output file, suffix ``.png``, ``.tif``, ``.tiff``, ``.jpg``, ``.jpeg`` or ``.bmp``.
    pixels : Image or array-like
        An :class:`~deepprior.image.Image` (its ``alpha`` and ``bit_depth`` are
        used unless ``alpha`` / ``bit_depth`` are given, and its ``icc_profile``
        and ``exif`` are embedded where the format holds them), or an array ``(H, W)``
        or ``(H, W, C)`` with ``C`` 1 (gray) or 3 (RGB); 2 or 4 channels are
        taken as gray+alpha / RGBA when ``alpha`` is None.  Floats are clipped
        to ``[0, 1]``; integer arrays are scaled by their type's maximum
        (``uint8`` / 255, ``uint16`` / 65535), booleans are 0/1 (see
        :func:`~deepprior.image.as_image`).
    alpha : array-like, optional
        ``(H, W)`` alpha channel in ``[0, 1]`` (as returned by :func:`read_image`).
    bit_depth : int, optional
        8, 16 or 32 (float); default: the ``bit_depth`` of an :class:`Image`
        given as ``pixels``, else 8.  A format that cannot hold it gets the
        closest it can (see :func:`effective_bit_depth`): 16 for PNG asked for
        32, 8 for JPEG/BMP.
    quality : int
        JPEG quality (1-95); colour is never subsampled (4:4:4).

    Returns
    -------
    Path
        ``path`` as a Path.

    Raises
    ------
    InputError
        Unsupported suffix or bit depth, missing output folder, empty image,
        bad shape, NaN/infinite values, alpha given twice (an array with 2 or 4
        channels and ``alpha``), or a failed write.

    Notes
    -----
    Values are rounded to the nearest integer level, so an 8/16-bit image read
    with :func:`read_image` and written back at the same bit depth is
    reproduced exactly.  JPEG and BMP outputs cannot keep alpha (Pillow writes
    32-bit BMP without an alpha mask and reads it back as RGB): it is dropped
    with a ``UserWarning``, as are a colour profile and EXIF written to BMP.
    EXIF gets the output's pixel dimensions; a TIFF keeps its text only (see
    the module's notes).
    """
    name = _q(path)
    target = Path(path)
    suffix = target.suffix.lower()
    given = pixels if isinstance(pixels, Image) else None
    if bit_depth is None:
        bit_depth = given.bit_depth if given is not None else 8
    depth = effective_bit_depth(path, bit_depth)

    if given is not None:
        img = _checked(given.pixels, "pixels", name)  # an Image built by hand is checked like an array
        if img.has_alpha:
            raise InputError(f"cannot write {name}: Image pixels must have 1 or 3 channels, got {given.pixels.shape}")
        al_data = given.alpha if alpha is None else alpha
    else:
        img = _checked(pixels, "pixels", name)
        if img.has_alpha and alpha is not None:
            raise InputError(f"cannot write {name}: pixels already have an alpha channel and alpha was given too")
        al_data = img.alpha if alpha is None else alpha
    px = img.pixels
    al: np.ndarray | None = None
    if al_data is not None:
        al_img = _checked(al_data, "alpha", name)
        if al_img.has_alpha or al_img.channels != 1 or al_img.shape != img.shape:
            raise InputError(f"cannot write {name}: alpha has shape {np.shape(al_data)} but the pixels are {img.shape}")
        al = al_img.pixels[:, :, 0]
    if al is not None and suffix not in _ALPHA_SUFFIXES:
        kind = "JPEG" if suffix in _JPEG_SUFFIXES else "BMP"
        warn(f"{name}: {kind} cannot store an alpha channel; it was dropped")
        al = None
    profile = given.icc_profile if given is not None and _describes(given.icc_profile, img.channels) else None
    if profile is not None and suffix == ".bmp":
        warn(f"{name}: BMP cannot store the input's colour profile; it was dropped (viewers will assume sRGB)")
        profile = None

    exif = None if given is None or not given.exif else _exif_for_output(given.exif, *img.shape, name)
    if exif is not None and suffix == ".bmp":
        warn(f"{name}: BMP cannot store the input's EXIF metadata (camera, date, exposure); it was dropped")
        exif = None

    if depth == 32 and given is not None and given.value_range is not None:
        lo, hi = given.value_range  # back to the file's own range (alpha stays in [0, 1])
        px = (px.astype(np.float64) * (hi - lo) + lo).astype(np.float32)
    samples = px if al is None else np.concatenate([px, al[:, :, None]], axis=2)
    if depth == 32:
        data = samples.astype(np.float32)
    elif depth == 16:
        data = np.round(samples.astype(np.float64) * 65535.0).astype(np.uint16)
    else:
        data = np.round(samples.astype(np.float64) * 255.0).astype(np.uint8)
    data = np.ascontiguousarray(data)  # astype keeps a view's strides (a permuted tensor's), which encoders refuse
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
                predictor=True,  # horizontal for integers, floating point for float32
                metadata=None,
                iccprofile=profile,
                software=None if exif is None else exif[_EXIF_SOFTWARE],
                extratags=_tiff_text_tags(exif),
            )

    elif suffix == ".png":
        encoded = imagecodecs.png_encode(data if channels > 1 else data[:, :, 0])  # gray, LA, RGB or RGBA
        if profile is not None:
            encoded = _with_iccp_chunk(encoded, profile)
        if exif is not None:  # the EXIF block's TIFF structure, without JPEG's "Exif\0\0"
            encoded = _with_chunk(encoded, b"eXIf", exif.tobytes()[6:])

        def writer(tmp: Path) -> None:
            tmp.write_bytes(encoded)

    else:
        im = PILImage.fromarray(data[:, :, 0] if channels == 1 else data)  # L or RGB
        # JPEG: full-resolution colour (4:4:4); the encoder's default, 4:2:0, halves the resolution of the colour
        # that the restoration has just recovered
        jpeg = {"quality": int(quality), "subsampling": 0, "icc_profile": profile}
        if exif is not None:
            jpeg["exif"] = exif.tobytes()
        fmt, options = ("BMP", {}) if suffix == ".bmp" else ("JPEG", jpeg)

        def writer(tmp: Path) -> None:
            im.save(tmp, format=fmt, **options)

    return atomic_write(target, writer)
