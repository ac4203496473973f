"""The preset table: every default of every method, one row per (task, method), from the papers.

A row names the generator and its options, the input z, the forward model, the loop settings, the regulariser or
classical solver and their weights. The public functions, the command line, the benchmarks and the README read
these rows; no default is written anywhere else. Importing this module does not import torch.

References
----------
.. [DIP] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep Image Prior", CVPR 2018 (and the authors' notebooks).
.. [L0] Tran, Bui & Xin, "DIP with an ℓ0 gradient regulariser" (2026), and their released code.
.. [RF] R. Nguyen, M. Brown, "Fast and effective L0 gradient minimization by region fusion", ICCV 2015.
.. [XU] L. Xu, C. Lu, Y. Xu, J. Jia, "Image smoothing via L0 gradient minimization", SIGGRAPH Asia 2011.
.. [TV] J. Liu, Y. Sun, X. Xu, U. Kamilov, "Image restoration using TV regularized deep image prior", ICASSP 2019.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

from .errors import InputError
from .registry import Registry
from .settings import FitSettings

SKIP128: Mapping[str, Any] = MappingProxyType(
    {"channels_down": [128] * 5, "channels_up": [128] * 5, "channels_skip": [4] * 5}
)


@dataclass(frozen=True)
class Preset:
    """One row of the table.

    Attributes
    ----------
    task, method, profile
        The key: e.g. ``("smooth", "dip-l0", "paper")``. For inpainting the method is the kind of damage. The
        profile is one of :data:`PROFILES`: ``"paper"`` (the paper's settings, the default), ``"fast"`` (close to
        it in a fraction of the time) or ``"best"`` (more time for more quality).
    summary
        One line for ``--help``, the README and the benchmarks.
    kind
        ``"dip"`` (a network is fitted) or ``"classical"`` (a solver runs; only ``solver*`` apply).
    generator, generator_options
        Network by name (:data:`deepprior.registry.GENERATORS`) and its options.
    input, input_channels
        z: ``"noise"``, ``"normal"``, ``"meshgrid"`` or ``"image"`` (the task's guide image), with its channels.
    settings
        The loop settings (:class:`deepprior.settings.FitSettings`).
    default_stop
        The stopping rule used when the user gives no iteration count (the tasks whose quality peaks and falls
        stop early by default).
    regularizer, regularizer_options
        Name (:data:`deepprior.registry.REGULARIZERS`) and options (λ, β, ...) of the explicit regulariser.
    solver, solver_options
        Classical ℓ0 solver (``"region-fusion"``, ``"l0-smooth"``) and its parameters.
    scale_schedule
        Super-resolution: (scale, iterations, σ_reg) rows; other scales interpolate linearly between them.
    seeds
        Independent fits (seeds s, s + 1, ...) whose outputs are averaged.
    refine
        A refiner (:data:`deepprior.registry.REFINERS`) run once after the fit (after the seeds' average), with
        the fit as its pilot; None for none.
    tile, tile_overlap
        How an image too large to fit at once is restored (:mod:`deepprior.tiling`): ``"auto"`` tiles it only
        when its whole fit would not fit in the free memory; a side tiles any image larger; None never tiles.
        The tiles overlap by ``tile_overlap`` pixels, blended across (what tiling costs against the whole
        image: benchmarks/results/tiling_cpu*.md).
    stretch_below
        A DIP fit whose observation spans less than this fraction of [0, 1] (a 12-bit camera's counts in a 16-bit
        file, a dim exposure) runs on it stretched onto [0, 1], the scale these settings were tuned for, and its
        result is mapped back (:mod:`deepprior.stretch`); 0 never stretches. The suites' images all span more.
    reference
        Where the numbers come from.
    """

    task: str
    method: str
    summary: str
    kind: Literal["dip", "classical"] = "dip"
    generator: str = "skip"
    generator_options: Mapping[str, Any] = field(default_factory=lambda: SKIP128)
    input: str = "noise"
    input_channels: int = 32
    settings: FitSettings = field(default_factory=FitSettings)
    default_stop: str = "fixed"
    regularizer: str | None = None
    regularizer_options: Mapping[str, Any] = field(default_factory=dict)
    solver: str | None = None
    solver_options: Mapping[str, Any] = field(default_factory=dict)
    scale_schedule: tuple[tuple[int, int, float], ...] = ()
    seeds: int = 1
    refine: str | None = None
    tile: int | Literal["auto"] | None = "auto"
    tile_overlap: int = 64
    stretch_below: float = 0.5
    reference: str = "DIP"
    profile: str = "paper"

    @property
    def key(self) -> str:
        """The row's key in :data:`PRESETS` (:func:`preset_key`)."""
        return preset_key(self.task, self.method, self.profile)

    def for_scale(self, scale: int) -> Preset:
        """The row with its super-resolution schedule applied at ``scale`` (linear between the listed scales,
        the nearest listed value outside them)."""
        if not self.scale_schedule:
            return self
        rows = sorted(self.scale_schedule)
        if scale <= rows[0][0]:
            _, iterations, sigma = rows[0]
        elif scale >= rows[-1][0]:
            _, iterations, sigma = rows[-1]
        else:
            (s0, i0, r0), (s1, i1, r1) = next((a, b) for a, b in zip(rows, rows[1:]) if a[0] <= scale <= b[0])
            t = (scale - s0) / (s1 - s0)
            iterations, sigma = round(i0 + (i1 - i0) * t), r0 + (r1 - r0) * t
        return replace(self, settings=replace(self.settings, iterations=iterations, reg_noise_std=sigma))


#: Rows keyed by ``"task/method"`` (paper profile) and ``"task/method@profile"``; the first row of a task is its
#: default method.
PRESETS: Registry = Registry("preset")

#: The profiles a row may have: the paper's settings (the default), a fast and a best variant.
PROFILES = ("paper", "fast", "best")


def preset_key(task: str, method: str, profile: str = "paper") -> str:
    """A row's key in :data:`PRESETS`: ``"task/method"`` for the paper profile, ``"task/method@profile"`` else."""
    return f"{task}/{method}" if profile == "paper" else f"{task}/{method}@{profile}"


def _add(preset: Preset) -> None:
    PRESETS.register(preset.key)(preset)


#: The fast profile's network: every layer capped at this many channels (a skip net of 32 channels steps about
#: five times faster than skip128 on the CPU; benchmarks/results/speed_cpu.md).
FAST_WIDTH = 32


def _narrow(options: Mapping[str, Any], width: int = FAST_WIDTH) -> dict[str, Any]:
    """The generator options with every channel count capped at ``width``."""
    return {
        k: [min(c, width) for c in v] if k.startswith("channels") and isinstance(v, list) else v
        for k, v in options.items()
    }


def _add_profiles(paper: Preset, fast: Mapping[str, Any] | None = None, best: Mapping[str, Any] | None = None) -> None:
    """Add a DIP row's fast and best profiles. By default the fast row is the paper row with its network capped
    at :data:`FAST_WIDTH` channels, and the best row the paper row averaged over 3 seeds; ``fast`` and ``best``
    replace fields of those (the tuned rows)."""
    narrow = replace(paper, profile="fast", generator_options=_narrow(paper.generator_options))
    _add(replace(narrow, **(fast or {})))
    _add(replace(paper, **{"profile": "best", "seeds": 3, **(best or {})}))


def _add_tv_variants(base: Preset, lam: float) -> None:
    """Add a task's DIP row and its DIP-TV and two-stage DIP-TV rows (the same network and loop plus λ·TV)."""
    _add(base)
    _add(
        replace(
            base,
            method="dip-tv",
            summary=f"DIP + λ·TV for the whole fit, λ = {lam} [TV]",
            regularizer="tv",
            regularizer_options={"lam": lam},
            reference="TV",
        )
    )
    _add(
        replace(
            base,
            method="two-stage-tv",
            summary=f"DIP + λ·TV (λ = {lam}) for the first third, then plain DIP",
            regularizer="two-stage-tv",
            regularizer_options={"lam": lam, "fraction": 1 / 3},
            reference="seed 002",
        )
    )


def _add_dip_l0(task: str, beta: float, summary: str) -> None:
    """DIP-ℓ0 [L0]: z never perturbed, LR 1e-3, sum-reduced data term, T = 100 outer × 25 Adam steps."""
    _add(
        Preset(
            task,
            "dip-l0",
            summary,
            settings=FitSettings(iterations=2500, lr=1e-3, data_term="sse"),
            regularizer="l0",
            reference="L0",
            regularizer_options={
                "lam": 0.025,
                "beta": beta,
                "inner_steps": 25,
                "solver": "region-fusion",
                "solver_options": {"passes": 50},
                "average": 0.9,
            },
        )
    )


# fmt: off
_add_tv_variants(Preset(
    "denoise", "dip", "blind Gaussian denoising: skip128, σ_reg = 1/30, averaging, backtracking",
    settings=FitSettings(iterations=3000, lr=0.01, reg_noise_std=1 / 30, average=0.99, backtrack=True),
    default_stop="es-wmv"), lam=0.01)
_add_tv_variants(Preset(
    "deblock", "dip", "JPEG artifact removal: the DIP paper's narrow skip 3→3 net",
    generator_options={"channels_down": [8, 16, 32, 64, 128], "channels_up": [8, 16, 32, 64, 128],
                       "channels_skip": [0, 0, 0, 4, 4]},
    input_channels=3, settings=FitSettings(iterations=2400, lr=0.01, reg_noise_std=1 / 30, average=0.99),
    default_stop="es-wmv"), lam=0.01)
_add_dip_l0("deblock", 2.0, "DIP-ℓ0 (λ = 0.025, β = 2.0): flat colours, for clip art")
_add(Preset(
    "super-resolve", "dip", "super-resolution through the Lanczos-2 downsampler: skip128",
    settings=FitSettings(iterations=2000, lr=0.01, reg_noise_std=0.03),
    scale_schedule=((4, 2000, 0.03), (8, 4000, 0.05))))
_add_tv_variants(Preset(
    "deblur", "dip", "deconvolution with a known PSF: the denoising row's skip128 and loop (no paper's settings)",
    settings=FitSettings(iterations=3000, lr=0.01, reg_noise_std=1 / 30, average=0.99, backtrack=True),
    default_stop="es-wmv", reference="DIP (denoising settings)"), lam=0.01)
_add(Preset(
    "inpaint", "text", "thin text or scribbles: skip128 with 128 skip channels, nearest upsampling",
    generator_options={**SKIP128, "channels_skip": [128] * 5, "upsample_mode": "nearest"},
    settings=FitSettings(iterations=6001, lr=0.01, reg_noise_std=0.03)))
_add(Preset(
    "inpaint", "hole", "a large hole: meshgrid input, no skip connections",
    generator_options={**SKIP128, "channels_skip": [0] * 5, "upsample_mode": "nearest"},
    input="meshgrid", input_channels=2, settings=FitSettings(iterations=5001, lr=0.01, reg_noise_std=0.03)))
_add(Preset(
    "inpaint", "region", "a removed region: the paper's 6-scale library net, 5×5 convolutions",
    generator_options={"channels_down": [16, 32, 64, 128, 128, 128], "channels_up": [16, 32, 64, 128, 128, 128],
                       "channels_skip": [0] * 6, "kernel_down": 5, "upsample_mode": "nearest",
                       "need_1x1_up": False},
    input_channels=1, settings=FitSettings(iterations=3001, lr=0.01, reg_noise_std=0.0)))
_add(Preset(
    "inpaint", "pixels", "scattered missing pixels: skip128, LR 0.001, 11000 steps",
    settings=FitSettings(iterations=11000, lr=0.001, reg_noise_std=0.03)))
_add(Preset(
    "flash-noflash", "dip", "flash/no-flash: the flash image is z, the no-flash image the target",
    input="image", input_channels=3, settings=FitSettings(iterations=601, lr=0.1, reg_noise_std=0.0)))
_add_dip_l0("smooth", 2.25, "DIP-ℓ0 (λ = 0.025, β = 2.25): the paper's best smoothing")
_add_tv_variants(Preset(
    "smooth", "dip", "plain DIP with the smoothing schedule (no regulariser)",
    settings=FitSettings(iterations=2000, lr=0.01, reg_noise_std=0.0)), lam=0.05)
_add(Preset(
    "smooth", "region-fusion", "Region Fusion ℓ0 smoothing, λ = 0.03 (tuned on NKS), seconds",
    kind="classical", solver="region-fusion", solver_options={"lam": 0.03, "passes": 50}, reference="RF"))
_add(Preset(
    "smooth", "l0-smooth", "L0 gradient smoothing, λ = 0.01 (tuned on NKS), seconds",
    kind="classical", solver="l0-smooth", solver_options={"lam": 0.01, "kappa": 2.0, "beta_max": 1e5},
    reference="XU"))
# fmt: on

# Denoising, tuned on 128² crops of the paper's images (benchmarks/results/denoise-color25-crops.md): the narrow
# network stops by ES-WMV after 400 steps without progress and returns the running average at the stop, which
# trails the raw output by about 100 steps and so lands near the best average (benchmarks/results/
# early_stopping_quick.md). The stop waits until the residual is down to the estimated noise (discrepancy τ = 1):
# at full size on an H100, ES-WMV ended baboon and kodim01 at steps 849 and 699, 4-5 dB below the paper protocol
# (benchmarks/results/gpu/README.md). Then the noisy image is Wiener-filtered once in groups of similar patches with
# the fit as the pilot, BM3D's second stage: it gives back detail the fit blurs (deepprior.refiners.wiener). The
# best row averages that with BM3D run on y alone (deepprior.refiners.bm3d): the two err in different places. A seed
# ensemble adds nothing once the fit is refined (benchmarks/results/refine_crops.md), so best fits one seed too.
for _paper in [p for p in PRESETS.values() if p.task == "denoise"]:
    _settings = replace(_paper.settings, stop_options={"patience": 400}, discrepancy=1.0, output="average")
    _narrow_row = {"settings": _settings, "generator_options": _narrow(_paper.generator_options)}
    _add_profiles(
        _paper, fast={**_narrow_row, "refine": "wiener"}, best={**_narrow_row, "refine": "wiener-bm3d", "seeds": 1}
    )

# DIP-ℓ0: the narrow network learns more slowly at the paper's LR (1e-3); at 2e-3 its average after the paper's
# 100 outer iterations matches the paper row on NKS crops (benchmarks/results/l0_output_smooth-nks_paired-lr0p002.md).
for _row in [p for p in PRESETS.values() if p.method == "dip-l0"]:
    _add_profiles(_row, fast={"settings": replace(_row.settings, lr=2e-3)})

# Every DIP row not tuned above: the network capped at FAST_WIDTH channels, the paper row averaged over 3 seeds.
for _row in [
    p
    for p in PRESETS.values()
    if p.kind == "dip" and p.profile == "paper" and preset_key(p.task, p.method, "fast") not in PRESETS
]:
    _add_profiles(_row)


def tasks() -> list[str]:
    """Every task of the table, in order."""
    return list(dict.fromkeys(key.split("/")[0] for key in PRESETS.names()))


def methods(task: str, kind: str | None = None) -> list[str]:
    """The methods of ``task`` (of one ``kind`` if given); the first is the default."""
    return [
        p.method
        for p in PRESETS.values()
        if p.task == task and p.profile == "paper" and (kind is None or p.kind == kind)
    ]


def profiles(task: str, method: str) -> list[str]:
    """The profiles the row ``(task, method)`` has, in the order of :data:`PROFILES`."""
    return [name for name in PROFILES if preset_key(task, method, name) in PRESETS]


def get_preset(task: str, method: str | None = None, profile: str = "paper") -> Preset:
    """The row for ``(task, method, profile)`` (method None: the task's default method).

    A classical solver has only its paper row, which every profile returns (it takes seconds).

    Raises
    ------
    InputError
        No such task, no such method for it (the message lists the methods), or no such profile.
    """
    choices = methods(task)
    if not choices:
        raise InputError(f"unknown task {task!r}; choose one of {', '.join(tasks())}")
    method = choices[0] if method is None else method
    if method not in choices:
        what = "inpainting kind" if task == "inpaint" else f"{task} method"
        raise InputError(f"unknown {what} {method!r}; choose one of {', '.join(choices)}")
    if profile not in PROFILES:
        raise InputError(f"unknown preset {profile!r}; choose one of {', '.join(PROFILES)}")
    paper = PRESETS.get(preset_key(task, method))
    if profile == "paper" or paper.kind == "classical":
        return paper
    if profile not in profiles(task, method):
        raise InputError(f"{task} {method} has no {profile} preset; choose one of {', '.join(profiles(task, method))}")
    return PRESETS.get(preset_key(task, method, profile))


def regularizer_defaults(task: str, regularizer: str) -> dict[str, Any]:
    """Options of ``regularizer`` (λ and the like) from the task's row that uses it, else from the first row of
    any task that does, else {}."""
    rows = [p for p in PRESETS.values() if p.regularizer == regularizer]
    rows.sort(key=lambda p: p.task != task)
    return dict(rows[0].regularizer_options) if rows else {}


__all__ = [
    "PRESETS",
    "PROFILES",
    "Preset",
    "SKIP128",
    "get_preset",
    "methods",
    "preset_key",
    "profiles",
    "regularizer_defaults",
    "tasks",
]
