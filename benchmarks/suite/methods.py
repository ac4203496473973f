"""The method registry of the benchmarks: DIP variants, the peers a user would pick instead (deepinv's DIP, ZS-N2N
in :mod:`benchmarks.suite.zs_n2n`, OpenCV's smoothers in :mod:`benchmarks.suite.opencv_filters`) and classical
baselines. A new method is one entry (and, if it is more than a call, one module beside this one).

Each method takes a :class:`~benchmarks.suite.suites.Sample`, the suite's task name and :class:`RunOptions`, and
returns a :class:`MethodOutput`. Heavy imports (torch, scikit-image, bm3d, cv2) happen inside the functions.

The suite runners reach deepprior only through this module: :func:`_row` maps a benchmark method on a suite task to
a row of the preset table, the DIP runners call the registered task functions with a sample's inputs
(:func:`task_arguments`), and :func:`_compact_settings` keeps the parts of the run record worth storing per entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.suite import opencv_filters, zs_n2n
from benchmarks.suite.suites import Sample, bicubic_upscale
from deepprior.errors import InputError
from deepprior.presets import PROFILES
from deepprior.registry import Registry

# Tasks (Suite.task) every DIP variant handles.
DIP_TASKS = frozenset(
    {"denoise", "deblock", "super-resolve", "deblur", "inpaint-pixels", "inpaint-text", "smooth", "flash-noflash"}
)


@dataclass
class RunOptions:
    """What a benchmark entry passes to a method: seed, device and the profile's compute knobs."""

    seed: int = 0
    device: str = "auto"
    iterations: int | None = None  # None: the task preset's (the paper's)
    channels: int | None = None  # None: the preset's network width
    cuda_graph: bool = False  # deepprior's fits record their step as a CUDA graph (ignored off CUDA)


@dataclass
class MethodOutput:
    image: np.ndarray
    iterations: int
    settings: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    device_name: str = "cpu"


@dataclass(frozen=True)
class Method:
    """A benchmark method.

    ``kind`` is ``"network"`` (a network fitted to the image: seeded, iterative, on the run's device) or
    ``"classical"`` (deterministic: run once, for seed 0); ``requires`` names what must be importable: a module,
    or ``"l0"`` for deepprior's ℓ0 solvers; ``steps`` is a peer's fixed step count (deepprior's rows take theirs
    from the preset table).
    """

    name: str
    label: str
    kind: str
    tasks: frozenset[str]
    run: Callable[[Sample, str, RunOptions], MethodOutput]
    requires: str | None = None
    description: str = ""
    steps: int | None = None

    @property
    def deterministic(self) -> bool:
        return self.kind == "classical"

    def unavailable(self) -> str | None:
        """Why the method cannot run here, or None."""
        if self.requires is None:
            return None
        if self.requires == "l0":
            try:
                module = importlib.import_module("deepprior.regularizers.l0")
            except ImportError as exc:
                return f"deepprior's l0 solvers are not importable ({exc})"
            missing = [n for n in ("region_fusion", "l0_smooth") if not hasattr(module, n)]
            return f"deepprior.regularizers.l0 lacks {', '.join(missing)}" if missing else None
        if importlib.util.find_spec(self.requires) is None:
            return f"the optional package '{self.requires}' is not installed"
        return None


# --------------------------------------------------------------------------- DIP


def _profile(method: str) -> tuple[str, str]:
    """``"dip@fast"`` → ``("dip", "fast")``: a benchmark method's row and its profile (paper without ``@``)."""
    base, _, profile = method.partition("@")
    return base, profile or "paper"


def _row(method: str, task: str) -> tuple[str, str | None, str | None]:
    """(deepprior task, preset method, regulariser override) of a DIP benchmark method on a suite task."""
    method, _ = _profile(method)
    if task.startswith("inpaint-"):
        public, row = "inpaint", task.split("-", 1)[1]
    else:
        public, row = task, None
    if method == "dip-l0":  # the smoothing row (β = 2.25) except on JPEG, which has its own (β = 2.0)
        return ("deblock" if public == "deblock" else "smooth"), "dip-l0", None
    regularizer = {"dip": None, "dip-tv": "tv", "two-stage-tv": "two-stage-tv"}[method]
    if public in ("denoise", "deblock", "deblur", "smooth"):  # these tasks have a row per variant
        return public, method, None
    return public, row, regularizer


def planned_iterations(method: str, task: str, options: RunOptions, scale: int | None = None) -> int:
    """DIP steps an entry will run (for the ETA); classical methods count as 2."""
    entry = METHODS.get(method)
    if entry.kind != "network":
        return 2
    if options.iterations is not None:
        return options.iterations
    if entry.steps is not None:
        return entry.steps
    from deepprior.presets import get_preset

    public, row, _ = _row(method, task)
    preset = get_preset(public, row, _profile(method)[1])
    return preset.for_scale(scale or 4).settings.iterations * preset.seeds


#: Loop settings and row fields that leave the suites' entries as they are at their defaults (how a step runs; a
#: wall-clock limit; the tiling of an image too large for the memory, and the stretch of an observation spanning
#: less than half of [0, 1], which the suites' images never are: a test checks the stretch): at their defaults
#: they stay out of :func:`row_fingerprint`, so that adding one to ``FitSettings`` or ``Preset`` leaves every
#: stored entry valid.
NEUTRAL_SETTINGS = ("cuda_graph", "time_limit")
NEUTRAL_ROW_FIELDS = ("tile", "tile_overlap", "stretch_below")


def _without_neutral_defaults(text: str, preset: Any) -> str:
    for owner, names in ((preset.settings, NEUTRAL_SETTINGS), (preset, NEUTRAL_ROW_FIELDS)):
        for name in names:
            default = next(f.default for f in dataclasses.fields(owner) if f.name == name)
            if getattr(owner, name) == default:
                text = text.replace(f", {name}={default!r}", "")
    return text


def row_fingerprint(method: str, task: str) -> str | None:
    """A short hash of the preset row that a deepprior DIP method runs on ``task`` (None for other methods), and of
    the refiners' revision if the row names one (:data:`deepprior.refiners.REVISION`: a refiner is a few hundred
    lines that change apart from the table, and an edit that leaves its output as it was must not count), and of
    the blind noise estimate's (:data:`deepprior.metrics.NOISE_SIGMA_REVISION`) if a refiner or the discrepancy stop
    reads it: stored with each entry, so a resumed suite recomputes the entries that an edited row made stale."""
    if METHODS.get(method).kind != "network" or _profile(method)[0] not in ("dip", "dip-tv", "two-stage-tv", "dip-l0"):
        return None
    from deepprior.presets import get_preset

    public, row, regularizer = _row(method, task)
    preset = get_preset(public, row, _profile(method)[1])
    digest = hashlib.sha1(_without_neutral_defaults(repr((preset, regularizer)), preset).encode())
    if preset.refine is not None:
        from deepprior.refiners import REVISION

        digest.update(f"refiners revision {REVISION}".encode())
    from deepprior.metrics import NOISE_SIGMA_REVISION

    # revision 1, the estimate before it was named, hashes as nothing: the entries stored then keep their hash
    if (preset.refine is not None or preset.settings.discrepancy is not None) and NOISE_SIGMA_REVISION > 1:
        digest.update(f"noise_sigma revision {NOISE_SIGMA_REVISION}".encode())
    return digest.hexdigest()[:12]


def _fit_options(options: RunOptions) -> dict[str, Any]:
    out: dict[str, Any] = {"seed": options.seed, "device": options.device, "progress": False}
    if options.iterations is not None:
        out["iterations"] = options.iterations
    else:
        out["stop"] = "fixed"  # the papers' fixed step counts, not the library's default early stop
    if options.channels is not None:
        out["width"] = options.channels
    if options.cuda_graph:
        out["cuda_graph"] = True
    return out


def _compact_settings(record: Any) -> dict[str, Any]:
    """The parts of a run record worth keeping per entry."""
    keep: dict[str, Any] = {"task": record.task, "method": record.method, "output": record.output_source}
    if record.generator:
        keep["generator"] = dict(record.generator)
    keep["fit"] = {
        k: record.settings[k]
        for k in (
            "iterations",
            "lr",
            "reg_noise_std",
            "average",
            "backtrack",
            "data_term",
            "stop",
            "lam",
            "passes",
            "kappa",
            "beta_max",
        )
        if k in record.settings
    }
    if record.regularizer:
        keep["regularizer"] = {k: v for k, v in record.regularizer.items() if k != "residuals"}
    for key in ("selected_step", "stopped_at"):
        if getattr(record, key) is not None:
            keep[key] = getattr(record, key)
    if record.seeds:  # a seed ensemble: how far each fit ran, and how much they disagree
        keep["seeds"] = [{k: fit[k] for k in ("seed", "iterations_run", "output_source")} for fit in record.seeds]
        keep["seed_spread"] = record.seed_spread
    keep["fit_seconds"] = record.seconds  # the fit alone; the entry's wall_seconds covers reading to result
    if record.cuda_graph:  # the step ran as a recorded CUDA graph: the same fit, other seconds
        keep["cuda_graph"] = True
    if record.at_once > 1:  # stepped together with others (the runner's at_once): the seconds are the batch's
        keep["at_once"] = record.at_once
    if record.refinement:  # the step after the fit, the σ it estimated and its own time
        keep["refinement"] = {k: record.refinement[k] for k in ("name", "sigma", "seconds")}
    keep.update(record.extra)
    return keep


def from_restoration(restoration: Any) -> MethodOutput:
    """A deepprior :class:`~deepprior.restore.Restoration` as a method's output."""
    record = restoration.record
    image = np.asarray(restoration.image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    return MethodOutput(image, record.iterations_run, _compact_settings(record), record.device, record.device_name)


#: What a task's benchmark entries pass beside the sample: inpainting is scored as the paper scores it, on the
#: network's whole output.
TASK_ARGUMENTS: dict[str, dict[str, Any]] = {"inpaint": {"raw_output": True}}


def task_arguments(spec: Any, sample: Sample, row: str | None) -> dict[str, Any]:
    """A sample as the arguments of a registered task (:class:`deepprior.tasks.base.TaskSpec`): the observation as
    the image the task restores (its last), the sample's other inputs (a mask, a flash image) and its meta (a scale,
    a PSF) by the parameters they name, the row by the task's row option, and :data:`TASK_ARGUMENTS`."""
    import inspect

    named = {
        name
        for name, parameter in inspect.signature(spec.function).parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    }
    arguments = {spec.images[-1]: sample.observation}
    arguments.update({name: value for name, value in {**sample.inputs, **sample.meta}.items() if name in named})
    if row is not None and spec.row_option is not None:
        arguments[spec.row_option] = row
    return {**arguments, **TASK_ARGUMENTS.get(spec.name, {})}


@dataclass(frozen=True)
class _Dip:
    """A DIP benchmark method. Without ``profile``: the papers' fixed step counts. With one: the library exactly
    as a user calls it with ``preset=profile`` (its ground-truth-free stop where the row has one). Calling it runs
    an entry; :meth:`plan` sets the entry up without running it, for the runner to step several together."""

    method: str
    profile: str | None = None

    def plan(self, sample: Sample, task: str, options: RunOptions) -> Any:
        """The entry's :class:`deepprior.restore.Plan`: the registered task's ``.plan`` (:func:`task_arguments`)."""
        from deepprior.registry import TASKS

        kwargs = _fit_options(options)
        if self.profile is not None:
            kwargs["preset"] = self.profile
            if options.iterations is None:
                del kwargs["stop"]
        public, row, regularizer = _row(self.method, task)
        # the quick profile cuts the steps on purpose: the library's under-fitting warning is noise here
        warnings.filterwarnings("ignore", message=r"iterations=\d+ is far below", category=UserWarning)
        if regularizer is not None:
            kwargs["regularizer"] = regularizer
        if public not in TASKS:
            raise InputError(f"DIP does not handle the task {task!r}")
        spec = TASKS.get(public)
        return spec.function.plan(**task_arguments(spec, sample, row), **kwargs)

    def __call__(self, sample: Sample, task: str, options: RunOptions) -> MethodOutput:
        return from_restoration(self.plan(sample, task, options).run())


DEEPINV_STEPS = 2500  # deepinv's default


def _deepinv_dip(sample: Sample, task: str, options: RunOptions) -> MethodOutput:
    """deepinv's ``DeepImagePrior`` as its documentation runs it (fixed steps, no jitter, no averaging, the last
    output), driving the same skip128 generator as the paper row."""
    import torch

    from benchmarks.bench_speed import import_deepinv
    from deepprior.device import resolve_device
    from deepprior.loop import as_numpy_image, as_tensor_image
    from deepprior.nets import build_generator
    from deepprior.presets import get_preset

    dinv, info = import_deepinv()
    if dinv is None:
        raise InputError(f"deepinv cannot be imported: {info.get('reason')}")
    device = resolve_device(options.device)
    y = as_tensor_image(sample.observation).to(device)
    channels, height, width = y.shape[1:]
    row = get_preset("denoise")
    net = build_generator("skip", row.input_channels, channels, seed=options.seed, **row.generator_options)
    if height % net.size_multiple or width % net.size_multiple:
        raise InputError(f"deepinv does not pad: the image must be a multiple of {net.size_multiple} pixels")
    iterations = options.iterations or DEEPINV_STEPS
    model = dinv.models.DeepImagePrior(
        net.to(device), img_size=(row.input_channels, height, width), iterations=iterations, learning_rate=0.01
    )
    torch.manual_seed(options.seed)  # deepinv draws z from torch's global generator
    x = model(y, dinv.physics.Denoising())
    image = np.clip(as_numpy_image(x.detach()), 0, 1)
    settings = {"iterations": iterations, "lr": 0.01, "deepinv": info.get("version")}
    return MethodOutput(image, iterations, settings, str(device), str(device))


def _zs_n2n(sample: Sample, task: str, options: RunOptions) -> MethodOutput:
    """ZS-N2N at the authors' settings (``options.iterations`` and ``options.channels`` override steps, width)."""
    from deepprior.device import device_name, resolve_device

    iterations = options.iterations or zs_n2n.ITERATIONS
    width = options.channels or zs_n2n.WIDTH
    device = resolve_device(options.device)
    image = zs_n2n.zs_n2n_denoise(
        sample.observation, iterations=iterations, width=width, seed=options.seed, device=str(device)
    )
    settings = {
        "iterations": iterations,
        "width": width,
        "lr": zs_n2n.LEARNING_RATE,
        "implementation": "benchmarks.suite.zs_n2n",
    }
    return MethodOutput(image, iterations, settings, str(device), device_name(device))


# --------------------------------------------------------------------------- classical


def immerkaer_sigma(image: np.ndarray) -> float:
    """Noise σ by Immerkær's fast estimator (1996), averaged over channels: no PyWavelets needed."""
    from scipy.ndimage import convolve

    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    values = []
    for c in range(image.shape[2]):
        response = convolve(image[..., c].astype(np.float64), kernel, mode="reflect")[1:-1, 1:-1]
        values.append(np.sqrt(np.pi / 2) * np.abs(response).mean() / 6)
    return float(np.mean(values))


def _sigma(sample: Sample) -> tuple[float, str]:
    """The noise level: the suite's known σ, else Immerkær's estimate, whatever is installed.

    Not a median estimator (``deepprior.metrics.noise_sigma``, scikit-image's ``estimate_sigma``): on clip art
    most 2×2 blocks are flat, their median is 0, and NL-means with h = 0 returns its input. Immerkær's mean
    picks up the JPEG ringing at the edges (about 2/255 there)."""
    if sample.meta.get("sigma") is not None:
        return float(sample.meta["sigma"]), "known"
    return immerkaer_sigma(sample.observation), "Immerkær estimate"


def _classical(image: np.ndarray, **settings: Any) -> MethodOutput:
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if not np.isfinite(image).all():  # a failure to report, not an image to score (clipping would hide it)
        raise RuntimeError(f"the output of {settings.get('implementation', 'the method')} is not finite")
    return MethodOutput(np.clip(image, 0, 1), 0, settings, "cpu", "cpu")


def _input(sample: Sample, task: str, options: RunOptions) -> MethodOutput:
    return _classical(sample.observation.copy(), note="the degraded input itself")


TV_WEIGHTS = {"denoise": 0.1, "deblock": 0.05}


def _tv_chambolle(sample: Sample, task: str, options: RunOptions) -> MethodOutput:
    from skimage.restoration import denoise_tv_chambolle

    weight = TV_WEIGHTS.get(task, 0.1)
    return _classical(
        denoise_tv_chambolle(sample.observation, weight=weight, channel_axis=-1),
        weight=weight,
        implementation="skimage.restoration.denoise_tv_chambolle",
    )


def _nl_means(sample: Sample, task: str, options: RunOptions) -> MethodOutput:
    from skimage.restoration import denoise_nl_means

    sigma, how = _sigma(sample)
    out = denoise_nl_means(
        sample.observation, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True, channel_axis=-1
    )
    return _classical(
        out,
        sigma=sigma,
        sigma_source=how,
        h=0.8 * sigma,
        patch_size=5,
        patch_distance=6,
        implementation="skimage.restoration.denoise_nl_means (fast mode)",
    )


def _bm3d(sample: Sample, task: str, options: RunOptions) -> MethodOutput:
    bm3d = importlib.import_module("bm3d")  # optional, non-commercial licence: never a dependency
    sigma, how = _sigma(sample)
    observation = sample.observation
    # CBM3D normalises each opponent-colour channel by its range, which is 0 on a gray image stored as RGB (NaN
    # out): such an image is denoised as the one gray channel it is.
    gray = observation.shape[2] == 1 or bool(np.all(observation == observation[..., :1]))
    if gray:
        out = np.repeat(bm3d.bm3d(observation[..., 0], sigma_psd=sigma)[..., None], observation.shape[2], axis=2)
    else:
        out = bm3d.bm3d_rgb(observation, sigma_psd=sigma)
    return _classical(out, sigma=sigma, sigma_source=how, gray=gray, implementation="bm3d package")


def _bm3d_ours(sample: Sample, task: str, options: RunOptions) -> MethodOutput:
    from deepprior.metrics import noise_sigma
    from deepprior.refiners.bm3d import bm3d_denoise

    sigma = noise_sigma(sample.observation)  # blind, as the best row's refiner runs it
    out = bm3d_denoise(sample.observation, sigma)  # on the CPU, as the suite's other classical methods
    return _classical(out, sigma=sigma, sigma_source="noise_sigma", implementation="deepprior.refiners.bm3d")


def _bicubic(sample: Sample, task: str, options: RunOptions) -> MethodOutput:
    return _classical(bicubic_upscale(sample.observation, int(sample.meta["scale"])), implementation="PIL bicubic")


def _biharmonic(sample: Sample, task: str, options: RunOptions) -> MethodOutput:
    from skimage.restoration import inpaint_biharmonic

    missing = ~sample.inputs["mask"]
    out = inpaint_biharmonic(sample.observation, missing, channel_axis=-1)
    return _classical(out, implementation="skimage.restoration.inpaint_biharmonic")


RICHARDSON_LUCY_ITERATIONS = 30  # scikit-image's default


def _deconvolve(sample: Sample, solve: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Each channel of the observation deconvolved apart by ``solve(channel, psf)`` with the sample's PSF, on the
    channel mirrored by the PSF's side all round and cropped back: scikit-image's solvers take the image as zero
    outside (Richardson-Lucy) or periodic (Wiener), which rings at the borders of a photograph."""
    from deepprior.psf import psf_from_spec

    psf = psf_from_spec(sample.meta["psf"])[0]
    margin = max(psf.shape)
    observation = np.pad(sample.observation, ((margin, margin), (margin, margin), (0, 0)), mode="symmetric")
    out = np.stack([solve(observation[..., c], psf) for c in range(observation.shape[2])], axis=2)
    return out[margin:-margin, margin:-margin]


def _richardson_lucy(sample: Sample, task: str, options: RunOptions) -> MethodOutput:
    from skimage.restoration import richardson_lucy

    def solve(channel: np.ndarray, psf: np.ndarray) -> np.ndarray:
        return richardson_lucy(channel, psf, num_iter=RICHARDSON_LUCY_ITERATIONS)

    return _classical(
        _deconvolve(sample, solve),
        num_iter=RICHARDSON_LUCY_ITERATIONS,
        implementation="skimage.restoration.richardson_lucy",
    )


def _wiener(sample: Sample, task: str, options: RunOptions) -> MethodOutput:
    from skimage.restoration import unsupervised_wiener

    def solve(channel: np.ndarray, psf: np.ndarray) -> np.ndarray:
        return unsupervised_wiener(channel, psf, rng=0)[0]

    return _classical(_deconvolve(sample, solve), implementation="skimage.restoration.unsupervised_wiener")


def _l0_solver(name: str) -> Callable[[Sample, str, RunOptions], MethodOutput]:
    def run(sample: Sample, task: str, options: RunOptions) -> MethodOutput:
        from deepprior.tasks import smooth

        restoration = smooth(sample.observation, method=name)  # λ: the preset table's (tuned on NKS)
        return _classical(restoration.image, **_compact_settings(restoration.record))

    return run


def _opencv(name: str) -> Callable[[Sample, str, RunOptions], MethodOutput]:
    def run(sample: Sample, task: str, options: RunOptions) -> MethodOutput:
        import cv2

        smoother, setting = opencv_filters.TUNED[name]
        return _classical(smoother(sample.observation, **setting), **setting, opencv=cv2.__version__)

    return run


# --------------------------------------------------------------------------- registry


METHODS: Registry[Method] = Registry("benchmark method")


def register(method: Method) -> Method:
    """Add a method to :data:`METHODS` under its name (the suites list which methods apply to them)."""
    return METHODS.register(method.name)(method)


register(
    Method(
        "dip",
        "DIP",
        "network",
        DIP_TASKS,
        _Dip("dip"),
        description="Deep Image Prior with the task preset (the paper's network and settings)",
    )
)
register(
    Method(
        "dip-tv",
        "DIP-TV",
        "network",
        DIP_TASKS,
        _Dip("dip-tv"),
        description="DIP + λ·TV for the whole fit (λ: the task's dip-tv preset row)",
    )
)
register(
    Method(
        "two-stage-tv",
        "two-stage DIP-TV",
        "network",
        DIP_TASKS,
        _Dip("two-stage-tv"),
        description="DIP + λ·TV for the first third of the steps, then plain DIP",
    )
)
register(
    Method(
        "dip-l0",
        "DIP-ℓ0",
        "network",
        frozenset({"smooth", "deblock", "denoise"}),
        _Dip("dip-l0"),
        requires="l0",
        description="DIP-ℓ0 by ADMM + Region Fusion (λ = 0.025; β = 2.25 smoothing, 2.0 JPEG)",
    )
)
for _name in PROFILES:
    register(
        Method(
            f"dip@{_name}",
            f"DIP ({_name} preset)",
            "network",
            DIP_TASKS,
            _Dip("dip", _name),
            description=f"the task's DIP row, preset={_name!r}, as a user runs it (its own stop)",
        )
    )
    register(
        Method(
            f"dip-l0@{_name}",
            f"DIP-ℓ0 ({_name} preset)",
            "network",
            frozenset({"smooth", "deblock", "denoise"}),
            _Dip("dip-l0", _name),
            requires="l0",
            description=f"DIP-ℓ0, preset={_name!r}, as a user runs it",
        )
    )
register(
    Method(
        "deepinv-dip",
        "DIP (deepinv)",
        "network",
        frozenset({"denoise"}),
        _deepinv_dip,
        requires="deepinv",
        description="deepinv 0.5's DeepImagePrior with the skip128 generator: 2500 fixed steps, last output",
        steps=DEEPINV_STEPS,
    )
)
register(
    Method(
        "zs-n2n",
        "ZS-N2N",
        "network",
        frozenset({"denoise"}),
        _zs_n2n,
        description="Zero-Shot Noise2Noise (Mansour & Heckel 2023): two-layer network, 3000 fixed steps, blind",
        steps=zs_n2n.ITERATIONS,
    )
)
register(
    Method(
        "input",
        "input",
        "classical",
        frozenset({"denoise", "deblock", "deblur", "smooth"}),
        _input,
        description="the degraded input itself, scored as is",
    )
)
register(
    Method(
        "richardson-lucy",
        "Richardson-Lucy (skimage)",
        "classical",
        frozenset({"deblur"}),
        _richardson_lucy,
        description=f"scikit-image Richardson-Lucy deconvolution, {RICHARDSON_LUCY_ITERATIONS} iterations, true PSF",
    )
)
register(
    Method(
        "wiener",
        "Wiener (skimage)",
        "classical",
        frozenset({"deblur"}),
        _wiener,
        description="scikit-image's self-tuning Wiener deconvolution (unsupervised_wiener), true PSF",
    )
)
register(
    Method(
        "tv-chambolle",
        "TV (skimage)",
        "classical",
        frozenset({"denoise", "deblock"}),
        _tv_chambolle,
        description="scikit-image TV denoising (Chambolle), weight 0.1 (denoising) / 0.05 (JPEG)",
    )
)
register(
    Method(
        "nl-means",
        "NL-means (skimage)",
        "classical",
        frozenset({"denoise", "deblock"}),
        _nl_means,
        description="scikit-image NL-means, h = 0.8σ, σ known or estimated",
    )
)
register(
    Method(
        "bm3d",
        "BM3D",
        "classical",
        frozenset({"denoise", "deblock"}),
        _bm3d,
        requires="bm3d",
        description="BM3D/CBM3D from the optional `bm3d` package (non-commercial licence)",
    )
)
register(
    Method(
        "bm3d-ours",
        "BM3D (ours, blind)",
        "classical",
        frozenset({"denoise"}),
        _bm3d_ours,
        description="BM3D as written here (`deepprior.refiners.bm3d.bm3d_denoise`, the best row's second half) "
        "with σ estimated from y (`noise_sigma`)",
    )
)
register(
    Method(
        "bicubic",
        "bicubic",
        "classical",
        frozenset({"super-resolve"}),
        _bicubic,
        description="PIL bicubic upscaling of the LR input",
    )
)
register(
    Method(
        "biharmonic",
        "biharmonic",
        "classical",
        frozenset({"inpaint-pixels", "inpaint-text"}),
        _biharmonic,
        description="scikit-image biharmonic inpainting",
    )
)
register(
    Method(
        "region-fusion",
        "Region Fusion",
        "classical",
        frozenset({"smooth", "deblock"}),
        _l0_solver("region-fusion"),
        requires="l0",
        description="Region Fusion ℓ0 smoothing (Nguyen & Brown), λ from the preset table (0.03)",
    )
)
register(
    Method(
        "l0-smooth",
        "L0 smoothing",
        "classical",
        frozenset({"smooth"}),
        _l0_solver("l0-smooth"),
        requires="l0",
        description="L0 gradient smoothing (Xu et al.), λ from the preset table (0.01, tuned)",
    )
)

for _name, _label, _what in (
    ("cv-l0-smooth", "L0 smoothing (OpenCV)", "OpenCV contrib's l0Smooth (Xu et al.)"),
    ("cv-fgs", "fast global smoother (OpenCV)", "OpenCV contrib's fastGlobalSmootherFilter (Min et al.), self-guided"),
    ("cv-guided", "guided filter (OpenCV)", "OpenCV contrib's guidedFilter (He et al.), self-guided"),
):
    register(
        Method(
            _name,
            _label,
            "classical",
            frozenset({"smooth"}),
            _opencv(_name),
            requires="cv2",
            description=f"{_what}, parameters tuned on NKS validation (benchmarks/suite/opencv_filters.py)",
        )
    )


__all__ = ["METHODS", "Method", "MethodOutput", "RunOptions", "planned_iterations", "register", "row_fingerprint"]
