"""Ground-truth-free early stopping for Deep Image Prior.

DIP fits the degraded image eventually, noise included; the best iterate comes
before that.  These stoppers watch only the network outputs (no ground truth):

* :class:`ESWMV` -- windowed moving variance (ES-WMV, Wang et al., TMLR): the
  variance of the last ``window`` outputs reaches a minimum near the PSNR peak.
* :class:`ESEMV` -- the same idea with an exponential moving mean and variance
  (ES-EMV): O(1) images of state instead of ``window``.

How a fit loop uses them (see :class:`EarlyStopping`)::

    stopper = make_stopper("es-wmv")            # None for "fixed"
    for step in range(num_iters):
        out = net(z_t)
        ...                                      # loss, backward, optimiser step
        if stopper is not None:
            stopper.update(step, out.detach())   # device-only work, no host sync
            if step % stopper.check_every == 0 and stopper.should_stop():   # one sync
                break
    result = stopper.best_output if stopper and stopper.best_output is not None else out

Everything :meth:`EarlyStopping.update` does is queued on the output's device:
no ``.item()``, no host copy, no data-dependent Python branch.  The few reads
that need the host (``should_stop``, ``best_step``, ``best_score``,
``scores``) synchronise once each, so the loop calls ``should_stop`` only every
``check_every`` steps.  Stopping is then detected up to ``check_every - 1``
steps late; the returned best output is the same as with a check every step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from deepprior.errors import InputError

__all__ = ["EarlyStopping", "ESWMV", "ESEMV", "make_stopper", "STOPPERS"]

_BUFFER_DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
}
_SELECT_CHOICES = ("last", "mean")


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_dtype(name: str, value: Any, allowed: dict[str, torch.dtype]) -> torch.dtype:
    if isinstance(value, str):
        key = value.strip().lower().removeprefix("torch.")
        if key in allowed:
            return allowed[key]
    elif isinstance(value, torch.dtype) and value in allowed.values():
        return value
    raise InputError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def _check_select(value: Any) -> str:
    if value not in _SELECT_CHOICES:
        raise InputError(f"select must be one of {', '.join(map(repr, _SELECT_CHOICES))}, got {value!r}")
    return value


class EarlyStopping:
    """Common interface and bookkeeping of the early-stopping rules.

    A subclass implements :meth:`_observe`, which turns one output into a score
    (a 0-dim tensor on the device, lower is better) and a candidate image.  This
    base class keeps, on the device, the best score, the step it came from, a
    copy of the candidate at that step and the history of scores.

    Parameters
    ----------
    patience : int
        Stop once the best score is ``patience`` steps old (steps as passed to
        :meth:`update`).
    check_every : int
        How often the fit loop should call :meth:`should_stop`; read by the loop,
        not enforced here.

    Attributes
    ----------
    patience : int
    check_every : int
    last_step : int or None
        The step of the latest :meth:`update`.

    Notes
    -----
    Best-output copy: each update runs ``best = where(score < best_score, candidate,
    best)``, one O(N) elementwise pass over one image, in place.  That is the
    cheapest way to keep the output of the best step without reading the
    comparison on the host (the minimum can be ``patience`` = 1000 steps old,
    long out of any ring buffer).  One extra image of memory.
    """

    name: str = "base"

    def __init__(self, patience: int, check_every: int = 50) -> None:
        self.patience = _check_int("patience", patience, 1)
        self.check_every = _check_int("check_every", check_every, 1)
        self.last_step: int | None = None
        self._shape: torch.Size | None = None
        self._device: torch.device | None = None
        self._best_output: torch.Tensor | None = None
        self._best_score: torch.Tensor | None = None
        self._best_step: torch.Tensor | None = None
        self._history: torch.Tensor | None = None
        self._history_steps: list[int] = []

    # ---------------------------------------------------------------- subclass hooks

    def _allocate(self, x: torch.Tensor) -> None:
        """Allocate the subclass state for outputs like ``x`` (called on the first update)."""

    def _observe(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Fold ``x`` into the state; return ``(score, candidate)`` or ``(None, None)`` while warming up.

        Must not synchronise with the host.
        """
        raise NotImplementedError

    # ---------------------------------------------------------------- loop interface

    def update(self, step: int, output: torch.Tensor, keep: torch.Tensor | None = None) -> None:
        """Feed the output of iteration ``step``.

        Parameters
        ----------
        step : int
            Iteration index (>= 0); must increase from call to call.  ``patience``
            is counted in these units.
        output : torch.Tensor
            The network output, e.g. (1, C, H, W), floating point.  It is detached
            here and never modified; its shape and device must stay the same
            across calls (a different dtype is converted to the first one).
        keep : torch.Tensor, optional
            The image to remember if this step turns out best, instead of the
            stopper's own candidate (the fit loop passes its running average, so
            the early-stopped result is the average at the detected step).

        Raises
        ------
        InputError
            If ``step`` does not increase or ``output`` changes shape or device.

        Notes
        -----
        No host synchronisation: all work is queued on the output's device.
        """
        step = _check_int("step", step, 0)
        if self.last_step is not None and step <= self.last_step:
            raise InputError(f"step must increase: got {step} after {self.last_step}")
        if not isinstance(output, torch.Tensor) or not output.is_floating_point():
            raise InputError("output must be a floating-point torch.Tensor")
        x = output.detach()
        if self._shape is None:
            if x.numel() == 0:
                raise InputError("output is empty")
            self._shape, self._device = x.shape, x.device
            self._best_output = torch.zeros_like(x)
            acc = self._score_dtype(x.device)
            self._best_score = torch.full((), math.inf, dtype=acc, device=x.device)
            self._best_step = torch.full((), -1, dtype=torch.int64, device=x.device)
            self._history = torch.empty(1024, dtype=acc, device=x.device)
            self._allocate(x)
        elif x.shape != self._shape or x.device != self._device:
            raise InputError(
                f"output changed from shape {tuple(self._shape)} on {self._device} "
                f"to {tuple(x.shape)} on {x.device}"
            )
        elif x.dtype != self._best_output.dtype:
            x = x.to(self._best_output.dtype)
        self.last_step = step
        score, candidate = self._observe(x)
        if score is None:
            return
        self._record(step, score, candidate if keep is None else keep.detach())

    def _record(self, step: int, score: torch.Tensor, candidate: torch.Tensor) -> None:
        score = score.to(self._best_score.dtype)
        n = len(self._history_steps)
        if n == self._history.numel():
            grown = torch.empty(2 * n, dtype=self._history.dtype, device=self._history.device)
            grown[:n].copy_(self._history)
            self._history = grown
        self._history[n] = score
        self._history_steps.append(step)
        improved = score < self._best_score  # 0-dim bool on the device; NaN never improves
        torch.where(improved, score, self._best_score, out=self._best_score)
        self._best_step.masked_fill_(improved, step)
        torch.where(improved, candidate.to(self._best_output.dtype), self._best_output, out=self._best_output)

    def should_stop(self) -> bool:
        """True once the best score is at least ``patience`` steps older than the latest update.

        Synchronises with the device once (reads the best step); call it every
        ``check_every`` steps, not every step.  False while no score exists yet.
        """
        best = self.best_step
        if best is None or self.last_step is None:
            return False
        return self.last_step - best >= self.patience

    # ---------------------------------------------------------------- results

    @property
    def best_step(self) -> int | None:
        """Step of the lowest score so far (host sync), or None before the first (non-NaN) score."""
        if not self._history_steps:
            return None
        value = int(self._best_step.item())
        return value if value >= 0 else None  # -1: every score so far was NaN

    @property
    def best_score(self) -> float | None:
        """Lowest score so far (host sync), or None before the first score."""
        if not self._history_steps:
            return None
        return float(self._best_score.item())

    @property
    def best_output(self) -> torch.Tensor | None:
        """Device copy of the selected output at :attr:`best_step` (no sync), or None before the first score.

        If every score so far was NaN, this is a tensor of zeros.
        """
        if not self._history_steps:
            return None
        return self._best_output

    def scores(self) -> np.ndarray:
        """History of scores as a float64 numpy array (one host copy), aligned with :meth:`score_steps`."""
        if self._history is None:
            return np.zeros(0, dtype=np.float64)
        n = len(self._history_steps)
        return self._history[:n].detach().to("cpu", torch.float64).numpy().copy()

    def score_steps(self) -> np.ndarray:
        """Steps at which the scores of :meth:`scores` were taken (int64 array, no sync)."""
        return np.asarray(self._history_steps, dtype=np.int64)

    # ---------------------------------------------------------------- helpers

    def _score_dtype(self, device: torch.device) -> torch.dtype:
        return torch.float32 if device.type == "mps" else torch.float64

    def __repr__(self) -> str:
        return f"{type(self).__name__}(patience={self.patience}, check_every={self.check_every})"


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
        ones (MPS).  One resync reads the whole buffer: well under a millisecond on a
        datacentre GPU (bandwidth estimate), ~1.4 s on 4 CPU threads for
        100 x 3 x 512 x 512.
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


STOPPERS: dict[str, type[EarlyStopping] | None] = {"fixed": None, "es-wmv": ESWMV, "es-emv": ESEMV}


def make_stopper(name: str, **kw: Any) -> EarlyStopping | None:
    """Build an early-stopping rule by name.

    Parameters
    ----------
    name : str
        ``"fixed"`` (no early stopping: returns None), ``"es-wmv"`` or
        ``"es-emv"``; case and ``_``/``-`` are not significant.
    **kw
        Keyword arguments of :class:`ESWMV` or :class:`ESEMV`.  Ignored for
        ``"fixed"``, so a caller can pass the same options whatever the name.

    Returns
    -------
    EarlyStopping or None

    Raises
    ------
    InputError
        For an unknown name (the message lists the choices) or an argument the
        chosen rule does not take or accept.
    """
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
    if key not in STOPPERS:
        raise InputError(f"unknown early stopping {name!r}; choose one of {', '.join(STOPPERS)}")
    cls = STOPPERS[key]
    if cls is None:
        return None
    try:
        return cls(**kw)
    except TypeError as exc:
        raise InputError(f"bad argument for early stopping {key!r}: {exc}") from None
