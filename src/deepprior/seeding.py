"""The one place that turns a run's seed into the random streams of a fit.

A run has one seed. The network's initial weights, the input z and the per-step jitter each draw from their own
stream derived from it, so changing one (say, a different z) never shifts another, and a direct call of
:func:`deepprior.loop.fit` on a generator built with :func:`deepprior.nets.build_generator` and an input from
:func:`deepprior.inputs.make_input` is bit-identical to the task function given the same seed.
"""

from __future__ import annotations

from typing import Literal

import torch

Stream = Literal["weights", "input", "jitter", "regularizer"]
_OFFSETS = {"weights": 0, "input": 0, "jitter": 1, "regularizer": 2}


def seed_for(seed: int, stream: Stream) -> int:
    """The seed of one random stream of a run (weights and z keep the historical seed itself)."""
    return int(seed) + _OFFSETS[stream]


def torch_generator(seed: int, stream: Stream, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded for ``stream``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed_for(seed, stream))
    return generator


__all__ = ["seed_for", "torch_generator"]
