"""A fit's training step recorded once as a CUDA graph and replayed at every later step (``FitSettings.cuda_graph``).

On a GPU one DIP fit is bound by kernel launches rather than arithmetic: a skip128 step launches hundreds of small
kernels, and the GPU waits for the host between them (``benchmarks/results/gpu/README.md``). A CUDA graph launches
them all at once. ``torch.compile(mode="reduce-overhead")`` graphs the network too, but compiles it first, which
costs more than a paper-length fit saves; here nothing is compiled: the step as written (jittered input, forward,
loss, backward, Adam) is recorded after a few eager warm-up steps, which costs about as much as a few steps.

What the recording closes over must stay where it is: the loop draws each step's jitter into one buffer, Adam is
created ``capturable``, a regulariser updates its buffers in place (DIP-ℓ0's v and w), and the step is recorded
again whenever its closure changes — a restore (backtracking, a resumed checkpoint) replaces Adam's state tensors,
and a regulariser may enter another phase (:meth:`deepprior.regularizers.Regularizer.phase`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import torch

from .errors import warn

#: The step at an index: forward, backpropagate and step Adam (its caller zeroes the gradients); returns
#: (output, prediction, loss).
StepFunction = Callable[[int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class StepGraph:
    """Run ``step_function`` eagerly for :attr:`WARMUP` steps, then record it as a CUDA graph and replay that.

    Parameters
    ----------
    step_function
        The training step; it must read every per-step input (the jitter) from tensors that stay in place.
    optimizer
        The fit's optimiser (``capturable=True``); its gradients are set to None before each recording, so the
        recorded backward writes them instead of adding to them.
    device
        The CUDA device.
    """

    #: Eager steps before the first recording: cuDNN picks its algorithms and Adam creates its state there.
    WARMUP = 3

    def __init__(self, step_function: StepFunction, optimizer: torch.optim.Optimizer, device: torch.device) -> None:
        self.step_function, self.optimizer, self.device = step_function, optimizer, device
        self.recordings = 0
        self._warm = 0
        self._key: Hashable | None = None
        self._outputs: tuple[torch.Tensor, ...] = ()
        self._failed = False

    def __call__(self, step: int, key: Hashable) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Take step ``step``; ``key`` names what the recording closes over (recorded again when it changes)."""
        if self._failed or self._warm < self.WARMUP:
            self.optimizer.zero_grad(set_to_none=True)
            if self._failed:
                return self.step_function(step)
            self._warm += 1
            return self._warm_up(step)
        if self.recordings == 0 or key != self._key:
            self.optimizer.zero_grad(set_to_none=True)  # the recorded backward then writes them instead of adding
            try:
                self._record(step)
            except RuntimeError as exc:  # an operation that cannot be recorded (a plug-in's host sync)
                warn(f"the step could not be recorded as a CUDA graph ({exc}); stepping eagerly")
                self._failed = True
                return self(step, key)  # eagerly
            self._key = key
            self.recordings += 1
        self._replay()
        output, prediction, loss = (tensor.clone() for tensor in self._outputs)  # the next replay overwrites them
        return output, prediction, loss

    def _warm_up(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # Warm-up off the default stream, as recording wants: its lazy allocations stay out of the graph's pool.
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            outputs = self.step_function(step)
        torch.cuda.current_stream(self.device).wait_stream(side)
        return outputs

    def _record(self, step: int) -> None:
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph):
            self._outputs = self.step_function(step)

    def _replay(self) -> None:
        self._graph.replay()


__all__ = ["StepFunction", "StepGraph"]
