"""ES-WMV: early stopping on the windowed moving variance of the outputs (Wang et al., TMLR)."""

from __future__ import annotations

import torch

from ..registry import STOPPERS
from .base import _BUFFER_DTYPES, EarlyStopping, _check_dtype, _check_int, _check_select


@STOPPERS.register("es-wmv")
class ESWMV(EarlyStopping):
    """ES-WMV: early stopping on the windowed moving variance of the outputs.

    After each update with ``t >= window - 1`` updates before it, the score is

    ``VAR_t = (1/W) sum_{i=t-W+1..t} ||x_i - xbar_t||^2 / N``,  ``xbar_t = (1/W) sum_i x_i``,

    with ``W = window`` and ``N`` the number of values in one output (C*H*W).
    The minimum of ``VAR_t`` is tracked; :meth:`should_stop` turns True once it
    has not improved for ``patience`` steps.  The best output is the iterate
    ``x_t`` of the step ``t`` where ``VAR_t`` was lowest, i.e. the *last* output
    of the lowest-variance window (``select="last"``), or that window's mean
    ``xbar_t`` (``select="mean"``, an average of W iterates, often smoother).

    Parameters
    ----------
    window : int
        W, number of outputs in the window (>= 2); 100 in the paper.
    patience : int
        P, steps without a new minimum before stopping; 1000 in the paper.
    buffer_dtype : torch.dtype or str
        Storage of the ring buffer of W outputs: float32 (default), float16,
        bfloat16 or float64.  Memory is ``W * N * itemsize``: 100 x 3 x 512 x 512
        is 315 MB at float32, 157 MB at float16.  The variance is computed
        exactly for the *stored* (rounded) values: float16 (11-bit mantissa,
        steps of 2^-11 on [0.5, 1)) is fine for outputs in [0, 1]; bfloat16
        (8-bit mantissa, steps of 2^-8) rounds away variances below ~1e-6 and is
        not recommended.
    select : {"last", "mean"}
        Which image :attr:`best_output` keeps: ``x_t`` or ``xbar_t``.
    resync_every : int or None
        Recompute the mean and the sum of squares exactly from the buffer every
        this many scored steps, which bounds any rounding drift of the running
        update; 0 disables it.  Default: every 10 W steps with float64
        accumulators (drift there is ~1e-16 per step), every W with float32
        ones (MPS).  One resync reads the whole buffer (W images) once.
    check_every : int
        Suggested interval for :meth:`should_stop` calls.

    Notes
    -----
    Running update, O(N) per step on the device: the window mean ``m`` and
    ``M2 = sum_i ||x_i - m||^2`` are kept in float64 (float32 on MPS).  While the
    window fills, Welford's update adds one output; afterwards the oldest output
    ``o`` leaves as the new one ``x`` enters:
    ``d = x - o``, ``m' = m + d / W``, ``M2' = M2 + <d, x - m' + o - m>``.
    This avoids the catastrophic cancellation of ``sum ||x_i||^2 - W ||m||^2``
    (late in a DIP run the variance is ~1e-6 of the mean square).  The exact
    recomputation (``resync_every``) runs over the buffer in chunks of about
    2^22 values, so it needs no float64 copy of the whole buffer.
    """

    name = "es-wmv"

    def __init__(
        self,
        window: int = 100,
        patience: int = 1000,
        *,
        buffer_dtype: torch.dtype | str = torch.float32,
        select: str = "last",
        resync_every: int | None = None,
        check_every: int = 50,
    ) -> None:
        super().__init__(patience=patience, check_every=check_every)
        self.window = _check_int("window", window, 2)
        self.buffer_dtype = _check_dtype("buffer_dtype", buffer_dtype, _BUFFER_DTYPES)
        self.select = _check_select(select)
        # None: decided on the first update, when the accumulator dtype is known.
        self.resync_every = None if resync_every is None else _check_int("resync_every", resync_every, 0)
        self._count = 0
        self._since_resync = 0

    def _allocate(self, x: torch.Tensor) -> None:
        acc = self._score_dtype(x.device)
        self._acc = acc
        if self.resync_every is None:
            self.resync_every = self.window if acc == torch.float32 else 10 * self.window
        self._n_values = x.numel()
        self._buffer = torch.empty((self.window, *x.shape), dtype=self.buffer_dtype, device=x.device)
        self._mean = torch.zeros(x.shape, dtype=acc, device=x.device)
        self._m2 = torch.zeros((), dtype=acc, device=x.device)

    def _observe(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        w = self.window
        slot = self._count % w
        stored = x.to(self.buffer_dtype)
        new = stored.to(self._acc, copy=True)  # private copy: modified in place below
        if self._count < w:
            # Welford: add the (count+1)-th sample.
            delta = new - self._mean
            self._mean.add_(delta, alpha=1.0 / (self._count + 1))
            self._m2.add_(torch.sum(delta.mul_(new - self._mean)))
        else:
            old = self._buffer[slot].to(self._acc, copy=True)
            d = new - old
            old.sub_(self._mean)  # o - m
            self._mean.add_(d, alpha=1.0 / w)  # m' = m + d / W
            new.sub_(self._mean).add_(old)  # (x - m') + (o - m)
            self._m2.add_(torch.sum(d.mul_(new)))  # M2' = M2 + <d, (x - m') + (o - m)>
        self._buffer[slot].copy_(stored)
        self._count += 1
        if self._count < w:
            return None, None
        self._since_resync += 1
        if self.resync_every and self._since_resync >= self.resync_every:
            self._resync()
        self._m2.clamp_(min=0.0)
        score = self._m2 / (w * self._n_values)
        candidate = x if self.select == "last" else self._mean
        return score, candidate

    def _resync(self) -> None:
        """Recompute the window mean and M2 exactly (two-pass, chunked) from the buffer."""
        self._since_resync = 0
        w = self.window
        flat = self._buffer.view(w, -1)
        mean_flat = self._mean.view(-1)
        chunk = max(1, (1 << 22) // w)
        m2 = torch.zeros((), dtype=self._acc, device=flat.device)
        for j in range(0, flat.shape[1], chunk):
            block = flat[:, j : j + chunk].to(self._acc)
            mu = block.mean(dim=0)
            mean_flat[j : j + chunk].copy_(mu)
            m2 += torch.sum(torch.square(block - mu))
        self._m2.copy_(m2)

    def variance(self) -> torch.Tensor | None:
        """Current VAR_t as a 0-dim device tensor (no sync), None until the window is full."""
        if self._count < self.window:
            return None
        return torch.clamp(self._m2, min=0.0) / (self.window * self._n_values)

    def __repr__(self) -> str:
        return (
            f"ESWMV(window={self.window}, patience={self.patience}, buffer_dtype={self.buffer_dtype}, "
            f"select={self.select!r}, resync_every={self.resync_every}, check_every={self.check_every})"
        )
