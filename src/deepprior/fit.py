"""The one optimisation loop of Deep Image Prior: min_θ E(A g_θ(z), y) + R(g_θ(z)).

Every task and every regulariser goes through :func:`fit`. It owns the input jitter, the output average,
backtracking, early stopping, snapshots/callbacks and the history, and keeps host-device synchronisations to one
every ``check_every`` steps.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from .device import fast_defaults
from .errors import DeviceError, InputError
from .metrics import psnr_torch
from .nets.base import Generator
from .operators import Operator
from .stopping import make_stopper


@dataclass
class FitSettings:
    """Settings of the loop; the task presets fill them from the papers and every field can be overridden.

    Attributes
    ----------
    iterations
        Adam steps (an upper bound when ``stop`` is an early-stopping rule).
    lr
        Adam learning rate.
    reg_noise_std
        σ_reg: each step feeds z + σ_reg·N(0, 1) (fresh noise every step); 0 disables it.
    average
        Weight of the exponential output average, out_avg ← a·out_avg + (1 − a)·out (0.99 in the paper); 0 or
        None = off.
    backtrack
        Restore the last good weights, Adam state and average when PSNR(A out, y) drops by more than
        ``backtrack_drop`` dB between checks (the original restores the weights only).
    loss_reduction
        ``"mean"`` (DIP) or ``"sum"`` (DIP-ℓ0's ADMM, whose λ and β are calibrated for sums).
    stop
        ``"fixed"`` runs all iterations; ``"es-wmv"`` / ``"es-emv"`` stop without ground truth (Wang et al.).
    stop_window, stop_patience
        W and P of the early-stopping rules.
    check_every
        Steps between host synchronisations: progress, backtracking and stopping checks.
    seed
        Seeds z, the weights and the jitter; the same seed on the same CPU gives bit-identical results.
    channels_last, amp
        Memory format and bf16 autocast; None = automatic: channels_last on CUDA and the CPU; bf16 on CUDA and on
        CPUs that compute bf16 in hardware (AVX512-BF16 / AMX: about 2× faster at no measured PSNR cost).
    optimize_input
        Also train z (used by the Deep Random Projector style fast mode).
    compile
        Wrap the generator in ``torch.compile``.
    """

    iterations: int = 3000
    lr: float = 0.01
    reg_noise_std: float = 0.0
    average: float | None = None
    backtrack: bool = False
    backtrack_drop: float = 5.0
    loss_reduction: Literal["mean", "sum"] = "mean"
    stop: str = "fixed"
    stop_window: int = 100
    stop_patience: int = 1000
    check_every: int = 25
    seed: int | None = 0
    channels_last: bool | None = None
    amp: bool | None = None
    optimize_input: bool = False
    compile: bool = False

    def validate(self) -> None:
        """Raise :class:`InputError` on nonsense values, naming the setting."""
        if self.iterations < 1:
            raise InputError(f"iterations must be at least 1, got {self.iterations}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"lr must be a positive number, got {self.lr}")
        if not (self.reg_noise_std >= 0 and math.isfinite(self.reg_noise_std)):
            raise InputError(f"reg_noise_std must be >= 0, got {self.reg_noise_std}")
        if self.average is not None and not 0 <= self.average < 1:
            raise InputError(f"average must be in [0, 1), got {self.average}")
        if self.loss_reduction not in ("mean", "sum"):
            raise InputError(f"loss_reduction must be 'mean' or 'sum', got {self.loss_reduction!r}")
        if self.check_every < 1:
            raise InputError(f"check_every must be at least 1, got {self.check_every}")
        if self.stop_window < 2 or self.stop_patience < 1:
            raise InputError("stop_window must be >= 2 and stop_patience >= 1")


@dataclass
class FitState:
    """What a callback sees after each step (tensors stay on the device; reading them syncs)."""

    step: int
    net: Generator
    output: torch.Tensor
    average: torch.Tensor | None
    loss: torch.Tensor


@dataclass
class History:
    """Per-step records of a fit, on the host.

    ``loss`` is the total objective; ``psnr`` / ``psnr_average`` compare the output / average with the reference
    (NaN without one); ``psnr_observation`` compares A·out with y; ``seconds`` is wall time since the start,
    sampled at each check (NaN between checks).
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    psnr_average: list[float] = field(default_factory=list)
    psnr_observation: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (NaN becomes None)."""
        out: dict[str, Any] = {}
        for key, values in asdict(self).items():
            if key == "events":
                out[key] = values
            else:
                out[key] = [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]
        return out

    def seconds_per_iteration(self) -> float:
        """Mean wall time per step over the whole fit."""
        timed = [(s, t) for s, t in zip(self.step, self.seconds) if math.isfinite(t)]
        if not timed:
            return float("nan")
        return timed[-1][1] / (timed[-1][0] + 1)


@dataclass
class FitResult:
    """The restored image (1, C, H, W) on the CPU, and how it was obtained."""

    image: torch.Tensor
    history: History
    iterations_run: int
    stopped_at: int | None
    selected_step: int | None
    seconds: float
    source: str  # "average", "last", "early-stop" (the average at the detected step, if averaging) or "regularizer"
    channels_last: bool = False
    amp: bool = False


Callback = Callable[[FitState], "bool | None"]


def padded_size(height: int, width: int, multiple: int, minimum: int = 0) -> tuple[int, int]:
    """The generator's working size for an image: the next multiples of ``multiple``, and at least ``minimum``."""
    return (max(minimum, math.ceil(height / multiple) * multiple),
            max(minimum, math.ceil(width / multiple) * multiple))


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


def _data_term(prediction: torch.Tensor, observation: torch.Tensor, reduction: str) -> torch.Tensor:
    return F.mse_loss(prediction, observation, reduction=reduction)


class _Checkpoint:
    """Weights, Adam state and average at the last good check, kept on the device for backtracking."""

    def __init__(self) -> None:
        self.weights: dict[str, torch.Tensor] | None = None
        self.optimizer: dict[str, Any] | None = None
        self.average: torch.Tensor | None = None
        self.psnr: float | None = None

    def save(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer, average: torch.Tensor | None,
             psnr: float) -> None:
        self.weights = {k: v.detach().clone() for k, v in net.state_dict().items()}
        self.optimizer = copy.deepcopy(optimizer.state_dict())
        self.average = None if average is None else average.clone()
        self.psnr = psnr

    def restore(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer) -> torch.Tensor | None:
        assert self.weights is not None and self.optimizer is not None
        net.load_state_dict(self.weights)
        optimizer.load_state_dict(copy.deepcopy(self.optimizer))
        return None if self.average is None else self.average.clone()


def _make_optimizer(params: list[torch.Tensor], lr: float, device: torch.device) -> torch.optim.Optimizer:
    # Fused Adam is one kernel for all parameters on CUDA; foreach is the fast path elsewhere.
    if device.type == "cuda":
        return torch.optim.Adam(params, lr=lr, fused=True)
    return torch.optim.Adam(params, lr=lr, foreach=True)


def fit(
    net: Generator,
    z: torch.Tensor,
    observation: torch.Tensor,
    operator: Operator,
    settings: FitSettings,
    *,
    output_size: tuple[int, int] | None = None,
    reference: torch.Tensor | None = None,
    regularizer: Any | None = None,
    callbacks: Sequence[Callback] = (),
    device: torch.device | None = None,
    progress: bool | str = True,
) -> FitResult:
    """Fit ``net`` so that ``operator(crop(net(z)))`` matches ``observation``; return the restored image.

    Parameters
    ----------
    net
        A freshly initialised generator (its weights are trained in place).
    z
        Network input, (1, C_in, h, w) at ``net.input_shape`` of the padded output size.
    observation
        y, (1, C, h_y, w_y), in [0, 1].
    operator
        The forward model A.
    settings
        Loop settings (:class:`FitSettings`).
    output_size
        (H, W) of the image to restore; the generator's output is centre-cropped to it (the padding that made
        its size a multiple of ``net.size_multiple``). None: no crop.
    reference
        Ground truth (1, C, H, W) for the PSNR history; never used by the fit itself.
    regularizer
        An object with ``penalty(x, step) -> Tensor | None`` added to the data term; optionally
        ``after_step(step, forward)`` (called after each Adam step with a function computing the current output
        without gradients) and ``output() -> Tensor | None`` (an image that replaces the loop's own result).
    callbacks
        Called after every step with a :class:`FitState`; returning True stops the fit.
    device
        Where to run; default: where ``observation`` is.
    progress
        Show a progress bar (a string is used as its label).
    """
    settings.validate()
    device = device or observation.device
    default_channels_last, default_amp = fast_defaults(device)
    channels_last = settings.channels_last if settings.channels_last is not None else default_channels_last
    amp = settings.amp if settings.amp is not None else default_amp
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    try:
        net = net.to(device, memory_format=memory_format)
        z = z.to(device).contiguous(memory_format=memory_format)
        observation = observation.to(device)
        operator = operator.to(device)
        if reference is not None:
            reference = reference.to(device)
    except RuntimeError as exc:
        _raise_if_out_of_memory(exc, z)
        raise
    net.train()  # BatchNorm in train mode, as in DIP

    params = list(net.parameters())
    if settings.optimize_input:
        z = z.detach().clone().requires_grad_(True)
        params.append(z)
    optimizer = _make_optimizer(params, settings.lr, device)
    forward_net: Callable[[torch.Tensor], torch.Tensor] = torch.compile(net) if settings.compile else net

    jitter = None
    if settings.reg_noise_std > 0:
        jitter = torch.Generator(device=device)
        jitter.manual_seed((settings.seed or 0) + 1)

    def forward(inp: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = forward_net(inp)
        out = out.float()
        return crop_to(out, *output_size) if output_size is not None else out

    def forward_clean() -> torch.Tensor:
        with torch.no_grad():
            return forward(z)

    stop_options: dict[str, int] = {"patience": settings.stop_patience}
    if settings.stop.strip().lower().replace("_", "-") == "es-wmv":
        stop_options["window"] = settings.stop_window  # ES-EMV has no window
    stopper = make_stopper(settings.stop, **stop_options)
    checkpoint = _Checkpoint() if settings.backtrack else None
    history = History()
    # Per-step scalars are gathered on the device and copied to the host once per check.
    pending: list[torch.Tensor] = []
    nan = torch.tensor(float("nan"), device=device)
    average: torch.Tensor | None = None
    output = None
    stopped_at: int | None = None
    start = time.perf_counter()

    bar = None
    if progress:
        from tqdm.auto import tqdm

        label = progress if isinstance(progress, str) else "fit"
        bar = tqdm(total=settings.iterations, desc=label, unit="it", leave=False, dynamic_ncols=True)

    def flush(step: int) -> None:
        if not pending:
            return
        rows = torch.stack(pending).cpu().tolist()
        first = step - len(rows) + 1
        for i, (loss, p, pa, po) in enumerate(rows):
            history.step.append(first + i)
            history.loss.append(loss)
            history.psnr.append(p)
            history.psnr_average.append(pa)
            history.psnr_observation.append(po)
            history.seconds.append(float("nan"))
        history.seconds[-1] = time.perf_counter() - start
        pending.clear()

    step = -1
    try:
        for step in range(settings.iterations):
            inp = z
            if jitter is not None:
                inp = z + settings.reg_noise_std * torch.randn(z.shape, generator=jitter, device=device, dtype=z.dtype)
            optimizer.zero_grad(set_to_none=True)
            output = forward(inp)
            loss = _data_term(operator(output), observation, settings.loss_reduction)
            if regularizer is not None:
                penalty = regularizer.penalty(output, step)
                if penalty is not None:
                    loss = loss + penalty
            loss.backward()
            optimizer.step()
            output = output.detach()

            if settings.average:
                average = output.clone() if average is None else average.lerp_(output, 1 - settings.average)
            if stopper is not None:
                stopper.update(step, output, keep=average)
            if regularizer is not None and hasattr(regularizer, "after_step"):
                regularizer.after_step(step, forward_clean)

            with torch.no_grad():
                psnr_obs = psnr_torch(operator(output), observation)
                psnr_ref = psnr_torch(output, reference) if reference is not None else nan
                psnr_avg = psnr_torch(average, reference) if reference is not None and average is not None else nan
                pending.append(torch.stack([loss.detach().float(), psnr_ref, psnr_avg, psnr_obs]))

            stop = False
            last = step == settings.iterations - 1
            if (step + 1) % settings.check_every == 0 or last:
                flush(step)
                if not math.isfinite(history.loss[-1]):
                    raise InputError("the loss became NaN or infinite: lower the learning rate")
                if checkpoint is not None:
                    current = history.psnr_observation[-1]
                    if checkpoint.psnr is not None and current < checkpoint.psnr - settings.backtrack_drop:
                        average = checkpoint.restore(net, optimizer)
                        history.events.append({"step": step, "event": "backtrack", "psnr_observation": current})
                    else:
                        checkpoint.save(net, optimizer, average, current)
                if bar is not None:
                    postfix = {"loss": f"{history.loss[-1]:.4g}"}
                    if reference is not None:
                        shown = history.psnr_average[-1] if average is not None else history.psnr[-1]
                        postfix["psnr"] = f"{shown:.2f}"
                    bar.set_postfix(postfix, refresh=False)
                    bar.update(step + 1 - bar.n)
                if stopper is not None and stopper.should_stop():
                    stopped_at = step
                    stop = True
            for callback in callbacks:
                stop = bool(callback(FitState(step, net, output, average, loss.detach()))) or stop
            if stop:
                break
    except RuntimeError as exc:  # CUDA, MPS and CPU allocators all raise a RuntimeError subclass
        _raise_if_out_of_memory(exc, z)
        raise
    finally:
        if bar is not None:
            bar.close()
    flush(step)
    if stopped_at is None and step < settings.iterations - 1:
        stopped_at = step  # a callback asked to stop

    image, source, selected = _select_output(output, average, stopper, regularizer)
    seconds = time.perf_counter() - start
    if stopper is not None:
        history.events.append({"step": step, "event": "early-stopping", "selected": selected,
                               "stopped": stopped_at is not None})
    return FitResult(image=image.detach().float().cpu().contiguous(), history=history, iterations_run=step + 1,
                     stopped_at=stopped_at, selected_step=selected, seconds=seconds, source=source,
                     channels_last=channels_last, amp=amp)


def _select_output(output: torch.Tensor | None, average: torch.Tensor | None, stopper: Any,
                   regularizer: Any) -> tuple[torch.Tensor, str, int | None]:
    if stopper is not None and stopper.best_output is not None:
        return stopper.best_output, "early-stop", int(stopper.best_step)
    if regularizer is not None and hasattr(regularizer, "output"):
        chosen = regularizer.output()
        if chosen is not None:
            return chosen, "regularizer", None
    if average is not None:
        return average, "average", None
    assert output is not None
    return output, "last", None


def _raise_if_out_of_memory(exc: RuntimeError, z: torch.Tensor) -> None:
    """Turn an allocator failure into one actionable line instead of a traceback."""
    text = str(exc).lower()
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text:
        h, w = z.shape[-2:]
        raise DeviceError(f"out of memory on {z.device} for a {h}×{w} working size: try a narrower network "
                          "(--channels 64), a smaller image (crop or tile it), or another device") from exc


def as_numpy_image(image: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) tensor → (H, W, C) float32 array."""
    return np.ascontiguousarray(image[0].permute(1, 2, 0).float().cpu().numpy())


def as_tensor_image(image: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, C) float array → (1, C, H, W) float32 tensor."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]
