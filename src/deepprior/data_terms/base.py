"""The contract of a data term."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch


class DataTerm:
    """E(A·x, y): how far the prediction A·x is from the observation y.

    ``reduction`` says whether the term is a mean or a sum over the pixel values; regularisers whose weight is
    calibrated against the data term (TV) follow it.
    """

    reduction: ClassVar[Literal["mean", "sum"]] = "mean"

    def __call__(self, prediction: torch.Tensor, observation: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
