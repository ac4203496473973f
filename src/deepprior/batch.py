"""Several independent fits in one loop: their networks' weights stacked, one batched forward pass per step.

A small generator leaves most of a GPU idle: its step is bound by kernel launches, not arithmetic, so N fits
stepped together (:func:`torch.func.vmap` over stacked weights turns each convolution into one grouped
convolution) may cost little more than one. Each member keeps its own weights, Adam moments, input, jitter stream,
observation, operator, reference and callbacks, and BatchNorm its own statistics, so a member's result is the one
:func:`deepprior.loop.fit` gives it alone, up to the order of floating-point sums. A member whose stopping rule
ends its fit leaves the stack; the others go on.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch.func import functional_call, stack_module_state, vmap

from .callbacks import Callback, Checkpointing, FunctionCallback, Progress
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
from .seeding import torch_generator
from .settings import FitSettings

#: Loop features a batched fit cannot offer: each rewinds or rebuilds one member's network alone.
UNSUPPORTED = {
    "backtrack": "backtracking",
    "compile": "torch.compile",
    "optimize_input": "optimising the input",
}


@dataclass
class Member:
    """One fit of a batch: what :func:`deepprior.loop.fit` takes for it (no regulariser)."""

    net: Generator
    z: torch.Tensor
    observation: torch.Tensor
    operator: Operator
    settings: FitSettings
    reference: torch.Tensor | None = None
    callbacks: Sequence[Callback | Callable[[FitState], bool | None]] = ()


def fit_batch(
    members: Sequence[Member],
    *,
    output_size: tuple[int, int] | None = None,
    device: torch.device | None = None,
    clock: Callback | None = None,
) -> list[FitResult]:
    """Fit several generators at once, each to its own observation; the results in the members' order.

    Each step: z_k,t = z_k + σ_reg·ε_k (ε_k from member k's jitter stream), x = crop(vmap(g)(θ, z_t)) for all
    members in one batched pass, one Adam step on Σ_k E(A_k·x_k, y_k) — the members share no parameter, so each
    receives exactly the gradient of its own term — then every member's callbacks run on its own state.

    Parameters
    ----------
    members
        The fits: generators of one architecture (same class and parameter shapes), inputs of one shape, and the
        same :class:`deepprior.settings.FitSettings` except for ``seed``; each member's observation, operator,
        reference and callbacks are its own.
    output_size
        (H, W) to which every output is centre-cropped; None: no crop.
    device
        Where to run; default: where the first observation is.
    clock
        One callback for the batch as a whole (a :class:`deepprior.callbacks.Progress` bar), called with the state
        of the first member still fitting.

    Returns
    -------
    list of FitResult
        One per member; its ``seconds`` run from the start of the batch to the end of that member's fit.

    Raises
    ------
    InputError
        No members, members that differ in architecture, input shape or settings, a setting a batch cannot
        offer (backtracking, compile, optimize_input), or a loss that becomes NaN.
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
        states = [_member_state(member, device) for member in members]
        params, buffers = stack_module_state([state.net for state in states])
        z = torch.stack([state.z for state in states])
    except RuntimeError as exc:
        _raise_if_out_of_memory(exc, members[0].z)
        raise
    template = copy.deepcopy(states[0].net).to("meta")
    optimizer = _make_optimizer(list(params.values()), settings.lr, device)

    def batched_forward(weights: dict[str, torch.Tensor], state: dict[str, torch.Tensor], inp: torch.Tensor):
        return functional_call(template, (weights, state), (inp,))

    forward = vmap(batched_forward)
    active = list(range(len(states)))  # the members still fitting, in the order of the stack's rows
    stopped = [False] * len(states)
    seconds = [0.0] * len(states)
    start = time.perf_counter()
    try:
        for state in states:
            for callback in state.callbacks:
                callback.on_start(state)
        if clock is not None:
            clock.on_start(states[0])
        for step in range(settings.iterations):
            inputs = z
            if settings.reg_noise_std > 0:
                noise = [torch.randn(z.shape[1:], generator=states[k].jitter, device=device) for k in active]
                inputs = z + settings.reg_noise_std * torch.stack(noise)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                outputs = forward(params, buffers, inputs)
            outputs = outputs.float()
            if output_size is not None:
                outputs = crop_to(outputs, *output_size)
            terms = []
            for row, k in enumerate(active):
                prediction = states[k].operator(outputs[row])
                terms.append((outputs[row], prediction, data_term(prediction, states[k].observation)))
            torch.stack([loss for _, _, loss in terms]).sum().backward()
            optimizer.step()
            last = step == settings.iterations - 1
            check = (step + 1) % settings.check_every == 0 or last
            ended = []
            for k, (output, prediction, loss) in zip(active, terms):
                state = states[k]
                state.step = step
                state.output, state.prediction, state.loss = output.detach(), prediction.detach(), loss.detach()
                stop = any([bool(callback.on_step(state)) for callback in state.callbacks])
                if check:
                    stop = any([bool(callback.on_check(state)) for callback in state.callbacks]) or stop
                if stop:
                    ended.append(k)
            if clock is not None:
                clock.on_step(states[active[0]])
                if check:
                    clock.on_check(states[active[0]])
            if ended or last:
                now = time.perf_counter() - start
                for k in active if last else ended:
                    _unstack_into(states[k].net, params, buffers, active.index(k))
                    stopped[k], seconds[k] = k in ended, now
                going_on = [k for k in active if k not in ended]
                if last or not going_on:
                    break
                rows = [active.index(k) for k in going_on]
                params, buffers, z, optimizer = _keep_rows(params, buffers, z, optimizer, rows, settings.lr, device)
                active = going_on
        for state in states:
            for callback in state.callbacks:
                callback.on_end(state)
        if clock is not None:
            clock.on_end(states[0])
    except RuntimeError as exc:
        _raise_if_out_of_memory(exc, members[0].z)
        raise
    finally:
        for callback in [clock, *(cb for state in states for cb in state.callbacks)]:
            if isinstance(callback, Progress):
                callback.close()

    results = []
    for k, state in enumerate(states):
        image, source, selected = select_output(state.settings.output, state)
        results.append(
            FitResult(
                image=image.detach().float().cpu().contiguous(),
                history=state.history,
                iterations_run=state.step + 1,
                stopped_at=state.step if stopped[k] else None,
                selected_step=selected,
                seconds=seconds[k],
                source=source,
                channels_last=False,
                amp=amp,
            )
        )
    return results


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
    asked = [label for name, label in UNSUPPORTED.items() if getattr(shared, name)]
    if asked:
        raise InputError(f"a batched fit cannot offer {', '.join(asked)}: fit these members one at a time")
    _check_policy(shared, None)
    return first.settings


def _shapes(net: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(value.shape)) for name, value in net.state_dict().items()]


def _member_state(member: Member, device: torch.device) -> FitState:
    """A member's own fit state on ``device``, its callbacks the settings' defaults then its own."""
    settings = member.settings
    if any(isinstance(callback, Checkpointing) for callback in member.callbacks):
        raise InputError("a batched fit cannot save checkpoints (one member's alone): fit it on its own")
    net = member.net.to(device).train()  # BatchNorm in train mode, as in DIP
    state = FitState(
        settings=settings,
        device=device,
        net=net,
        z=member.z.to(device),
        observation=member.observation.to(device),
        operator=member.operator.to(device),
        optimizer=None,  # type: ignore[arg-type]  # one optimiser steps the stack; no member callback needs it
        reference=None if member.reference is None else member.reference.to(device),
        jitter=torch_generator(settings.seed, "jitter", device) if settings.reg_noise_std > 0 else None,
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


__all__ = ["Member", "UNSUPPORTED", "fit_batch"]
