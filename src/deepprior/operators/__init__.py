"""Forward models A of the data term E(A·x, y), chosen by name from :data:`deepprior.registry.OPERATORS`."""

from __future__ import annotations

from ..registry import OPERATORS
from .base import Operator
from .blur import Blur
from .composed import Composed
from .identity import Identity
from .lanczos import LanczosDownsampler, lanczos2_kernel, lanczos_downsampler
from .mask import Mask

__all__ = [
    "OPERATORS",
    "Operator",
    "Blur",
    "Composed",
    "Identity",
    "Mask",
    "LanczosDownsampler",
    "lanczos2_kernel",
    "lanczos_downsampler",
]
