"""Additive white Gaussian noise: nothing to stabilise (DIP's own model)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..registry import NOISE_MODELS
from .base import NoiseModel

if TYPE_CHECKING:
    import numpy as np


@NOISE_MODELS.register("gaussian")
class Gaussian(NoiseModel):
    """y = x + n, n ~ N(0, σ²) with one σ everywhere: the identity; σ is estimated by the fit's stop and refiners
    themselves (:func:`deepprior.metrics.noise_sigma`)."""

    @classmethod
    def estimate(cls, pixels: np.ndarray, known: np.ndarray | None = None) -> Gaussian:
        return cls()

    @property
    def stabilises(self) -> bool:
        return False

    def stabilise(self, pixels: np.ndarray) -> np.ndarray:
        return pixels

    def unstabilise(self, pixels: np.ndarray) -> np.ndarray:
        return pixels

    def describe(self) -> dict[str, Any]:
        return {"name": "gaussian"}
