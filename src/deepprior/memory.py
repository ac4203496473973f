"""How much memory a fit will need, estimated before it starts, so that a huge image is refused with a figure and
what to do instead of dying in the allocator."""

from __future__ import annotations

import copy

import torch

from .errors import DeviceError

# Bytes of peak memory per value that the leaf modules output in one forward pass. The peaks measured for skip128
# in float32 (benchmarks/results/speed_cpu.md: 2019 MiB at 512², 7467 MiB at 1024²) are 4.2 and 3.8 bytes per
# value; 4.5 keeps a margin.
BYTES_PER_ACTIVATION = 4.5
# Per parameter: the weights, their gradients and Adam's two moments, in float32.
BYTES_PER_PARAMETER = 16


#: activation_values by (network class, its repr, input shape): a run asks twice (to choose tiles, then to check
#: the fit) and a folder's images of one size ask again; the repr spells out every layer and its shape.
_COUNTED: dict[tuple[type, str, tuple[int, ...]], int] = {}
_COUNTED_MAX = 64


def activation_values(net: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """The number of values all leaf modules of ``net`` output for an input of ``input_shape``.

    Computed on the meta device (shapes only: no memory, no arithmetic), so it is exact and costs the same at any
    size: a fraction of a second, once PyTorch has loaded its meta kernels (the first call in a process); the
    same network and shape again cost nothing.
    """
    key = (type(net), repr(net), tuple(input_shape))
    if key not in _COUNTED:
        if len(_COUNTED) >= _COUNTED_MAX:
            _COUNTED.clear()
        _COUNTED[key] = _count_activations(net, input_shape)
    return _COUNTED[key]


def _count_activations(net: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    meta = copy.deepcopy(net).to("meta")
    total = 0

    def count(module: torch.nn.Module, inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel()

    for module in meta.modules():
        if not any(module.children()):
            module.register_forward_hook(count)
    with torch.no_grad():
        meta(torch.empty(input_shape, device="meta"))
    return total


def fit_bytes(net: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """Estimated peak memory of fitting ``net`` to an input of ``input_shape``, in bytes."""
    parameters = sum(p.numel() for p in net.parameters())
    return int(BYTES_PER_ACTIVATION * activation_values(net, input_shape) + BYTES_PER_PARAMETER * parameters)


def available_bytes(device: torch.device) -> int | None:
    """Memory free for a new fit on ``device`` now (None where it cannot be known)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # blocks this process's caching allocator holds but no tensor uses (an earlier fit's) serve a new fit too
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + cached)
    if device.type == "cpu":
        try:
            with open("/proc/meminfo", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
    return None


def check_fit_memory(net: torch.nn.Module, input_shape: tuple[int, ...], device: torch.device, fits: int = 1) -> int:
    """Refuse, before anything is allocated, a fit (or ``fits`` fits of ``net`` stepped at once) that cannot fit in
    the memory free on ``device``.

    Returns
    -------
    int
        The estimate, in bytes.

    Raises
    ------
    DeviceError
        With the estimate, what is free and what to do.
    """
    need = fits * fit_bytes(net, input_shape)
    free = available_bytes(device)
    if free is not None and need > free:
        h, w = input_shape[-2:]
        what = "a fit" if fits == 1 else f"{fits} fits at once"
        fewer = "" if fits == 1 else "step fewer fits at once, "
        raise DeviceError(
            f"{what} at {w}×{h} (width×height) needs about {need / 2**30:.1f} GiB but {free / 2**30:.1f} GiB is free "
            f"on {device}: {fewer}tile the image (tile / --tile SIDE; smaller tiles), use a narrower network (fewer "
            "channels), or another device"
        )
    return need


__all__ = ["activation_values", "available_bytes", "check_fit_memory", "fit_bytes"]
