"""The one optimisation loop of Deep Image Prior: min_θ E(A·g_θ(z), y) + R(g_θ(z)).

:func:`fit` steps Adam; averaging, history, early stopping, backtracking, progress and snapshots are callbacks
(:mod:`deepprior.callbacks`) that carry their own state, and the image it returns is chosen by an explicit output
policy (:data:`deepprior.settings.OUTPUT_POLICIES`). Host-device synchronisations happen once per ``check_every``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .callbacks import (
    Averaging,
    Backtracking,
    Callback,
    FunctionCallback,
    HistoryRecorder,
    Progress,
    StopRule,
    ThreadShare,
    TimeLimit,
    checkpointed,
    checkpointed_kinds,
)
from .device import fast_defaults
from .errors import DeviceError, InputError, warn
from .nets.base import Generator
from .operators import Operator
from .record import History
from .registry import DATA_TERMS
from .regularizers.base import Regularizer
from .seeding import torch_generator
from .settings import FitSettings
from .step_graph import StepGraph
from .stopping import make_stopper


@dataclass
class FitState:
    """What callbacks see and change: the problem, the current step's results and the running extras.

    Tensors stay on the device; reading one on the host synchronises, which only ``on_check`` hooks should do.
    """

    settings: FitSettings
    device: torch.device
    net: Generator
    z: torch.Tensor
    observation: torch.Tensor
    operator: Operator
    optimizer: torch.optim.Optimizer
    regularizer: Regularizer | None = None
    reference: torch.Tensor | None = None
    jitter: torch.Generator | None = None
    callbacks: list[Callback] = field(default_factory=list)
    step: int = -1
    output: torch.Tensor | None = None
    prediction: torch.Tensor | None = None
    loss: torch.Tensor | None = None
    average: torch.Tensor | None = None
    history: History = field(default_factory=History)
    restores: int = 0  # how many times :meth:`restore` ran: a recorded step (CUDA graph) must be recorded again

    def snapshot(self) -> dict[str, Any]:
        """Everything the fit would need to go on from here, as copies kept on the device."""
        return {
            "net": {k: v.detach().clone() for k, v in self.net.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "z": self.z.detach().clone(),
            **self.features_snapshot(),
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Return the fit to a :meth:`snapshot` (which stays valid for another restore)."""
        self.net.load_state_dict(snapshot["net"])
        self.optimizer.load_state_dict(copy.deepcopy(snapshot["optimizer"]))  # new state tensors
        self.restores += 1
        with torch.no_grad():
            self.z.copy_(snapshot["z"])
        self.restore_features(snapshot)

    def features_snapshot(self) -> dict[str, Any]:
        """The part of a :meth:`snapshot` beside the weights: the regulariser, the restorable callbacks and the
        jitter stream."""
        return {
            "regularizer": None if self.regularizer is None else copy.deepcopy(self.regularizer.state_dict()),
            "callbacks": [cb.state_dict() if cb.restorable else None for cb in self.callbacks],
            "jitter": None if self.jitter is None else self.jitter.get_state(),
        }

    def restore_features(self, snapshot: dict[str, Any]) -> None:
        """Return the regulariser, the restorable callbacks and the jitter stream to a :meth:`features_snapshot`."""
        if self.regularizer is not None:
            self.regularizer.load_state_dict(copy.deepcopy(snapshot["regularizer"]))
        for callback, state in zip(self.callbacks, snapshot["callbacks"]):
            if callback.restorable:
                callback.load_state_dict(state)
        if self.jitter is not None:
            self.jitter.set_state(snapshot["jitter"])
        self.follow_average()

    def follow_average(self) -> None:
        """Point ``average`` at the averaging callback's tensor again (it owns it; a restore replaces it)."""
        self.average = next((cb.average for cb in self.callbacks if isinstance(cb, Averaging)), None)

    def checkpoint(self) -> dict[str, Any]:
        """A :meth:`snapshot` plus every checkpointed callback's state (history and backtracking's saved state
        included) and the step: all a killed fit needs to go on as if it had never stopped."""
        return {
            "snapshot": self.snapshot(),
            "callbacks_all": [callback.state_dict() for callback in checkpointed(self.callbacks)],
            "kinds": checkpointed_kinds(self.callbacks),
            "step": self.step,
            "threads": torch.get_num_threads(),
        }

    def resume(self, checkpoint: dict[str, Any]) -> None:
        """Load a :meth:`checkpoint` (its checkpointed callbacks must be the same kinds, in the same order)."""
        if checkpoint["kinds"] != checkpointed_kinds(self.callbacks):
            raise InputError("cannot resume: the checkpoint's fit had other features (callbacks)")
        self.restore(checkpoint["snapshot"])
        for callback, state in zip(checkpointed(self.callbacks), checkpoint["callbacks_all"]):
            callback.load_state_dict(state)
        self.follow_average()
        self.step = checkpoint["step"]
        for callback in self.callbacks:
            callback.on_resume(self)


@dataclass
class FitResult:
    """The restored image (1, C, H, W) on the CPU, and how it was obtained."""

    image: torch.Tensor
    history: History
    iterations_run: int
    stopped_at: int | None
    selected_step: int | None
    seconds: float
    source: str  # "early-stop", "regularizer", "average" or "last"
    channels_last: bool = False
    amp: bool = False
    cuda_graph: bool = False  # the step ran as a recorded CUDA graph


def padded_size(height: int, width: int, multiple: int, minimum: int = 0) -> tuple[int, int]:
    """The generator's working size for an image: the next multiples of ``multiple``, and at least ``minimum``."""
    return (max(minimum, math.ceil(height / multiple) * multiple), max(minimum, math.ceil(width / multiple) * multiple))


def pad_to(x: torch.Tensor, height: int, width: int, mode: str = "reflect") -> torch.Tensor:
    """Pad an NCHW tensor symmetrically to ``height`` × ``width`` (undone by :func:`crop_to`)."""
    ph, pw = height - x.shape[-2], width - x.shape[-1]
    if ph == 0 and pw == 0:
        return x
    if mode == "reflect" and (ph >= x.shape[-2] or pw >= x.shape[-1]):
        mode = "replicate"  # reflection needs the pad to be smaller than the image
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode=mode)


def crop_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Undo :func:`pad_to`: take the centre ``height`` × ``width``."""
    top = (x.shape[-2] - height) // 2
    left = (x.shape[-1] - width) // 2
    return x[..., top : top + height, left : left + width]


def _make_optimizer(
    params: list[torch.Tensor], lr: float, device: torch.device, capturable: bool = False
) -> torch.optim.Optimizer:
    # Fused Adam is one kernel for all parameters on CUDA; foreach is the fast path elsewhere. A CUDA graph of the
    # step needs Adam's step count on the device (capturable).
    if device.type == "cuda":
        return torch.optim.Adam(params, lr=lr, fused=True, capturable=capturable)
    return torch.optim.Adam(params, lr=lr, foreach=True)


def _records_the_step(settings: FitSettings, device: torch.device, regularizer: Regularizer | None) -> bool:
    """Whether the fit records its step as a CUDA graph: asked for, on CUDA, and with a regulariser whose penalty
    can be recorded (else one warning, and the fit steps eagerly)."""
    if not settings.cuda_graph or device.type != "cuda":
        return False
    if regularizer is not None and not regularizer.graph_safe:
        warn(
            f"cuda_graph: the {type(regularizer).__name__} regulariser is not graph_safe, so the step is not "
            "recorded as a CUDA graph"
        )
        return False
    return True


def default_callbacks(
    settings: FitSettings, progress: bool | str = False, device: torch.device | None = None
) -> list[Callback]:
    """The callbacks ``settings`` ask for, in the order the loop calls them."""
    callbacks: list[Callback] = []
    if settings.average:
        callbacks.append(Averaging(settings.average))
    callbacks.append(HistoryRecorder())
    rule = make_stopper(settings.stop, **{"check_every": settings.check_every, **settings.stop_options})
    if rule is not None:
        callbacks.append(StopRule(rule, settings.discrepancy))
    if settings.backtrack:
        callbacks.append(Backtracking(settings.backtrack_drop))
    if settings.threads == "auto" and (device is None or device.type == "cpu"):
        callbacks.append(ThreadShare())
    if progress:
        callbacks.append(Progress(progress if isinstance(progress, str) else "fit"))
    if settings.time_limit is not None:
        callbacks.append(TimeLimit(settings.time_limit))
    return callbacks


def _check_tensors(**tensors: torch.Tensor | None) -> None:
    """The loop's images are (1, C, h, w) torch tensors (None: not given)."""
    for name, value in tensors.items():
        if value is None:
            continue
        if not isinstance(value, torch.Tensor):
            raise InputError(f"{name} must be a torch.Tensor of shape (1, C, h, w), not {type(value).__name__}")
        if value.ndim != 4:
            raise InputError(f"{name} must have shape (1, C, h, w), got {tuple(value.shape)}")


def _user_callbacks(callbacks: Sequence[Callback | Callable[[FitState], bool | None]]) -> list[Callback]:
    """The caller's callbacks, a plain function wrapped as a :class:`FunctionCallback`."""
    for callback in callbacks:
        if not isinstance(callback, Callback) and not callable(callback):
            raise InputError(f"a callback must be a Callback or a function of the fit state, not {callback!r}")
    return [cb if isinstance(cb, Callback) else FunctionCallback(cb) for cb in callbacks]


def fit(
    net: Generator,
    z: torch.Tensor,
    observation: torch.Tensor,
    operator: Operator,
    settings: FitSettings,
    *,
    output_size: tuple[int, int] | None = None,
    reference: torch.Tensor | None = None,
    regularizer: Regularizer | None = None,
    callbacks: Sequence[Callback | Callable[[FitState], bool | None]] = (),
    device: torch.device | None = None,
    progress: bool | str = False,
    resume: dict[str, Any] | None = None,
) -> FitResult:
    """Fit ``net`` so that ``operator(crop(net(z)))`` matches ``observation``; return the restored image.

    Each step: z_t = z + σ_reg·ε (ε drawn from the run's jitter stream), x = crop(g_θ(z_t)), one Adam step on
    E(A·x, y) + R(x); then the callbacks run.

    Parameters
    ----------
    net
        A freshly initialised generator (trained in place; see :func:`deepprior.nets.build_generator`).
    z
        Network input, (1, C_in, h, w) at ``net.input_shape`` of the padded output size.
    observation
        y, (1, C, h_y, w_y), in [0, 1].
    operator
        The forward model A.
    settings
        Loop settings (:class:`deepprior.settings.FitSettings`); ``settings.seed`` seeds the jitter.
    output_size
        (H, W) of the image to restore; the generator's output is centre-cropped to it. None: no crop.
    reference
        Ground truth (1, C, H, W) for the PSNR history; never used by the fit itself.
    regularizer
        A :class:`deepprior.regularizers.Regularizer` (moved to the device with the fit).
    callbacks
        Extra :class:`deepprior.callbacks.Callback` objects (or functions of the :class:`FitState`), called after
        the default ones; returning True stops the fit.
    device
        Where to run; default: where ``observation`` is.
    progress
        Show a progress bar (a string is its label) and, for a long fit, one line with its estimated duration.
    resume
        A checkpoint (:func:`deepprior.callbacks.load_checkpoint` of what a
        :class:`deepprior.callbacks.Checkpointing` callback saved) to go on from, with the same arguments.

    Returns
    -------
    FitResult

    Raises
    ------
    InputError
        Nonsense settings, an output policy that cannot be met, a loss that becomes NaN, a z, y or reference
        that is not a (1, C, h, w) tensor, or an A·x whose shape is not y's.
    DeviceError
        The device ran out of memory (one line with what to try).

    Examples
    --------
    >>> from deepprior.nets import build_generator
    >>> from deepprior.inputs import make_input
    >>> from deepprior.operators import Identity
    >>> y = torch.rand(1, 3, 64, 64)
    >>> net = build_generator("skip", 8, 3, width=8, seed=0)
    >>> z = make_input("noise", 8, 64, 64, seed=0)
    >>> result = fit(net, z, y, Identity(), FitSettings(iterations=3, seed=0))
    >>> result.image.shape, result.iterations_run
    (torch.Size([1, 3, 64, 64]), 3)
    """
    settings.validate()
    _check_tensors(z=z, observation=observation, reference=reference)
    device = device or observation.device
    default_channels_last, default_amp = fast_defaults(device)
    channels_last = settings.channels_last if settings.channels_last is not None else default_channels_last
    amp = settings.amp if settings.amp is not None else default_amp
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    _check_policy(settings, regularizer)

    try:
        net = net.to(device, memory_format=memory_format)
        z = z.to(device).contiguous(memory_format=memory_format)
        observation = observation.to(device)
        operator = operator.to(device)
        reference = None if reference is None else reference.to(device)
        if regularizer is not None:
            regularizer = regularizer.to(device)
    except RuntimeError as exc:
        _raise_if_out_of_memory(exc, z)
        raise
    net.train()  # BatchNorm in train mode, as in DIP

    params = list(net.parameters())
    if settings.optimize_input:
        z = z.detach().clone().requires_grad_(True)
        params.append(z)
    forward_net: Callable[[torch.Tensor], torch.Tensor] = net
    if settings.compile:
        forward_net = torch.compile(net, mode=None if settings.compile is True else settings.compile)
    data_term = DATA_TERMS.get(settings.data_term)()
    jitter = torch_generator(settings.seed, "jitter", device) if settings.reg_noise_std > 0 else None
    recorded = _records_the_step(settings, device, regularizer)

    def forward(inp: torch.Tensor) -> torch.Tensor:
        # autocast's weight cache would hold tensors from outside a recorded graph
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp, cache_enabled=not recorded):
            out = forward_net(inp)
        out = out.float()
        return crop_to(out, *output_size) if output_size is not None else out

    def forward_clean() -> torch.Tensor:
        with torch.no_grad():
            return forward(z)

    state = FitState(
        settings=settings,
        device=device,
        net=net,
        z=z,
        observation=observation,
        operator=operator,
        optimizer=_make_optimizer(params, settings.lr, device, capturable=recorded),
        regularizer=regularizer,
        reference=reference,
        jitter=jitter,
    )
    if isinstance(settings.threads, int):
        torch.set_num_threads(settings.threads)
    state.callbacks = default_callbacks(settings, progress, device) + _user_callbacks(callbacks)
    noise = torch.zeros(z.shape, device=device, dtype=z.dtype) if jitter is not None else None  # drawn in place

    def train_step(step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        inp = z if noise is None else z + settings.reg_noise_std * noise
        output = forward(inp)
        prediction = operator(output)
        if prediction.shape != observation.shape:  # the loss would broadcast one over the other, silently
            raise InputError(
                f"A·x has shape {tuple(prediction.shape)} but y has {tuple(observation.shape)}: give y at the "
                "operator's output size, and z at the generator's input size for the image"
            )
        loss = data_term(prediction, observation)
        penalty = None if regularizer is None else regularizer.penalty(output, step)
        if penalty is not None:
            loss = loss + penalty
        loss.backward()
        state.optimizer.step()
        return output.detach(), prediction.detach(), loss.detach()

    step_graph = StepGraph(train_step, state.optimizer, device) if recorded else None
    start = time.perf_counter()
    stopped = False
    try:
        for callback in state.callbacks:
            callback.on_start(state)
        if resume is not None:
            state.resume(resume)
        for step in range(state.step + 1, settings.iterations):
            state.step = step
            if noise is not None:
                torch.randn(z.shape, generator=jitter, device=device, dtype=z.dtype, out=noise)
            if step_graph is not None:
                phase = None if regularizer is None else regularizer.phase(step)
                state.output, state.prediction, state.loss = step_graph(step, (state.restores, phase))
            else:
                state.optimizer.zero_grad(set_to_none=True)
                state.output, state.prediction, state.loss = train_step(step)
            if regularizer is not None:
                regularizer.after_step(step, forward_clean)
            stopped = any([bool(callback.on_step(state)) for callback in state.callbacks])
            if (step + 1) % settings.check_every == 0 or step == settings.iterations - 1:
                stopped = any([bool(callback.on_check(state)) for callback in state.callbacks]) or stopped
            if stopped:
                break
        if state.output is None:  # resumed from the last step: nothing left to run
            state.output = forward_clean()
        for callback in state.callbacks:
            callback.on_end(state)
    except RuntimeError as exc:  # CUDA, MPS and CPU allocators all raise a RuntimeError subclass
        _raise_if_out_of_memory(exc, z)
        raise
    finally:  # a bar left open would garble the error message that follows
        for callback in state.callbacks:
            if isinstance(callback, Progress):
                callback.close()

    image, source, selected = select_output(settings.output, state)
    return FitResult(
        image=image.detach().float().cpu().contiguous(),
        history=state.history,
        iterations_run=state.step + 1,
        stopped_at=state.step if stopped else None,
        selected_step=selected,
        seconds=time.perf_counter() - start,
        source=source,
        channels_last=channels_last,
        amp=amp,
        cuda_graph=step_graph is not None and step_graph.recordings > 0,
    )


def _check_policy(settings: FitSettings, regularizer: Regularizer | None) -> None:
    """Refuse, before fitting, an output policy whose image will not exist."""
    missing = {
        "average": not settings.average,
        "early-stop": settings.stop == "fixed",
        "regularizer": regularizer is None or type(regularizer).output is Regularizer.output,
    }
    if missing.get(settings.output, False):
        raise InputError(
            f"output={settings.output!r} needs "
            + {
                "average": "averaging (average > 0)",
                "early-stop": "a stopping rule (stop)",
                "regularizer": "a regulariser that offers an output",
            }[settings.output]
        )


def select_output(policy: str, state: FitState) -> tuple[torch.Tensor, str, int | None]:
    """The image the output ``policy`` picks: (image, source, selected step)."""

    def regularizer_output() -> tuple[torch.Tensor, None] | None:
        # once: a regulariser's output may be computed (DIP-ℓ0's projected average runs its solver)
        image = None if state.regularizer is None else state.regularizer.output()
        return None if image is None else (image, None)

    candidates: dict[str, Callable[[], tuple[torch.Tensor, int | None] | None]] = {
        "early-stop": lambda: next((cb.best() for cb in state.callbacks if isinstance(cb, StopRule)), None),
        "regularizer": regularizer_output,
        "average": lambda: None if state.average is None else (state.average, None),
        "last": lambda: None if state.output is None else (state.output, None),
    }
    order = list(candidates) if policy == "auto" else [policy, "last"]
    for source in order:
        found = candidates[source]()
        if found is not None:
            return found[0], source, found[1]
    raise InputError("the fit produced no output")  # pragma: no cover - every fit runs at least one step


def _raise_if_out_of_memory(exc: RuntimeError, z: torch.Tensor) -> None:
    """Turn an allocator failure into one actionable line instead of a traceback."""
    text = str(exc).lower()
    h, w = z.shape[-2:]
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text:
        raise DeviceError(
            f"out of memory on {z.device} for a {w}×{h} working size (width×height): try a narrower network "
            "(fewer channels), smaller tiles (tile / --tile SIDE), or another device"
        ) from exc
    if "32-bit index" in text:  # CUDA kernels index one tensor with int32: 2^31 values at most (seen on an H100)
        raise DeviceError(
            f"a {w}×{h} working size (width×height) makes one layer larger than {z.device} kernels can index "
            "(2^31 values): try a narrower network (fewer channels) or tiles (tile / --tile SIDE)"
        ) from exc


def as_numpy_image(image: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) tensor → (H, W, C) float32 array."""
    return np.ascontiguousarray(image[0].permute(1, 2, 0).float().cpu().numpy())


def as_tensor_image(image: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, C) float array → (1, C, H, W) float32 tensor."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]


__all__ = [
    "FitResult",
    "FitSettings",
    "FitState",
    "History",
    "fit",
    "default_callbacks",
    "select_output",
    "padded_size",
    "pad_to",
    "crop_to",
    "as_numpy_image",
    "as_tensor_image",
]
