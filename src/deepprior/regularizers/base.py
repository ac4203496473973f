"""The contract of an explicit regulariser R(g_θ(z)) and the context its factory receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn


@dataclass(frozen=True)
class BuildContext:
    """What a plug-in may know about the run that builds it: one typed object instead of injected arguments.

    Attributes
    ----------
    observation
        y, (1, C, h, w) float32 in [0, 1], on the CPU.
    image_size
        (H, W) of the image being restored.
    seed
        The run's seed (derive streams with :func:`deepprior.seeding.seed_for`).
    iterations
        Adam steps the fit will take at most.
    device
        Where the fit runs.
    reduction
        Whether the data term is a ``"mean"`` or a ``"sum"`` over pixel values (for calibrated weights).
    """

    observation: torch.Tensor
    image_size: tuple[int, int]
    seed: int = 0
    iterations: int = 1
    device: torch.device = torch.device("cpu")
    reduction: Literal["mean", "sum"] = "mean"


class Regularizer(nn.Module):
    """R(g_θ(z)) added to the data term, with optional hooks around the Adam steps.

    The contract, checked for every registered regulariser by the test suite:

    - :meth:`build` makes one from a :class:`BuildContext` and its own options;
    - :meth:`penalty` returns the term to add at a step (None: nothing this step);
    - :meth:`after_step` runs after each Adam step with a function that computes the current output without
      gradients (ADMM's splitting-variable updates);
    - :meth:`output` may offer an image the output policy can return instead of the network's;
    - ``graph_safe`` says that :meth:`penalty` is the same tensor arithmetic at every step of a :meth:`phase`, on
      buffers that :meth:`after_step` updates in place (a recording reads them where they are), so a fit on CUDA
      may record its step as a CUDA graph (``FitSettings.cuda_graph``) and record it again when the phase
      changes; a regulariser that is not is stepped eagerly;
    - its tensors are buffers and its other state is in ``get_extra_state``, so ``state_dict`` captures all of it
      (backtracking and checkpoints) and the fit moves it to the device.

    A new regulariser is one module in ``deepprior/regularizers/`` with ``@REGULARIZERS.register("name")`` on its
    class. ``method`` names the row of the preset table (per task) whose options are its defaults.
    """

    method: ClassVar[str] = ""
    #: The data term its weights are calibrated for, used unless the user names one (None: any).
    data_term: ClassVar[str | None] = None
    #: Whether :meth:`penalty` may be recorded once per :meth:`phase` as part of a CUDA graph of the step.
    graph_safe: ClassVar[bool] = False

    @classmethod
    def build(cls, context: BuildContext, **options: Any) -> Regularizer:
        """Make the regulariser for a run; the default passes the options to the constructor."""
        return cls(**options)

    def penalty(self, x: torch.Tensor, step: int) -> torch.Tensor | None:
        """The term added to the data term at ``step`` for the current output ``x`` (None: no term)."""
        return None

    def phase(self, step: int) -> int:
        """Which stage of its schedule :meth:`penalty` is in at ``step`` (a recorded step is recorded again when
        this changes)."""
        return 0

    def after_step(self, step: int, forward: Callable[[], torch.Tensor]) -> None:
        """Called after each Adam step; ``forward()`` gives the current output without gradients."""

    def output(self) -> torch.Tensor | None:
        """An image to return instead of the network's (None: no such image)."""
        return None

    def describe(self) -> dict[str, Any]:
        """Its parameters (and diagnostics) for the run record."""
        return {}
