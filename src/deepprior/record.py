"""The run record: a typed, versioned description of one restoration, written next to its output by one writer.

A record says what ran (task, method, preset, every setting, the network, the regulariser, the operator), where
(device, versions) and what came out (iterations, the early-stopping step, which image was returned, the time).
Its JSON form starts with ``"schema": "deepprior.run"`` and ``"version"``; readers check both.
"""

from __future__ import annotations

import dataclasses
import math
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__

SCHEMA = "deepprior.run"
SCHEMA_VERSION = 6
#: Versions :meth:`RunRecord.from_dict` reads (version 1 had no seed ensembles, version 2 no refinement,
#: version 3 no ``at_once``, version 4 no ``cuda_graph``, version 5 no ``tiling``).
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6)


def versions() -> dict[str, str]:
    """Versions of deepprior, Python, numpy and the libraries that shaped this run's result: those of torch,
    scikit-image and numba that the run imported (a classical solver's record names no torch: it ran without)."""
    import sys

    found = {"deepprior": __version__, "python": platform.python_version()}
    for label, module in (("torch", "torch"), ("numpy", "numpy"), ("scikit-image", "skimage"), ("numba", "numba")):
        if module == "numpy" or module in sys.modules:
            found[label] = __import__(module).__version__
    return found


@dataclass
class RunRecord:
    """Everything needed to understand, compare and repeat one run.

    Attributes
    ----------
    task, method, preset
        The row of the preset table that was used (e.g. ``"smooth"``, ``"dip-l0"``, ``"paper"``).
    settings
        The loop settings (:class:`deepprior.settings.FitSettings` as a dict) after the user's overrides, or the
        solver's parameters for a classical method.
    generator, input, operator, data_term, regularizer
        Name and options of each plug-in (None where the method has none).
    image_size, padded_size
        (H, W) of the restored image and the network's working size.
    device, device_name
        Where it ran (``"cpu"``, ``"cuda:0"``) and what that is.
    iterations_run, stopped_at, selected_step
        Steps taken; the step at which a stopping rule (or a callback) ended the fit; the step whose image was
        returned, when a stopping rule chose it.
    output_source
        Which image was returned: ``"last"``, ``"average"``, ``"early-stop"``, ``"regularizer"`` or the classical
        solver's name.
    seconds
        Time spent fitting.
    channels_last, amp
        Memory format and bf16 autocast as actually used.
    cuda_graph
        Whether the step ran as a recorded CUDA graph (``FitSettings.cuda_graph`` asks for it; off CUDA, or with a
        regulariser that cannot be recorded, it does not).
    at_once
        How many fits were stepped together in the batch this one ran in, itself included
        (:func:`deepprior.restore.run_together`, ``batch_seeds``); 1: alone. Fits stepped together share their
        time: ``seconds`` is then the batch's.
    extra
        Task-specific facts (``scale``, ``known_fraction``, ...).
    seeds, seed_spread
        A seed ensemble: each fit's seed, steps, stop, returned image, seconds and (given a reference) PSNR; and
        the spread of the fits, the root mean square over pixels of their standard deviation. Empty and None for
        a single fit.
    refinement
        The refiner run after the fit (``Preset.refine``): its name, the noise level σ it used (estimated from
        the observation), its seconds and, under a time limit, the ``reserved_seconds`` held back for it from
        the fit (:func:`deepprior.dip.reserve_refine_time`); None when none ran.
    tiling
        An image restored in tiles (:mod:`deepprior.tiling`): the tile side, the overlap, their count, why they
        were chosen (None: asked for) and each tile's box (top, left, height, width), steps, stop, returned image,
        seconds and seed spread; None for a whole image. ``iterations_run`` and ``seconds`` are then the tiles'
        sums, and ``padded_size`` a tile's.
    inputs, output_path, command, wall_seconds
        Filled in by the command line: the files read and written and the command that ran.
    """

    task: str
    method: str
    preset: str = "paper"
    settings: dict[str, Any] = field(default_factory=dict)
    generator: dict[str, Any] | None = None
    input: dict[str, Any] | None = None
    operator: dict[str, Any] | None = None
    data_term: str | None = None
    regularizer: dict[str, Any] | None = None
    image_size: tuple[int, int] | None = None
    padded_size: tuple[int, int] | None = None
    device: str = "cpu"
    device_name: str = "cpu"
    versions: dict[str, str] = field(default_factory=versions)
    iterations_run: int = 0
    stopped_at: int | None = None
    selected_step: int | None = None
    output_source: str = "last"
    seconds: float = 0.0
    channels_last: bool = False
    amp: bool = False
    cuda_graph: bool = False
    at_once: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    seeds: list[dict[str, Any]] = field(default_factory=list)
    seed_spread: float | None = None
    refinement: dict[str, Any] | None = None
    tiling: dict[str, Any] | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    output_path: str | None = None
    command: list[str] | None = None
    wall_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form, schema name and version first."""
        return {"schema": SCHEMA, "version": SCHEMA_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """Read back :meth:`to_dict`'s output.

        Raises
        ------
        InputError
            The dict is not a ``deepprior.run`` record of a version this code reads.
        """
        from .errors import InputError

        if data.get("schema") != SCHEMA or data.get("version") not in READABLE_VERSIONS:
            raise InputError(
                f"not a {SCHEMA} record of version {' or '.join(map(str, READABLE_VERSIONS))} "
                f"(schema {data.get('schema')!r}, version {data.get('version')!r})"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class History:
    """Per-step records of a fit, on the host.

    ``loss`` is the total objective; ``psnr`` / ``psnr_average`` compare the output / the average with the
    reference (NaN without one); ``psnr_observation`` compares A·out with y; ``seconds`` is the wall time since
    the start, sampled at each check (NaN between checks); ``events`` lists backtracking and stopping.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    psnr_average: list[float] = field(default_factory=list)
    psnr_observation: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (NaN becomes None)."""
        out: dict[str, Any] = {}
        for key, values in dataclasses.asdict(self).items():
            if key == "events":
                out[key] = values
            else:
                out[key] = [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]
        return out

    def seconds_per_iteration(self) -> float:
        """Mean wall time per step over the whole fit."""
        timed = [(s, t) for s, t in zip(self.step, self.seconds) if math.isfinite(t)]
        if not timed:
            return float("nan")
        return timed[-1][1] / (timed[-1][0] + 1)


def what_ran(record: dict[str, Any]) -> str:
    """What a run did, in a few words, from its record's fields: "1200 steps", or for a classical solver (no
    steps; its output is its own) the solver and its settings, "region-fusion, λ = 0.03, passes = 50"."""
    if record.get("iterations_run") or record.get("output_source") != record.get("method"):
        return f"{record.get('iterations_run') or 0} steps"
    given = [
        f"{'λ' if name == 'lam' else name} = {format(value, 'g') if isinstance(value, (int, float)) else value}"
        for name, value in (record.get("settings") or {}).items()
    ]
    return ", ".join([str(record.get("method")), *given])


def write_record(path: str | Path, record: RunRecord, history: Any | None = None) -> Path:
    """Write ``record`` (and the per-step ``history``, a :class:`History`) as JSON, atomically.

    The one writer of run records: the command line's sidecar, the demo and the benchmarks all use it.
    """
    from .io import write_json

    data = record.to_dict()
    if history is not None:
        data["history"] = history.to_dict()
    return write_json(path, data)


__all__ = [
    "History",
    "READABLE_VERSIONS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "RunRecord",
    "versions",
    "what_ran",
    "write_record",
]
