"""Benchmarks of deepprior; run from the repository root as `python -m benchmarks.<script>`."""
