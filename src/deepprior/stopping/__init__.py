"""Ground-truth-free early stopping for Deep Image Prior.

DIP fits the degraded image eventually, noise included; the best iterate comes
before that.  These stoppers watch only the network outputs (no ground truth):

* :class:`ESWMV` -- windowed moving variance (ES-WMV, Wang et al., TMLR): the
  variance of the last ``window`` outputs reaches a minimum near the PSNR peak.
* :class:`ESEMV` -- the same idea with an exponential moving mean and variance
  (ES-EMV): O(1) images of state instead of ``window``.

How a fit loop uses them (see :class:`EarlyStopping`)::

    stopper = make_stopper("es-wmv")            # None for "fixed"
    for step in range(num_iters):
        out = net(z_t)
        ...                                      # loss, backward, optimiser step
        if stopper is not None:
            stopper.update(step, out.detach())   # device-only work, no host sync
            if step % stopper.check_every == 0 and stopper.should_stop():   # one sync
                break
    result = stopper.best_output if stopper and stopper.best_output is not None else out

Everything :meth:`EarlyStopping.update` does is queued on the output's device:
no ``.item()``, no host copy, no data-dependent Python branch.  The few reads
that need the host (``should_stop``, ``best_step``, ``best_score``,
``scores``) synchronise once each, so the loop calls ``should_stop`` only every
``check_every`` steps.  Stopping is then detected up to ``check_every - 1``
steps late; the returned best output is the same as with a check every step.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from ..registry import STOPPERS, check_options
from .base import EarlyStopping
from .es_emv import ESEMV
from .es_wmv import ESWMV
from .fixed import FixedSteps


def make_stopper(name: str, **options: Any) -> EarlyStopping | None:
    """Build the stopping rule registered as ``name`` (case and ``_``/``-`` are not significant).

    Returns None for ``"fixed"`` (every step runs). Raises :class:`InputError` for an unknown name (the message
    lists the choices) or an option the rule does not take or accept.
    """
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
    cls = STOPPERS.get(key)
    check_options(f"the stopping rule {key!r}", options, cls)
    try:
        rule = cls(**options)
    except TypeError as exc:
        raise InputError(f"bad option for the stopping rule {key!r}: {exc}") from None
    return None if isinstance(rule, FixedSteps) else rule


__all__ = ["STOPPERS", "EarlyStopping", "ESWMV", "ESEMV", "FixedSteps", "make_stopper"]
