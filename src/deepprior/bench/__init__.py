"""Benchmark suites: the papers' tables reproduced side by side with the papers' figures and classical baselines.

``deepprior bench SUITE`` (see :mod:`deepprior.bench.cli`); from Python::

    from deepprior.bench import BenchRequest, run_suite
    summary = run_suite(BenchRequest("denoise-color25", profile="quick", limit=2))

Modules: :mod:`.suites` (data, degradations, scoring, paper figures), :mod:`.methods` (the method registry),
:mod:`.runner` (entries, resume, seeds, progress), :mod:`.report` (Markdown tables, contact sheets),
:mod:`.cli` (the sub-command). Importing this package does not import torch.
"""

from __future__ import annotations

from typing import Any


__all__ = ["add_bench_parser", "PROFILES", "QUICK_LABEL", "SUITES", "BenchRequest", "BenchSummary", "run_suite",
           "rebuild_reports"]


def __getattr__(name: str) -> Any:  # load the parts on first use (keeps `python -m deepprior.bench.cli` clean)
    if name == "add_bench_parser":
        from .cli import add_bench_parser

        return add_bench_parser
    if name in ("PROFILES", "QUICK_LABEL", "SUITES"):
        from . import suites

        return getattr(suites, name)
    if name in ("BenchRequest", "BenchSummary", "run_suite"):
        from . import runner

        return getattr(runner, name)
    if name == "rebuild_reports":
        from .report import rebuild_reports

        return rebuild_reports
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
