"""Test helpers: small synthetic images (made here, so tests need no data files) and the shared data folder."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from deepprior.callbacks import Callback
from deepprior.step_graph import StepGraph

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Narrow networks keep the CPU test suite fast; the full skip128 is covered by shape/parameter tests.
TINY = {"channels_down": 16, "channels_up": 16, "channels_skip": 4}


def smooth_image(size: int = 48, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A piecewise-smooth test picture: gradients, a disc and a bar, float32 in [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    planes = []
    for c in range(channels):
        base = 0.25 + 0.4 * (xx if c % 2 == 0 else yy) + 0.1 * c
        disc = ((xx - 0.35) ** 2 + (yy - 0.4) ** 2) < 0.05
        bar = (np.abs(yy - 0.75) < 0.08) & (xx > 0.5)
        plane = np.where(disc, 0.9 - 0.2 * c, base)
        plane = np.where(bar, 0.1 + 0.1 * c, plane)
        planes.append(plane)
    return np.clip(np.stack(planes, axis=2), 0, 1).astype(np.float32)


def add_noise(image: np.ndarray, sigma: float = 25 / 255, seed: int = 0) -> np.ndarray:
    """Gaussian noise of standard deviation ``sigma``, clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 1).astype(np.float32)


class ReplayedHere(StepGraph):
    """The recorded step on the CPU: records the step with its index bound, as a CUDA graph freezes what it closed
    over, and replays it by calling it (the tensors it reads must stay where they are: a contract test checks it)."""

    instances: list[ReplayedHere] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        ReplayedHere.instances.append(self)

    def _warm_up(self, step):
        return self.step_function(step)

    def _record(self, step):
        self._recorded = partial(self.step_function, step)

    def _replay(self):
        self.optimizer.zero_grad(set_to_none=True)  # a graph's backward writes the gradients, never adds to them
        self._outputs = self._recorded()


class OneSecondAStep(Callback):
    """A stand-in for ``time.perf_counter`` that reads one second a step: step s of a fit ends s + 1 seconds after
    the fit's start, and the fits it joins run one after another (pass it as a callback of each fit, or of the
    first member of fits stepped together, and patch the clock with it)."""

    checkpointed = False

    def __init__(self) -> None:
        self.state = None
        self.offset = 0.0

    def __call__(self) -> float:
        return self.offset + (0.0 if self.state is None else self.state.step + 1.0)

    def on_start(self, state) -> None:
        self.offset, self.state = self(), state
