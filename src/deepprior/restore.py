"""From a preset row and the user's overrides to a fitted result: the reconstructor behind every task.

Data flows one way: image → preset → :class:`Plan` (checked, not run) → :func:`deepprior.loop.fit` (or a
classical solver; :func:`run_together` steps several plans' fits at once) → :class:`Restoration` (image + history +
:class:`deepprior.record.RunRecord`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch

from .callbacks import Callback, Checkpointing, History, Progress, StepClock, duration, load_checkpoint
from .device import device_name, resolve_device
from .errors import InputError
from .image import Image, ImageLike, as_image
from .inputs import make_input
from .loop import FitResult, as_numpy_image, as_tensor_image, fit, pad_to, padded_size
from .memory import check_fit_memory
from .nets import build_generator
from .operators import Operator
from .operators.identity import Identity
from .presets import PRESETS, Preset, preset_key, regularizer_defaults
from .record import RunRecord
from .registry import DATA_TERMS, GENERATORS, REFINERS, REGULARIZERS, SOLVERS
from .regularizers import BuildContext, Regularizer, build_regularizer
from .settings import FitSettings


class Overrides(TypedDict, total=False):
    """Keyword overrides every task function takes (``**overrides``); each replaces the preset row's value.

    Loop settings (see :class:`deepprior.settings.FitSettings`): ``iterations``, ``lr``, ``reg_noise_std``,
    ``average``, ``backtrack``, ``backtrack_drop``, ``data_term``, ``stop``, ``stop_options``, ``discrepancy``,
    ``check_every``, ``output``, ``channels_last``, ``amp``, ``threads``, ``compile``, ``optimize_input``. Giving
    ``iterations`` without ``stop`` turns the preset's default early stop off.

    The network and its input: ``generator`` (a name of :data:`deepprior.registry.GENERATORS`),
    ``generator_options`` (merged over the preset's when the generator is the preset's), ``width`` (feature
    channels, any generator), ``input_kind`` (``"noise"``, ``"normal"``, ``"meshgrid"``), ``input_channels``.

    The regulariser: ``regularizer`` (a name of :data:`deepprior.registry.REGULARIZERS` or a
    :class:`deepprior.regularizers.Regularizer`), ``lam`` (its weight λ), ``regularizer_options``.

    Classical solvers: ``lam`` and the solver's own options (``passes``; ``kappa``, ``beta_max``).

    Monitoring: ``reference`` (ground truth, only for the PSNR history), ``callbacks`` (extra
    :class:`deepprior.callbacks.Callback` objects or functions of the fit state; True stops), ``progress``
    (a bar; a string is its label).

    Long runs: ``checkpoint`` (a file the whole fit is saved to every ``checkpoint_every`` seconds, 120 by
    default) and ``resume`` (go on from that file if it exists; it must come from the same image and settings).

    Ensembles: ``seeds`` (N independent fits from seeds s, s + 1, ..., s + N − 1, their outputs averaged; the
    preset row's count by default) and ``batch_seeds`` (step them together in one batched loop,
    :func:`deepprior.batch.fit_batch`, instead of one after another; off by default; not with ``callbacks``; a
    ``checkpoint`` then holds the whole batch).

    After the fit: ``refine`` (a name of :data:`deepprior.registry.REFINERS`, run once on the fit's output as the
    pilot, or None for none; the preset row's by default).
    """

    iterations: int
    lr: float
    reg_noise_std: float
    average: float
    backtrack: bool
    backtrack_drop: float
    data_term: str
    stop: str
    stop_options: dict[str, Any]
    discrepancy: float | None
    check_every: int
    output: str
    channels_last: bool
    amp: bool
    threads: int | str
    compile: bool | str
    optimize_input: bool
    generator: str
    generator_options: dict[str, Any]
    width: int
    input_kind: str
    input_channels: int
    regularizer: str | Regularizer
    lam: float
    regularizer_options: dict[str, Any]
    passes: int
    kappa: float
    beta_max: float
    reference: ImageLike
    callbacks: Sequence[Callback | Any]
    progress: bool | str
    checkpoint: str | os.PathLike[str]
    checkpoint_every: float
    resume: bool
    seeds: int
    batch_seeds: bool
    refine: str | None


#: Fewer steps than this fraction of the preset's draw a warning: the result will be under-fitted.
UNDERFIT_FRACTION = 0.2

_SETTING_NAMES = {f.name for f in dataclasses.fields(FitSettings)} - {"seed"}
_DIP_NAMES = set(Overrides.__annotations__) - {"passes", "kappa", "beta_max"}
_SOLVER_NAMES = {"lam", "passes", "kappa", "beta_max", "reference", "progress"}


@dataclass
class Restoration:
    """A restored image, its fit history and the run record.

    Unpacks as ``image, history = deepprior.denoise(...)``.

    Attributes
    ----------
    output
        The result as an :class:`deepprior.image.Image` (the input's alpha and bit depth carried), for
        :func:`deepprior.io.write_image`.
    history
        Per-step loss and PSNRs (:class:`deepprior.callbacks.History`; empty for a classical solver).
    record
        What ran, where and what came out (:class:`deepprior.record.RunRecord`).
    """

    output: Image
    history: History
    record: RunRecord
    squeeze: bool = False

    @property
    def image(self) -> np.ndarray:
        """float32 pixels in [0, 1] in the input's layout ((H, W) stays (H, W)); alpha is apart."""
        return self.output.pixels[..., 0] if self.squeeze else self.output.pixels

    @property
    def alpha(self) -> np.ndarray | None:
        """The input's alpha channel (resized for super-resolution), or None."""
        return self.output.alpha

    def __iter__(self):
        yield self.image
        yield self.history


def _check_names(given: dict[str, Any], allowed: set[str], method: str) -> None:
    unknown = sorted(k for k, v in given.items() if k not in _DIP_NAMES | _SOLVER_NAMES)
    if unknown:
        raise InputError(f"unknown option(s): {', '.join(unknown)}")
    ignored = sorted(k for k, v in given.items() if k not in allowed and v is not None)
    if ignored:
        raise InputError(f"option(s) {', '.join(ignored)} do not apply to {method}")


def _reference_tensor(reference: ImageLike | None, size: tuple[int, int], channels: int) -> torch.Tensor | None:
    if reference is None:
        return None
    pixels = as_image(reference, "reference").pixels
    if pixels.shape != (*size, channels):
        raise InputError(
            f"the reference is {pixels.shape[1]}×{pixels.shape[0]}×{pixels.shape[2]} but the result "
            f"will be {size[1]}×{size[0]}×{channels} (width×height×channels)"
        )
    return as_tensor_image(pixels)


def _regularizer(
    preset: Preset, overrides: dict[str, Any], context: BuildContext
) -> tuple[Regularizer | None, str | None]:
    """The regulariser the row and the overrides ask for, and its name for the record."""
    chosen = overrides.get("regularizer") or preset.regularizer
    if chosen is None:
        if overrides.get("lam") is not None or overrides.get("regularizer_options"):
            raise InputError("lam and regularizer_options need a regularizer")
        return None, None
    if isinstance(chosen, Regularizer):
        return chosen, type(chosen).__name__
    REGULARIZERS.get(chosen)  # an unknown name fails here, naming the choices
    if chosen == preset.regularizer:
        options = dict(preset.regularizer_options)
    else:
        options = regularizer_defaults(preset.task, chosen)
    options.update(overrides.get("regularizer_options") or {})
    if overrides.get("lam") is not None:
        options["lam"] = overrides["lam"]
    regularizer = build_regularizer(chosen, context, **options)
    return regularizer, chosen


def _fingerprint(
    preset: Preset,
    settings: FitSettings,
    net: torch.nn.Module,
    regularizer: dict[str, Any] | None,
    input_kind: str,
    y: torch.Tensor,
    z: torch.Tensor,
) -> str:
    """A digest of what makes a run itself (row, settings, network, regulariser, the observation and z), so that
    a checkpoint is only ever resumed by the run that wrote it."""
    digest = hashlib.sha256()
    described = {
        "row": preset.key,
        "settings": dataclasses.asdict(settings),
        "net": repr(net),
        "regularizer": regularizer,
        "input": input_kind,
    }
    digest.update(json.dumps(described, sort_keys=True, default=str).encode())
    digest.update(y.numpy().tobytes())
    digest.update(z.numpy().tobytes())
    return digest.hexdigest()


def _settings(preset: Preset, overrides: dict[str, Any], seed: int) -> FitSettings:
    """The row's loop settings with the overrides: no iteration count keeps the row's early stop, and a
    regulariser brings the data term its weights are calibrated for unless one is named."""
    given = {k: v for k, v in overrides.items() if k in _SETTING_NAMES and v is not None}
    if "stop" not in given and "iterations" not in given:
        given["stop"] = preset.default_stop
    chosen = overrides.get("regularizer") or preset.regularizer
    calibrated = REGULARIZERS.get(chosen).data_term if isinstance(chosen, str) else None
    if calibrated is not None and "data_term" not in given:
        given["data_term"] = calibrated
    settings = replace(preset.settings, **given, seed=int(seed))
    settings.validate()
    return settings


def _checkpointing(
    overrides: dict[str, Any],
    callbacks: list[Any],
    device: torch.device,
    fingerprint_of: Callable[[], str],
    at_end: bool = False,
) -> dict[str, Any] | None:
    """Add the checkpoint callback the overrides ask for (``at_end``: also save the finished fit); the checkpoint
    to resume from, if any (the run's fingerprint, a digest of its data, is computed only then)."""
    if overrides.get("checkpoint") is None:
        if overrides.get("resume"):
            raise InputError("resume needs the checkpoint file to resume from (checkpoint=...)")
        return None
    path, fingerprint = Path(overrides["checkpoint"]), fingerprint_of()
    resume = None
    if overrides.get("resume") and path.exists():
        resume = load_checkpoint(path, device, fingerprint)
        torch.set_num_threads(resume["threads"])  # the same reductions, hence the same bits
    every = overrides.get("checkpoint_every", 120.0)
    callbacks.append(Checkpointing(path, every, fingerprint, at_end=at_end))
    return resume


def plan_dip(
    preset: Preset,
    source: Image,
    observation: np.ndarray,
    operator: Operator,
    *,
    image_size: tuple[int, int],
    seed: int,
    device: str,
    overrides: dict[str, Any],
    guide: np.ndarray | None = None,
    alpha: np.ndarray | None = None,
    squeeze: bool = False,
    extra: dict[str, Any] | None = None,
    finish: Callable[[Restoration], Restoration] | None = None,
) -> Plan:
    """Check the overrides against the row and plan its fit (once per seed of the ensemble, the outputs averaged);
    :meth:`Plan.run` builds the generator, input and regulariser and fits.

    ``observation`` is y as a float (h, w, C) array, ``image_size`` the (H, W) of the image to restore, ``guide``
    the image used as z when the row's input is ``"image"``, ``finish`` what the task does last to the result.
    """
    _check_names(overrides, _DIP_NAMES, f"{preset.task} {preset.method}")
    seeds = overrides.get("seeds") or preset.seeds
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise InputError(f"seeds must be a whole number >= 1, got {seeds!r}")
    refiner = _refiner(overrides.get("refine", preset.refine), operator)
    _warn_if_underfitted(preset, _settings(preset, overrides, seed))
    problem = _Problem(source, observation, operator, image_size, device, guide, alpha, squeeze, extra)
    return Plan(preset, problem, int(seed), int(seeds), dict(overrides), refiner, finish)


def plan_classical(preset: Preset, source: Image, overrides: dict[str, Any], squeeze: bool = False) -> Plan:
    """Check the overrides against the row's classical solver (``lam`` and the solver's own options) and plan
    its run."""
    _check_names(overrides, set(preset.solver_options) | {"reference", "progress"}, preset.method)
    problem = _Problem(source, source.pixels, Identity(), source.shape, "cpu", None, None, squeeze, None)
    return Plan(preset, problem, 0, 1, dict(overrides), None, None)


@dataclass(frozen=True)
class Plan:
    """One restoration that a task function has set up and checked but not run.

    Each task function (:mod:`deepprior.tasks`) plans its restoration and runs it; the task's ``.plan`` (e.g.
    ``deepprior.denoise.plan``, same arguments) returns the plan instead, for :func:`run_together` to step
    several images' fits at once.

    Attributes
    ----------
    preset
        The row of the preset table.
    seed, seeds
        The first seed and the fits of the ensemble (seeds ``seed``, ``seed + 1``, ...).
    overrides
        The user's overrides of the row (:class:`Overrides`).
    refiner
        The refiner to run after the fit (:data:`deepprior.registry.REFINERS`), or None.
    finish
        What the task does last to the restoration (inpainting keeps the known pixels), or None.
    """

    preset: Preset
    problem: _Problem
    seed: int
    seeds: int
    overrides: dict[str, Any]
    refiner: str | None
    finish: Callable[[Restoration], Restoration] | None

    @property
    def batch_key(self) -> tuple[Any, ...] | None:
        """What plans must share to be stepped together: the row, the sizes of the image, the observation and
        the guide, the device and the overrides that shape the fit; None for a plan that fits no network (a
        classical solver)."""
        if self.preset.kind == "classical":
            return None
        problem = self.problem
        shaping = tuple(
            sorted((k, repr(v)) for k, v in self.overrides.items() if k not in _PER_IMAGE and v is not None)
        )
        guide = None if problem.guide is None else problem.guide.shape
        return (self.preset.key, problem.image_size, problem.observation.shape, guide, problem.device, shaping)

    def run(self) -> Restoration:
        """Fit (or solve), refine and finish: the task's :class:`Restoration`."""
        if self.preset.kind == "classical":
            return _run_classical(self)
        overrides, seeds, seed = self.overrides, self.seeds, self.seed
        progress = overrides.get("progress") or False
        label = progress if isinstance(progress, str) else "fit"
        if overrides.get("batch_seeds") and seeds > 1:
            members = _fit_together([self])[0]
        else:
            members = []
            for index in range(seeds):
                clock = None
                if progress:
                    first = index == 0  # the estimate line, for the whole ensemble, comes once
                    clock = Progress(
                        f"{label} (seed {seed + index})" if seeds > 1 else label,
                        announce_after=None if first else math.inf,
                        fits=seeds,
                        alternative=partial(_fast_clause, self.preset, self.problem, overrides) if first else None,
                    )
                member = overrides
                if overrides.get("checkpoint") is not None and seeds > 1:  # a file per seed, kept: resumes skip it
                    member = {**overrides, "checkpoint": checkpoint_files(overrides["checkpoint"], seeds, seed)[index]}
                prepared = _prepare_fit(self.preset, self.problem, seed + index, member, clock, seeds > 1)
                members.append(_fit_one(self.preset, self.problem, prepared, member))
        return self._complete(members)

    def _complete(self, members: list[Restoration]) -> Restoration:
        """The seeds' restorations averaged, refined and finished."""
        restoration = members[0] if len(members) == 1 else _seed_average(members, self.overrides.get("reference"))
        restoration = _refine(restoration, self.refiner, self.problem)
        return restoration if self.finish is None else self.finish(restoration)


#: Overrides that may differ between plans stepped together: they do not shape the fit.
_PER_IMAGE = {"reference", "progress", "checkpoint", "resume", "checkpoint_every", "callbacks", "batch_seeds"}


def run_together(plans: Sequence[Plan], *, at_once: int = 4) -> list[Restoration]:
    r"""Run several plans, stepping up to ``at_once`` fits together (:func:`deepprior.batch.fit_batch`); the
    restorations in the plans' order.

    Plans with the same :attr:`Plan.batch_key` (same row, sizes, device and fit options: a folder's images of
    one size, restored by one command) are stepped together, in batches of at most ``at_once`` fits (a plan's
    seeds count one each and stay in one batch); each fit is the one it would be alone, up to the order of
    floating-point sums. Each batch has one progress bar (the first plan's ``progress`` label) and, when its
    first plan asks for one, one checkpoint (that plan's ``checkpoint`` file: ``resume`` goes on from it when the
    same plans are run together again). The record's ``at_once`` says how many fits shared the batch; its
    ``seconds`` are the batch's.

    Parameters
    ----------
    plans
        The plans (each task's ``.plan``: ``deepprior.denoise.plan(image, ...)``).
    at_once
        The most fits stepped together; 1 runs the plans one after another.

    Returns
    -------
    list of Restoration
        One per plan.

    Raises
    ------
    InputError
        ``at_once`` below 1; with ``at_once`` above 1, a classical solver's plan, or a plan with callbacks or
        ``optimize_input`` / ``compile``.
    DeviceError
        The device ran out of memory, or would for this many fits at once.

    Examples
    --------
    >>> import numpy as np, deepprior
    >>> rng = np.random.default_rng(0)
    >>> plans = [deepprior.denoise.plan(rng.random((32, 32, 3)), iterations=2, width=8) for _ in range(3)]
    >>> [r.record.at_once for r in run_together(plans, at_once=3)]
    [3, 3, 3]
    """
    if isinstance(at_once, bool) or not isinstance(at_once, (int, np.integer)) or at_once < 1:
        raise InputError(f"at_once must be a whole number >= 1, got {at_once!r}")
    if at_once == 1:
        return [plan.run() for plan in plans]
    for plan in plans:
        if plan.batch_key is None:
            raise InputError(f"{plan.preset.method} is a classical solver: it fits no network to step together")
    results: dict[int, Restoration] = {}
    for group in _batches(plans, at_once):
        if len(group) == 1 and plans[group[0]].seeds == 1:  # nothing to step it with
            results[group[0]] = plans[group[0]].run()
            continue
        restorations = _fit_together([plans[i] for i in group])
        for index, members in zip(group, restorations):
            results[index] = plans[index]._complete(members)
    return [results[i] for i in range(len(plans))]


def _batches(plans: Sequence[Plan], at_once: int) -> list[list[int]]:
    """The plans' indices in batches: plans of one :attr:`Plan.batch_key`, in order, at most ``at_once`` fits each
    (a plan with more seeds than that is a batch of its own)."""
    open_batches: dict[Any, list[int]] = {}
    batches: list[list[int]] = []
    for index, plan in enumerate(plans):
        key = plan.batch_key
        batch = open_batches.get(key, [])
        if batch and sum(plans[i].seeds for i in batch) + plan.seeds > at_once:
            batches.append(batch)
            batch = []
        open_batches[key] = batch + [index]
    return batches + list(open_batches.values())


def _refiner(name: str | None, operator: Operator) -> str | None:
    """The refiner to run after the fit (None for none), checked before any fitting: it re-filters y, which must
    be the image itself plus noise (the identity operator)."""
    if name is None or name == "none":
        return None
    REFINERS.get(name)
    if not isinstance(operator, Identity):
        raise InputError(
            f"refine={name!r} filters the observation itself: it needs a task whose observation is the image "
            f"plus noise (denoise), not one through {type(operator).__name__}"
        )
    return name


def _refine(restoration: Restoration, name: str | None, problem: _Problem) -> Restoration:
    """Run the refiner ``name`` (see :func:`_refiner`) with the fit's output as the pilot and σ estimated from y."""
    if name is None:
        return restoration
    from .metrics import noise_sigma

    refine = REFINERS.get(name)
    start = time.perf_counter()
    sigma = noise_sigma(problem.observation)
    pixels = refine(problem.observation, restoration.output.pixels, sigma, device=str(resolve_device(problem.device)))
    refinement = {"name": name, "sigma": sigma, "seconds": time.perf_counter() - start}
    output = replace(restoration.output, pixels=pixels)
    return replace(restoration, output=output, record=replace(restoration.record, refinement=refinement))


@dataclass(frozen=True)
class _Problem:
    """What every fit of one run shares: the image, y and its operator, the size to restore, the device, the
    guide image (z of the flash/no-flash row), the alpha to carry, the input's layout and the record's extras."""

    source: Image
    observation: np.ndarray
    operator: Operator
    image_size: tuple[int, int]
    device: str
    guide: np.ndarray | None
    alpha: np.ndarray | None
    squeeze: bool
    extra: dict[str, Any] | None


def checkpoint_files(path: str | os.PathLike[str], seeds: int, seed: int = 0, together: bool = False) -> list[Path]:
    """The checkpoint files of a run given ``checkpoint=path``: the path itself for one fit or for seeds stepped
    together (``batch_seeds``), else ``NAME.seedS.pt`` beside it for each fit of a seed ensemble."""
    path = Path(path)
    if seeds == 1 or together:
        return [path]
    return [path.with_name(f"{path.stem}.seed{seed + i}{path.suffix}") for i in range(seeds)]


def _fast_clause(preset: Preset, problem: _Problem, overrides: dict[str, Any]) -> str | None:
    """ "the fast preset: about 6 min": its seconds per step measured on a few steps here, times its steps and
    seeds (None when this run is already the fast one, or the row has none)."""
    key = preset_key(preset.task, preset.method, "fast")
    if preset.profile == "fast" or key not in PRESETS:
        return None
    fast = PRESETS.get(key)
    if fast.scale_schedule:
        fast = fast.for_scale(problem.extra["scale"])
    measure = {"iterations": StepClock.MEASURED_STEPS + 1, "threads": overrides.get("threads")}
    clock = StepClock()
    _fit_one(fast, problem, _prepare_fit(fast, problem, 0, measure, clock), measure)
    if clock.per_step is None:  # pragma: no cover - four steps always measure three
        return None
    bound = "at most " if fast.default_stop != "fixed" else ""  # its stopping rule usually ends it sooner
    return f"the fast preset: {bound}about {duration(clock.per_step * fast.settings.iterations * fast.seeds)}"


def _fit_together(plans: Sequence[Plan]) -> list[list[Restoration]]:
    """Every fit of the plans (each seed of each) stepped together by :func:`deepprior.batch.fit_batch`, with one
    progress bar (the first plan's label) and one checkpoint file (the first plan's); each plan's restorations,
    one per seed."""
    from .batch import Member, fit_batch

    first_plan = plans[0]
    if any(plan.overrides.get("callbacks") for plan in plans):
        raise InputError("fits stepped together cannot take callbacks: each would be called once per fit")
    fits = [(plan, plan.seed + index) for plan in plans for index in range(plan.seeds)]
    shared = {"checkpoint", "resume", "checkpoint_every"}
    prepared = [_prepare_fit(plan.preset, plan.problem, seed, _without(plan.overrides, shared)) for plan, seed in fits]
    device = resolve_device(first_plan.problem.device)
    first = prepared[0]
    check_fit_memory(first.net, (1, first.input_channels, *first.z.shape[-2:]), device, fits=len(fits))
    callbacks: list[Callback] = []
    progress = first_plan.overrides.get("progress")
    if progress:
        label = progress if isinstance(progress, str) else "fit"
        if len(plans) == 1:
            alternative = partial(_fast_clause, first_plan.preset, first_plan.problem, first_plan.overrides)
            callbacks.append(Progress(f"{label} ({len(fits)} seeds at once)", alternative=alternative))
        else:
            callbacks.append(Progress(f"{label} and {len(plans) - 1} more ({len(fits)} fits at once)"))

    def fingerprint() -> str:  # of the whole batch: every member's
        each = [
            _fingerprint(plan.preset, f.settings, f.net, _described(f), f.input_kind, f.y, f.z)
            for (plan, _), f in zip(fits, prepared)
        ]
        return hashlib.sha256("".join(each).encode()).hexdigest()

    resume = _checkpointing(first_plan.overrides, callbacks, device, fingerprint)
    sizes = {plan.problem.image_size for plan in plans}
    if len(sizes) > 1:
        raise InputError("fits stepped together must restore images of one size")
    operators = [plan.problem.operator for plan, _ in fits]
    members = [
        Member(f.net, f.z, f.y, a, f.settings, f.reference, regularizer=f.regularizer)
        for a, f in zip(operators, prepared)
    ]
    results = fit_batch(members, output_size=sizes.pop(), device=device, callbacks=callbacks, resume=resume)
    restorations = iter(
        _restoration(plan.preset, plan.problem, f, r, plan.overrides, at_once=len(fits))
        for (plan, _), f, r in zip(fits, prepared, results)
    )
    return [[next(restorations) for _ in range(plan.seeds)] for plan in plans]


def _described(prepared: _PreparedFit) -> dict[str, Any] | None:
    """The fit's regulariser as the record and the checkpoint's fingerprint describe it (None: none)."""
    regularizer = prepared.regularizer
    return None if regularizer is None else {"name": prepared.regularizer_name, **regularizer.describe()}


def _without(overrides: dict[str, Any], names: set[str]) -> dict[str, Any]:
    return {k: v for k, v in overrides.items() if k not in names}


def _warn_if_underfitted(preset: Preset, settings: FitSettings) -> None:
    """Warn once per run when the steps are far below the row's: the result will be under-fitted."""
    planned = preset.settings.iterations
    if settings.iterations < UNDERFIT_FRACTION * planned:
        warnings.warn(
            f"iterations={settings.iterations} is far below the {preset.key} preset's {planned}: expect an "
            "under-fitted result (blurred, or close to the input)",
            UserWarning,
            stacklevel=3,
        )


def _seed_average(members: list[Restoration], reference: ImageLike | None) -> Restoration:
    """One restoration from several seeds' fits: their mean, with each fit's facts and the spread in the record
    (the history is the first seed's). Fits stepped together (the record's ``at_once``) overlap in time: the
    record's seconds are then the longest fit's, not the sum."""
    from .metrics import psnr

    stack = np.stack([m.output.pixels for m in members])
    truth = None if reference is None else as_image(reference, "reference").pixels
    runs = []
    for member, pixels in zip(members, stack):
        r = member.record
        runs.append(
            {
                "seed": r.settings["seed"],
                "iterations_run": r.iterations_run,
                "stopped_at": r.stopped_at,
                "selected_step": r.selected_step,
                "output_source": r.output_source,
                "seconds": r.seconds,
                "at_once": r.at_once,
                "psnr": None if truth is None else psnr(pixels, truth),
            }
        )
    first = members[0]
    record = replace(
        first.record,
        iterations_run=sum(r["iterations_run"] for r in runs),
        stopped_at=None,
        selected_step=None,
        output_source=f"mean of {len(members)} seeds",
        seconds=(max if first.record.at_once > 1 else sum)(r["seconds"] for r in runs),
        seeds=runs,
        seed_spread=float(np.sqrt(stack.var(axis=0).mean())),
    )
    output = replace(first.output, pixels=stack.mean(axis=0).astype(np.float32))
    return Restoration(output=output, history=first.history, record=record, squeeze=first.squeeze)


@dataclass
class _PreparedFit:
    """One fit of :func:`run_dip`, built and checked but not run: what :func:`deepprior.loop.fit` (or one member of
    :func:`deepprior.batch.fit_batch`) takes, and what the record says about it."""

    settings: FitSettings
    net: torch.nn.Module
    z: torch.Tensor
    y: torch.Tensor
    reference: torch.Tensor | None
    regularizer: Regularizer | None
    regularizer_name: str | None
    callbacks: list[Any]
    resume: dict[str, Any] | None
    generator: str
    generator_options: dict[str, Any]
    input_kind: str
    input_channels: int
    padded: tuple[int, int]


def _fit_one(preset: Preset, problem: _Problem, prepared: _PreparedFit, overrides: dict[str, Any]) -> Restoration:
    """Run one :func:`_prepare_fit` fit alone (:func:`deepprior.loop.fit`) and make its restoration."""
    result = fit(
        prepared.net,
        prepared.z,
        prepared.y,
        problem.operator,
        prepared.settings,
        output_size=problem.image_size,
        reference=prepared.reference,
        regularizer=prepared.regularizer,
        callbacks=prepared.callbacks,
        device=resolve_device(problem.device),
        resume=prepared.resume,
    )
    return _restoration(preset, problem, prepared, result, overrides)


def _prepare_fit(
    preset: Preset,
    problem: _Problem,
    seed: int,
    overrides: dict[str, Any],
    clock: Callback | None = None,
    checkpoint_at_end: bool = False,
) -> _PreparedFit:
    """Build one fit of :func:`run_dip` from one seed — its generator, input, observation, settings, regulariser,
    reference and callbacks — refusing an image too small for the generator, a fit too large for the device and a
    mismatched observation. ``clock`` (a progress bar or a step timer) joins the callbacks; ``checkpoint_at_end``
    saves the finished fit too (a member of an ensemble)."""
    observation, operator, guide = problem.observation, problem.operator, problem.guide
    image_size = problem.image_size
    settings = _settings(preset, overrides, seed)
    torch_device = resolve_device(problem.device)
    height, width = image_size
    out_channels = observation.shape[2]

    generator = overrides.get("generator") or preset.generator
    generator_options = dict(preset.generator_options) if generator == preset.generator else {}
    generator_options.update(overrides.get("generator_options") or {})
    if overrides.get("width") is not None:
        generator_options.update(GENERATORS.get(generator).width_options(int(overrides["width"])))
    input_kind = overrides.get("input_kind") or preset.input
    input_channels = int(overrides.get("input_channels") or preset.input_channels)
    if input_kind == "meshgrid":
        input_channels = 2
    if input_kind == "image":
        if guide is None:
            raise InputError(f"the {preset.task} task has no guide image to use as the input")
        input_channels = guide.shape[2]
    net = build_generator(generator, input_channels, out_channels, seed=settings.seed, **generator_options)
    minimum = max(8, net.size_multiple // 2)
    if min(height, width) < minimum:
        raise InputError(
            f"the image is {width}×{height} pixels (width×height); the {generator} network needs at "
            f"least {minimum}×{minimum}"
        )
    padded = padded_size(height, width, net.size_multiple, net.min_size)
    check_fit_memory(net, (1, input_channels, *net.input_shape(*padded)), torch_device)
    if input_kind == "image":
        z = pad_to(as_tensor_image(guide), *padded)
    else:
        z = make_input(input_kind, input_channels, *net.input_shape(*padded), seed=settings.seed)

    y = as_tensor_image(observation)
    expected = operator.observation_shape(height, width)
    if tuple(y.shape[-2:]) != expected:
        raise InputError(
            f"the observation is {y.shape[-1]}×{y.shape[-2]} but the operator expects "
            f"{expected[1]}×{expected[0]} (width×height)"
        )
    context = BuildContext(
        observation=y,
        image_size=image_size,
        seed=settings.seed,
        iterations=settings.iterations,
        device=torch_device,
        reduction=DATA_TERMS.get(settings.data_term).reduction,
    )
    regularizer, regularizer_name = _regularizer(preset, overrides, context)
    reference = _reference_tensor(overrides.get("reference"), image_size, out_channels)

    callbacks = list(overrides.get("callbacks") or ()) + ([clock] if clock is not None else [])
    prepared = _PreparedFit(
        settings=settings,
        net=net,
        z=z,
        y=y,
        reference=reference,
        regularizer=regularizer,
        regularizer_name=regularizer_name,
        callbacks=callbacks,
        resume=None,
        generator=generator,
        generator_options=generator_options,
        input_kind=input_kind,
        input_channels=input_channels,
        padded=padded,
    )
    described = _described(prepared)
    prepared.resume = _checkpointing(
        overrides,
        callbacks,
        torch_device,
        lambda: _fingerprint(preset, settings, net, described, input_kind, y, z),
        at_end=checkpoint_at_end,
    )
    return prepared


def _restoration(
    preset: Preset,
    problem: _Problem,
    prepared: _PreparedFit,
    result: FitResult,
    overrides: dict[str, Any],
    at_once: int = 1,
) -> Restoration:
    """A fit's result as a :class:`Restoration`: the image in the input's form and the record of the run
    (``at_once``: the fits stepped together with it, itself included)."""
    settings, torch_device = prepared.settings, resolve_device(problem.device)
    record = RunRecord(
        task=preset.task,
        method=preset.method,
        preset=preset.profile,
        settings=dataclasses.asdict(settings),
        generator={
            "name": prepared.generator,
            **prepared.generator_options,
            "width": overrides.get("width"),
            "parameters": sum(p.numel() for p in prepared.net.parameters()),
        },
        input={"kind": prepared.input_kind, "channels": prepared.input_channels, "shape": list(prepared.z.shape)},
        operator={"name": type(problem.operator).__name__},
        data_term=settings.data_term,
        regularizer=_described(prepared),
        image_size=problem.image_size,
        padded_size=prepared.padded,
        device=str(torch_device),
        device_name=device_name(torch_device),
        iterations_run=result.iterations_run,
        stopped_at=result.stopped_at,
        selected_step=result.selected_step,
        output_source=result.source,
        seconds=result.seconds,
        channels_last=result.channels_last,
        amp=result.amp,
        at_once=at_once,
        extra=dict(problem.extra or {}),
    )
    pixels = np.clip(as_numpy_image(result.image), 0, 1)
    output = Image(
        pixels=pixels,
        alpha=problem.source.alpha if problem.alpha is None else problem.alpha,
        bit_depth=problem.source.bit_depth,
        value_range=problem.source.value_range,
    )
    return Restoration(output=output, history=result.history, record=record, squeeze=problem.squeeze)


def _run_classical(plan: Plan) -> Restoration:
    """Run a classical row's solver with its options (``lam`` and the solver's own) overridden."""
    preset, source, overrides = plan.preset, plan.problem.source, plan.overrides
    solve = SOLVERS.get(preset.solver)
    options = dict(preset.solver_options)
    options.update({k: v for k, v in overrides.items() if k in preset.solver_options and v is not None})
    start = time.perf_counter()
    lam = options.pop("lam")
    pixels = np.clip(solve(source.pixels, lam, **options), 0, 1).astype(np.float32)
    seconds = time.perf_counter() - start
    record = RunRecord(
        task=preset.task,
        method=preset.method,
        settings={"lam": lam, **options},
        image_size=source.shape,
        output_source=preset.method,
        seconds=seconds,
    )
    output = source.with_pixels(pixels)
    return Restoration(output=output, history=History(), record=record, squeeze=plan.problem.squeeze)


__all__ = ["Overrides", "Plan", "Restoration", "checkpoint_files", "plan_classical", "plan_dip", "run_together"]
