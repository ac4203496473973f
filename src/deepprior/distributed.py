"""Scale-out on Ray (the optional extra ``deepprior[ray]``): one task per image, on a cluster of machines.

Each task restores one image on whichever node Ray gives it and writes its result there, atomically (the output
folder must be on a file system the nodes share, as on any cluster with a shared home or data volume). A task
whose worker dies (killed, out of memory, node lost) is run again by Ray; a failing image (a corrupt file) is
reported, not retried. ``num_gpus`` per task may be a fraction, so several fits share one GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .errors import DeepPriorError, InputError, Warned

Key = TypeVar("Key")

#: How often Ray runs a task again when its worker dies.
RETRIES = 3


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError('--ray needs Ray: pip install "deepprior[ray]"') from None
    return ray


def connect(address: str) -> Any:
    """Join the Ray cluster at ``address`` (``"auto"``: the running one, else a new one on this machine)."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    options = {"include_dashboard": False, "log_to_driver": False}
    try:
        ray.init(address=address, **options)
    except ConnectionError:
        if address != "auto":
            raise InputError(f"no Ray cluster answers at {address!r}") from None
        ray.init(**options)  # nothing running: a local cluster of this machine's cores
    return ray


def _restore_remote(job: Callable[..., list[Warned]], *arguments: Any) -> tuple[str | None, list[Warned]]:
    """Run one job; returns a user-facing failure as its message (Ray would retry nothing else), or None, and the
    warnings the job raised (a node's output does not reach the user)."""
    try:
        return None, job(*arguments)
    except DeepPriorError as exc:
        return str(exc), []


def run_on_ray(
    address: str,
    gpus_per_fit: float,
    job: Callable[..., list[Warned]],
    tasks: list[tuple[Key, tuple[Any, ...]]],
) -> Iterator[tuple[Key, str | None, list[Warned]]]:
    """Run ``job(*arguments)`` on the cluster for each ``(key, arguments)`` task; yields, as each task ends, its
    key, its failure in one line (None if it succeeded) and the warnings it raised, for the caller to show."""
    ray = connect(address)
    remote = ray.remote(num_cpus=1, num_gpus=gpus_per_fit, max_retries=RETRIES)(_restore_remote)
    pending = {remote.remote(job, *arguments): key for key, arguments in tasks}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        key = pending.pop(done[0])
        try:
            error, warned = ray.get(done[0])
        except Exception as exc:  # the task failed RETRIES + 1 times: a worker that keeps dying
            error, warned = f"its worker kept failing ({type(exc).__name__})", []
        yield key, error, warned


__all__ = ["RETRIES", "connect", "run_on_ray"]
