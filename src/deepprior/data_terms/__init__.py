"""Data terms E(A·x, y) of the fit, chosen by name from :data:`deepprior.registry.DATA_TERMS`.

A new data term is one module in this folder with ``@DATA_TERMS.register("name")`` on a :class:`DataTerm`
subclass.
"""

from __future__ import annotations

from ..registry import DATA_TERMS
from .base import DataTerm

__all__ = ["DATA_TERMS", "DataTerm"]
