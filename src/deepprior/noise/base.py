"""The contract of a noise model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np


class NoiseModel:
    """Maps an image's noise to additive white Gaussian noise of one σ (:meth:`stabilise`) and the restored image
    back (:meth:`unstabilise`); its parameters are estimated from the noisy image (:meth:`estimate`) or given."""

    #: The names of the parameters the constructor takes first, in order (the ``noise_level`` a user may give).
    parameters: ClassVar[tuple[str, ...]] = ()

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
