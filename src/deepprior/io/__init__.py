"""Reading and writing images, masks and JSON reports.

Every bad-input condition (missing file, a folder where a file is expected,
a file that is not an image, a truncated or corrupt file, an unsupported output
format, a missing output folder, an empty image, NaN/infinite samples, a mask
of the wrong size) raises :class:`deepprior.errors.InputError` with a single
line that names the file.  Every output is written atomically.

======  ======================================  ==================================
Format  Read                                    Write
======  ======================================  ==================================
PNG     8/16-bit gray, gray + alpha, RGB,       8/16-bit (float -> 16), alpha kept
        RGBA, palette (``imagecodecs``)         (``imagecodecs``)
TIFF    8/16-bit, float, alpha, CMYK, LZW,      8/16-bit, float32, alpha kept
        JPEG (``tifffile``); palette (Pillow)   (``tifffile``, zlib + predictor)
JPEG    8-bit gray/RGB/CMYK (Pillow)            8-bit, alpha dropped with a warning
BMP     8-bit gray/RGB/RGBA (Pillow)            8-bit, alpha dropped with a warning
======  ======================================  ==================================

Anything else Pillow opens (GIF, WebP, ...) is read too (first frame).  The
EXIF orientation is applied on read.

Modules
-------
:mod:`deepprior.io.images`
    :func:`read_image`, :func:`write_image`, :func:`list_images`,
    :func:`effective_bit_depth`, :data:`IMAGE_SUFFIXES` (format details there).
:mod:`deepprior.io.masks`
    :func:`read_mask` (threshold rules there).
:mod:`deepprior.io.stacks`
    :func:`read_stack`, :func:`write_stack`, :func:`is_stack`: multi-page TIFF (Z/T/C planes) with their
    ImageJ/OME metadata.
:mod:`deepprior.io.files`
    :func:`atomic_write`, :func:`check_writable`, :func:`write_json`.

The image type, :class:`~deepprior.image.Image`, lives in :mod:`deepprior.image`
and is re-exported here.
"""

from __future__ import annotations

from ..image import Image
from .files import atomic_write, check_writable, write_json
from .images import IMAGE_SUFFIXES, effective_bit_depth, list_images, read_image, write_image
from .masks import read_mask
from .stacks import Stack, is_stack, read_stack, write_stack

__all__ = [
    "IMAGE_SUFFIXES",
    "Image",
    "Stack",
    "atomic_write",
    "check_writable",
    "effective_bit_depth",
    "is_stack",
    "list_images",
    "read_image",
    "read_mask",
    "read_stack",
    "write_image",
    "write_json",
    "write_stack",
]
