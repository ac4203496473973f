"""The Deep Image Prior reconstructor: from a :class:`deepprior.restore.Plan` to its fitted restoration.

:func:`plan_dip` checks a DIP row's overrides and plans its fit; :func:`run_plan` builds each seed's generator,
input, regulariser and callbacks (:func:`_prepare_fit`), fits (:func:`deepprior.loop.fit`, or
:func:`deepprior.batch.fit_batch` for fits stepped together), averages the seeds, refines and finishes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .callbacks import Callback, Checkpointing, Progress, StepClock, duration, load_checkpoint
from .device import device_name, resolve_device
from .errors import InputError, warn
from .image import Image, ImageLike, as_image
from .inputs import make_input
from .loop import FitResult, as_numpy_image, as_tensor_image, fit, pad_to, padded_size
from .memory import check_fit_memory, fit_bytes
from .nets import build_generator
from .operators import Operator
from .operators.identity import Identity
from .presets import PRESETS, Preset, preset_key, regularizer_defaults
from .record import RunRecord
from .registry import DATA_TERMS, GENERATORS, REFINERS, REGULARIZERS
from .regularizers import BuildContext, Regularizer, build_regularizer
from .restore import _DIP_NAMES, Plan, Restoration, _check_names, _Problem, checkpoint_files, time_share
from .settings import FitSettings, check_time_limit
from .stretch import Stretch, choose_stretch
from .tiling import check_tile_options

_SETTING_NAMES = {f.name for f in dataclasses.fields(FitSettings)} - {"seed"}

#: Fewer steps than this fraction of the preset's draw a warning: the result will be under-fitted.
UNDERFIT_FRACTION = 0.2


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
    the image used as z when the row's input is ``"image"``, ``finish`` what the task does last to the result. A
    y that spans little of [0, 1] is fitted stretched onto it, and the result mapped back before ``finish``
    (:mod:`deepprior.stretch`).
    """
    _check_names(overrides, _DIP_NAMES, f"{preset.task} {preset.method}")
    stretch, response = _stretch(preset, observation, operator, image_size, overrides.get("stretch"))
    if stretch is not None:
        observation = stretch.observation(observation, response)
        # the fit's PSNR curves compare images on its scale (a reference beyond y's range is clipped there)
        if overrides.get("reference") is not None:
            overrides = {**overrides, "reference": stretch.image(as_image(overrides["reference"], "reference").pixels)}
        extra = {**(extra or {}), "stretch": stretch.describe()}
        if overrides.get("callbacks"):  # snapshots show the image on its own scale, as the result
            overrides = {**overrides, "callbacks": [_for_scale(c, stretch) for c in overrides["callbacks"]]}
        finish = stretch.restoration if finish is None else partial(_then, stretch.restoration, finish)
    seeds = overrides.get("seeds") or preset.seeds
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise InputError(f"seeds must be a whole number >= 1, got {seeds!r}")
    refiner = _refiner(overrides.get("refine", preset.refine), operator)
    check_tile_options(overrides.get("tile", preset.tile), overrides.get("tile_overlap"))
    problem = _Problem(source, observation, operator, image_size, device, guide, alpha, squeeze, extra)
    return Plan(preset, problem, int(seed), int(seeds), dict(overrides), refiner, finish)


def _stretch(
    preset: Preset, observation: np.ndarray, operator: Operator, image_size: tuple[int, int], requested: Any
) -> tuple[Stretch | None, np.ndarray | float]:
    """The stretch the fit of ``observation`` runs with (:func:`deepprior.stretch.choose_stretch`), or None, and
    the forward model's response to ones that it is applied with."""
    if requested is not None and not isinstance(requested, bool):
        raise InputError(f"stretch must be True, False or None, got {requested!r}")
    if requested is False:
        return None, 1.0
    response = _ones_through(operator, image_size, observation.shape[2])
    return choose_stretch(observation, response, below=preset.stretch_below, requested=requested), response


def _ones_through(operator: Operator, image_size: tuple[int, int], channels: int) -> np.ndarray | float:
    """A·1, the forward model applied to an image of ones, as an (h, w, C) array (1 for the identity)."""
    if isinstance(operator, Identity):
        return 1.0
    with torch.no_grad():
        return as_numpy_image(operator(torch.ones(1, channels, *image_size)))


def _for_scale(callback: Any, stretch: Stretch) -> Any:
    """The callback a fit on the stretched image calls: its own :meth:`deepprior.callbacks.Callback.for_scale`
    where it has one (a plain function has not)."""
    for_scale = getattr(callback, "for_scale", None)
    return for_scale(stretch.low, stretch.span) if for_scale is not None else callback


def _then(
    first: Callable[[Restoration], Restoration], then: Callable[[Restoration], Restoration], restoration: Restoration
) -> Restoration:
    """``then`` applied after ``first`` (a plan's finish: partial of this, picklable like the plan)."""
    return then(first(restoration))


def run_plan(plan: Plan) -> Restoration:
    """Fit a DIP plan (each seed, one after another or stepped together), refine and finish: the task's
    :class:`deepprior.restore.Restoration`."""
    from .tiling import choose_tiling, run_tiled

    if not plan.refine_reserve:
        plan = reserve_refine_time([plan])[0]
    tiling = choose_tiling(plan)
    if tiling is not None:
        return run_tiled(plan, tiling)
    overrides, seeds, seed = plan.fit_overrides, plan.seeds, plan.seed
    tile, tiles = plan.tile
    progress = overrides.get("progress") or False
    label = progress if isinstance(progress, str) else "fit"
    if overrides.get("batch_seeds") and seeds > 1:
        members = fit_together([plan])[0]
    else:
        members = []
        limit = overrides.get("time_limit") if seeds > 1 else None
        deadline = None if limit is None else time.perf_counter() + limit
        for index in range(seeds):
            clock = None
            if progress:
                first = index == 0 and tile == 0  # the estimate line, for every seed and tile, comes once
                alternative = partial(_quicker_clause, plan.preset, plan.problem, overrides, tiles)
                clock = Progress(
                    f"{label} (seed {seed + index})" if seeds > 1 else label,
                    announce_after=None if first else math.inf,
                    fits=seeds * tiles,
                    alternative=alternative if first else None,
                    counted="seeds" if tiles == 1 else "tiles" if seeds == 1 else "fits",
                )
            member = overrides
            if overrides.get("checkpoint") is not None and seeds > 1:  # a file per seed, kept: resumes skip it
                member = {**overrides, "checkpoint": checkpoint_files(overrides["checkpoint"], seeds, seed)[index]}
            if deadline is not None:  # the seeds share the time limit: each what is left over the fits left
                member = {**member, "time_limit": time_share(deadline, seeds - index)}
            # an ensemble's or a tile's finished fit is saved too: a resumed run skips it
            prepared = _prepare_fit(plan.preset, plan.problem, seed + index, member, clock, seeds * tiles > 1)
            if index == 0:
                _warn_if_underfitted(plan.preset, prepared.settings)
            members.append(_fit_one(plan.preset, plan.problem, prepared, member))
    return complete(plan, members)


def complete(plan: Plan, members: list[Restoration]) -> Restoration:
    """The seeds' restorations averaged, refined and finished."""
    restoration = members[0] if len(members) == 1 else _seed_average(members, plan.overrides.get("reference"))
    restoration = _refine(restoration, plan.refiner, plan.problem, plan.refine_reserve)
    return restoration if plan.finish is None else plan.finish(restoration)


#: Sides of the centre crops of y that a refiner is timed on (after a warm-up run on the first): its time on the
#: whole image is read off the line through the two, per pixel where it runs on the CPU, nearly constant where
#: a GPU's launch overhead dominates.
PROBE_SIDES = (48, 96)


def reserve_refine_time(plans: Sequence[Plan]) -> list[Plan]:
    """The plans, each with :attr:`Plan.refine_reserve` set when it has a time limit and the plans have refiners:
    the refiners' time, measured on crops of each plan's y (:data:`PROBE_SIDES`), and this measuring's, held
    back from the fit. Plans stepped together (their fits end together, their refiners then run one after
    another) share one reserve, the sum of their refiners' times.

    Raises
    ------
    InputError
        The limit leaves the fit no time: the refiners alone would take longer.
    """
    limit = plans[0].overrides.get("time_limit")
    refined = [plan for plan in plans if plan.refiner is not None]
    if not refined or limit is None:
        return list(plans)
    check_time_limit(limit)
    start = time.perf_counter()
    needed = sum(_refiner_seconds(plan) for plan in refined)
    reserve = needed + (time.perf_counter() - start)
    if reserve >= limit:
        name, (height, width) = refined[0].refiner, refined[0].problem.image_size
        images = f"these {len(refined)} images" if len(refined) > 1 else f"this {width}×{height} image"
        raise InputError(
            f"a time limit of {duration(limit)} leaves the fit no time: the refiner {name} alone takes about "
            f"{duration(needed)} on {images} on {resolve_device(plans[0].problem.device)}; give a longer limit, "
            "or no refiner"
        )
    return [replace(plan, refine_reserve=reserve) for plan in plans]


def _refiner_seconds(plan: Plan) -> float:
    """The refiner's time on the plan's whole y, estimated from runs on two centre crops (:data:`PROBE_SIDES`)."""
    refine = REFINERS.get(plan.refiner)
    device = str(resolve_device(plan.problem.device))
    y = plan.problem.observation
    sigma = plan.problem.noise_sigma  # the refiner's (σ = 0 returns y at once)
    height, width = y.shape[:2]
    timed = []
    for side in (PROBE_SIDES[0], *PROBE_SIDES):  # the first run warms up (kernels, caches)
        h, w = min(side, height), min(side, width)
        top, left = (height - h) // 2, (width - w) // 2
        crop = np.ascontiguousarray(y[top : top + h, left : left + w])
        start = time.perf_counter()
        refine(crop, crop, sigma, device=device)
        timed.append((h * w, time.perf_counter() - start))
    (small, t_small), (large, t_large) = timed[1:]
    per_pixel = max(t_large - t_small, 0.0) / (large - small) if large > small else 0.0
    return t_large + per_pixel * (height * width - large)


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


def _refine(restoration: Restoration, name: str | None, problem: _Problem, reserved: float = 0.0) -> Restoration:
    """Run the refiner ``name`` (see :func:`_refiner`) with the fit's output as the pilot and σ estimated from y;
    the record says how long it took and, under a time limit, the seconds held back for it."""
    if name is None:
        return restoration
    refine = REFINERS.get(name)
    start = time.perf_counter()
    sigma = problem.noise_sigma
    pixels = refine(problem.observation, restoration.output.pixels, sigma, device=str(resolve_device(problem.device)))
    refinement = {"name": name, "sigma": sigma, "seconds": time.perf_counter() - start}
    if reserved:
        refinement["reserved_seconds"] = reserved
    output = replace(restoration.output, pixels=pixels)
    return replace(restoration, output=output, record=replace(restoration.record, refinement=refinement))


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


def check_reference(reference: ImageLike, size: tuple[int, int], channels: int) -> np.ndarray:
    """The reference's pixels, refused unless they are (H, W, C) = (``size``, ``channels``), the result's shape."""
    pixels = as_image(reference, "reference").pixels
    if pixels.shape != (*size, channels):
        raise InputError(
            f"the reference is {pixels.shape[1]}×{pixels.shape[0]}×{pixels.shape[2]} but the result "
            f"will be {size[1]}×{size[0]}×{channels} (width×height×channels)"
        )
    return pixels


def _reference_tensor(reference: ImageLike | None, size: tuple[int, int], channels: int) -> torch.Tensor | None:
    return None if reference is None else as_tensor_image(check_reference(reference, size, channels))


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
        "settings": {k: v for k, v in dataclasses.asdict(settings).items() if k != "time_limit"},  # each run its own
        "net": repr(net),
        "regularizer": regularizer,
        "input": input_kind,
    }
    digest.update(json.dumps(described, sort_keys=True, default=str).encode())
    digest.update(y.numpy().tobytes())
    digest.update(z.numpy().tobytes())
    return digest.hexdigest()


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


def _warn_if_underfitted(preset: Preset, settings: FitSettings) -> None:
    """Warn once per plan, once its first fit is built and checked (an image too small for the network gets its
    error alone), when the steps are far below the row's: the result will be under-fitted."""
    planned = preset.settings.iterations
    if settings.iterations < UNDERFIT_FRACTION * planned:
        warn(
            f"iterations={settings.iterations} is far below the {preset.key} preset's {planned}: expect an "
            "under-fitted result (blurred, or close to the input)"
        )


def _quicker_clause(preset: Preset, problem: _Problem, overrides: dict[str, Any], tiles: int = 1) -> str | None:
    """What the estimate line offers instead: the fast preset's time for ``tiles`` tiles like ``problem``
    (:func:`_fast_clause`) and the task's classical solvers, which fit no network (None when there is neither)."""
    classical = [row.method for row in PRESETS.values() if row.task == preset.task and row.kind == "classical"]
    parts = [_fast_clause(preset, problem, overrides, tiles)]
    if classical:
        parts.append(f"the classical {' or '.join(classical)} (no network): seconds")
    return "; ".join(part for part in parts if part) or None


def _fast_clause(preset: Preset, problem: _Problem, overrides: dict[str, Any], tiles: int = 1) -> str | None:
    """ "the fast preset: about 6 min": its seconds per step measured on a few steps here, times its steps,
    seeds and ``tiles`` (None when this run is already the fast one, or the row has none)."""
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
    seconds = clock.per_step * fast.settings.iterations * fast.seeds * tiles
    return f"the fast preset: {bound}about {duration(seconds)}"


def fit_together(plans: Sequence[Plan]) -> list[list[Restoration]]:
    """Every fit of the plans (each seed of each) stepped together by :func:`deepprior.batch.fit_batch`, with one
    progress bar (the first plan's label) and one checkpoint file (the first plan's); each plan's restorations,
    one per seed."""
    from .batch import Member, fit_batch

    first_plan = plans[0]
    if any(plan.overrides.get("callbacks") for plan in plans):
        raise InputError("fits stepped together cannot take callbacks: each would be called once per fit")
    fits = [(plan, plan.seed + index) for plan in plans for index in range(plan.seeds)]
    shared = {"checkpoint", "resume", "checkpoint_every"}
    prepared = [
        _prepare_fit(plan.preset, plan.problem, seed, _without(plan.fit_overrides, shared)) for plan, seed in fits
    ]
    for (plan, seed), fit_ in zip(fits, prepared):
        if seed == plan.seed:
            _warn_if_underfitted(plan.preset, fit_.settings)
    device = resolve_device(first_plan.problem.device)
    first = prepared[0]
    check_fit_memory(first.net, (1, first.input_channels, *first.z.shape[-2:]), device, fits=len(fits))
    callbacks: list[Callback] = []
    progress = first_plan.overrides.get("progress")
    if progress:
        label = progress if isinstance(progress, str) else "fit"
        if len(plans) == 1:
            tile, tiles = first_plan.tile
            alternative = partial(_quicker_clause, first_plan.preset, first_plan.problem, first_plan.overrides, tiles)
            first_tile = tile == 0
            callbacks.append(
                Progress(
                    f"{label} ({len(fits)} seeds at once)",
                    announce_after=None if first_tile else math.inf,
                    fits=tiles,
                    alternative=alternative if first_tile else None,
                    counted="tiles",
                )
            )
        else:
            callbacks.append(Progress(f"{label} and {len(plans) - 1} more ({len(fits)} fits at once)"))

    def fingerprint() -> str:  # of the whole batch: every member's
        each = [
            _fingerprint(plan.preset, f.settings, f.net, _described(f), f.input_kind, f.y, f.z)
            for (plan, _), f in zip(fits, prepared)
        ]
        return hashlib.sha256("".join(each).encode()).hexdigest()

    # a tile's finished batch is saved too: a resumed run skips it
    resume = _checkpointing(first_plan.overrides, callbacks, device, fingerprint, at_end=first_plan.tile_of is not None)
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
    """One fit of :func:`run_plan`, built and checked but not run: what :func:`deepprior.loop.fit` (or one member of
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


def _network(
    preset: Preset, problem: _Problem, overrides: dict[str, Any], seed: int
) -> tuple[torch.nn.Module, str, dict[str, Any], str, int]:
    """The generator a fit of the row builds (its name and options after the overrides) and its input's kind and
    channels."""
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
        if problem.guide is None:
            raise InputError(f"the {preset.task} task has no guide image to use as the input")
        input_channels = problem.guide.shape[2]
    out_channels = problem.observation.shape[2]
    net = build_generator(generator, input_channels, out_channels, seed=seed, **generator_options)
    return net, generator, generator_options, input_kind, input_channels


def fit_memory(plan: Plan) -> Callable[[tuple[int, int]], int]:
    """The estimated peak memory, in bytes, of one fit of the plan's network to an image of a given (H, W)
    (:func:`deepprior.memory.fit_bytes`, on the meta device: nothing is allocated)."""
    net, _, _, _, input_channels = _network(plan.preset, plan.problem, plan.overrides, plan.seed)

    def estimate(size: tuple[int, int]) -> int:
        padded = padded_size(*size, net.size_multiple, net.min_size)
        return fit_bytes(net, (1, input_channels, *net.input_shape(*padded)))

    return estimate


def _prepare_fit(
    preset: Preset,
    problem: _Problem,
    seed: int,
    overrides: dict[str, Any],
    clock: Callback | None = None,
    checkpoint_at_end: bool = False,
) -> _PreparedFit:
    """Build one fit of :func:`run_plan` from one seed — its generator, input, observation, settings, regulariser,
    reference and callbacks — refusing an image too small for the generator, a fit too large for the device and a
    mismatched observation. ``clock`` (a progress bar or a step timer) joins the callbacks; ``checkpoint_at_end``
    saves the finished fit too (a member of an ensemble)."""
    observation, operator, guide = problem.observation, problem.operator, problem.guide
    image_size = problem.image_size
    settings = _settings(preset, overrides, seed)
    torch_device = resolve_device(problem.device)
    height, width = image_size
    out_channels = observation.shape[2]
    net, generator, generator_options, input_kind, input_channels = _network(preset, problem, overrides, settings.seed)
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
        operator=problem.operator.describe(),
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
        cuda_graph=result.cuda_graph,
        at_once=at_once,
        extra=dict(problem.extra or {}),
    )
    output = output_image(problem, np.clip(as_numpy_image(result.image), 0, 1))
    return Restoration(output=output, history=result.history, record=record, squeeze=problem.squeeze)


def output_image(problem: _Problem, pixels: np.ndarray) -> Image:
    """The restored ``pixels`` as the task's :class:`deepprior.image.Image`: the input's alpha (or the task's,
    resized), bit depth, value range, colour profile and EXIF metadata carried."""
    return Image(
        pixels=pixels,
        alpha=problem.source.alpha if problem.alpha is None else problem.alpha,
        bit_depth=problem.source.bit_depth,
        value_range=problem.source.value_range,
        icc_profile=problem.source.icc_profile,
        exif=problem.source.exif,
    )


__all__ = [
    "check_reference",
    "complete",
    "fit_memory",
    "fit_together",
    "output_image",
    "plan_dip",
    "reserve_refine_time",
    "run_plan",
]
