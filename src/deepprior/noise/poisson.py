"""Poisson-Gaussian noise (photon counting plus read noise), through the generalized Anscombe transform."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import InputError, warn
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
    :math:`n \sim \mathcal{N}(0, b)` read noise, so :math:`\operatorname{var}(y \mid x) = a\,x + b`; one
    :math:`(a, b)` for every channel, or one per channel (a colour camera's channels, white-balanced, have photons
    of different sizes).

    Stabilised by the generalized Anscombe transform [1]_, whose noise is close to :math:`\mathcal{N}(0, 1)`,

    .. math::

        f(y) = 2\sqrt{\max(y / a + 3/8 + b / a^2,\ 0)}

    (:math:`y / \sqrt{b}` in a channel with :math:`a = 0`), shifted so that 0 maps to 0 and scaled by one factor
    for all channels so that the widest channel's [0, 1] maps onto [0, 1] (the noise keeps one σ across channels);
    and back through its exact unbiased inverse [2]_: the :math:`x` whose :math:`\mathbb{E}[f(y) \mid x]` is the
    denoised value, computed as a Poisson sum (the Gaussian part by Gauss-Hermite quadrature) below
    :data:`EXACT_BELOW` photons and as :math:`a\,((D/2)^2 - 1/8 - b/a^2)` above. The algebraic inverse,
    :math:`a\,((D/2)^2 - 3/8 - b/a^2)`, would darken dim regions.

    Parameters
    ----------
    a
        The intensity of one photon in the image's units (>= 0), one number or one per channel; 0, or below
        ``NEGLIGIBLE · b``, in every channel: no signal dependence to stabilise, the model is the identity
        (:attr:`stabilises` is False).
    b
        The read noise's variance in the image's units (negative where the sensor adds an offset), one number or
        one per channel; above 0 in a channel whose ``a`` is 0 where another's is not.
    estimated
        Whether ``(a, b)`` was estimated from the image (:meth:`estimate`; for the record).

    Raises
    ------
    InputError
        If a number is not finite, an ``a`` is negative, ``a`` and ``b`` give different channel counts, or a
        channel with ``a = 0`` has no noise in a model that stabilises.

    References
    ----------
    .. [1] F. Murtagh, J.-L. Starck, A. Bijaoui, "Image restoration with noise suppression using a multiresolution
       support", Astron. Astrophys. Suppl. Ser. 112, 179–189, 1995.
    .. [2] M. Mäkitalo, A. Foi, "Optimal inversion of the generalized Anscombe transformation for Poisson-Gaussian
       noise", IEEE Trans. Image Process. 22(1), 91–103, 2013. :DOI:`10.1109/TIP.2012.2202675`

    Examples
    --------
    >>> import numpy as np
    >>> from deepprior.noise.poisson import PoissonGaussian
    >>> model = PoissonGaussian(a=(1 / 50, 1 / 100, 1 / 70), b=0.0)  # a colour camera's channels, white-balanced
    >>> rng = np.random.default_rng(0)
    >>> x = np.full((256, 256, 3), 0.4)
    >>> y = rng.poisson(x / model.a) * model.a  # photon counts, scaled to [0, 1]
    >>> stabilised = model.stabilise(y)
    >>> sigma = model.describe()["stabilised_sigma"]  # the noise's σ in the stabilised image, every channel's
    >>> np.round(stabilised.std(axis=(0, 1), dtype=float) / sigma, 1)
    array([1., 1., 1.])
    """

    parameters = ("a", "b")
    per_channel = True

    def __init__(self, a: float | Sequence[float], b: float | Sequence[float] = 0.0, estimated: bool = False) -> None:
        try:
            a_values, b_values = np.broadcast_arrays(np.atleast_1d(np.asarray(a, float)), np.asarray(b, float))
        except ValueError:
            raise InputError(f"the noise level's a and b give different channel counts: {a} and {b}") from None
        if a_values.ndim != 1 or not (np.isfinite(a_values).all() and np.isfinite(b_values).all()):
            raise InputError(f"the noise level (a, b) needs finite numbers, got ({a}, {b})")
        if (a_values < 0).any():
            raise InputError(f"the noise level (a, b) needs a >= 0, got a = {a}")
        #: One (a, b) per channel, or a single one for all.
        self.channels = [_Channel(float(a_c), float(b_c)) for a_c, b_c in zip(a_values, b_values, strict=True)]
        self.estimated = bool(estimated)
        if self.stabilises and any(c.a == 0 and c.b <= 0 for c in self.channels):
            raise InputError(f"the noise level (a, b) leaves a channel without noise (a = 0, b <= 0): ({a}, {b})")

    @property
    def a(self) -> float | tuple[float, ...]:
        """The intensity of one photon: one number, or one per channel."""
        return _one_or_all(c.a for c in self.channels)

    @property
    def b(self) -> float | tuple[float, ...]:
        """The read noise's variance: one number, or one per channel."""
        return _one_or_all(c.b for c in self.channels)

    @classmethod
    def estimate(cls, pixels: np.ndarray, known: np.ndarray | None = None) -> PoissonGaussian:
        """One ``(a, b)`` per channel of a colour image where the channels' noise differs (a white-balanced
        camera's photons differ in size by channel), else one for all, as
        :func:`deepprior.metrics.channel_noise_levels` tells; a channel with too few usable blocks, or without
        noise, takes the one fitted to all channels pooled (or, where that fails too, the mean of the others'),
        with a warning."""
        from ..metrics import channel_noise_levels, noise_level_function

        if np.ndim(pixels) < 3 or np.shape(pixels)[2] == 1:
            try:
                return cls(*noise_level_function(pixels, known), estimated=True)
            except InputError as error:
                raise InputError(f"{error}; give the noise level (a, b) instead") from None
        levels = channel_noise_levels(pixels, known)
        missing = [index for index, level in enumerate(levels) if level is None]
        if missing:
            try:
                fallback, source = noise_level_function(pixels, known), "all channels pooled"
            except InputError as error:
                found = [level for level in levels if level is not None]
                if not found:
                    raise InputError(f"{error}; give the noise level (a, b) instead") from None
                fallback, source = tuple(np.mean(found, axis=0).tolist()), "the mean of the other channels'"
            warn(
                f"channel(s) {', '.join(map(str, missing))} of the image: no noise level found (too few 2×2 blocks "
                f"not all at 0 or 1, or no noise), so they take that of {source}"
            )
            levels = [fallback if level is None else level for level in levels]
        if all(level == levels[0] for level in levels):
            return cls(*levels[0], estimated=True)  # one level for all channels
        a_values, b_values = zip(*levels, strict=True)  # type: ignore[misc]
        return cls(a_values, b_values, estimated=True)

    @property
    def stabilises(self) -> bool:
        """Whether the variance grows enough with the intensity, in some channel, for the transform to matter."""
        return any(c.signal_dependent for c in self.channels)

    @cached_property
    def _scale(self) -> float:
        """The stabilised image's units per unit of the transform's: the widest channel's [0, 1] spans [0, 1]."""
        return 1 / max(c.span for c in self.channels)

    def _per_channel(self, pixels: np.ndarray, apply: str) -> np.ndarray:
        channels = np.shape(pixels)[-1] if np.ndim(pixels) == 3 else 1
        if len(self.channels) not in (1, channels):
            raise InputError(f"the noise level gives {len(self.channels)} channels, the image has {channels}")
        if len(self.channels) == 1:
            return getattr(self.channels[0], apply)(pixels, self._scale)
        planes = [getattr(c, apply)(pixels[..., i], self._scale) for i, c in enumerate(self.channels)]
        return np.stack(planes, axis=-1)

    def stabilise(self, pixels: np.ndarray) -> np.ndarray:
        if not self.stabilises:
            return pixels
        return self._per_channel(pixels, "stabilise").astype(np.float32)

    def unstabilise(self, pixels: np.ndarray) -> np.ndarray:
        if not self.stabilises:
            return pixels
        return np.clip(self._per_channel(pixels, "unstabilise"), 0, 1).astype(np.float32)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"name": "poisson", "a": _listed(self.a), "b": _listed(self.b)}
        described["estimated"] = self.estimated
        # the noise's σ in the stabilised image
        described["stabilised_sigma"] = self._scale if self.stabilises else None
        return described


def _one_or_all(values: Any) -> float | tuple[float, ...]:
    values = tuple(values)
    return values[0] if len(values) == 1 else values


def _listed(value: float | tuple[float, ...]) -> float | list[float]:
    return list(value) if isinstance(value, tuple) else value


class _Channel:
    """One channel's transform, in units where its noise has σ 1 (times the model's common scale)."""

    def __init__(self, a: float, b: float) -> None:
        self.a, self.b = a, b

    @property
    def signal_dependent(self) -> bool:
        return self.a > 0 and self.a >= NEGLIGIBLE * max(self.b, 0.0)

    @property
    def _s(self) -> float:
        """The read noise's variance in photons²."""
        return self.b / self.a**2

    def _anscombe(self, y: np.ndarray) -> np.ndarray:
        if self.a == 0:  # Gaussian noise alone: its σ is √b
            return np.asarray(y, np.float64) / math.sqrt(self.b)
        return 2 * np.sqrt(np.maximum(np.asarray(y, np.float64) / self.a + 0.375 + self._s, 0))

    @cached_property
    def _range(self) -> tuple[float, float]:
        low, high = self._anscombe(np.array([0.0, 1.0]))
        return float(low), float(high)

    @property
    def span(self) -> float:
        """How far [0, 1] reaches in the transform (in σ of its noise)."""
        low, high = self._range
        return high - low

    def stabilise(self, pixels: np.ndarray, scale: float) -> np.ndarray:
        return (self._anscombe(pixels) - self._range[0]) * scale

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

    def unstabilise(self, pixels: np.ndarray, scale: float) -> np.ndarray:
        denoised = self._range[0] + np.asarray(pixels, np.float64) / scale
        if self.a == 0:
            return denoised * math.sqrt(self.b)
        expected, mean = self._table
        photons = np.where(
            denoised <= expected[-1],
            np.interp(denoised, expected, mean),
            (denoised / 2) ** 2 - 0.125 - self._s,
        )
        return self.a * photons
