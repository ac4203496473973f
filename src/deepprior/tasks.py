"""Task presets (operator, generator, input z, settings from the papers) and the public restoration functions.

Data flows one way: image → preset → :func:`deepprior.fit.fit` → :class:`Restoration` (image + history + settings).
Every preset value can be overridden by keyword (see :data:`COMMON_OPTIONS`).
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from . import __version__
from .device import device_name, resolve_device
from .errors import InputError
from .fit import FitResult, FitSettings, History, as_numpy_image, as_tensor_image, fit, pad_to, padded_size
from .nets import build_generator
from .operators import Identity, LanczosDownsampler, Mask, Operator
from .regularizers import build_regularizer

SKIP128: dict[str, Any] = {"channels_down": [128] * 5, "channels_up": [128] * 5, "channels_skip": [4] * 5}


@dataclass(frozen=True)
class Preset:
    """One row of REFERENCE.md §1's table: generator, input z and loop settings of a task."""

    name: str
    generator: str = "skip"
    generator_options: dict[str, Any] = field(default_factory=lambda: dict(SKIP128))
    input: str = "noise"  # noise | normal | meshgrid | image
    input_channels: int = 32
    settings: FitSettings = field(default_factory=FitSettings)
    # When the user gives no iteration count, the tasks whose quality peaks and falls stop early by default.
    default_stop: str = "fixed"
    regularizer: str | None = None
    regularizer_options: dict[str, Any] = field(default_factory=dict)


_L0_SETTINGS = FitSettings(iterations=2500, lr=1e-3, reg_noise_std=0.0, loss_reduction="sum")

PRESETS: dict[str, Preset] = {
    "denoise": Preset("denoise", settings=FitSettings(iterations=3000, lr=0.01, reg_noise_std=1 / 30, average=0.99,
                                                      backtrack=True), default_stop="es-wmv"),
    "deblock": Preset("deblock", generator_options={"channels_down": [8, 16, 32, 64, 128],
                                                     "channels_up": [8, 16, 32, 64, 128],
                                                     "channels_skip": [0, 0, 0, 4, 4]},
                      input_channels=3,
                      settings=FitSettings(iterations=2400, lr=0.01, reg_noise_std=1 / 30, average=0.99),
                      default_stop="es-wmv"),
    "super-resolve": Preset("super-resolve", settings=FitSettings(iterations=2000, lr=0.01, reg_noise_std=0.03)),
    "inpaint-text": Preset("inpaint-text", generator_options={**SKIP128, "channels_skip": [128] * 5,
                                                              "upsample_mode": "nearest"},
                           settings=FitSettings(iterations=6001, lr=0.01, reg_noise_std=0.03)),
    "inpaint-hole": Preset("inpaint-hole", generator_options={**SKIP128, "channels_skip": [0] * 5,
                                                              "upsample_mode": "nearest"},
                           input="meshgrid", input_channels=2,
                           settings=FitSettings(iterations=5001, lr=0.01, reg_noise_std=0.03)),
    "inpaint-region": Preset("inpaint-region", generator_options={"channels_down": [16, 32, 64, 128, 128, 128],
                                                                  "channels_up": [16, 32, 64, 128, 128, 128],
                                                                  "channels_skip": [0] * 6, "kernel_down": 5,
                                                                  "upsample_mode": "nearest", "need_1x1_up": False},
                             input_channels=1, settings=FitSettings(iterations=3001, lr=0.01, reg_noise_std=0.0)),
    "inpaint-pixels": Preset("inpaint-pixels", settings=FitSettings(iterations=11000, lr=0.001, reg_noise_std=0.03)),
    # DIP-ℓ0 (REFERENCE.md §3): z never perturbed, LR 1e-3, sum-reduced data term, T = 100 outer × 25 Adam steps.
    "smooth-l0": Preset("smooth-l0", settings=_L0_SETTINGS, regularizer="l0",
                        regularizer_options={"lam": 0.025, "beta": 2.25}),
    "deblock-l0": Preset("deblock-l0", settings=_L0_SETTINGS, regularizer="l0",
                         regularizer_options={"lam": 0.025, "beta": 2.0}),
    "smooth-tv": Preset("smooth-tv", settings=FitSettings(iterations=2000, lr=0.01, reg_noise_std=0.0)),
    "flash-noflash": Preset("flash-noflash", generator_options={**SKIP128}, input="image", input_channels=3,
                            settings=FitSettings(iterations=601, lr=0.1, reg_noise_std=0.0)),
}

INPAINT_KINDS = ("text", "hole", "region", "pixels")

COMMON_OPTIONS = """
    Common keyword options (every task; None keeps the preset's value)
    -------------------------------------------------------------------
    iterations, lr, reg_noise_std, average, backtrack, stop, stop_window, stop_patience, check_every,
    channels_last, amp, compile, optimize_input : overrides of :class:`deepprior.fit.FitSettings`
        (``stop``: "fixed", "es-wmv" or "es-emv").
    seed : int, default 0
        Seeds weights, z and jitter: the same seed on the same CPU gives bit-identical results.
    device : str, default "auto"
        "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps".
    generator : str, generator_options : dict
        Network by name ("skip", "unet", "resnet", "decoder") and its keyword options (merged over the preset's).
    input_kind : str, input_channels : int
        z: "noise" (U[0,1)·0.1), "normal" (N(0,1)·0.1) or "meshgrid", with this many channels.
    regularizer : str or object, lam : float, regularizer_options : dict
        "tv", "two-stage-tv" or "l0" (DIP-ℓ0), with weight λ, or any object with ``penalty(x, step)``.
    reference : array
        Ground truth, only for the PSNR history.
    callbacks : sequence of callables
        Called with a :class:`deepprior.fit.FitState` after every step; returning True stops.
    progress : bool or str
        Show a progress bar (a string is its label).
"""


@dataclass
class Restoration:
    """A restored image (float32 in [0, 1], the input's layout), its history and the full settings used.

    Unpacks as ``image, history = deepprior.denoise(...)``.
    """

    image: np.ndarray
    history: History
    settings: dict[str, Any]
    alpha: np.ndarray | None = None

    def __iter__(self):
        yield self.image
        yield self.history


def _to_float_image(image: Any, what: str) -> np.ndarray:
    """Accept (H, W) / (H, W, C) arrays of any numeric dtype; integers are scaled by their dtype's maximum."""
    array = np.asarray(image)
    if array.dtype == bool:
        array = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / float(np.iinfo(array.dtype).max)
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    else:
        raise InputError(f"{what} must be a numeric array, got dtype {array.dtype}")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise InputError(f"{what} must be (H, W) or (H, W, C) with C = 1 or 3 (+ alpha), got shape {array.shape}")
    if array.size == 0:
        raise InputError(f"{what} is empty")
    if not np.isfinite(array).all():
        raise InputError(f"{what} contains NaN or infinite values")
    return np.clip(array, 0.0, 1.0)


def _split_alpha(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Gray + alpha (C = 2) and RGBA (C = 4): the alpha channel is carried through, never restored."""
    if array.ndim == 3 and array.shape[2] in (2, 4):
        return array[..., :-1], array[..., -1]
    return array, None


def _restore_layout(restored: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Give the result the input's layout: (H, W) stays (H, W)."""
    return restored[..., 0] if like.ndim == 2 else restored


def make_input(kind: str, channels: int, height: int, width: int, generator: torch.Generator,
               scale: float = 0.1) -> torch.Tensor:
    """The fixed network input z, (1, channels, height, width).

    ``noise``: U[0, 1)·scale (DIP's default); ``normal``: N(0, 1)·scale; ``meshgrid``: two channels holding the
    x and y coordinates in [0, 1].
    """
    if kind == "noise":
        return torch.rand((1, channels, height, width), generator=generator) * scale
    if kind == "normal":
        return torch.randn((1, channels, height, width), generator=generator) * scale
    if kind == "meshgrid":
        if channels != 2:
            raise InputError(f"a meshgrid input has 2 channels, not {channels}")
        ys = torch.linspace(0, 1, height).view(height, 1).expand(height, width)
        xs = torch.linspace(0, 1, width).view(1, width).expand(height, width)
        return torch.stack([xs, ys])[None].clone()
    raise InputError(f"unknown input kind {kind!r}; choose noise, normal or meshgrid")


_SETTING_NAMES = {f.name for f in dataclasses.fields(FitSettings)}
_CALL_NAMES = {"seed", "device", "generator", "generator_options", "input_kind", "input_channels", "regularizer",
               "lam", "regularizer_options", "reference", "callbacks", "progress"}


def _versions() -> dict[str, str]:
    import skimage

    return {"deepprior": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "scikit-image": skimage.__version__, "python": platform.python_version()}


def run_preset(
    preset: Preset,
    observation: np.ndarray,
    operator: Operator,
    *,
    image_size: tuple[int, int],
    out_channels: int,
    input_image: np.ndarray | None = None,
    options: dict[str, Any],
    extra_settings: dict[str, Any] | None = None,
) -> tuple[FitResult, dict[str, Any]]:
    """Build everything a preset describes, apply the user's overrides and run :func:`fit`.

    ``observation`` is y as a float (H, W, C) array, ``image_size`` the (H, W) of the image to restore.
    """
    unknown = set(options) - _SETTING_NAMES - _CALL_NAMES
    if unknown:
        raise InputError(f"unknown option(s): {', '.join(sorted(unknown))}")
    overrides = {k: v for k, v in options.items() if k in _SETTING_NAMES and k != "seed" and v is not None}
    if "stop" not in overrides and "iterations" not in overrides:
        overrides["stop"] = preset.default_stop
    seed = options.get("seed")
    seed = 0 if seed is None else int(seed)
    settings = replace(preset.settings, **overrides, seed=seed)
    settings.validate()
    device = resolve_device(options.get("device") or "auto")

    generator_name = options.get("generator") or preset.generator
    generator_options = dict(preset.generator_options) if generator_name == preset.generator else {}
    generator_options.update(options.get("generator_options") or {})
    input_kind = options.get("input_kind") or preset.input
    input_channels = int(options.get("input_channels") or preset.input_channels)
    if input_kind == "meshgrid":
        input_channels = 2
    if input_kind == "image":
        assert input_image is not None
        input_channels = input_image.shape[2]

    torch.manual_seed(seed)  # weight initialisation
    z_generator = torch.Generator().manual_seed(seed)
    net = build_generator(generator_name, input_channels, out_channels, **generator_options)
    height, width = image_size
    multiple = net.size_multiple
    minimum = max(8, multiple // 2)
    if min(height, width) < minimum:
        raise InputError(f"the image is {height}×{width} pixels; the {generator_name} network needs at least "
                         f"{minimum}×{minimum}")
    padded_h, padded_w = padded_size(height, width, multiple, net.min_size)
    if input_kind == "image":
        z = pad_to(as_tensor_image(input_image), padded_h, padded_w)
    else:
        in_h, in_w = net.input_shape(padded_h, padded_w)
        z = make_input(input_kind, input_channels, in_h, in_w, z_generator)

    y = as_tensor_image(observation)
    expected = operator.observation_shape(height, width)
    if tuple(y.shape[-2:]) != expected:
        raise InputError(f"the observation is {tuple(y.shape[-2:])} but the operator expects {expected}")
    regularizer = options.get("regularizer") or preset.regularizer
    if isinstance(regularizer, str):
        reg_kwargs = dict(preset.regularizer_options) if regularizer == preset.regularizer else {}
        reg_kwargs.update(options.get("regularizer_options") or {})
        if options.get("lam") is not None:
            reg_kwargs["lam"] = options["lam"]
        reg_kwargs["iterations"] = settings.iterations
        if regularizer == "l0":
            reg_kwargs.update(seed=seed, observation=y)
        else:  # TV's λ is calibrated for the same reduction as the data term
            reg_kwargs.setdefault("reduction", settings.loss_reduction)
        regularizer_name, regularizer = regularizer, build_regularizer(regularizer, **reg_kwargs)
    else:
        regularizer_name = None if regularizer is None else type(regularizer).__name__

    reference = options.get("reference")
    reference_tensor = None
    if reference is not None:
        reference_array = _to_float_image(reference, "reference")
        reference_array, _ = _split_alpha(reference_array)
        if reference_array.ndim == 2:
            reference_array = reference_array[..., None]
        if reference_array.shape[:2] != (height, width) or reference_array.shape[2] != out_channels:
            raise InputError(f"the reference is {reference_array.shape} but the result will be "
                             f"{(height, width, out_channels)}")
        reference_tensor = as_tensor_image(reference_array)

    result = fit(net, z, y, operator, settings, output_size=(height, width), reference=reference_tensor,
                 regularizer=regularizer, callbacks=list(options.get("callbacks") or ()), device=device,
                 progress=True if options.get("progress") is None else options["progress"])
    record = {
        "task": preset.name,
        "generator": {"name": generator_name, **generator_options,
                      "parameters": sum(p.numel() for p in net.parameters())},
        "input": {"kind": input_kind, "channels": input_channels, "shape": list(z.shape)},
        "fit": {**dataclasses.asdict(settings), "channels_last": result.channels_last, "amp": result.amp},
        "regularizer": None if regularizer is None else {"name": regularizer_name,
                                                         **getattr(regularizer, "describe", dict)()},
        "operator": type(operator).__name__,
        "image_size": [height, width],
        "padded_size": [padded_h, padded_w],
        "device": str(device),
        "device_name": device_name(device),
        "versions": _versions(),
        "iterations_run": result.iterations_run,
        "stopped_at": result.stopped_at,
        "selected_step": result.selected_step,
        "output": result.source,
        "seconds": result.seconds,
        **(extra_settings or {}),
    }
    return result, record


def _finish(result: FitResult, record: dict[str, Any], like: np.ndarray, alpha: np.ndarray | None) -> Restoration:
    image = _restore_layout(as_numpy_image(result.image), like)
    return Restoration(image=np.clip(image, 0, 1), history=result.history, settings=record, alpha=alpha)


def _channels(array: np.ndarray) -> int:
    return 1 if array.ndim == 2 else array.shape[2]


def _as_hwc(array: np.ndarray) -> np.ndarray:
    return array[..., None] if array.ndim == 2 else array


def _blind_task(preset_name: str, image: Any, options: dict[str, Any]) -> Restoration:
    array = _to_float_image(image, "image")
    rgb, alpha = _split_alpha(array)
    result, record = run_preset(PRESETS[preset_name], _as_hwc(rgb), Identity(), image_size=rgb.shape[:2],
                                out_channels=_channels(rgb), options=options)
    return _finish(result, record, rgb, alpha)


def denoise(image: Any, **options: Any) -> Restoration:
    """Blind denoising with Deep Image Prior (skip128, σ_reg = 1/30, averaging 0.99, backtracking).

    Parameters
    ----------
    image
        Noisy image, (H, W) or (H, W, C) with C = 1, 3 or 4 (alpha is passed through untouched); floats in
        [0, 1] or integers (scaled by their dtype's maximum).

    Returns
    -------
    Restoration
        ``.image`` (float32, the input's layout), ``.history``, ``.settings``. With no ``iterations`` given, the
        fit stops early by ES-WMV (at most 3000 steps).
    """
    return _blind_task("denoise", image, options)


def deblock(image: Any, method: str = "dip", **options: Any) -> Restoration:
    """Blind JPEG artifact removal (A = identity).

    ``method="dip"``: the DIP paper's narrow skip 3→3 net, 2400 steps, averaging, early stopping by default;
    ``method="dip-l0"``: DIP-ℓ0 (λ = 0.025, β = 2.0, skip128, 100 × 25 steps), suited to clip art.
    """
    if method not in ("dip", "dip-l0"):
        raise InputError(f"unknown deblocking method {method!r}; choose dip or dip-l0")
    return _blind_task("deblock" if method == "dip" else "deblock-l0", image, options)


SMOOTH_METHODS = ("dip-l0", "dip-tv", "region-fusion", "l0-smooth")


def smooth(image: Any, method: str = "dip-l0", lam: float | None = None, **options: Any) -> Restoration:
    """Edge-preserving smoothing: flatten textures and small details, keep strong edges.

    Parameters
    ----------
    method
        ``"dip-l0"`` (DIP-ℓ0, λ = 0.025, β = 2.25: the paper's best), ``"dip-tv"`` (DIP + λ·TV),
        ``"region-fusion"`` (Nguyen & Brown, λ = 0.03 by default) or ``"l0-smooth"`` (Xu et al., λ = 0.02).
        The classical solvers take only ``lam`` (and ``passes`` / ``kappa``, ``beta_max``) and ignore fit options.
    lam
        λ of the chosen method (None: its default). λ values do not transfer between methods.
    """
    if method not in SMOOTH_METHODS:
        raise InputError(f"unknown smoothing method {method!r}; choose one of {', '.join(SMOOTH_METHODS)}")
    if method in ("region-fusion", "l0-smooth"):
        return _classical_smooth(image, method, lam, options)
    if lam is not None:
        options["lam"] = lam
    if method == "dip-tv":
        options.setdefault("regularizer", "tv")
        options.setdefault("lam", 0.05)
        return _blind_task("smooth-tv", image, options)
    return _blind_task("smooth-l0", image, options)


def _classical_smooth(image: Any, method: str, lam: float | None, options: dict[str, Any]) -> Restoration:
    import time

    from .regularizers.l0 import l0_smooth, region_fusion

    array = _to_float_image(image, "image")
    rgb, alpha = _split_alpha(array)
    allowed = {"passes", "kappa", "beta_max", "progress", "reference", "device", "seed"}
    unknown = set(k for k, v in options.items() if v is not None) - allowed
    if unknown:
        raise InputError(f"option(s) {', '.join(sorted(unknown))} do not apply to {method}")
    start = time.perf_counter()
    if method == "region-fusion":
        lam = 0.03 if lam is None else lam
        result = region_fusion(rgb, lam, K=int(options.get("passes") or 50))
        params: dict[str, Any] = {"lam": lam, "K": int(options.get("passes") or 50)}
    else:
        lam = 0.02 if lam is None else lam
        kappa, beta_max = options.get("kappa") or 2.0, options.get("beta_max") or 1e5
        result = l0_smooth(rgb, lam=lam, kappa=kappa, beta_max=beta_max)
        params = {"lam": lam, "kappa": kappa, "beta_max": beta_max}
    seconds = time.perf_counter() - start
    record = {"task": "smooth", "method": method, **params, "seconds": seconds, "iterations_run": 0,
              "device": "cpu", "output": method, "selected_step": None, "versions": _versions()}
    return Restoration(image=np.clip(result, 0, 1).astype(np.float32), history=History(), settings=record,
                       alpha=alpha)


def super_resolve(image: Any, scale: int = 4, **options: Any) -> Restoration:
    """Super-resolution by ``scale`` (an integer >= 2): fits D(g_θ(z)) to the low-resolution image, where D is
    the Lanczos-2 downsampler; returns the (scale·H, scale·W) image. Presets: 2000 steps and σ_reg = 0.03 up to
    ×4, 4000 steps and σ_reg = 0.05 from ×8 (interpolated in between).
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer, float)) or scale != int(scale) or scale < 2:
        raise InputError(f"the scale must be an integer >= 2, got {scale!r}")
    scale = int(scale)
    array = _to_float_image(image, "image")
    rgb, alpha = _split_alpha(array)
    preset = PRESETS["super-resolve"]
    if scale > 4:
        t = min(1.0, (scale - 4) / 4)
        preset = replace(preset, settings=replace(preset.settings, iterations=round(2000 + 2000 * t),
                                                  reg_noise_std=0.03 + 0.02 * t))
    operator = LanczosDownsampler(scale)
    size = operator.image_shape(*rgb.shape[:2])
    result, record = run_preset(preset, _as_hwc(rgb), operator, image_size=size, out_channels=_channels(rgb),
                                options=options, extra_settings={"scale": scale})
    if alpha is not None:  # alpha is not restored, only resized so the output keeps it
        from skimage.transform import resize

        alpha = resize(alpha, size, order=3, anti_aliasing=False).astype(np.float32).clip(0, 1)
    like = rgb if rgb.ndim == 2 else np.empty(size + (rgb.shape[2],), np.float32)
    return _finish(result, record, like, alpha)


def inpaint(image: Any, mask: Any, kind: str = "text", **options: Any) -> Restoration:
    """Inpainting: fits the known pixels only (masked MSE, mean over all pixels) and returns the full image.

    Parameters
    ----------
    image
        Image with missing pixels (their values are ignored).
    mask
        (H, W) array, True / non-zero where the pixel is KNOWN (the DIP convention: 255 = known, 0 = missing).
    kind
        Preset: ``"text"`` (skip128, 128 skip channels, nearest upsampling, 6001 steps), ``"hole"`` (meshgrid
        input, no skips, 5001 steps), ``"region"`` (the library net, 3001 steps) or ``"pixels"`` (scattered
        missing pixels, LR 0.001, 11000 steps).
    """
    if kind not in INPAINT_KINDS:
        raise InputError(f"unknown inpainting kind {kind!r}; choose one of {', '.join(INPAINT_KINDS)}")
    array = _to_float_image(image, "image")
    rgb, alpha = _split_alpha(array)
    known = np.asarray(mask)
    if known.ndim == 3:
        known = known.all(axis=2) if known.dtype == bool else (known > 0).all(axis=2)
    if known.shape != rgb.shape[:2]:
        raise InputError(f"the mask is {known.shape[1]}×{known.shape[0]} but the image is "
                         f"{rgb.shape[1]}×{rgb.shape[0]} (width×height)")
    known = known.astype(bool) if known.dtype == bool else known > 0
    if not known.any():
        raise InputError("the mask marks no known pixel (non-zero = known)")
    operator = Mask(known)
    observed = _as_hwc(rgb) * known[..., None]
    result, record = run_preset(PRESETS[f"inpaint-{kind}"], observed, operator, image_size=rgb.shape[:2],
                                out_channels=_channels(rgb), options=options,
                                extra_settings={"known_fraction": float(known.mean())})
    return _finish(result, record, rgb, alpha)


def flash_noflash(flash: Any, noflash: Any, **options: Any) -> Restoration:
    """Flash/no-flash fusion: the flash image is the network input z, the no-flash image the target."""
    flash_array, _ = _split_alpha(_to_float_image(flash, "flash image"))
    noflash_array, alpha = _split_alpha(_to_float_image(noflash, "no-flash image"))
    if flash_array.shape != noflash_array.shape:
        raise InputError(f"the flash image is {flash_array.shape} but the no-flash image is {noflash_array.shape}")
    result, record = run_preset(PRESETS["flash-noflash"], _as_hwc(noflash_array), Identity(),
                                image_size=noflash_array.shape[:2], out_channels=_channels(noflash_array),
                                input_image=_as_hwc(flash_array), options=options)
    return _finish(result, record, noflash_array, alpha)


for _function in (denoise, deblock, super_resolve, inpaint, flash_noflash, smooth):
    _function.__doc__ = (_function.__doc__ or "") + COMMON_OPTIONS

TASKS: dict[str, Callable[..., Restoration]] = {
    "denoise": denoise,
    "deblock": deblock,
    "super-resolve": super_resolve,
    "inpaint": inpaint,
    "flash-noflash": flash_noflash,
    "smooth": smooth,
}

__all__ = ["PRESETS", "Preset", "Restoration", "TASKS", "denoise", "deblock", "super_resolve", "inpaint",
           "flash_noflash", "smooth", "make_input", "run_preset"]
