"""A run's time budget: start an entry only where it is expected to end in time (``run_suites --time-budget``).

A GPU is often lent for a fixed time (a lease, a notebook session), and a fit cut off at its end is lost whole: a
run with a deadline instead leaves an entry that would not end in time for the next run, and goes on with the
entries that would (a smaller image, a quicker method). How long an entry takes is read off the finished entries
on the same kind of device, in the results files of the run's suites and in the run: those of its method in its
results file, else (their first entry) the seconds per step of any network fit, times its steps. The finished entry
nearest in size counts (the latest of equals), its seconds scaled up by the pixels for a larger image and never
down for a smaller one (a launch-bound GPU takes about as long per step on a smaller image). With nothing to go
by an entry runs if the deadline has not passed, and the first one gives the estimate for the rest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finished:
    """What one finished entry says about the cost of its method."""

    megapixels: float
    seconds: float  # its share of the wall time: a batch's seconds over the fits stepped together in it
    steps: int | None = None  # the steps it ran, for a network fit


@dataclass
class TimeBudget:
    """The entries a run may still start before ``deadline`` (a :func:`time.monotonic` value; None: any), and
    what the run knows of their seconds; one budget may serve several suites, a method's seconds kept per results
    file (``table``: one suite at one profile's settings, since its steps and width differ between them).

    Examples
    --------
    >>> budget = TimeBudget(deadline=time.monotonic() + 60)
    >>> budget.learn("denoise", "dip", megapixels=0.25, seconds=50.0, steps=1000)
    >>> budget.estimate("denoise", "dip", megapixels=1.0), budget.estimate("denoise", "dip", megapixels=0.0625)
    (200.0, 50.0)
    >>> budget.estimate("inpaint", "dip", megapixels=0.25, steps=500)  # a first entry: the seconds per step
    25.0
    >>> budget.allows(budget.estimate("denoise", "dip", 0.25)), budget.allows(budget.estimate("denoise", "dip", 1.0))
    (True, False)
    """

    deadline: float | None = None
    clock: Callable[[], float] = time.monotonic
    _finished: dict[tuple[str, str], list[Finished]] = field(default_factory=dict)

    def learn(self, table: str, method: str, megapixels: float, seconds: float, steps: int | None = None) -> None:
        """Remember that an entry of ``method`` in ``table`` on ``megapixels`` took ``seconds`` (and ran
        ``steps``)."""
        if megapixels > 0 and math.isfinite(seconds) and seconds >= 0:
            self._finished.setdefault((table, method), []).append(Finished(megapixels, seconds, steps or None))

    def learn_rows(
        self,
        table: str,
        rows: Iterable[dict],
        megapixels_of: Callable[[str], float],
        device_type: str,
        is_network: Callable[[str], bool],
    ) -> None:
        """Learn from the entries of the results file ``table``: a network method's where it ran on ``device_type``
        (a GPU's seconds say nothing of a CPU's), the others' where they ran on the CPU; ``megapixels_of(image)``
        each."""
        for row in rows:
            method, wall = row.get("method"), row.get("wall_seconds")
            if row.get("record") != "entry" or method is None or not isinstance(wall, int | float):
                continue
            network = is_network(method)
            if str(row.get("device") or "cpu").split(":")[0] != (device_type if network else "cpu"):
                continue
            share = (row.get("settings") or {}).get("at_once") or 1
            steps = row.get("iterations") if network else None
            self.learn(table, method, megapixels_of(row["image"]), wall / share, steps)

    def estimate(self, table: str, method: str, megapixels: float, steps: int | None = None) -> float | None:
        """Seconds an entry of ``method`` in ``table`` on ``megapixels`` should take (a network fit: of
        ``steps``); None with nothing to go by."""
        if megapixels <= 0:
            return None
        if (table, method) in self._finished:
            return self._nearest(self._finished[(table, method)], megapixels, lambda f: f.seconds)
        stepped = [f for finished in self._finished.values() for f in finished if f.steps]
        if steps and stepped:
            return self._nearest(stepped, megapixels, lambda f: f.seconds / (f.steps or 1) * steps)
        return None

    @staticmethod
    def _nearest(finished: list[Finished], megapixels: float, seconds: Callable[[Finished], float]) -> float:
        # the latest of the nearest: this run's own entries, stepped as this run steps them, over older ones
        nearest = min(reversed(finished), key=lambda f: abs(math.log(megapixels / f.megapixels)))
        return seconds(nearest) * max(1.0, megapixels / nearest.megapixels)

    def allows(self, seconds: float | None, ahead: float = 0.0) -> bool:
        """Whether work of ``seconds`` (None: unknown), started after ``ahead`` seconds of work already queued,
        ends by the deadline; unknown work only needs the deadline not to have passed."""
        if self.deadline is None:
            return True
        return self.clock() + ahead + (seconds or 0.0) <= self.deadline


__all__ = ["Finished", "TimeBudget"]
