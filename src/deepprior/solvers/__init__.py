"""Classical ℓ0 gradient solvers by name (:data:`deepprior.registry.SOLVERS`): the smoothing commands and DIP-ℓ0's
v-step call them through this registry. Each takes ``(image, lam, **options)`` on an (H, W, C) float image and
returns the smoothed image; the numba code loads on first call.
"""

from __future__ import annotations

from ..registry import SOLVERS

__all__ = ["SOLVERS"]
