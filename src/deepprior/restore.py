"""From a preset row and the user's overrides to a restoration: the plan every task makes, and its run.

Data flows one way: image → preset → :class:`Plan` (checked, not run) → a classical solver here, or a Deep Image
Prior fit (:mod:`deepprior.dip`: :func:`deepprior.loop.fit`; :func:`run_together` steps several plans' fits at
once) → :class:`Restoration` (image + history + :class:`deepprior.record.RunRecord`).

This module imports no torch: a classical solver's plan runs without it; a DIP plan imports
:mod:`deepprior.dip` (and torch) when it runs.
"""

from __future__ import annotations

import functools
import glob
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from .errors import InputError, did_you_mean
from .image import Image, ImageLike
from .presets import Preset
from .record import History, RunRecord
from .registry import SOLVERS

if TYPE_CHECKING:
    from .callbacks import Callback
    from .operators import Operator
    from .regularizers import Regularizer


class Overrides(TypedDict, total=False):
    """Keyword overrides every task function takes (``**overrides``); each replaces the preset row's value.

    Loop settings (see :class:`deepprior.settings.FitSettings`): ``iterations``, ``lr``, ``reg_noise_std``,
    ``average``, ``backtrack``, ``backtrack_drop``, ``data_term``, ``stop``, ``stop_options``, ``discrepancy``,
    ``check_every``, ``output``, ``channels_last``, ``amp``, ``threads``, ``compile``, ``cuda_graph``,
    ``optimize_input``, ``time_limit`` (seconds; the fits of a seed ensemble share it, and the fit leaves the
    refiner the time it was measured to need: the restoration ends by the limit). Giving ``iterations`` without
    ``stop`` turns the preset's default early stop off.

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

    Large images (:mod:`deepprior.tiling`): ``tile`` (``"auto"``, the row's default: tiles only an image whose
    whole fit would not fit in the free memory; a side in pixels: tiles any image larger than it; None: never)
    and ``tile_overlap`` (pixels the tiles overlap by, blended across). Each tile is fitted alone, with its own
    stop; the tiles share a time limit, have a checkpoint file each (``NAME.tileK.pt``) and are refined and
    finished as one image.

    Scale: ``stretch`` (True: the fit runs on the observation stretched onto [0, 1] and its result is mapped back,
    :mod:`deepprior.stretch`; False: on the observation as it is; unset: stretched when it spans less than the
    row's ``stretch_below``, one half: a 12-bit camera's counts in a 16-bit file, a dim exposure). The record's
    ``extra["stretch"]`` gives the range mapped; the history's PSNRs and the snapshots are in the image's units
    either way, a callback's :class:`deepprior.loop.FitState` on the fit's scale.
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
    cuda_graph: bool
    time_limit: float
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
    tile: int | str | None
    tile_overlap: int
    stretch: bool


_DIP_NAMES = set(Overrides.__annotations__) - {"passes", "kappa", "beta_max"}


_SOLVER_NAMES = {"lam", "passes", "kappa", "beta_max", "reference", "progress"}

#: The command-line flag of each override whose name is not the override's, and how the flag is written here.
CLI_FLAGS = {
    "amp": ("--fp32", "amp=False"),
    "output": ("--result", "output=..."),
    "width": ("--channels", "width=..."),
    "regularizer_options": ("--tv-kind", "regularizer_options={'kind': ...}"),
}


def _named_here(name: str) -> str:
    """An unknown option with what it may have meant: the override a command-line flag stands for, or a
    near spelling."""
    for flag, written in CLI_FLAGS.values():
        if name == flag.removeprefix("--").replace("-", "_"):
            return f"{name} (the command line's {flag} is {written} here)"
    return name + did_you_mean(name, _DIP_NAMES | _SOLVER_NAMES)


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
        Per-step loss and PSNRs (:class:`deepprior.record.History`; empty for a classical solver).
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
        raise InputError(f"unknown option(s): {', '.join(map(_named_here, unknown))}")
    ignored = sorted(k for k, v in given.items() if k not in allowed and v is not None)
    if ignored:
        raise InputError(f"option(s) {', '.join(ignored)} do not apply to {method}")


def plan_classical(preset: Preset, source: Image, overrides: dict[str, Any], squeeze: bool = False) -> Plan:
    """Check the overrides against the row's classical solver (``lam`` and the solver's own options) and plan
    its run."""
    _check_names(overrides, set(preset.solver_options) | {"reference", "progress"}, preset.method)
    problem = _Problem(source, source.pixels, None, source.shape, "cpu", None, None, squeeze, None)
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
    refine_reserve
        Seconds held back from a time-limited fit for the refiners that run after it (its own and, stepped
        together, the other plans'), so that the restoration, not only the fit, ends by the time limit; 0 until
        :func:`deepprior.dip.reserve_refine_time` measures them.
    tile_of
        (index, count): this plan restores one tile of a larger image (:func:`deepprior.tiling.tile_plan`);
        None: a whole image.
    """

    preset: Preset
    problem: _Problem
    seed: int
    seeds: int
    overrides: dict[str, Any]
    refiner: str | None
    finish: Callable[[Restoration], Restoration] | None
    refine_reserve: float = 0.0
    tile_of: tuple[int, int] | None = None

    @property
    def tile(self) -> tuple[int, int]:
        """(index, count) of the tile this plan restores; (0, 1) for a whole image."""
        return self.tile_of or (0, 1)

    @property
    def fit_overrides(self) -> dict[str, Any]:
        """The overrides the fit runs with: the user's, with the time limit less :attr:`refine_reserve`."""
        if not self.refine_reserve:
            return self.overrides
        return {**self.overrides, "time_limit": self.overrides["time_limit"] - self.refine_reserve}

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
        from .dip import run_plan

        return run_plan(self)


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
    ``seconds`` are the batch's. A plan whose image is tiled (:func:`deepprior.tiling.choose_tiling`) runs alone,
    its tiles one after another.

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
    from .dip import complete, fit_together, reserve_refine_time
    from .tiling import choose_tiling

    results: dict[int, Restoration] = {}
    tiled = {index for index, plan in enumerate(plans) if choose_tiling(plan) is not None}
    for index in sorted(tiled):  # its tiles already take what memory there is: one after another
        results[index] = plans[index].run()
    rest = [index for index in range(len(plans)) if index not in tiled]
    for batch in _batches([plans[i] for i in rest], at_once):
        group = [rest[i] for i in batch]
        if len(group) == 1 and plans[group[0]].seeds == 1:  # nothing to step it with
            results[group[0]] = plans[group[0]].run()
            continue
        batch = reserve_refine_time([plans[i] for i in group])
        restorations = fit_together(batch)
        for index, plan, members in zip(group, batch, restorations):
            results[index] = complete(plan, members)
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


@dataclass(frozen=True)
class _Problem:
    """What every fit of one run shares: the image, y and its operator (None for a classical solver's), the size
    to restore, the device, the guide image (z of the flash/no-flash row), the alpha to carry, the input's layout
    and the record's extras."""

    source: Image
    observation: np.ndarray
    operator: Operator | None
    image_size: tuple[int, int]
    device: str
    guide: np.ndarray | None
    alpha: np.ndarray | None
    squeeze: bool
    extra: dict[str, Any] | None

    @functools.cached_property
    def noise_sigma(self) -> float:
        """σ of the noise in y, estimated blind (:func:`deepprior.metrics.noise_sigma`) once for the refiner and
        the timing of it."""
        from .metrics import noise_sigma

        return noise_sigma(self.observation)


def checkpoint_files(path: str | os.PathLike[str], seeds: int, seed: int = 0, together: bool = False) -> list[Path]:
    """The checkpoint files of a run given ``checkpoint=path``: the path itself for one fit or for seeds stepped
    together (``batch_seeds``), else ``NAME.seedS.pt`` beside it for each fit of a seed ensemble."""
    path = Path(path)
    if seeds == 1 or together:
        return [path]
    return [path.with_name(f"{path.stem}.seed{seed + i}{path.suffix}") for i in range(seeds)]


def time_share(deadline: float, fits_left: int) -> float:
    """The seconds of a time limit that the next of ``fits_left`` fits gets (seeds or tiles run one after
    another): an even share of what is left before ``deadline`` (a :func:`time.perf_counter` time), at least 1 ms."""
    return max(deadline - time.perf_counter(), 1e-3) / fits_left


def tile_checkpoint(path: str | os.PathLike[str], index: int) -> Path:
    """The checkpoint file of tile ``index`` of a tiled run given ``checkpoint=path``: ``NAME.tileK.pt``
    (K from 1), itself the base of :func:`checkpoint_files` for the tile's seeds."""
    path = Path(path)
    return path.with_name(f"{path.stem}.tile{index + 1}{path.suffix}")


def tile_checkpoints(path: str | os.PathLike[str]) -> list[Path]:
    """The tiles' checkpoint files of ``checkpoint=path`` that exist (:func:`tile_checkpoint`, and their seeds')."""
    path = Path(path)
    return sorted(path.parent.glob(f"{glob.escape(path.stem)}.tile*{glob.escape(path.suffix)}"))


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


__all__ = [
    "Overrides",
    "Plan",
    "Restoration",
    "checkpoint_files",
    "plan_classical",
    "run_together",
    "tile_checkpoint",
    "time_share",
    "tile_checkpoints",
]
