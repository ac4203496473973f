"""``fixed``: no early stopping, every step runs (the papers' protocol)."""

from __future__ import annotations

from typing import Any

from ..registry import STOPPERS
from .base import EarlyStopping


@STOPPERS.register("fixed")
class FixedSteps(EarlyStopping):
    """The rule that never stops early; the fit runs all its iterations and returns the policy's image."""

    name = "fixed"

    def __init__(self, **options: Any) -> None:  # takes (and ignores) the options of the other rules
        super().__init__(patience=1, check_every=int(options.get("check_every", 1)))

    def update(self, step: int, output: Any, keep: Any = None) -> None:
        self.last_step = step
