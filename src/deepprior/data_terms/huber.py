"""The Huber loss: quadratic near the observation, linear far from it (robust to outliers such as impulse noise)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import DATA_TERMS
from .base import DataTerm


@DATA_TERMS.register("huber")
class Huber(DataTerm):
    """E = (1/N) Σ h_δ(A·x − y), h_δ(r) = r²/2 for |r| ≤ δ, δ(|r| − δ/2) beyond (Huber 1964), δ = 0.1.

    With δ = 0.1 on [0, 1] images, Gaussian noise of σ ≤ 25/255 stays in the quadratic part while salt-and-pepper
    outliers are penalised linearly, so they pull the fit less than under the mean squared error.
    """

    reduction = "mean"
    delta = 0.1

    def __call__(self, prediction: torch.Tensor, observation: torch.Tensor) -> torch.Tensor:
        return F.huber_loss(prediction, observation, reduction="mean", delta=self.delta)
