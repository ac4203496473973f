"""The contract and bookkeeping shared by the early-stopping rules."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch

from ..errors import InputError

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
                f"output changed from shape {tuple(self._shape)} on {self._device} to {tuple(x.shape)} on {x.device}"
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

    # ---------------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        """A copy of the whole state (tensors cloned on their device), for backtracking and checkpoints."""
        return {
            key: value.clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value)
            for key, value in vars(self).items()
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Return to a state taken by :meth:`state_dict` (the state is copied, so it can be loaded again)."""
        for key, value in state.items():
            setattr(self, key, value.clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(patience={self.patience}, check_every={self.check_every})"
