"""The features of the fit loop, each a callback that carries its own state.

:func:`deepprior.loop.fit` only steps Adam; everything else is one of these, called in order:

- :class:`Averaging` keeps the exponential average of the outputs (``state.average``);
- :class:`HistoryRecorder` gathers loss and PSNRs on the device and copies them to the host once per check;
- :class:`StopRule` feeds a ground-truth-free stopping rule and ends the fit when it says so;
- :class:`Backtracking` restores the last good state of the whole fit when it diverges;
- :class:`StepClock` measures the seconds per step; :class:`Progress` (a clock) draws a progress bar and
  announces a long fit's duration; :class:`Snapshots` hands images to a writer every N steps;
- :class:`Checkpointing` saves the whole fit every few minutes, so that a killed run can resume;
- :class:`TimeLimit` ends the fit at the last step before its time is up.

A callback implements any of :meth:`Callback.on_start`, :meth:`~Callback.on_step` (every step),
:meth:`~Callback.on_check` (every ``check_every`` steps and at the last one: the only place that may read device
values on the host) and :meth:`~Callback.on_end`; returning True from ``on_step`` or ``on_check`` stops the fit.
``state_dict`` / ``load_state_dict`` capture its state: backtracking restores every callback whose ``restorable``
is True together with the weights, Adam and the regulariser, and a checkpoint saves every callback whose
``checkpointed`` is True (those that only show, time or save the fit are left out, so that a run may resume with
or without them). A plain function
``f(state) -> bool | None`` passed as a callback is called after every step.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from .errors import InputError
from .metrics import mse_torch, noise_sigma, psnr_torch
from .record import History

if TYPE_CHECKING:
    from .loop import FitState
    from .stopping import EarlyStopping


class Callback:
    """Base class of the loop's features; every hook is optional."""

    #: Whether backtracking and checkpoints restore this callback's state with the weights.
    restorable: ClassVar[bool] = True
    #: Whether a checkpoint saves this callback's state and a resumed fit must have it too: False for a callback
    #: that only shows, times or saves the fit (a progress bar, a thread count, snapshots, the checkpoint itself).
    checkpointed: ClassVar[bool] = True

    def on_start(self, state: FitState) -> None:
        """Before the first step."""

    def on_step(self, state: FitState) -> bool | None:
        """After each Adam step (no host synchronisation here); True stops the fit."""
        return None

    def on_check(self, state: FitState) -> bool | None:
        """Every ``check_every`` steps and after the last one; True stops the fit."""
        return None

    def on_end(self, state: FitState) -> None:
        """After the last step (also when the fit stops early)."""

    def on_resume(self, state: FitState) -> None:
        """After the fit state and this callback's state were loaded from a checkpoint."""

    def state_dict(self) -> dict[str, Any]:
        """A copy of the callback's state."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Return to a state taken by :meth:`state_dict`."""

    def for_tile(self, index: int, count: int) -> Callback:
        """The callback that the fit of tile ``index`` of ``count`` calls when a large image is restored in
        tiles (:mod:`deepprior.tiling`): itself, unless what it does must tell the tiles apart."""
        return self

    def for_scale(self, low: float, span: float) -> Callback:
        """The callback that a fit on a stretched image calls (:mod:`deepprior.stretch`: the image is ``low +
        span ×`` the fit's): itself, unless it hands the fit's images out, which must then be mapped back."""
        return self


def checkpointed(callbacks: list[Callback]) -> list[Callback]:
    """The callbacks a checkpoint saves and a resume must find again, in order (see :attr:`Callback.checkpointed`)."""
    return [callback for callback in callbacks if callback.checkpointed]


def checkpointed_kinds(callbacks: list[Callback]) -> list[str]:
    """The class names of :func:`checkpointed`'s callbacks: what a checkpoint and its resume must agree on."""
    return [type(callback).__name__ for callback in checkpointed(callbacks)]


def _clone(value: torch.Tensor | None) -> torch.Tensor | None:
    return None if value is None else value.clone()


class Averaging(Callback):
    """Exponential average of the outputs, avg ← a·avg + (1 − a)·out (DIP's ``exp_weight``, a = 0.99).

    Sets ``state.average`` after every step.
    """

    def __init__(self, weight: float) -> None:
        if not 0 < weight < 1:
            raise InputError(f"the average weight must be in (0, 1), got {weight}")
        self.weight = float(weight)
        self.average: torch.Tensor | None = None

    def on_step(self, state: FitState) -> None:
        if self.average is None:
            self.average = state.output.clone()
        else:
            self.average.lerp_(state.output, 1 - self.weight)
        state.average = self.average
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"average": _clone(self.average)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.average = _clone(state["average"])


class HistoryRecorder(Callback):
    """Fills ``state.history``: per-step scalars are stacked on the device and copied once per check."""

    restorable = False  # the history records what happened, backtracking included

    def __init__(self) -> None:
        self.history = History()
        self._pending: list[torch.Tensor] = []
        self._start = 0.0
        self._nan: torch.Tensor | None = None

    def on_start(self, state: FitState) -> None:
        state.history = self.history
        self._start = time.perf_counter()
        self._nan = torch.tensor(float("nan"), device=state.device)

    def on_step(self, state: FitState) -> None:
        nan = self._nan
        with torch.no_grad():
            psnr_obs = psnr_torch(state.prediction, state.observation)  # A·out, computed once by the loop
            psnr_ref = nan if state.reference is None else psnr_torch(state.output, state.reference)
            psnr_avg = (
                nan if state.reference is None or state.average is None else psnr_torch(state.average, state.reference)
            )
            self._pending.append(torch.stack([state.loss.float(), psnr_ref, psnr_avg, psnr_obs]))
        return None

    def on_check(self, state: FitState) -> None:
        self.flush(state.step)
        if not math.isfinite(self.history.loss[-1]):
            raise InputError("the loss became NaN or infinite: lower the learning rate")
        return None

    def on_end(self, state: FitState) -> None:
        self.flush(state.step)

    def state_dict(self) -> dict[str, Any]:
        return {"history": copy.deepcopy(self.history), "elapsed": time.perf_counter() - self._start}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = copy.deepcopy(state["history"])
        self._start = time.perf_counter() - state["elapsed"]  # seconds go on from where they were

    def on_resume(self, state: FitState) -> None:
        state.history = self.history

    def flush(self, step: int) -> None:
        """Copy the pending per-step values to the host (one synchronisation)."""
        if not self._pending:
            return
        rows = torch.stack(self._pending).cpu().tolist()
        history = self.history
        first = step - len(rows) + 1
        for i, (loss, psnr, psnr_average, psnr_observation) in enumerate(rows):
            history.step.append(first + i)
            history.loss.append(loss)
            history.psnr.append(psnr)
            history.psnr_average.append(psnr_average)
            history.psnr_observation.append(psnr_observation)
            history.seconds.append(float("nan"))
        history.seconds[-1] = time.perf_counter() - self._start
        self._pending.clear()


class StopRule(Callback):
    """Feeds a ground-truth-free stopping rule (:mod:`deepprior.stopping`) every step and asks it every
    ``rule.check_every`` steps whether to stop; the image it keeps is the average when averaging is on.

    With ``discrepancy`` = τ, the rule's stop also waits until the RMS residual ‖A·x − y‖/√N is at most τ·σ̂,
    σ̂ estimated from y at the start (Morozov's discrepancy principle; see ``FitSettings.discrepancy``).
    """

    def __init__(self, rule: EarlyStopping, discrepancy: float | None = None) -> None:
        self.rule = rule
        self.discrepancy = discrepancy
        self.stopped = False
        self.noise_sigma: float | None = None
        self.explained_at: int | None = None  # the first check at which the residual was down to τ·σ̂

    def on_start(self, state: FitState) -> None:
        if self.discrepancy is not None:
            from .loop import as_numpy_image  # the loop imports this module

            self.noise_sigma = noise_sigma(as_numpy_image(state.observation))

    def on_step(self, state: FitState) -> bool:
        self.rule.update(state.step, state.output, keep=state.average)
        if (state.step + 1) % self.rule.check_every == 0 and self.rule.should_stop() and self._explains(state):
            self.stopped = True
        return self.stopped

    def _explains(self, state: FitState) -> bool:
        """Whether the fit explains y down to the noise (always, without ``discrepancy``); syncs, at a check."""
        if self.noise_sigma is None or self.explained_at is not None:  # no condition, or met already
            return True
        residual = float(torch.sqrt(mse_torch(state.prediction, state.observation)))
        if residual > self.discrepancy * self.noise_sigma:
            return False
        self.explained_at = state.step
        return True

    def on_end(self, state: FitState) -> None:
        event = {"step": state.step, "event": "early-stopping", "selected": self.best_step(), "stopped": self.stopped}
        if self.discrepancy is not None:
            event.update(noise_sigma=self.noise_sigma, discrepancy=self.discrepancy, explained_at=self.explained_at)
        state.history.events.append(event)

    def best(self) -> tuple[torch.Tensor, int] | None:
        """The selected image and its step, or None if the rule has not chosen one."""
        output, step = self.rule.best_output, self.best_step()
        return None if output is None or step is None else (output, step)

    def best_step(self) -> int | None:
        return self.rule.best_step

    def state_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.state_dict(), "stopped": self.stopped, "explained_at": self.explained_at}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rule.load_state_dict(state["rule"])
        self.stopped = state["stopped"]
        self.explained_at = state.get("explained_at")


class Backtracking(Callback):
    """When PSNR(A·out, y) drops more than ``drop`` dB between checks, return the whole fit (weights, Adam, z,
    the regulariser and every restorable callback) to the last good check; the original DIP code restores the
    weights only."""

    restorable = False

    def __init__(self, drop: float = 5.0) -> None:
        self.drop = float(drop)
        self._good: dict[str, Any] | None = None
        self._good_psnr: float | None = None

    def on_check(self, state: FitState) -> None:
        current = state.history.psnr_observation[-1]
        if self._good_psnr is not None and current < self._good_psnr - self.drop:
            assert self._good is not None
            state.restore(self._good)
            state.history.events.append({"step": state.step, "event": "backtrack", "psnr_observation": current})
        else:
            self._good, self._good_psnr = state.snapshot(), current
        return None

    def state_dict(self) -> dict[str, Any]:  # for checkpoints: backtracking itself never rewinds it
        return {"good": self._good, "psnr": self._good_psnr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._good, self._good_psnr = state["good"], state["psnr"]


class StepClock(Callback):
    """Measures the seconds per step on the first steps after a warm-up step (two synchronisations per fit);
    :attr:`per_step` is None until then."""

    restorable = False
    checkpointed = False
    MEASURED_STEPS = 3

    def __init__(self) -> None:
        self._first = 0
        self._clock = 0.0
        self.per_step: float | None = None

    def on_resume(self, state: FitState) -> None:
        self._first = state.step + 1

    def on_step(self, state: FitState) -> None:
        done = state.step - self._first
        if done == 0 or done == self.MEASURED_STEPS:
            from .device import synchronize

            synchronize(state.device)
            if done == 0:
                self._clock = time.perf_counter()
            else:
                self.per_step = (time.perf_counter() - self._clock) / self.MEASURED_STEPS
                self.measured(state, self.per_step)
        return None

    def measured(self, state: FitState, per_step: float) -> None:
        """Called once, when :attr:`per_step` is known."""


class Progress(StepClock):
    """A tqdm progress bar advanced every step (so its ETA is there from the first seconds), with the loss and
    (given a reference) the PSNR at each check; for a fit expected to last over ``announce_after`` seconds, one
    line first with its estimated duration, measured on the first steps.

    ``fits`` is the number of fits like this one still to run (this one included: a seed ensemble, the tiles of a
    large image), which the estimate counts, and ``counted`` what they are (``"seeds"``); ``alternative``, called
    only when the line is written, returns a clause to append to it (the cost of the fast preset, measured the
    same way).
    """

    ANNOUNCE_AFTER = 30.0  # seconds: shorter fits get no estimate line

    def __init__(
        self,
        label: str = "fit",
        announce_after: float | None = None,
        fits: int = 1,
        alternative: Callable[[], str | None] | None = None,
        counted: str = "seeds",
    ) -> None:
        super().__init__()
        self.label, self.fits, self.alternative, self.counted = label, fits, alternative, counted
        self.announce_after = self.ANNOUNCE_AFTER if announce_after is None else announce_after
        self._bar: Any = None

    def on_start(self, state: FitState) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=state.settings.iterations, desc=self.label, unit="it", leave=False, dynamic_ncols=True)

    def on_resume(self, state: FitState) -> None:
        super().on_resume(state)
        self._bar.update(self._first - self._bar.n)

    def on_step(self, state: FitState) -> None:
        self._bar.update(1)
        return super().on_step(state)

    def measured(self, state: FitState, per_step: float) -> None:
        limit = state.settings.time_limit
        if limit is not None:  # the bar ends where the time limit will end the fit
            self._bar.total = max(self._bar.n, min(state.settings.iterations, int(limit / per_step)))
            self._bar.refresh()
        self._announce(state, per_step)

    def _announce(self, state: FitState, per_step: float) -> None:
        left = state.settings.iterations - state.step - 1
        total = per_step * (left + (self.fits - 1) * state.settings.iterations)
        if total >= self.announce_after:
            maybe = "; a stopping rule may end it sooner" if state.settings.stop != "fixed" else ""
            fits = f" × {self.fits} {self.counted}" if self.fits > 1 else ""
            line = (
                f"{self.label}: about {duration(total)} for the {left} steps left{fits} on {state.device} "
                f"({per_step:.3g} s/step{maybe})"
            )
            limit = state.settings.time_limit
            if limit is not None and limit * self.fits < total:
                steps = f"{int(limit / per_step)} steps{' a fit' if self.fits > 1 else ''}"
                line += f"; the time limit ends it after about {duration(limit * self.fits)} (about {steps})"
            clause = self.alternative() if self.alternative is not None else None
            self._bar.write(line if clause is None else f"{line}; {clause}")

    def on_check(self, state: FitState) -> None:
        history = state.history
        postfix = {"loss": f"{history.loss[-1]:.4g}"}
        if state.reference is not None:
            shown = history.psnr_average[-1] if state.average is not None else history.psnr[-1]
            postfix["psnr"] = f"{shown:.2f}"
        self._bar.set_postfix(postfix, refresh=False)
        return None

    def on_end(self, state: FitState) -> None:
        self.close()

    def close(self) -> None:
        """Close the bar (again is harmless)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def duration(seconds: float) -> str:
    """``seconds`` for a person: "40 s", "12 min", "1.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Snapshots(Callback):
    """Every ``every`` steps, hand ``(name, image)`` to ``write`` (the average when averaging is on); the name is
    ``step_000100`` for step 100, and ``tile02_step_000100`` in the fit of a large image's second tile."""

    restorable = False
    checkpointed = False

    def __init__(self, every: int, write: Callable[[str, torch.Tensor], None], prefix: str = "") -> None:
        if every < 1:
            raise InputError(f"snapshots need a period >= 1, got {every}")
        self.every, self.write, self.prefix = int(every), write, prefix

    def on_step(self, state: FitState) -> None:
        if (state.step + 1) % self.every == 0:
            image = state.average if state.average is not None else state.output
            self.write(f"{self.prefix}step_{state.step + 1:06d}", image)
        return None

    def for_tile(self, index: int, count: int) -> Snapshots:
        return Snapshots(self.every, self.write, f"tile{index + 1:0{len(str(count))}d}_")

    def for_scale(self, low: float, span: float) -> Snapshots:
        return Snapshots(self.every, lambda name, image: self.write(name, low + span * image), self.prefix)


class ThreadShare(Callback):
    """Takes the CPU cores that are free, again at every check (``FitSettings(threads="auto")``).

    :func:`deepprior.device.free_cores` counts the runnable tasks of other processes only: a neighbour that
    starts later makes this fit step down to the cores left, and one that ends gives them back. Thread counts
    change the order of floating-point sums, so results are reproducible bit for bit only with a fixed thread
    count.
    """

    restorable = False
    checkpointed = False

    def on_start(self, state: FitState) -> None:
        self._apply(state, log=False)

    def on_check(self, state: FitState) -> None:
        self._apply(state, log=True)
        return None

    def _apply(self, state: FitState, log: bool) -> None:
        from .device import free_cores

        threads = free_cores(samples=3, interval=0.005)  # cheap enough for every check
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
            if log:
                state.history.events.append({"step": state.step, "event": "threads", "threads": threads})


class Checkpointing(Callback):
    """Saves the whole fit (weights, Adam, z, the jitter stream, the regulariser, every callback, the step) to
    ``path`` at a check when ``every`` seconds have passed since the last save (0: at every check), atomically.

    :func:`deepprior.loop.fit` given the saved dict as ``resume`` goes on from that step; on the CPU, with the
    same thread count, the result is bit-identical to a fit that was never interrupted. ``at_end`` also saves
    the finished fit (a seed ensemble keeps its finished members that way).
    """

    restorable = False
    checkpointed = False

    def __init__(
        self, path: str | os.PathLike[str], every: float = 120.0, fingerprint: str = "", at_end: bool = False
    ) -> None:
        if not every >= 0:
            raise InputError(f"the checkpoint period must be >= 0 seconds, got {every}")
        self.path, self.every, self.fingerprint, self.at_end = Path(path), float(every), fingerprint, at_end
        self._last = 0.0

    def on_start(self, state: FitState) -> None:
        self._last = time.perf_counter()

    def on_check(self, state: FitState) -> None:
        if time.perf_counter() - self._last >= self.every:
            self.save(state)
        return None

    def on_end(self, state: FitState) -> None:
        if self.at_end:  # a finished fit of an ensemble: resuming it costs nothing
            self.save(state)

    def save(self, state: FitState) -> None:
        """Write the checkpoint now."""
        from .io import atomic_write

        checkpoint = {**state.checkpoint(), "fingerprint": self.fingerprint}
        atomic_write(self.path, lambda tmp: torch.save(checkpoint, tmp))
        self._last = time.perf_counter()


class TimeLimit(Callback):
    """Ends the fit at the last step before ``seconds`` are up (``FitSettings.time_limit``): after a step, if the
    next one, as long as the last one was, would end after the limit. The first step always runs, and the last
    step of the fit is never called cut short.

    The clock is the host's: on a GPU, where the device runs a few steps behind it, the fit may end those steps'
    time after the limit. Each run of a fit has its own limit: a resumed fit counts from the resume.
    """

    restorable = False
    checkpointed = False

    def __init__(self, seconds: float) -> None:
        if not (seconds > 0 and math.isfinite(seconds)):
            raise InputError(f"the time limit must be a positive number of seconds, got {seconds}")
        self.seconds = float(seconds)
        self.reached = False
        self._start = self._last = 0.0

    def on_start(self, state: FitState) -> None:
        self._start = self._last = time.perf_counter()

    def on_step(self, state: FitState) -> bool:
        now = time.perf_counter()
        since_start, since_last, self._last = now - self._start, now - self._last, now
        if state.step < state.settings.iterations - 1 and since_start + since_last > self.seconds:
            self.reached = True
            state.history.events.append({"step": state.step, "event": "time limit", "seconds": since_start})
        return self.reached


def load_checkpoint(path: str | os.PathLike[str], device: torch.device, fingerprint: str = "") -> dict[str, Any]:
    """Read a checkpoint written by :class:`Checkpointing` onto ``device``.

    Raises
    ------
    InputError
        The file cannot be read, or it belongs to another run (its fingerprint differs).
    """
    try:
        checkpoint = torch.load(Path(path), map_location=device, weights_only=False)
    except Exception as exc:  # a torn or foreign file: one clear message
        raise InputError(f"cannot resume from '{path}': not a checkpoint of deepprior ({exc})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("fingerprint") != fingerprint:
        raise InputError(f"cannot resume from '{path}': it was made by another run (other image or settings)")
    return checkpoint


class FunctionCallback(Callback):
    """A plain function ``f(state) -> bool | None`` called after every step."""

    restorable = False

    def __init__(self, function: Callable[[FitState], bool | None]) -> None:
        self.function = function

    def on_step(self, state: FitState) -> bool | None:
        return self.function(state)


__all__ = [
    "ThreadShare",
    "Checkpointing",
    "load_checkpoint",
    "checkpointed",
    "checkpointed_kinds",
    "Callback",
    "Averaging",
    "HistoryRecorder",
    "StopRule",
    "Backtracking",
    "Progress",
    "StepClock",
    "Snapshots",
    "TimeLimit",
    "FunctionCallback",
    "duration",
]
