"""ES-EMV: early stopping on the exponential moving variance of the outputs (Wang et al., TMLR)."""

from __future__ import annotations

import math

import torch

from ..errors import InputError
from ..registry import STOPPERS
from .base import EarlyStopping, _check_int, _check_select


@STOPPERS.register("es-emv")
class ESEMV(EarlyStopping):
    """ES-EMV: early stopping on the exponential moving variance of the outputs.

    With ``a = alpha``, per pixel value (the standard exponentially weighted
    mean/variance recurrence)::

        delta = x_t - mean
        mean  = mean + a * delta
        var   = (1 - a) * (var + a * delta**2)

    starting from ``mean = x_0``, ``var = 0``.  The score is the mean of ``var``
    over all N values.  Because ``var`` starts at 0 it is biased low for the
    first ~1/a updates, so no score is recorded during the first ``warmup``
    updates (default ``ceil(3 / a)``, 30 at a = 0.1, when the bias factor
    ``(1 - a)^t`` is below 5%).  The best output is ``x_t`` at the step of the
    lowest score (``select="last"``) or the moving mean there (``"mean"``).

    Parameters
    ----------
    alpha : float
        Smoothing factor in (0, 1]; 0.1 in the paper.
    patience : int
        Steps without a new minimum before stopping.
    warmup : int or None
        Updates before the first score (>= 1: the first update alone always
        scores 0); the first score comes with update number ``warmup + 1``.
    select : {"last", "mean"}
        Which image :attr:`best_output` keeps.
    check_every : int
        Suggested interval for :meth:`should_stop` calls.

    Notes
    -----
    State: two images in float64 (float32 on MPS) plus the best output; O(N)
    per step on the device.
    """

    name = "es-emv"

    def __init__(
        self,
        alpha: float = 0.1,
        patience: int = 1000,
        *,
        warmup: int | None = None,
        select: str = "last",
        check_every: int = 50,
    ) -> None:
        super().__init__(patience=patience, check_every=check_every)
        try:
            alpha = float(alpha)
        except (TypeError, ValueError):
            raise InputError(f"alpha must be a number in (0, 1], got {alpha!r}") from None
        if not (0.0 < alpha <= 1.0):
            raise InputError(f"alpha must be a number in (0, 1], got {alpha!r}")
        self.alpha = alpha
        self.warmup = math.ceil(3.0 / alpha) if warmup is None else _check_int("warmup", warmup, 1)
        self.select = _check_select(select)
        self._count = 0

    def _allocate(self, x: torch.Tensor) -> None:
        acc = self._score_dtype(x.device)
        self._acc = acc
        self._mean = torch.zeros(x.shape, dtype=acc, device=x.device)
        self._var = torch.zeros(x.shape, dtype=acc, device=x.device)

    def _observe(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        a = self.alpha
        new = x.to(self._acc, copy=True)  # private copy: modified in place below
        if self._count == 0:
            self._mean.copy_(new)
        else:
            delta = new.sub_(self._mean)
            self._mean.add_(delta, alpha=a)
            self._var.add_(delta.square_(), alpha=a).mul_(1.0 - a)
        self._count += 1
        if self._count <= self.warmup:
            return None, None
        score = self._var.mean()
        candidate = x if self.select == "last" else self._mean
        return score, candidate

    def variance(self) -> torch.Tensor:
        """Current score (mean of the moving variance) as a 0-dim device tensor (no sync)."""
        if self._count == 0:
            raise InputError("no output seen yet")
        return self._var.mean()

    def __repr__(self) -> str:
        return (
            f"ESEMV(alpha={self.alpha}, patience={self.patience}, warmup={self.warmup}, "
            f"select={self.select!r}, check_every={self.check_every})"
        )
