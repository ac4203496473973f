"""Refiners by name (:data:`deepprior.registry.REFINERS`): a step after the fit (after the seed ensemble's
average) that uses the network's output as a pilot estimate to restore the observation once more. Each takes
``(observation, pilot, sigma=None)`` on (H, W, C) float images and returns the refined image; a preset row names
its refiner in ``Preset.refine``.
"""

from __future__ import annotations

from ..registry import REFINERS

#: Raised whenever a refiner's output changes (not for a change that leaves it as it was): stored benchmark
#: results name the refiners by it, so they go stale exactly then. ``tests/test_refiners.py`` pins this
#: revision's outputs on a fixed input.
REVISION = 2  # 2: wiener-bm3d weighs a pilot that left signal in its residual less

__all__ = ["REFINERS", "REVISION"]
