"""deepprior: single-image restoration with no training data — Deep Image Prior and its explicit regularisers.

The package root is lazy: ``import deepprior`` and ``deepprior --version`` load neither torch nor scipy; each name
below loads its module on first use.

>>> import deepprior
>>> deepprior.__version__
'0.1.0'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "DeepPriorError": "errors",
    "DeviceError": "errors",
    "InputError": "errors",
    "Image": "image",
    "as_image": "image",
    "fit": "loop",
    "FitResult": "loop",
    "fit_batch": "batch",
    "History": "record",
    "FitSettings": "settings",
    "PRESETS": "presets",
    "Preset": "presets",
    "RunRecord": "record",
    "Restoration": "restore",
    "Overrides": "restore",
    "run_together": "restore",
    "deblock": "tasks",
    "deblur": "tasks",
    "denoise": "tasks",
    "flash_noflash": "tasks",
    "inpaint": "tasks",
    "smooth": "tasks",
    "super_resolve": "tasks",
    "enhance": "tasks",
    "sketch": "tasks",
    "Registry": "registry",
    "TASKS": "registry",
    "GENERATORS": "registry",
    "OPERATORS": "registry",
    "DATA_TERMS": "registry",
    "REGULARIZERS": "registry",
    "STOPPERS": "registry",
}

__all__ = [
    "__version__",
    "DeepPriorError",
    "DeviceError",
    "InputError",
    "Image",
    "as_image",
    "fit",
    "FitResult",
    "fit_batch",
    "History",
    "FitSettings",
    "PRESETS",
    "Preset",
    "RunRecord",
    "Restoration",
    "Overrides",
    "run_together",
    "deblock",
    "deblur",
    "denoise",
    "flash_noflash",
    "inpaint",
    "smooth",
    "super_resolve",
    "enhance",
    "sketch",
    "Registry",
    "TASKS",
    "GENERATORS",
    "OPERATORS",
    "DATA_TERMS",
    "REGULARIZERS",
    "STOPPERS",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'deepprior' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # static checkers and IDEs see the real names
    from .batch import fit_batch
    from .errors import DeepPriorError, DeviceError, InputError
    from .image import Image, as_image
    from .loop import FitResult, fit
    from .presets import PRESETS, Preset
    from .record import History, RunRecord
    from .registry import DATA_TERMS, GENERATORS, OPERATORS, REGULARIZERS, STOPPERS, TASKS, Registry
    from .restore import Overrides, Restoration, run_together
    from .settings import FitSettings
    from .tasks.deblocking import deblock
    from .tasks.deblurring import deblur
    from .tasks.denoising import denoise
    from .tasks.effects import enhance, sketch
    from .tasks.fusion import flash_noflash
    from .tasks.inpainting import inpaint
    from .tasks.smoothing import smooth
    from .tasks.super_resolution import super_resolve
