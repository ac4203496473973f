"""OpenCV contrib's edge-preserving smoothers, the filters a user of OpenCV would pick for texture removal instead
of DIP-ℓ0: peers of the smoothing suite (``pip install opencv-contrib-python-headless``, the bench extra).

- ``l0Smooth``: L0 gradient minimisation (Xu et al. 2011), OpenCV's implementation of the algorithm that
  :func:`deepprior.regularizers.l0.l0_smooth` also implements;
- ``fastGlobalSmootherFilter``: the fast global smoother (Min et al. 2014), a weighted-least-squares smoother
  solved by separable 1-D passes, guided by the 8-bit image itself;
- ``guidedFilter``: the self-guided filter (He et al. 2010).

Each takes an H×W×C float image in [0, 1] and returns float32 in [0, 1]. The parameters in :data:`TUNED` are the
best mean PSNR on the NKS validation split (``python -m benchmarks.tune_l0_nks --solvers cv-l0-smooth cv-fgs
cv-guided --name tune_opencv_nks``), the split the library's own solvers' λ were tuned on.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _float32(image: np.ndarray) -> np.ndarray:
    # a copy every call: OpenCV 5's l0Smooth overwrites a float32 input with intermediate values
    return np.array(image, dtype=np.float32, copy=True)


def cv_l0_smooth(image: np.ndarray, lam: float, kappa: float = 2.0) -> np.ndarray:
    """OpenCV's ``l0Smooth`` (λ on [0, 1] intensities, β multiplied by ``kappa`` each round)."""
    import cv2

    return np.clip(cv2.ximgproc.l0Smooth(_float32(image), lambda_=lam, kappa=kappa), 0, 1)


def cv_fast_global_smoother(image: np.ndarray, lam: float, sigma_color: float) -> np.ndarray:
    """OpenCV's ``fastGlobalSmootherFilter`` guided by the image itself (``sigma_color`` in 8-bit levels)."""
    import cv2

    source = _float32(image)
    guide = np.round(np.clip(source, 0, 1) * 255).astype(np.uint8)
    return np.clip(cv2.ximgproc.fastGlobalSmootherFilter(guide, source, lam, sigma_color), 0, 1)


def cv_guided(image: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """OpenCV's ``guidedFilter`` with the image as its own guide (``eps`` on [0, 1] intensities, squared)."""
    import cv2

    source = _float32(image)
    return np.clip(cv2.ximgproc.guidedFilter(source, source, int(radius), eps), 0, 1)


#: name → (the filter, its NKS-validation-tuned parameters)
TUNED: dict[str, tuple[Any, dict[str, float]]] = {
    "cv-l0-smooth": (cv_l0_smooth, {"lam": 0.01}),
    "cv-fgs": (cv_fast_global_smoother, {"lam": 300.0, "sigma_color": 6.0}),
    "cv-guided": (cv_guided, {"radius": 4, "eps": 0.02}),
}

#: the grids the tuning sweeps (tune_l0_nks.py)
GRIDS: dict[str, list[dict[str, float]]] = {
    "cv-l0-smooth": [{"lam": lam} for lam in (0.005, 0.01, 0.015, 0.02, 0.03)],
    "cv-fgs": [
        {"lam": lam, "sigma_color": sigma}
        for lam in (30.0, 50.0, 100.0, 200.0, 300.0, 1000.0, 3000.0)
        for sigma in (4.0, 6.0, 8.0, 10.0, 16.0)
    ],
    "cv-guided": [{"radius": radius, "eps": eps} for radius in (2, 3, 4, 8, 16) for eps in (0.005, 0.01, 0.02, 0.05)],
}


__all__ = ["GRIDS", "TUNED", "cv_fast_global_smoother", "cv_guided", "cv_l0_smooth"]
