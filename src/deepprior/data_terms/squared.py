"""Squared error, as a mean (DIP) or as a sum (DIP-ℓ0's ADMM, whose λ and β are calibrated for sums)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import DATA_TERMS
from .base import DataTerm


@DATA_TERMS.register("mse")
class MeanSquaredError(DataTerm):
    """E = (1/N) ‖A·x − y‖²: the Deep Image Prior paper's loss."""

    reduction = "mean"

    def __call__(self, prediction: torch.Tensor, observation: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(prediction, observation, reduction="mean")


@DATA_TERMS.register("sse")
class SumSquaredError(DataTerm):
    """E = ‖A·x − y‖²: DIP-ℓ0's θ-step (Tran et al.), with λ and β calibrated for sums."""

    reduction = "sum"

    def __call__(self, prediction: torch.Tensor, observation: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(prediction, observation, reduction="sum")
