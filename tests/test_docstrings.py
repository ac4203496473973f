"""The Examples sections of the installed package's docstrings run, as doctests."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import torch

import deepprior

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(deepprior.__path__, "deepprior.") if name != "deepprior.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    torch.manual_seed(0)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_every_public_function_has_a_numpydoc_docstring_with_an_example():
    tasks = [spec.function.__name__ for spec in deepprior.TASKS.values()]
    for name in (*tasks, "fit", "fit_batch"):
        doc = getattr(deepprior, name).__doc__
        for section in ("Parameters", "Returns", "Raises", "Examples"):
            assert f"{section}\n    ---" in doc, f"{name} lacks {section}"


def test_source_files_hold_no_control_characters():
    """A docstring's LaTeX written through a non-raw string loses ``\\f`` of ``\\frac`` or ``\\b`` of ``\\beta`` to a
    control character, which neither ruff nor the doctests see."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    allowed = {"\n", "\t"}
    found = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("src", "benchmarks", "tests")
        for path in sorted((root / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1)
        if any(ord(char) < 32 and char not in allowed for char in line.rstrip("\r"))
    ]
    assert found == []
