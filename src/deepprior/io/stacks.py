"""Stacks of planes: multi-page TIFF (microscopy: Z, T or C planes) and FITS images and cubes (astronomy), read
plane by plane and written back in the same layout, with their ImageJ or OME metadata, resolution or FITS header
kept.

FITS needs astropy (the optional extra ``deepprior[fits]``). Its NaN and non-finite pixels are missing: they are
left out of the fit (a masked data term) and filled in by it; its values keep their physical range (one range
for the whole cube, mapped onto [0, 1] and back).

A stack is the first series of the file (tifffile's view of its pages). Every index over the axes other than Y,
X and S (the samples of an RGB plane) is one plane: a ``ZYX`` stack of 3 slices has 3 gray planes, ``TYXS`` has
one RGB plane per time point. Integer samples are scaled by their dtype's maximum; floating point samples are
mapped from the (min, max) of the whole stack onto [0, 1], one range for all planes so that their intensities stay
comparable, and mapped back on write. Nothing is clipped.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..image import Image
from .files import atomic_write

__all__ = ["Stack", "is_fits", "is_stack", "read_stack", "write_stack"]

FITS_SUFFIXES = (".fits", ".fit", ".fts")


@dataclass
class Stack:
    """The planes of a TIFF stack and what it takes to write them back the same way.

    Attributes
    ----------
    planes
        One :class:`deepprior.image.Image` per plane, in the file's order (C-order over the plane axes).
    axes
        tifffile's axes of the series (e.g. ``"ZYX"``, ``"TCYX"``, ``"QYXS"``).
    shape, dtype
        Of the whole series.
    value_range
        For floating point stacks whose samples leave [0, 1]: the (min, max) mapped onto [0, 1].
    imagej, ome
        The ImageJ metadata (a dict) or the OME-XML description of the file, when it has them.
    resolution, resolution_unit
        The X/Y resolution tags of its first page.
    """

    planes: list[Image]
    axes: str
    shape: tuple[int, ...]
    dtype: np.dtype
    value_range: tuple[float, float] | None = None
    imagej: dict[str, Any] | None = None
    ome: str | None = None
    resolution: tuple[float, float] | None = None
    resolution_unit: int | None = None
    fits_header: Any = None

    @property
    def plane_axes(self) -> str:
        """The axes that index planes (all but Y, X and S)."""
        return "".join(axis for axis in self.axes if axis not in "YXS")


def is_fits(path: str | os.PathLike[str]) -> bool:
    """True for a file named like a FITS file."""
    return Path(path).suffix.lower() in FITS_SUFFIXES


def _astropy_fits() -> Any:
    try:
        from astropy.io import fits
    except ImportError:
        raise InputError("FITS files need astropy: pip install 'deepprior[fits]'") from None
    return fits


def is_stack(path: str | os.PathLike[str]) -> bool:
    """True for a file read as a stack of planes: a TIFF whose first series holds several planes, or any FITS
    file (its header and value range travel with its planes)."""
    p = Path(path)
    if is_fits(p):
        return p.is_file()
    if p.suffix.lower() not in (".tif", ".tiff") or not p.is_file():
        return False
    import tifffile

    try:
        with tifffile.TiffFile(p) as tif:
            series = tif.series[0]
            return any(size > 1 for axis, size in zip(series.axes, series.shape) if axis not in "YXS")
    except Exception:  # not a TIFF tifffile reads: the single-image reader says why
        return False


def read_stack(path: str | os.PathLike[str]) -> Stack:
    """Read the first series of a TIFF file as planes.

    Raises
    ------
    InputError
        The file cannot be read, or a plane is not gray or RGB (1, 3 or 4 samples).
    """
    import tifffile

    if is_fits(path):
        return _read_fits(Path(path))
    name = f"'{os.fspath(path)}'"
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            data = series.asarray()
            axes, page = series.axes, tif.pages[0]
            imagej = dict(tif.imagej_metadata) if tif.is_imagej and tif.imagej_metadata else None
            ome = tif.ome_metadata if tif.is_ome else None
            x_res, y_res, unit = (page.tags.get(tag) for tag in ("XResolution", "YResolution", "ResolutionUnit"))
    except Exception as exc:  # one line for any decoding failure
        raise InputError(f"cannot read {name} as a TIFF stack: {exc}") from None
    if "S" in axes and data.shape[axes.index("S")] not in (1, 3, 4):
        raise InputError(f"cannot read {name}: planes of {data.shape[axes.index('S')]} samples are not gray or RGB")
    value_range = None
    unit_data = data
    if data.dtype.kind == "f":
        if not np.all(np.isfinite(data)):
            raise InputError(f"cannot read {name}: the stack contains NaN or infinite values")
        lo, hi = float(data.min()), float(data.max())
        if lo < 0 or hi > 1:
            value_range = (lo, hi)
            unit_data = (data.astype(np.float64) - lo) / (hi - lo if hi > lo else 1.0)
    planes = [_plane(unit_data, axes, index) for index in _plane_indices(axes, data.shape)]
    resolution = None
    if x_res is not None and y_res is not None:
        resolution = (_ratio(x_res.value), _ratio(y_res.value))
    return Stack(
        planes=planes,
        axes=axes,
        shape=tuple(data.shape),
        dtype=data.dtype,
        value_range=value_range,
        imagej=imagej,
        ome=ome,
        resolution=resolution,
        resolution_unit=None if unit is None else int(unit.value),
    )


def _read_fits(path: Path) -> Stack:
    """The first HDU with image data: 2-D (one plane) or 3-D and more (a cube of gray planes)."""
    fits = _astropy_fits()
    name = f"'{path}'"
    try:
        with fits.open(path, memmap=False) as hdus:
            hdu = next((h for h in hdus if getattr(h, "data", None) is not None and h.data.ndim >= 2), None)
            if hdu is None:
                raise InputError(f"cannot read {name}: no image data in any HDU")
            data = np.asarray(hdu.data, dtype=np.float64)
            header = hdu.header.copy()
    except InputError:
        raise
    except Exception as exc:  # a broken file: one line
        raise InputError(f"cannot read {name} as FITS: {exc}") from None
    finite = np.isfinite(data)
    if not finite.any():
        raise InputError(f"cannot read {name}: no pixel has a value (all NaN)")
    lo, hi = float(data[finite].min()), float(data[finite].max())
    unit = np.where(finite, (data - lo) / (hi - lo if hi > lo else 1.0), 0.0)
    axes = "Q" * (data.ndim - 2) + "YX"
    planes = []
    for index in _plane_indices(axes, data.shape):
        plane = Image(
            pixels=unit[index][..., None].astype(np.float32), alpha=None, bit_depth=32, path=path, value_range=(lo, hi)
        )
        missing = ~finite[index]
        plane.missing = missing if missing.any() else None
        planes.append(plane)
    return Stack(
        planes=planes,
        axes=axes,
        shape=tuple(data.shape),
        dtype=np.dtype(np.float32),
        value_range=(lo, hi),
        fits_header=header,
    )


def _write_fits(path: str | os.PathLike[str], stack: Stack, data: np.ndarray) -> Path:
    fits = _astropy_fits()
    header = stack.fits_header.copy() if stack.fits_header is not None else fits.Header()
    for key in ("BSCALE", "BZERO", "BLANK"):  # the data written is float32 in physical units
        header.remove(key, ignore_missing=True)
    header.add_history("restored by deepprior")
    hdu = fits.PrimaryHDU(data.astype(np.float32), header=header)
    return atomic_write(path, lambda tmp: hdu.writeto(tmp, output_verify="silentfix"))


def _ratio(value: Any) -> float:
    return value[0] / value[1] if isinstance(value, tuple) else float(value)


def _plane_indices(axes: str, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    sizes = [size for axis, size in zip(axes, shape) if axis not in "YXS"]
    return list(itertools.product(*(range(size) for size in sizes)))


def _select(axes: str, index: tuple[int, ...]) -> tuple[Any, ...]:
    values = iter(index)
    return tuple(slice(None) if axis in "YXS" else next(values) for axis in axes)


def _plane(data: np.ndarray, axes: str, index: tuple[int, ...]) -> Image:
    from ..image import as_image

    kept = [axis for axis in axes if axis in "YXS"]
    plane = np.asarray(data[_select(axes, index)])
    plane = np.moveaxis(plane, [kept.index(a) for a in "YX"], [0, 1]) if kept[:2] != ["Y", "X"] else plane
    return as_image(plane, "stack plane")


def write_stack(path: str | os.PathLike[str], stack: Stack, planes: list[np.ndarray]) -> Path:
    """Write restored ``planes`` (float (H, W[, C]) in [0, 1], one per plane of ``stack``) in ``stack``'s layout,
    dtype, value range and metadata, atomically. Planes of another (H, W) than the stack's (super-resolution)
    give a stack of that size, its resolution scaled alike.

    Raises
    ------
    InputError
        The number or size of the planes differs from the stack's, or the file cannot be written.
    """
    import tifffile

    if len(planes) != len(stack.planes):
        raise InputError(f"the stack has {len(stack.planes)} planes but {len(planes)} were given")
    kept = [axis for axis in stack.axes if axis in "YXS"]
    height, width = np.shape(planes[0])[:2]  # a super-resolved stack is larger: its layout scales with it
    scale = width / stack.planes[0].width
    shape = tuple(
        height if axis == "Y" else width if axis == "X" else size for axis, size in zip(stack.axes, stack.shape)
    )
    out = np.empty(shape, dtype=np.float64)
    for index, pixels in zip(_plane_indices(stack.axes, shape), planes):
        plane = np.asarray(pixels, dtype=np.float64)
        if "S" not in kept and plane.ndim == 3:
            plane = plane[..., 0]
        if kept[:2] != ["Y", "X"]:
            plane = np.moveaxis(plane, [0, 1], [kept.index(a) for a in "YX"])
        target = out[_select(stack.axes, index)]
        if plane.shape != target.shape:
            raise InputError(f"a restored plane is {plane.shape} but the stack's planes are {target.shape}")
        out[_select(stack.axes, index)] = plane
    if stack.dtype.kind == "f":
        if stack.value_range is not None:
            lo, hi = stack.value_range
            out = out * (hi - lo) + lo
        data = out.astype(stack.dtype)
        if stack.fits_header is not None or is_fits(path):
            return _write_fits(path, stack, data)
    else:
        top = np.iinfo(stack.dtype).max
        data = np.round(np.clip(out, 0, 1) * top).astype(stack.dtype)
    options: dict[str, Any] = {"photometric": "rgb" if "S" in stack.axes else "minisblack"}
    if stack.resolution is not None:
        options["resolution"] = (stack.resolution[0] * scale, stack.resolution[1] * scale)
        if stack.resolution_unit is not None:
            options["resolutionunit"] = stack.resolution_unit
    if stack.imagej is not None:
        metadata = {k: v for k, v in stack.imagej.items() if k not in ("ImageJ", "images", "hyperstack", "mode")}
        options.update(imagej=True, metadata={**metadata, "axes": stack.axes})
    elif stack.ome is not None:
        options.update(description=stack.ome, metadata=None)
    else:
        options.update(metadata={"axes": stack.axes})

    def writer(tmp: Path) -> None:
        tifffile.imwrite(tmp, data, **options)

    return atomic_write(path, writer)
