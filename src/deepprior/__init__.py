"""deepprior: single-image restoration with no training data — Deep Image Prior and its explicit regularisers.

>>> import deepprior
>>> restored, history = deepprior.denoise(noisy)            # doctest: +SKIP
"""

__version__ = "0.1.0"

from .errors import DeepPriorError, DeviceError, InputError  # noqa: E402
from .fit import FitResult, FitSettings, History, fit  # noqa: E402
from .tasks import (  # noqa: E402
    PRESETS,
    Restoration,
    deblock,
    denoise,
    flash_noflash,
    inpaint,
    smooth,
    super_resolve,
)

__all__ = [
    "__version__",
    "DeepPriorError",
    "DeviceError",
    "InputError",
    "FitResult",
    "FitSettings",
    "History",
    "fit",
    "PRESETS",
    "Restoration",
    "deblock",
    "denoise",
    "flash_noflash",
    "inpaint",
    "smooth",
    "super_resolve",
]
