"""Region Fusion (Nguyen & Brown 2015) and L0 smoothing (Xu et al. 2011) as registered solvers."""

from __future__ import annotations

import numpy as np

from ..registry import SOLVERS


@SOLVERS.register("region-fusion")
def region_fusion_solver(image: np.ndarray, lam: float, *, passes: int = 50) -> np.ndarray:
    """Region Fusion with K = ``passes`` passes (see :func:`deepprior.regularizers.l0.region_fusion`)."""
    from ..regularizers.l0 import region_fusion

    return region_fusion(image, lam, K=int(passes))


@SOLVERS.register("l0-smooth")
def l0_smooth_solver(image: np.ndarray, lam: float, *, kappa: float = 2.0, beta_max: float = 1e5) -> np.ndarray:
    """L0 gradient smoothing (see :func:`deepprior.regularizers.l0.l0_smooth`)."""
    from ..regularizers.l0 import l0_smooth

    return l0_smooth(image, lam=lam, kappa=kappa, beta_max=beta_max)
