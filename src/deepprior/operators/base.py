"""The contract of a forward model A: an ``nn.Module`` from the generator's output to the observation's space."""

from __future__ import annotations

from torch import nn


class Operator(nn.Module):
    """A forward model A of the data term E(A·x, y).

    ``forward(x)`` maps an image x, (N, C, H, W), to the observation's space; :meth:`observation_shape` and
    :meth:`image_shape` relate the sizes, so mismatches are caught before a fit. Operators are modules:
    their tensors are buffers, moved with the fit. A new operator is one module in ``deepprior/operators/`` with
    ``@OPERATORS.register("name")`` on its class.
    """

    def observation_shape(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of A x for an x of ``height`` × ``width``."""
        return height, width

    def image_shape(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of x that explains an observation of ``height`` × ``width``."""
        return height, width
