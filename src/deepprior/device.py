"""Choosing the compute device: ``auto`` takes CUDA, then Apple's MPS, then the CPU; and the CPU's threads.

Importing this module imports no torch (the functions that need it import it): the classical solvers' runs ask
it for free cores and threads without loading torch.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import time
from typing import TYPE_CHECKING

from .errors import DeviceError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"


# the device names resolve_device knows (whether the device is present is another matter)
_DEVICE_NAME = re.compile(r"(cpu|cuda|mps)(:\d+)?|auto")


def check_device_name(spec: str | torch.device | None) -> str:
    """The device's name, lower-cased (``"auto"`` for None or ""), when it is one :func:`resolve_device` knows:
    the spelling only, not whether this machine has the device, and without loading torch.

    Raises
    ------
    DeviceError
        The name is unknown.
    """
    text = "" if spec is None else str(spec)
    name = (text or "auto").strip().lower()
    if not _DEVICE_NAME.fullmatch(name):
        raise DeviceError(f"unknown device {text!r}; use {DEVICE_CHOICES}")
    return name


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N" | "mps"`` into a usable ``torch.device``.

    Raises
    ------
    DeviceError
        The name is unknown, or the device is not present on this machine.
    """
    import torch

    spec = None if spec is None else str(spec)
    name = check_device_name(spec)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(f"unknown device {spec!r}; use {DEVICE_CHOICES}") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {spec!r} requested but this machine has no CUDA GPU (use the device 'cpu' or 'auto')"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceError(f"device {spec!r} requested but only {count} CUDA device(s) exist")
        return device
    # mps: check_device_name admits no other type
    if not _mps_available():
        raise DeviceError(f"device {spec!r} requested but MPS is not available on this machine")
    return device


# the threads set by set_cpu_threads while torch was not loaded (None: not set)
_cpu_threads: int | None = None


def set_cpu_threads(threads: int) -> None:
    """Give this process's CPU work ``threads`` threads: torch's, when torch is loaded, and the classical solvers'
    FFTs (which read :func:`cpu_threads`), without loading torch for them."""
    global _cpu_threads
    _cpu_threads = int(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(_cpu_threads)


def cpu_threads() -> int:
    """The threads this process's CPU work may use: torch's count when torch is loaded (``--threads`` and a fit's
    share set it), else what :func:`set_cpu_threads` set, else every CPU the process may run on."""
    if "torch" in sys.modules:
        return sys.modules["torch"].get_num_threads()
    if _cpu_threads is not None:
        return _cpu_threads
    return _usable_cpus()


def _usable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask on Linux, else every CPU."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def free_cores(samples: int = 5, interval: float = 0.01) -> int:
    """The CPU cores this process may use that no other process is using right now (at least 1).

    The cores of the process's affinity mask, less the tasks of other processes that are runnable at this moment:
    ``procs_running`` of ``/proc/stat`` minus this process's own running threads (its OpenMP threads may still be
    spinning after a parallel region), the median of ``samples`` samples ``interval`` seconds apart. A busy
    neighbour on a 2-core machine thus leaves one thread to a new run instead of two threads that wait for each
    other.
    """
    cores = _usable_cpus()
    if not hasattr(os, "sched_getaffinity"):  # not Linux: no /proc to read the others from
        return cores
    counts = []
    for attempt in range(samples):
        try:
            with open("/proc/stat", encoding="ascii") as handle:
                running = next(int(line.split()[1]) for line in handle if line.startswith("procs_running"))
        except (OSError, StopIteration, ValueError):
            return cores
        counts.append(running - _own_running_threads())
        if attempt < samples - 1:
            time.sleep(interval)
    others = sorted(counts)[len(counts) // 2]
    return max(1, min(cores, cores - others))


def _own_running_threads() -> int:
    """This process's threads in the running state (at least 1: the one asking)."""
    count = 0
    try:
        for task in os.scandir("/proc/self/task"):
            try:
                with open(f"{task.path}/stat", encoding="ascii") as handle:
                    count += handle.read().rsplit(")", 1)[1].split()[0] == "R"
            except (OSError, IndexError):
                continue
    except OSError:
        return 1
    return max(1, count)


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (a no-op on the CPU)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def device_name(device: torch.device) -> str:
    """A human-readable name of the device for result sidecars and benchmark tables."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"cpu ({cpu_model()}, {torch.get_num_threads()} threads)"
    return device.type


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo), else what ``platform`` knows."""
    import platform
    from pathlib import Path

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def _cpu_flags() -> str:
    """The CPU's feature flags (/proc/cpuinfo; empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            return handle.read()
    except OSError:
        return ""


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 in hardware (AVX512-BF16 or AMX), where bf16 autocast runs DIP's
    convolutions faster at no measured PSNR cost (benchmarks/results/speed_cpu.md); elsewhere it would
    be emulated and slower, so it stays off."""
    import torch

    flags = _cpu_flags()
    return ("avx512_bf16" in flags or "amx_bf16" in flags) and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def cpu_has_avx512() -> bool:
    """True when the CPU has AVX-512, where channels_last stepped DIP's skip network faster than the contiguous
    format (×1.23–1.30 in fp32 with 2 threads, benchmarks/results/speed_cpu.md); on a CPU with AVX2 only it
    stepped 1.3–1.5× slower (benchmarks/results/speed_cpu_avx2.md)."""
    return "avx512f" in _cpu_flags()


def fast_defaults(device: torch.device) -> tuple[bool, bool]:
    """(channels_last, bf16 autocast) used when the user sets neither.

    channels_last: CPUs with AVX-512 (:func:`cpu_has_avx512`); bf16 autocast: CPUs with native bf16. On CUDA
    neither: on an H100 plain fp32 (cuDNN's TF32 convolutions) stepped the skip network faster at 512² and 1024²
    than channels_last with or without bf16 (benchmarks/results/gpu/README.md).
    """
    cpu = device.type == "cpu"
    return cpu and cpu_has_avx512(), cpu and cpu_has_native_bf16()
