"""Shared fixtures: the compute devices present, one torch thread, and the shared data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import DATA


def _devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    backend = getattr(torch.backends, "mps", None)
    if backend is not None and backend.is_available():
        devices.append("mps")
    return devices


@pytest.fixture(params=_devices())
def device(request) -> str:
    """Every device this machine has: the CPU always, CUDA and MPS when present."""
    return request.param


@pytest.fixture(autouse=True)
def _threads():
    # The test networks are tiny: one thread avoids OpenMP synchronisation, which stalls badly whenever another
    # process shares the cores.
    torch.set_num_threads(1)
    yield


@pytest.fixture
def fp32(monkeypatch):
    """No automatic bf16 autocast on a CPU with native bf16, for what cannot ask for float32 itself (a benchmark
    suite): a test comparing two ways of one fit expects them to agree to float32's rounding, not bf16's."""
    import deepprior.device

    monkeypatch.setattr(deepprior.device, "cpu_has_native_bf16", lambda: False)


@pytest.fixture
def shared_data() -> Path:
    if not DATA.exists():
        pytest.skip("../shared/data is not beside the repository")
    return DATA
