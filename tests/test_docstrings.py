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
