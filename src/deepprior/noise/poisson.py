"""Poisson-Gaussian noise (photon counting plus read noise), through the generalized Anscombe transform."""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import InputError
from ..registry import NOISE_MODELS
from .base import NoiseModel

#: Below this many photons the inverse is the exact expectation (a Poisson sum); above, its asymptotic form, which
#: differs from it by less than 1e-5 there.
EXACT_BELOW = 200.0
#: Where a < this · b, the variance grows by less than a tenth from black to white: the noise is taken as Gaussian.
NEGLIGIBLE = 0.1


@NOISE_MODELS.register("poisson")
class PoissonGaussian(NoiseModel):
    r"""Poisson-Gaussian noise, :math:`y = a\,k + n` with :math:`k \sim \mathcal{P}(x / a)` photons and
    :math:`n \sim \mathcal{N}(0, b)` read noise, so :math:`\operatorname{var}(y \mid x) = a\,x + b`.

    Stabilised by the generalized Anscombe transform [1]_, whose noise is close to :math:`\mathcal{N}(0, 1)`,

    .. math::

        f(y) = 2\sqrt{\max(y / a + 3/8 + b / a^2,\ 0)},

    rescaled so that [0, 1] maps onto [0, 1]; and back through its exact unbiased inverse [2]_: the :math:`x` whose
    :math:`\mathbb{E}[f(y) \mid x]` is the denoised value, computed as a Poisson sum (the Gaussian part by
    Gauss-Hermite quadrature) below :data:`EXACT_BELOW` photons and as
    :math:`a\,((D/2)^2 - 1/8 - b/a^2)` above. The algebraic inverse, :math:`a\,((D/2)^2 - 3/8 - b/a^2)`, would
    darken dim regions.

    Parameters
    ----------
    a
        The intensity of one photon in the image's units (>= 0); 0, or below ``NEGLIGIBLE · b``: no signal
        dependence to stabilise, the model is the identity (:attr:`stabilises` is False).
    b
        The read noise's variance in the image's units (negative where the sensor adds an offset).
    estimated
        Whether ``(a, b)`` came from :func:`deepprior.metrics.noise_level_function` (for the record).

    References
    ----------
    .. [1] F. Murtagh, J.-L. Starck, A. Bijaoui, "Image restoration with noise suppression using a multiresolution
       support", Astron. Astrophys. Suppl. Ser. 112, 179–189, 1995.
    .. [2] M. Mäkitalo, A. Foi, "Optimal inversion of the generalized Anscombe transformation for Poisson-Gaussian
       noise", IEEE Trans. Image Process. 22(1), 91–103, 2013. :DOI:`10.1109/TIP.2012.2202675`
    """

    parameters = ("a", "b")

    def __init__(self, a: float, b: float = 0.0, estimated: bool = False) -> None:
        if not (math.isfinite(a) and math.isfinite(b) and a >= 0):
            raise InputError(f"the noise level (a, b) needs a finite a >= 0 and a finite b, got ({a}, {b})")
        self.a, self.b, self.estimated = float(a), float(b), bool(estimated)

    @classmethod
    def estimate(cls, pixels: np.ndarray, known: np.ndarray | None = None) -> PoissonGaussian:
        from ..metrics import noise_level_function

        try:
            return cls(*noise_level_function(pixels, known), estimated=True)
        except InputError as error:
            raise InputError(f"{error}; give the noise level (a, b) instead") from None

    @property
    def stabilises(self) -> bool:
        """Whether the variance grows enough with the intensity for the transform to matter."""
        return self.a > 0 and self.a >= NEGLIGIBLE * max(self.b, 0.0)

    @property
    def _s(self) -> float:
        """The read noise's variance in photons²."""
        return self.b / self.a**2

    def _anscombe(self, y: np.ndarray) -> np.ndarray:
        return 2 * np.sqrt(np.maximum(np.asarray(y, np.float64) / self.a + 0.375 + self._s, 0))

    @cached_property
    def _range(self) -> tuple[float, float]:
        low, high = self._anscombe(np.array([0.0, 1.0]))
        return float(low), float(high)

    def stabilise(self, pixels: np.ndarray) -> np.ndarray:
        if not self.stabilises:
            return pixels
        low, high = self._range
        return ((self._anscombe(pixels) - low) / (high - low)).astype(np.float32)

    @cached_property
    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        """(E[f(y) | x], x in photons) on a grid up to min(white, EXACT_BELOW) photons."""
        from scipy.stats import poisson

        top = min(1 / self.a, EXACT_BELOW)
        mean = np.linspace(0, top, 4001)
        gaussian = max(self._s, 0.0)  # s < 0: k + |s| photons of mean x, the offset in place of a Gaussian
        nodes, weights = np.polynomial.hermite_e.hermegauss(32)
        counts = np.arange(math.ceil(top + 10 * math.sqrt(top) + 10) + 1)
        per_count = 2 * np.sqrt(np.maximum(counts[:, None] + math.sqrt(gaussian) * nodes + 0.375 + gaussian, 0))
        per_count = per_count @ (weights / math.sqrt(2 * math.pi))
        expected = poisson.pmf(counts[None, :], np.maximum(mean + min(self._s, 0.0), 0)[:, None]) @ per_count
        return np.maximum.accumulate(expected), mean

    def unstabilise(self, pixels: np.ndarray) -> np.ndarray:
        if not self.stabilises:
            return pixels
        low, high = self._range
        denoised = low + np.asarray(pixels, np.float64) * (high - low)
        expected, mean = self._table
        photons = np.where(
            denoised <= expected[-1],
            np.interp(denoised, expected, mean),
            (denoised / 2) ** 2 - 0.125 - self._s,
        )
        return np.clip(self.a * photons, 0, 1).astype(np.float32)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"name": "poisson", "a": self.a, "b": self.b, "estimated": self.estimated}
        if self.stabilises:
            low, high = self._range
            described["stabilised_sigma"] = 1 / (high - low)  # the noise's σ in the stabilised image
        else:
            described["stabilised_sigma"] = None
        return described
