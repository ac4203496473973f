"""The contract of a noise model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np


class NoiseModel:
    """Maps an image's noise to additive white Gaussian noise of one σ (:meth:`stabilise`) and the restored image
    back (:meth:`unstabilise`); its parameters are estimated from the noisy image (:meth:`estimate`) or given."""

    #: The names of the parameters the constructor takes first, in order (the ``noise_level`` a user may give).
    parameters: ClassVar[tuple[str, ...]] = ()
    #: Whether each parameter may also be one number per channel (the constructor then takes sequences).
    per_channel: ClassVar[bool] = False

    @property
    def stabilises(self) -> bool:
        """Whether :meth:`stabilise` changes the image (False: the fit runs on it as it is)."""
        return True

    @classmethod
    def estimate(cls, pixels: np.ndarray, known: np.ndarray | None = None) -> NoiseModel:
        """The model with its parameters fitted to ``pixels`` ((H, W, C) floats in [0, 1]; ``known``: False where
        a pixel is missing)."""
        raise NotImplementedError

    def stabilise(self, pixels: np.ndarray) -> np.ndarray:
        """``pixels`` with the noise made additive, white and Gaussian of one σ, still in [0, 1]."""
        raise NotImplementedError

    def unstabilise(self, pixels: np.ndarray) -> np.ndarray:
        """The image whose stabilised noisy version has mean ``pixels`` (a denoised stabilised image), in [0, 1]."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """The model and its parameters, for the run record (JSON)."""
        raise NotImplementedError


def level_text(described: dict[str, Any], parameters: Sequence[str], digits: int = 4) -> str:
    """A model's parameters from its :meth:`NoiseModel.describe`, as ``a = 0.01, b = 1e-05`` (a list per channel
    as ``a = (0.01, 0.02), ...``), in the order ``--noise-level`` takes them."""

    def number(value: float) -> str:
        return f"{value:.{digits}g}"

    def value_text(value: Any) -> str:
        return f"({', '.join(map(number, value))})" if isinstance(value, list) else number(value)

    return ", ".join(f"{name} = {value_text(described[name])}" for name in parameters)
