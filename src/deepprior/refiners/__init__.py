"""Refiners by name (:data:`deepprior.registry.REFINERS`): a step after the fit (after the seed ensemble's
average) that uses the network's output as a pilot estimate to restore the observation once more. Each takes
``(observation, pilot, sigma=None)`` on (H, W, C) float images and returns the refined image; a preset row names
its refiner in ``Preset.refine``.
"""

from __future__ import annotations

from ..registry import REFINERS

__all__ = ["REFINERS"]
