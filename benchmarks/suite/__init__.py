"""Benchmark suites: the papers' tables reproduced side by side with the papers' figures and classical baselines.

``python -m benchmarks.run_suites SUITE`` from the repository root; from Python::

    from benchmarks.suite.runner import BenchRequest, run_suite
    summary = run_suite(BenchRequest("denoise-color25", profile="quick", limit=2))

Modules: :mod:`.suites` (data, degradations, scoring; the registry ``SUITES``; the papers' figures come from
``benchmarks/paper_figures.json``), :mod:`.methods` (the registry ``METHODS``, and the only calls into deepprior's
task API), :mod:`.results` (the append-only JSONL results file), :mod:`.runner` (entries, resume, seeds,
progress), :mod:`.budget` (which entries a time budget starts), :mod:`.report` (Markdown tables, contact sheets).
Importing this package imports nothing else.
"""
