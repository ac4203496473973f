"""Several independent fits in one loop: their networks' weights stacked, one batched forward pass per step.

A small generator leaves most of a GPU idle: its step is bound by kernel launches, not arithmetic, so N fits
stepped together (:func:`torch.func.vmap` over stacked weights turns each convolution into one grouped
convolution) may cost little more than one. Each member keeps its own weights, Adam moments, input, jitter stream,
observation, operator, regulariser, reference and callbacks, and BatchNorm its own statistics, so a member's
result is the one :func:`deepprior.loop.fit` gives it alone, up to the order of floating-point sums. A member whose
stopping rule ends its fit leaves the stack; the others go on. The members' regulariser hooks after a step (DIP-ℓ0's
ADMM v-steps, Region Fusion on the CPU) run in threads at once, one per member, so that the batch waits for about
the longest of them rather than their sum.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import torch
from torch.func import functional_call, stack_module_state, vmap

from .callbacks import Callback, Checkpointing, FunctionCallback, Progress, checkpointed, checkpointed_kinds
from .device import fast_defaults
from .errors import InputError
from .loop import (
    FitResult,
    FitState,
    _check_policy,
    _make_optimizer,
    _raise_if_out_of_memory,
    crop_to,
    default_callbacks,
    select_output,
)
from .nets.base import Generator
from .operators import Operator
from .registry import DATA_TERMS
from .regularizers.base import Regularizer
from .seeding import torch_generator
from .settings import FitSettings

#: Loop features a batched fit cannot offer: each compiles or trains what the members do not share.
UNSUPPORTED = {
    "compile": "torch.compile",
    "optimize_input": "optimising the input",
}


@dataclass
class Member:
    """One fit of a batch: what :func:`deepprior.loop.fit` takes for it."""

    net: Generator
    z: torch.Tensor
    observation: torch.Tensor
    operator: Operator
    settings: FitSettings
    reference: torch.Tensor | None = None
    callbacks: Sequence[Callback | Callable[[FitState], bool | None]] = ()
    regularizer: Regularizer | None = None


@dataclass
class _Stack:
    """The members still fitting, stacked: their weights and BatchNorm statistics (a leading dimension, one row
    per member), inputs and the one optimiser over them; ``active`` lists the members by row."""

    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    z: torch.Tensor
    optimizer: torch.optim.Optimizer
    active: list[int]

    def keep(self, members: list[int], lr: float, device: torch.device) -> None:
        """Drop the rows of every member not in ``members`` (weights, statistics, inputs and Adam's moments), so
        that the members left go on exactly as before."""
        rows = [self.active.index(k) for k in members]
        self.params, self.buffers, self.z, self.optimizer = _keep_rows(
            self.params, self.buffers, self.z, self.optimizer, rows, lr, device
        )
        self.active = list(members)


@dataclass
class _MemberState(FitState):
    """A member's fit state, whose :meth:`snapshot` and :meth:`restore` (backtracking) read and write its rows of
    the stack: its weights, BatchNorm statistics and Adam moments. Adam's step count is one for the whole stack,
    so a restore does not rewind it (a fit alone rewinds it, which changes the bias correction of the next steps
    slightly)."""

    index: int = 0
    stack: _Stack | None = None

    def _row(self) -> int:
        assert self.stack is not None
        return self.stack.active.index(self.index)

    def snapshot(self) -> dict[str, Any]:
        stack, row = self.stack, self._row()
        assert stack is not None
        moments = {
            name: {key: value[row].clone() for key, value in stack.optimizer.state[p].items() if value.dim()}
            for name, p in stack.params.items()
            if p in stack.optimizer.state
        }
        return {
            "params": {name: p.detach()[row].clone() for name, p in stack.params.items()},
            "buffers": {name: b[row].clone() for name, b in stack.buffers.items()},
            "moments": moments,
            **self.features_snapshot(),
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        stack, row = self.stack, self._row()
        assert stack is not None
        with torch.no_grad():
            for name, p in stack.params.items():
                p[row].copy_(snapshot["params"][name])
                for key, value in snapshot["moments"].get(name, {}).items():
                    stack.optimizer.state[p][key][row].copy_(value)
            for name, b in stack.buffers.items():
                b[row].copy_(snapshot["buffers"][name])
        self.restore_features(snapshot)


class BatchState:
    """What a callback of the whole batch sees (:func:`fit_batch`'s ``callbacks``): the state of the first member
    still fitting (settings, step, history, device... for a progress bar) and :meth:`checkpoint`, the whole
    batch (for :class:`deepprior.callbacks.Checkpointing`)."""

    def __init__(self, states: list[FitState], stack: _Stack, stopped: list[bool], seconds: list[float]) -> None:
        self.states, self.stack, self.stopped, self.seconds = states, stack, stopped, seconds
        self.start = time.perf_counter()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.states[self.stack.active[0] if self.stack.active else 0], name)

    def checkpoint(self) -> dict[str, Any]:
        """Everything the batch needs to go on from here: the stack, Adam, and each member's callbacks, jitter
        stream, step and (once ended) its output and weights."""
        stack = self.stack
        members = []
        for k, state in enumerate(self.states):
            ended = k not in stack.active
            members.append(
                {
                    "callbacks": [callback.state_dict() for callback in checkpointed(state.callbacks)],
                    "kinds": checkpointed_kinds(state.callbacks),
                    "jitter": None if state.jitter is None else state.jitter.get_state(),
                    "regularizer": None if state.regularizer is None else copy.deepcopy(state.regularizer.state_dict()),
                    "step": state.step,
                    "stopped": self.stopped[k],
                    "seconds": self.seconds[k],
                    "output": state.output if ended else None,
                    "net": {n: v.detach().clone() for n, v in state.net.state_dict().items()} if ended else None,
                }
            )
        return {
            "batch": {
                "params": {name: value.detach().clone() for name, value in stack.params.items()},
                "buffers": {name: value.clone() for name, value in stack.buffers.items()},
                "optimizer": copy.deepcopy(stack.optimizer.state_dict()),
                "active": list(stack.active),
                "elapsed": time.perf_counter() - self.start,
            },
            "members": members,
            "step": max(state.step for state in self.states),
            "threads": torch.get_num_threads(),
        }

    def resume(self, checkpoint: dict[str, Any], lr: float, device: torch.device) -> int:
        """Load a :meth:`checkpoint` of the same batch; returns the step to go on from."""
        saved = checkpoint["batch"]
        if len(checkpoint["members"]) != len(self.states) or any(
            entry["kinds"] != checkpointed_kinds(state.callbacks)
            for entry, state in zip(checkpoint["members"], self.states)
        ):
            raise InputError("cannot resume: the checkpoint's batch had other members or features (callbacks)")
        params = {name: value.detach().clone().requires_grad_(True) for name, value in saved["params"].items()}
        optimizer = _make_optimizer(list(params.values()), lr, device)
        optimizer.load_state_dict(saved["optimizer"])
        rows = saved["active"]
        self.stack.params, self.stack.buffers, self.stack.optimizer = params, saved["buffers"], optimizer
        self.stack.z = torch.stack([self.states[k].z for k in rows]) if rows else self.stack.z[:0]
        self.stack.active = list(rows)
        self.start = time.perf_counter() - saved["elapsed"]
        for k, (entry, state) in enumerate(zip(checkpoint["members"], self.states)):
            for callback, callback_state in zip(checkpointed(state.callbacks), entry["callbacks"]):
                callback.load_state_dict(callback_state)
            state.follow_average()
            if state.jitter is not None:
                state.jitter.set_state(entry["jitter"])
            if state.regularizer is not None:
                state.regularizer.load_state_dict(entry["regularizer"])
            state.step, self.stopped[k], self.seconds[k] = entry["step"], entry["stopped"], entry["seconds"]
            if entry["net"] is not None:
                state.net.load_state_dict(entry["net"])
                state.output = entry["output"]
            for callback in state.callbacks:
                callback.on_resume(state)
        return checkpoint["step"] + 1


def fit_batch(
    members: Sequence[Member],
    *,
    output_size: tuple[int, int] | None = None,
    device: torch.device | None = None,
    callbacks: Sequence[Callback] = (),
    resume: dict[str, Any] | None = None,
) -> list[FitResult]:
    """Fit several generators at once, each to its own observation; the results in the members' order.

    Each step: z_k,t = z_k + σ_reg·ε_k (ε_k from member k's jitter stream), x = crop(vmap(g)(θ, z_t)) for all
    members in one batched pass, one Adam step on Σ_k E(A_k·x_k, y_k) + R_k(x_k) — the members share no
    parameter, so each receives exactly the gradient of its own terms — then the members' regulariser hooks
    (:meth:`deepprior.regularizers.Regularizer.after_step`, in threads at once) and every member's callbacks on
    its own state.

    Parameters
    ----------
    members
        The fits: generators of one architecture (same class and parameter shapes), inputs of one shape, and the
        same :class:`deepprior.settings.FitSettings` except for ``seed``, and regularisers of one kind or none;
        each member's observation, operator, regulariser, reference and callbacks are its own.
    output_size
        (H, W) to which every output is centre-cropped; None: no crop.
    device
        Where to run; default: where the first observation is.
    callbacks
        Callbacks of the whole batch, called after the members' own with a :class:`BatchState`: a
        :class:`deepprior.callbacks.Progress` bar (it follows the first member still fitting) or a
        :class:`deepprior.callbacks.Checkpointing` (it saves the whole batch).
    resume
        A checkpoint of the same batch (what such a :class:`deepprior.callbacks.Checkpointing` saved, read by
        :func:`deepprior.callbacks.load_checkpoint`) to go on from.

    Returns
    -------
    list of FitResult
        One per member; its ``seconds`` run from the start of the batch to the end of that member's fit.

    Raises
    ------
    InputError
        No members, members that differ in architecture, input shape, settings or kind of regulariser, a setting
        a batch cannot offer (compile, optimize_input), a member's own checkpointing, a checkpoint of another
        batch, or a loss that becomes NaN.
    DeviceError
        The device ran out of memory.

    Notes
    -----
    The stacked forward pass runs in the contiguous memory format (``channels_last`` does not apply).

    Examples
    --------
    >>> from deepprior.inputs import make_input
    >>> from deepprior.nets import build_generator
    >>> from deepprior.operators import Identity
    >>> y = torch.rand(1, 3, 64, 64)
    >>> members = [
    ...     Member(build_generator("skip", 8, 3, width=8, seed=s), make_input("noise", 8, 64, 64, seed=s), y,
    ...            Identity(), FitSettings(iterations=3, seed=s))
    ...     for s in (0, 1)
    ... ]
    >>> [r.iterations_run for r in fit_batch(members)]
    [3, 3]
    """
    settings = _common_settings(members)
    device = device or members[0].observation.device
    amp = settings.amp if settings.amp is not None else fast_defaults(device)[1]
    data_term = DATA_TERMS.get(settings.data_term)()
    if isinstance(settings.threads, int):
        torch.set_num_threads(settings.threads)
    try:
        states = [_member_state(member, index, device) for index, member in enumerate(members)]
        params, buffers = stack_module_state([state.net for state in states])
        z = torch.stack([state.z for state in states])
    except RuntimeError as exc:
        _raise_if_out_of_memory(exc, members[0].z)
        raise
    template = copy.deepcopy(states[0].net).to("meta")
    optimizer = _make_optimizer(list(params.values()), settings.lr, device)
    stack = _Stack(params, buffers, z, optimizer, active=list(range(len(states))))
    for state in states:
        state.stack = stack

    def batched_forward(weights: dict[str, torch.Tensor], statistics: dict[str, torch.Tensor], inp: torch.Tensor):
        return functional_call(template, (weights, statistics), (inp,))

    forward = vmap(batched_forward)

    def outputs_of(inputs: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            outputs = forward(stack.params, stack.buffers, inputs)
        outputs = outputs.float()
        return crop_to(outputs, *output_size) if output_size is not None else outputs

    batch = BatchState(states, stack, stopped=[False] * len(states), seconds=[0.0] * len(states))
    # the members' hooks after a step (ADMM's v-steps: numba, which releases the GIL) run at once, one per thread;
    # a regulariser that keeps the base class's (a penalty alone, as TV) has none to run
    regularizer = states[0].regularizer
    hooked = regularizer is not None and type(regularizer).after_step is not Regularizer.after_step
    hooks = ThreadPoolExecutor(min(len(states), os.cpu_count() or 1)) if hooked and len(states) > 1 else None
    first = 0
    try:
        for state in states:
            for callback in state.callbacks:
                callback.on_start(state)
        for callback in callbacks:
            callback.on_start(batch)
        if resume is not None:
            first = batch.resume(resume, settings.lr, device)
            for callback in callbacks:
                callback.on_resume(batch)
        for step in range(first, settings.iterations if stack.active else first):
            last = step == settings.iterations - 1
            inputs = stack.z
            if settings.reg_noise_std > 0:
                noise = [torch.randn(inputs.shape[1:], generator=states[k].jitter, device=device) for k in stack.active]
                inputs = inputs + settings.reg_noise_std * torch.stack(noise)
            stack.optimizer.zero_grad(set_to_none=True)
            outputs = outputs_of(inputs)
            terms = []
            for row, k in enumerate(stack.active):
                prediction = states[k].operator(outputs[row])
                loss = data_term(prediction, states[k].observation)
                penalty = None if states[k].regularizer is None else states[k].regularizer.penalty(outputs[row], step)
                terms.append((outputs[row], prediction, loss if penalty is None else loss + penalty))
            torch.stack([loss for _, _, loss in terms]).sum().backward()
            stack.optimizer.step()
            if hooked:
                _after_step(step, [states[k].regularizer for k in stack.active], lambda: outputs_of(stack.z), hooks)
            check = (step + 1) % settings.check_every == 0 or last
            ended = []
            for k, (output, prediction, loss) in zip(stack.active, terms):
                state = states[k]
                state.step = step
                state.output, state.prediction, state.loss = output.detach(), prediction.detach(), loss.detach()
                stop = any([bool(callback.on_step(state)) for callback in state.callbacks])
                if check:
                    stop = any([bool(callback.on_check(state)) for callback in state.callbacks]) or stop
                if stop:
                    ended.append(k)
            if ended or last:
                now = time.perf_counter() - batch.start
                for k in stack.active if last else ended:
                    _unstack_into(states[k].net, stack.params, stack.buffers, stack.active.index(k))
                    batch.stopped[k], batch.seconds[k] = k in ended, now
                going_on = [k for k in stack.active if k not in ended] if not last else []
                if going_on:
                    stack.keep(going_on, settings.lr, device)
                else:
                    stack.active = []
            for callback in callbacks:
                callback.on_step(batch)
                if check:
                    callback.on_check(batch)
            if not stack.active:
                break
        for state in states:
            for callback in state.callbacks:
                callback.on_end(state)
        for callback in callbacks:
            callback.on_end(batch)
    except RuntimeError as exc:
        _raise_if_out_of_memory(exc, members[0].z)
        raise
    finally:
        for callback in [*callbacks, *(cb for state in states for cb in state.callbacks)]:
            if isinstance(callback, Progress):
                callback.close()
        if hooks is not None:
            hooks.shutdown()

    results = []
    for k, state in enumerate(states):
        image, source, selected = select_output(state.settings.output, state)
        results.append(
            FitResult(
                image=image.detach().float().cpu().contiguous(),
                history=state.history,
                iterations_run=state.step + 1,
                stopped_at=state.step if batch.stopped[k] else None,
                selected_step=selected,
                seconds=batch.seconds[k],
                source=source,
                channels_last=False,
                amp=amp,
            )
        )
    return results


def _after_step(
    step: int,
    regularizers: list[Regularizer],
    clean_outputs: Callable[[], torch.Tensor],
    pool: ThreadPoolExecutor | None,
) -> None:
    """Each active member's :meth:`Regularizer.after_step` (``regularizers`` in row order), in ``pool``'s threads
    when given; the outputs without jitter or gradients, which a hook may ask for, are computed once for all."""
    lock, computed = threading.Lock(), []

    def clean(row: int) -> Callable[[], torch.Tensor]:
        def output() -> torch.Tensor:
            with lock:
                if not computed:
                    with torch.no_grad():
                        computed.append(clean_outputs())
            return computed[0][row]

        return output

    calls = [partial(regularizer.after_step, step, clean(row)) for row, regularizer in enumerate(regularizers)]
    if pool is None:
        for call in calls:
            call()
    else:
        for future in [pool.submit(call) for call in calls]:
            future.result()


def _common_settings(members: Sequence[Member]) -> FitSettings:
    """The settings all members share (seeds aside), after refusing what a batch cannot fit."""
    if not members:
        raise InputError("a batched fit needs at least one member")
    first = members[0]
    first.settings.validate()
    shared = replace(first.settings, seed=0)
    for member in members[1:]:
        if replace(member.settings, seed=0) != shared:
            raise InputError("the members of a batched fit must share their settings (all but the seed)")
        if type(member.net) is not type(first.net) or _shapes(member.net) != _shapes(first.net):
            raise InputError("the members of a batched fit must share one generator architecture")
        if member.z.shape != first.z.shape:
            raise InputError("the members of a batched fit must have inputs of one shape")
        if type(member.regularizer) is not type(first.regularizer):
            raise InputError("the members of a batched fit must all have a regulariser of one kind, or none")
    asked = [label for name, label in UNSUPPORTED.items() if getattr(shared, name)]
    if asked:
        raise InputError(f"a batched fit cannot offer {', '.join(asked)}: fit these members one at a time")
    _check_policy(shared, first.regularizer)
    return first.settings


def _shapes(net: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(value.shape)) for name, value in net.state_dict().items()]


def _member_state(member: Member, index: int, device: torch.device) -> _MemberState:
    """Member ``index``'s own fit state on ``device``, its callbacks the settings' defaults then its own."""
    settings = member.settings
    if any(isinstance(callback, Checkpointing) for callback in member.callbacks):
        raise InputError("a batched fit cannot save checkpoints (one member's alone): fit it on its own")
    net = member.net.to(device).train()  # BatchNorm in train mode, as in DIP
    state = _MemberState(
        settings=settings,
        device=device,
        net=net,
        z=member.z.to(device),
        observation=member.observation.to(device),
        operator=member.operator.to(device),
        regularizer=None if member.regularizer is None else member.regularizer.to(device),
        optimizer=None,  # type: ignore[arg-type]  # one optimiser steps the stack; no member callback needs it
        reference=None if member.reference is None else member.reference.to(device),
        jitter=torch_generator(settings.seed, "jitter", device) if settings.reg_noise_std > 0 else None,
        index=index,
    )
    state.callbacks = default_callbacks(settings, False, device) + [
        cb if isinstance(cb, Callback) else FunctionCallback(cb) for cb in member.callbacks
    ]
    return state


def _unstack_into(
    net: torch.nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], row: int
) -> None:
    """Copy row ``row`` of the stacked weights and BatchNorm statistics into ``net`` (trained in place, as by fit)."""
    with torch.no_grad():
        net.load_state_dict({name: value[row] for name, value in {**params, **buffers}.items()})


def _keep_rows(
    params: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    z: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    rows: list[int],
    lr: float,
    device: torch.device,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor, torch.optim.Optimizer]:
    """The stack without the members that ended: their rows of the weights, statistics, inputs and Adam's moments
    dropped, so that the members left go on exactly as before."""
    index = torch.tensor(rows, device=device)
    size = z.shape[0]
    kept = {name: p.detach()[index].clone().requires_grad_(True) for name, p in params.items()}
    fresh = _make_optimizer(list(kept.values()), lr, device)
    for old, new in zip(params.values(), kept.values()):
        moments = optimizer.state.get(old)
        if moments:  # Adam's step count is one scalar for the stack: every member took the same steps
            fresh.state[new] = {
                key: value[index].clone() if value.dim() and value.shape[0] == size else value.clone()
                for key, value in moments.items()
            }
    return kept, {name: b[index].clone() for name, b in buffers.items()}, z[index], fresh


__all__ = ["BatchState", "Member", "UNSUPPORTED", "fit_batch"]
