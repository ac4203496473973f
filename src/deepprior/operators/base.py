"""The contract of a forward model A: an ``nn.Module`` from the generator's output to the observation's space."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import InputError

#: (top, left, height, width) of a crop.
Box = tuple[int, int, int, int]


class Operator(nn.Module):
    """A forward model A of the data term E(A·x, y).

    ``forward(x)`` maps an image x, (N, C, H, W), to the observation's space; :meth:`observation_shape` and
    :meth:`image_shape` relate the sizes, so mismatches are caught before a fit. Operators are modules:
    their tensors are buffers, moved with the fit. A new operator is one module in ``deepprior/operators/`` with
    ``@OPERATORS.register("name")`` on its class.
    """

    #: Pixels of the image per pixel of the observation along each axis (a super-resolution factor; 1: the same
    #: grid).
    scale: int = 1

    #: Pixels of x beyond its own that a pixel of y depends on (a blur's radius); tiles overlap by twice as many
    #: at least, so that their blend covers the band where a tile's borders differ from the whole image's.
    reach: int = 0

    def observation_shape(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of A x for an x of ``height`` × ``width``."""
        return height, width

    def image_shape(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of x that explains an observation of ``height`` × ``width``."""
        return height, width

    def crop(self, box: Box) -> tuple[Operator, Box]:
        """The operator of the crop ``box`` = (top, left, height, width) of the image, and the box of y that the
        crop explains, for tiling a large image (:mod:`deepprior.tiling`).

        This default serves operators that act alike everywhere on a grid :attr:`scale` times coarser than the
        image's (A = I, a downsampler, a blur): itself, and the box divided by the scale. An operator with
        per-pixel data (a mask) crops that. One whose output mixes nearby pixels (a blur) declares their distance
        as :attr:`reach`: on a tile it handles the tile's borders as the image's own, which differs from the
        whole image's within that distance of the tile's edges, and the tiling overlaps the tiles to cover it.

        Raises
        ------
        InputError
            The box does not fall on whole pixels of y.
        """
        if any(value % self.scale for value in box):
            raise InputError(f"a crop {box} of the image must fall on multiples of the scale {self.scale}")
        return self, tuple(value // self.scale for value in box)  # type: ignore[return-value]

    def describe(self) -> dict[str, Any]:
        """The operator as the run record names it."""
        return {"name": type(self).__name__}
