"""The public restoration functions: one file per task, each a thin front of its rows in the preset table.

Each is written as the plan of its restoration (:class:`deepprior.restore.Plan`: the row, the image, its
observation and operator, checked); :func:`deepprior.tasks.base.task_from_plan` makes the function that plans and
runs it, and keeps the planner as the function's ``.plan`` (``deepprior.denoise.plan(image, ...)``, the same
arguments) for :func:`deepprior.restore.run_together`, which steps several images' fits at once.

Every function takes the image as an array ((H, W) or (H, W, C); floats in [0, 1] or integers scaled by their
dtype's maximum; 2 or 4 channels carry alpha, which is passed through untouched) or a
:class:`deepprior.image.Image`, and returns a :class:`deepprior.restore.Restoration`. Defaults come from
:mod:`deepprior.presets`; any of them can be overridden by keyword (:class:`deepprior.restore.Overrides`).

A new task is one file here that registers a :class:`deepprior.tasks.base.TaskSpec` in
:data:`deepprior.registry.TASKS` (its function, its sub-command's help and options, a call on a sample image),
its rows in the preset table, and its name among the package root's exports: the command line, the contract
tests and the GPU campaign's smoke test enumerate the registry. ``deepprior.tasks.NAME`` is the function
``NAME`` of whichever task defines it.
"""

from __future__ import annotations

from typing import Any

from ..registry import TASKS
from .base import Task, TaskSpec

__all__ = ["TASKS", "Task", "TaskSpec"]


def __getattr__(name: str) -> Any:
    if name.startswith("__"):  # probes of tools (__wrapped__, __file__ ...): not a task
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in ("Restoration", "Overrides"):  # defined with the pipeline, which imports torch
        from .. import restore

        return getattr(restore, name)
    for spec in TASKS.values():
        if spec.function.__name__ == name:
            return spec.function
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
