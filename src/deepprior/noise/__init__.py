"""Noise models of denoising, chosen by name from :data:`deepprior.registry.NOISE_MODELS`.

A noise model maps the noisy image to one whose noise is additive, white and Gaussian with one σ everywhere (a
variance-stabilising transform), where the fit, its early stop and the refiners work as they were made to, and maps
the restored image back. A new one is one module in this folder with ``@NOISE_MODELS.register("name")`` on a
:class:`NoiseModel` subclass.
"""

from __future__ import annotations

from ..registry import NOISE_MODELS
from .base import NoiseModel

__all__ = ["NOISE_MODELS", "NoiseModel"]
