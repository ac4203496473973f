r"""The observation's values stretched onto [0, 1] for a fit, and the restoration mapped back.

The preset table's settings were tuned on images that fill [0, 1]. An image that fills a small part of it fits
worse and stops later: a 12-bit camera's counts in a 16-bit file fill [0, 1/16], a dim fluorescence or astronomy
frame a few per cent, a camera's dark offset lifts the floor. So a fit whose observation y spans less than the
row's :attr:`deepprior.presets.Preset.stretch_below` of [0, 1] runs on

.. math:: y' = \frac{y - \ell\, A\mathbf{1}}{h - \ell}, \qquad x = \ell + (h - \ell)\, x',

where :math:`\ell` and :math:`h` are y's lowest and highest observed values and :math:`A\mathbf{1}` the forward
model applied to an image of ones (1 for a blur or a downsampler whose weights sum to one, the mask for missing
pixels): :math:`A x = \ell A\mathbf{1} + (h - \ell) A x'` for any linear A, so the fit's problem is the same
problem, at the scale the settings were tuned for. This module imports no torch.

Measured: ``benchmarks/results/stretch_crops.md`` (``python -m benchmarks.bench_stretch``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .errors import InputError

if TYPE_CHECKING:
    from .restore import Restoration

#: Below this span a float32 image holds too few distinct values to stretch: it is fitted as it is.
SMALLEST_SPAN = 1e-6


@dataclass(frozen=True)
class Stretch:
    """The affine map from an observation's range [``low``, ``high``] onto [0, 1], and back.

    Parameters
    ----------
    low, high
        The lowest and highest observed values, :math:`0 \\le` ``low`` :math:`<` ``high``.
    """

    low: float
    high: float

    @property
    def span(self) -> float:
        """``high − low``."""
        return self.high - self.low

    def observation(self, y: np.ndarray, response: np.ndarray | float = 1.0) -> np.ndarray:
        """y' = (y − low · A1) / span, float32; ``response`` is A1, the forward model applied to ones."""
        return ((np.asarray(y, np.float64) - self.low * np.asarray(response, np.float64)) / self.span).astype(
            np.float32
        )

    def image(self, x: np.ndarray) -> np.ndarray:
        """An image (not an observation: a reference) on the fit's scale, (x − low) / span, float32."""
        return self.observation(x)

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """A restored image on the fit's scale mapped back, low + span · x, float32."""
        return (self.low + self.span * np.asarray(x, np.float64)).astype(np.float32)

    def restoration(self, restoration: Restoration) -> Restoration:
        """The restoration mapped back: its image, and the record's numbers measured on the fit's scale (the
        history's and the seeds' PSNRs, the seeds' spread, the refiner's σ) in the image's units."""
        shift = -20 * math.log10(self.span)  # an error e on the fit's scale is span · e on the image's

        def shifted(values: list[float]) -> list[float]:
            return [value + shift for value in values]

        history = restoration.history
        history = replace(
            history,
            psnr=shifted(history.psnr),
            psnr_average=shifted(history.psnr_average),
            psnr_observation=shifted(history.psnr_observation),
        )
        record = restoration.record
        seeds = [{**run, "psnr": None if run.get("psnr") is None else run["psnr"] + shift} for run in record.seeds]
        spread = None if record.seed_spread is None else record.seed_spread * self.span
        refinement = record.refinement
        if refinement is not None and "sigma" in refinement:
            refinement = {**refinement, "sigma": refinement["sigma"] * self.span}
        record = replace(record, seeds=seeds, seed_spread=spread, refinement=refinement)
        output = replace(restoration.output, pixels=self.inverse(restoration.output.pixels))
        return replace(restoration, output=output, history=history, record=record)

    def describe(self) -> dict[str, float]:
        """The map, for the run record: ``{"low": ..., "high": ...}``."""
        return {"low": self.low, "high": self.high}


def choose_stretch(
    y: np.ndarray, response: np.ndarray | float = 1.0, *, below: float = 0.5, requested: bool | None = None
) -> Stretch | None:
    r"""The stretch a fit of the observation ``y`` runs with, or None to fit it as it is.

    The range is that of the observed values: those where the forward model's response to ones,
    :math:`A\mathbf{1}`, is above one half (a mask's known pixels). The fit stretches it onto [0, 1] when it spans
    less than ``below``, or whenever ``requested`` is True, never when it is False; a range narrower than
    :data:`SMALLEST_SPAN` (a constant image) is never stretched.

    Parameters
    ----------
    y
        The observation, (h, w, C) floats.
    response
        :math:`A\mathbf{1}`, broadcastable to ``y``'s shape (1: every value is observed).
    below
        Stretch when the range spans less than this fraction of [0, 1] (the row's
        :attr:`deepprior.presets.Preset.stretch_below`; 0: never by itself).
    requested
        The user's choice: True always, False never, None by the span.

    Returns
    -------
    Stretch or None

    Raises
    ------
    deepprior.errors.InputError
        ``below`` is not a number in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> counts = np.linspace(0, 4095, 48).reshape(4, 4, 3) / 65535  # a 12-bit camera's counts in a 16-bit file
    >>> choose_stretch(counts)
    Stretch(low=0.0, high=0.06248569466697185)
    >>> choose_stretch(counts, requested=False) is None
    True
    """
    if isinstance(below, bool) or not isinstance(below, (int, float)) or not 0 <= below <= 1:
        raise InputError(f"stretch_below must be a number in [0, 1], got {below!r}")
    if requested is False:
        return None
    observed = np.broadcast_to(np.asarray(response) > 0.5, np.shape(y))
    values = np.asarray(y)[observed]
    if values.size == 0:
        return None
    low, high = float(values.min()), float(values.max())
    if high - low < SMALLEST_SPAN or (not requested and high - low >= below):
        return None
    return Stretch(low, high)


__all__ = ["SMALLEST_SPAN", "Stretch", "choose_stretch"]
