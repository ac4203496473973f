"""A = A₂ ∘ A₁: one forward model after another, e.g. the pixels a mask keeps of a blurred image."""

from __future__ import annotations

from typing import Any

import torch

from ..registry import OPERATORS
from .base import Box, Operator


@OPERATORS.register("composed")
class Composed(Operator):
    r"""A x = A₂(A₁ x): ``inner`` (A₁) applied first, then ``outer`` (A₂) on its output.

    The data term is then :math:`E(A_2 A_1 x, y)`; with A₂ a :class:`~deepprior.operators.Mask` of the known
    pixels of y, the fit ignores the others (saturated or missing pixels of a blurred image). Sizes, scale, reach
    and crops follow from the two: the scale is their product, the reach in pixels of x is A₁'s plus A₂'s on A₁'s
    grid, and a crop is A₁'s crop of the box followed by A₂'s crop of the box A₁ explains.

    Parameters
    ----------
    outer
        A₂, applied to A₁'s output (its grid is A₁'s observation's).
    inner
        A₁, applied to the image.

    Examples
    --------
    >>> import torch
    >>> from deepprior.operators import Blur, Composed, Mask
    >>> known = torch.ones(32, 32, dtype=torch.bool); known[:4] = False
    >>> A = Composed(Mask(known), Blur("gaussian:1"))
    >>> A(torch.ones(1, 3, 32, 32))[0, 0, :5, 0].round().tolist()
    [0.0, 0.0, 0.0, 0.0, 1.0]
    """

    def __init__(self, outer: Operator, inner: Operator) -> None:
        super().__init__()
        self.outer, self.inner = outer, inner

    @property
    def scale(self) -> int:  # type: ignore[override]
        return self.outer.scale * self.inner.scale

    @property
    def reach(self) -> int:  # type: ignore[override]
        return self.inner.reach + self.outer.reach * self.inner.scale

    def observation_shape(self, height: int, width: int) -> tuple[int, int]:
        return self.outer.observation_shape(*self.inner.observation_shape(height, width))

    def image_shape(self, height: int, width: int) -> tuple[int, int]:
        return self.inner.image_shape(*self.outer.image_shape(height, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outer(self.inner(x))

    def crop(self, box: Box) -> tuple[Composed, Box]:
        inner, seen = self.inner.crop(box)
        outer, seen = self.outer.crop(seen)
        return Composed(outer, inner), seen

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "outer": self.outer.describe(), "inner": self.inner.describe()}
