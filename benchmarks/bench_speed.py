"""Time per iteration of the Deep Image Prior loop on the CPU, against the loops a user would otherwise run.

Sections (each can be switched off):

* ``speed``   -- seconds per iteration of skip128 (``build_generator("skip", 32, 3)``) at each ``--sizes`` for
  ``ours`` (:func:`deepprior.loop.fit` with the denoise preset: σ_reg 1/30, average 0.99, backtracking, PSNR
  history against the ground truth), ``ours-cl`` (the same with channels_last), ``ours-bf16-cl`` (channels_last
  and bf16 autocast, opt-in), ``reference`` (a plain loop written like the original DIP notebooks) and
  ``deepinv`` (``deepinv.models.DeepImagePrior`` driving the same generator). The loops are interleaved
  (``--rounds`` rounds of every loop at one size) so that other load on the machine hits all of them alike;
  the reported figure is the median over all timed steps.
* ``memory``  -- peak resident memory (VmHWM) of one fit per size, each in a fresh subprocess.
* ``profile`` -- where one iteration of our loop spends its time, and which CPU options pay (Adam variants,
  channels_last, bf16 autocast, optionally torch.compile).
* ``fast``    -- "fast mode" for previews: PSNR and speed of narrower skip networks on a small denoising crop.

Default invocation from the repository root (about 12-15 minutes on a 2-core CPU)::

    python -m benchmarks.bench_speed

writes ``benchmarks/results/speed_cpu.json`` and ``speed_cpu.md``. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.abc
import importlib.machinery
import json
import math
import statistics
import subprocess
import sys
import time
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import deepprior
from benchmarks import common
from benchmarks.common import loadavg
from deepprior.inputs import make_input
from deepprior.loop import fit
from deepprior.metrics import psnr as psnr_np
from deepprior.metrics import psnr_torch
from deepprior.nets import build_generator
from deepprior.operators import Identity
from deepprior.presets import get_preset
from deepprior.settings import FitSettings

DENOISE_DIR = "dip/project_page/Denoising/Color/25"  # inside the shared data folder (common.data_dir)
LOOPS = ("ours", "ours-cl", "ours-bf16-cl", "reference", "deepinv")
LOOP_LABELS = {
    "ours": "deepprior.fit, denoise preset, channels_last=False, amp=False (contiguous fp32)",
    "ours-cl": "deepprior.fit + channels_last=True (fp32)",
    "ours-bf16-cl": "deepprior.fit + channels_last=True + amp=True (bf16 autocast; see the quality in fast mode)",
    "reference": "plain loop like the original DIP notebook (host PSNR every step, params to CPU every step)",
    "deepinv": "deepinv.models.DeepImagePrior with the same skip128 generator",
}


# --------------------------------------------------------------------------------------------- helpers


def load_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def centre_crop(a: np.ndarray, size: int) -> np.ndarray:
    """Centre ``size``×``size`` of an (H, W, C) array; mirror-pads first when the image is smaller."""
    return common.centre_crop(a, size, pad=True)


def to_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f.startswith(("avx512_bf16", "amx", "avx512f", "avx2", "avx_vnni")))
    except OSError:
        pass
    return []


def summary(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"median_s": None, "mean_s": None, "min_s": None, "n": 0}
    return {
        "median_s": statistics.median(samples),
        "mean_s": statistics.fmean(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "n": len(samples),
    }


def skip128() -> nn.Module:
    return build_generator("skip", 32, 3)  # defaults = skip128 (d = u = [128]*5, s = [4]*5)


def skip_width(channels: int) -> dict[str, Any]:
    return {"channels_down": [channels] * 5, "channels_up": [channels] * 5, "channels_skip": [4] * 5}


# --------------------------------------------------------------------------------------------- deepinv


class _TorchvisionStub(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``import torchvision[.x]`` succeed with placeholder modules whose members raise when used.

    Only installed (inside this benchmark process) when the real torchvision cannot be imported: PyPI has no CPU
    torchvision wheel matching torch 2.13+cpu (its wheels link libtorch_cuda). ``deepinv/__init__.py`` imports
    torchvision eagerly, but ``deepinv.models.DeepImagePrior`` and ``deepinv.physics.Denoising`` never call it.
    """

    class _Placeholder:
        def __init__(self, name: str) -> None:
            self._name = name

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"{self._name}: torchvision is stubbed in this benchmark (not installed)")

        def __getattr__(self, item: str) -> Any:
            return _TorchvisionStub._Placeholder(f"{self._name}.{item}")

        def __mro_entries__(self, bases: tuple) -> tuple:
            return (object,)

    class _Module(types.ModuleType):
        def __getattr__(self, item: str) -> Any:
            if item.startswith("__"):
                raise AttributeError(item)
            return _TorchvisionStub._Placeholder(f"{self.__name__}.{item}")

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name == "torchvision" or name.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        module = self._Module(spec.name)
        module.__path__ = []
        module.__version__ = "stub"
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def import_deepinv() -> tuple[Any | None, dict[str, Any]]:
    """Import deepinv; fall back to a torchvision stub when only torchvision is missing or broken."""
    info: dict[str, Any] = {"available": False}
    try:
        import deepinv

        info.update(available=True, version=deepinv.__version__, torchvision="real")
        return deepinv, info
    except Exception as exc:  # any import failure is reported
        first = f"{type(exc).__name__}: {exc}"
    if "torchvision" not in first and "nms" not in first:
        info["reason"] = first
        return None, info
    for name in list(sys.modules):
        if name.split(".")[0] in ("deepinv", "torchvision"):
            del sys.modules[name]
    sys.meta_path.insert(0, _TorchvisionStub())
    try:
        import deepinv

        info.update(
            available=True,
            version=deepinv.__version__,
            torchvision=f"stubbed in-process (import of the real one failed: {first[:200]})",
        )
        return deepinv, info
    except Exception as exc:
        info["reason"] = f"{first}; with a torchvision stub: {type(exc).__name__}: {exc}"
        return None, info


# --------------------------------------------------------------------------------------------- the loops
# Each returns the wall time of every step (seconds), in order; the caller drops the warm-up steps.


def loop_ours(
    y: torch.Tensor, gt: torch.Tensor, steps: int, *, channels_last: bool, amp: bool, seed: int = 0
) -> list[float]:
    torch.manual_seed(seed)
    net = skip128()
    size = y.shape[-2:]
    z = make_input("noise", 32, size[0], size[1], seed=seed)
    settings = replace(
        get_preset("denoise").settings, iterations=steps, stop="fixed", seed=seed, channels_last=channels_last, amp=amp
    )
    stamps: list[float] = []

    def stamp(_state: Any) -> None:
        stamps.append(time.perf_counter())

    start = time.perf_counter()
    fit(net, z, y, Identity(), settings, reference=gt, callbacks=[stamp], progress=False)
    return list(np.diff([start] + stamps))


def loop_reference(
    y: torch.Tensor,
    gt: torch.Tensor,
    steps: int,
    *,
    seed: int = 0,
    reg_noise_std: float = 1 / 30,
    exp_weight: float = 0.99,
    show_every: int = 100,
) -> list[float]:
    """The loop as the DIP denoising notebook runs it (our own code, same steps):

    z + σ·N(0,1) → net → EMA of the output → MSE → backward → PSNR(out, noisy), PSNR(out, GT), PSNR(avg, GT) on the
    host via skimage every step → backtracking bookkeeping (copy of all parameters to the CPU) → Adam (torch default).
    """
    from skimage.metrics import peak_signal_noise_ratio

    torch.manual_seed(seed)
    net = skip128()
    size = y.shape[-2:]
    z = make_input("noise", 32, size[0], size[1], seed=seed)
    noisy_np, gt_np = y[0].numpy(), gt[0].numpy()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    mse = nn.MSELoss()
    noise = z.detach().clone()
    out_avg = None
    last_net = None
    psnr_noisy_last = 0.0
    net.train()
    stamps: list[float] = []
    start = time.perf_counter()
    for i in range(steps):
        optimizer.zero_grad()
        net_input = z + noise.normal_() * reg_noise_std
        out = net(net_input)
        out_avg = out.detach() if out_avg is None else out_avg * exp_weight + out.detach() * (1 - exp_weight)
        total_loss = mse(out, y)
        total_loss.backward()
        out_np = out.detach().cpu().numpy()[0]
        psnr_noisy = peak_signal_noise_ratio(noisy_np, out_np, data_range=1.0)
        peak_signal_noise_ratio(gt_np, out_np, data_range=1.0)
        peak_signal_noise_ratio(gt_np, out_avg.detach().cpu().numpy()[0], data_range=1.0)
        if i % show_every:
            if psnr_noisy - psnr_noisy_last < -5 and last_net is not None:
                with torch.no_grad():
                    for saved, param in zip(last_net, net.parameters()):
                        param.copy_(saved)
            else:
                last_net = [p.detach().cpu() for p in net.parameters()]
                psnr_noisy_last = psnr_noisy
        optimizer.step()
        stamps.append(time.perf_counter())
    return list(np.diff([start] + stamps))


class _Stamped(nn.Module):
    """Records the start time of every forward call of the wrapped generator (one per deepinv iteration)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.stamps: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.stamps.append(time.perf_counter())
        return self.net(x)


def loop_deepinv(deepinv: Any, y: torch.Tensor, steps: int, *, seed: int = 0) -> list[float]:
    torch.manual_seed(seed)
    net = _Stamped(skip128())
    size = y.shape[-2:]
    dip = deepinv.models.DeepImagePrior(
        generator=net, img_size=(32, size[0], size[1]), iterations=steps, learning_rate=0.01, verbose=False
    )
    physics = deepinv.physics.Denoising(deepinv.physics.GaussianNoise(sigma=25 / 255))
    dip(y, physics)
    # stamps: one per iteration plus the final forward after the loop; differences = iteration times.
    return list(np.diff(net.stamps))


# --------------------------------------------------------------------------------------------- speed section


def run_speed(
    args: argparse.Namespace, noisy_full: np.ndarray, gt_full: np.ndarray, deepinv: Any, log: Any
) -> dict[str, Any]:
    loops = [name for name in args.loops if name != "deepinv" or deepinv is not None]
    steps = args.warmup + args.timed
    out: dict[str, Any] = {}
    for size in args.sizes:
        y = to_tensor(centre_crop(noisy_full, size))
        gt = to_tensor(centre_crop(gt_full, size))
        samples: dict[str, list[float]] = {name: [] for name in loops}
        load_before = loadavg()
        started = time.perf_counter()
        for rnd in range(args.rounds):
            order = loops if rnd % 2 == 0 else list(reversed(loops))  # alternate the order between rounds
            for name in order:
                if name == "ours":
                    times = loop_ours(y, gt, steps, channels_last=False, amp=False)
                elif name == "ours-cl":
                    times = loop_ours(y, gt, steps, channels_last=True, amp=False)
                elif name == "ours-bf16-cl":
                    times = loop_ours(y, gt, steps, channels_last=True, amp=True)
                elif name == "reference":
                    times = loop_reference(y, gt, steps)
                else:
                    times = loop_deepinv(deepinv, y, steps)
                timed = times[args.warmup :]
                samples[name].extend(timed)
                log(f"  {size}² round {rnd + 1} {name:13s} " + " ".join(f"{t:.3f}" for t in timed))
        result = {name: summary(values) | {"samples_s": values} for name, values in samples.items()}
        ratios: dict[str, float] = {}
        for ours in ("ours", "ours-cl", "ours-bf16-cl"):
            for peer in ("reference", "deepinv"):
                if ours in result and peer in result and result[ours]["median_s"]:
                    ratios[f"{peer}/{ours}"] = result[peer]["median_s"] / result[ours]["median_s"]
        out[str(size)] = {
            "loops": result,
            "speedup": ratios,
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
            "wall_s": time.perf_counter() - started,
        }
    return out


# --------------------------------------------------------------------------------------------- memory section


def _vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def memory_child(size: int, steps: int, config: str = "fp32") -> None:
    """Run in a fresh process: baseline RSS after imports, then ``steps`` fit steps; print JSON.

    ``config``: "fp32" (contiguous, fp32) or "bf16-cl" (channels_last + bf16 autocast).
    """
    torch.manual_seed(0)
    y = torch.rand(1, 3, size, size)
    base_rss = _vm_kib("VmRSS")
    base_hwm = _vm_kib("VmHWM")
    net = skip128()
    z = make_input("noise", 32, size, size, seed=0)
    bf16 = config == "bf16-cl"
    settings = replace(get_preset("denoise").settings, iterations=steps, stop="fixed", channels_last=bf16, amp=bf16)
    start = time.perf_counter()
    fit(net, z, y, Identity(), settings, reference=y, progress=False)
    seconds = time.perf_counter() - start
    hwm = _vm_kib("VmHWM")
    print(
        json.dumps(
            {
                "size": size,
                "steps": steps,
                "config": config,
                "baseline_rss_mib": base_rss / 1024,
                "baseline_hwm_mib": base_hwm / 1024,
                "peak_rss_mib": hwm / 1024,
                "peak_delta_mib": (hwm - base_rss) / 1024,
                "seconds": seconds,
            }
        )
    )


def run_memory(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for size, config in [(s, c) for s in args.memory_sizes for c in args.memory_configs]:
        steps = 2 if size <= 512 else 1
        key = f"{size} {config}"
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.bench_speed",
            "--_memory-child",
            str(size),
            "--_memory-steps",
            str(steps),
            "--_memory-config",
            config,
        ]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=args.memory_timeout, cwd=common.REPO_ROOT, check=False
            )
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode != 0 or not line:
                out[key] = {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"}
            else:
                out[key] = json.loads(line[-1])
        except subprocess.TimeoutExpired:
            out[key] = {"error": f"timed out after {args.memory_timeout} s"}
        log(f"  memory {key}: {out[key]}")
    return out


# --------------------------------------------------------------------------------------------- profile section


def _replica_step_factory(
    size: int, *, channels_last: bool, amp: bool, adam: str, compiled: bool = False, seed: int = 0, channels: int = 128
) -> Any:
    """One step of :func:`deepprior.loop.fit` (denoise preset) written out with a timer per phase.

    Phases: jitter (z + σ·N), forward (zero_grad + generator + crop/cast), loss, backward, adam, average (EMA),
    psnr (the per-step PSNR/loss stack fit keeps on the device for its history).
    """
    torch.manual_seed(seed)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = skip128() if channels == 128 else build_generator("skip", 32, 3, **skip_width(channels))
    net = net.to(memory_format=fmt)
    net.train()
    y = torch.rand(1, 3, size, size)
    ref = torch.rand(1, 3, size, size)
    z = make_input("noise", 32, size, size, torch.Generator().manual_seed(seed)).contiguous(memory_format=fmt)
    kwargs = {"foreach": {"foreach": True}, "fused": {"fused": True}, "for-loop": {"foreach": False}}[adam]
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01, **kwargs)
    forward_net = torch.compile(net) if compiled else net
    jitter = torch.Generator().manual_seed(seed + 1)
    state: dict[str, Any] = {"average": None}

    def step() -> dict[str, float]:
        t0 = time.perf_counter()
        inp = z + (1 / 30) * torch.randn(z.shape, generator=jitter, dtype=z.dtype)
        t1 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = forward_net(inp)
        out = out.float()
        t2 = time.perf_counter()
        loss = F.mse_loss(out, y)
        t3 = time.perf_counter()
        loss.backward()
        t4 = time.perf_counter()
        optimizer.step()
        t5 = time.perf_counter()
        out = out.detach()
        avg = state["average"]
        state["average"] = out.clone() if avg is None else avg.lerp_(out, 0.01)
        t6 = time.perf_counter()
        with torch.no_grad():
            torch.stack([loss.detach(), psnr_torch(out, ref), psnr_torch(state["average"], ref), psnr_torch(out, y)])
        t7 = time.perf_counter()
        return {
            "jitter": t1 - t0,
            "forward": t2 - t1,
            "loss": t3 - t2,
            "backward": t4 - t3,
            "adam": t5 - t4,
            "average": t6 - t5,
            "psnr_history": t7 - t6,
            "total": t7 - t0,
        }

    return step, net, optimizer


def _check_costs(size: int, net: nn.Module, optimizer: torch.optim.Optimizer, check_every: int) -> dict[str, float]:
    """Costs fit pays once per check (every ``check_every`` steps), amortised per step."""
    from deepprior.callbacks import Averaging
    from deepprior.loop import FitState

    averaging = Averaging(0.99)
    averaging.average = torch.rand(1, 3, size, size)
    # what backtracking saves at each good check: weights, Adam, z and every restorable callback's state
    state = FitState(
        settings=FitSettings(),
        device=torch.device("cpu"),
        net=net,
        z=torch.rand(1, 32, size, size),
        observation=averaging.average,
        operator=Identity(),
        optimizer=optimizer,
        callbacks=[averaging],
    )
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        state.snapshot()
    save = (time.perf_counter() - t0) / reps
    pending = [torch.rand(4) for _ in range(check_every)]
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.stack(pending).cpu().tolist()
    flush = (time.perf_counter() - t0) / reps
    return {
        "checkpoint_save_s": save,
        "history_flush_s": flush,
        "amortised_per_step_s": (save + flush) / check_every,
        "check_every": check_every,
    }


def run_profile(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    size = args.profile_size
    out: dict[str, Any] = {"size": size}

    # 1) phases of the default CPU configuration
    step, net, optimizer = _replica_step_factory(size, channels_last=False, amp=False, adam="foreach")
    for _ in range(args.warmup):
        step()
    phases = [step() for _ in range(args.profile_steps)]
    out["phases_ms"] = {k: 1000 * statistics.median(p[k] for p in phases) for k in phases[0]}
    out["check_costs"] = _check_costs(size, net, optimizer, FitSettings().check_every)
    log(f"  phases at {size}² (ms): {json.dumps({k: round(v, 1) for k, v in out['phases_ms'].items()})}")
    log(f"  check costs: {out['check_costs']}")

    # 2) torch.profiler: top operators of one step
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    table = []
    for evt in sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:14]:
        table.append({"op": evt.key, "self_ms": evt.self_cpu_time_total / 1000, "calls": evt.count})
    out["top_ops"] = table
    del step, net, optimizer

    # 3) CPU options, interleaved
    variants: dict[str, dict[str, Any]] = {
        "fp32, contiguous, foreach Adam (baseline)": {"channels_last": False, "amp": False, "adam": "foreach"},
        "fp32, fused Adam": {"channels_last": False, "amp": False, "adam": "fused"},
        "fp32, for-loop Adam (torch default on CPU)": {"channels_last": False, "amp": False, "adam": "for-loop"},
        "fp32, channels_last": {"channels_last": True, "amp": False, "adam": "foreach"},
        "bf16 autocast": {"channels_last": False, "amp": True, "adam": "foreach"},
        "bf16 autocast + channels_last": {"channels_last": True, "amp": True, "adam": "foreach"},
    }
    if args.compile:
        variants["torch.compile (fp32)"] = {"channels_last": False, "amp": False, "adam": "foreach", "compiled": True}
        variants["torch.compile + channels_last + bf16"] = {
            "channels_last": True,
            "amp": True,
            "adam": "foreach",
            "compiled": True,
        }
    steps_by_variant: dict[str, Any] = {}
    compile_s: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name, kw in variants.items():
        t0 = time.perf_counter()
        try:
            fn, _, _ = _replica_step_factory(size, **kw)
            for _ in range(args.warmup):
                fn()
        except Exception as exc:  # e.g. torch.compile without a working compiler
            errors[name] = f"{type(exc).__name__}: {str(exc)[:300]}"
            log(f"  {name}: FAILED {errors[name]}")
            continue
        if kw.get("compiled"):
            compile_s[name] = time.perf_counter() - t0
        steps_by_variant[name] = fn
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in steps_by_variant}
    for _round in range(args.rounds):
        for name, fn in steps_by_variant.items():
            for _ in range(max(1, args.profile_steps // args.rounds)):
                samples[name].append(fn())
    base = None
    options: dict[str, Any] = {}
    for name, values in samples.items():
        total = statistics.median(v["total"] for v in values)
        base = base or total
        options[name] = {
            "total_s": total,
            "speedup_vs_default": base / total,
            "adam_ms": 1000 * statistics.median(v["adam"] for v in values),
            "forward_ms": 1000 * statistics.median(v["forward"] for v in values),
            "backward_ms": 1000 * statistics.median(v["backward"] for v in values),
            "n": len(values),
        }
        if name in compile_s:
            options[name]["compile_and_warmup_s"] = compile_s[name]
        log(f"  option {name:45s} {total:.3f} s/it  ×{base / total:.2f}  adam {options[name]['adam_ms']:.1f} ms")
    out["options"] = options
    out["option_errors"] = errors

    # 4) the same layout/precision options for the narrow "fast mode" networks at the fast-mode crop
    narrow: dict[str, Any] = {}
    for channels in args.fast_channels:
        fns = {}
        for label, kw in (
            ("fp32", {"channels_last": False, "amp": False}),
            ("fp32 + channels_last", {"channels_last": True, "amp": False}),
            ("bf16 + channels_last", {"channels_last": True, "amp": True}),
        ):
            fn, _, _ = _replica_step_factory(args.fast_size, adam="foreach", channels=channels, **kw)
            for _ in range(args.warmup):
                fn()
            fns[label] = fn
        got: dict[str, list[float]] = {label: [] for label in fns}
        for _ in range(args.rounds * 2):
            for label, fn in fns.items():
                for _ in range(3):
                    got[label].append(fn()["total"])
        base_t = statistics.median(got["fp32"])
        narrow[f"skip{channels}"] = {
            label: {"total_s": statistics.median(v), "speedup_vs_fp32": base_t / statistics.median(v)}
            for label, v in got.items()
        }
        log(
            f"  narrow skip{channels} at {args.fast_size}²: "
            + ", ".join(
                f"{k} {v['total_s'] * 1000:.1f} ms (×{v['speedup_vs_fp32']:.2f})"
                for k, v in narrow[f"skip{channels}"].items()
            )
        )
    out["narrow"] = {"size": args.fast_size, "variants": narrow}
    if not args.compile:
        out["compile_note"] = "torch.compile not tried in this run (pass --compile)"
    return out


# --------------------------------------------------------------------------------------------- fast mode


def run_fast(args: argparse.Namespace, data: Path, log: Any) -> dict[str, Any]:
    noisy = centre_crop(load_rgb(data / f"{args.fast_image}_noisy.png"), args.fast_size)
    gt = centre_crop(load_rgb(data / f"{args.fast_image}_GT.png"), args.fast_size)
    variants: list[tuple[str, int, dict[str, Any]]] = []
    for c in args.fast_channels:
        variants.append((f"skip{c}", c, {"channels_last": False, "amp": False}))
    for c in args.fast_bf16_channels:
        variants.append((f"skip{c} + channels_last + bf16", c, {"channels_last": True, "amp": True}))
    out: dict[str, Any] = {
        "image": args.fast_image,
        "crop": args.fast_size,
        "iterations": args.fast_iterations,
        "noisy_psnr": psnr_np(noisy, gt),
        "runs": {},
    }
    for name, channels, extra in variants:
        t0 = time.perf_counter()
        result = deepprior.denoise(
            noisy,
            reference=gt,
            iterations=args.fast_iterations,
            stop="fixed",
            generator_options=skip_width(channels),
            progress=False,
            **extra,
        )
        seconds = time.perf_counter() - t0
        raw = np.asarray(result.history.psnr, dtype=float)
        avg = np.asarray(result.history.psnr_average, dtype=float)
        out["runs"][name] = {
            "channels": channels,
            "parameters": result.settings["generator"]["parameters"],
            "seconds": seconds,
            "seconds_per_iteration": seconds / args.fast_iterations,
            "psnr_final_average": psnr_np(result.image, gt),
            "psnr_best_average": float(np.nanmax(avg)),
            "best_average_step": int(np.nanargmax(avg)),
            "psnr_best_raw": float(np.nanmax(raw)),
            "best_raw_step": int(np.nanargmax(raw)),
            "seconds_to_best_average": seconds / args.fast_iterations * (int(np.nanargmax(avg)) + 1),
            "psnr_average_every_250": [float(avg[i]) for i in range(249, len(avg), 250)],
            **extra,
        }
        r = out["runs"][name]
        log(
            f"  fast {name:32s} {r['seconds_per_iteration']:.4f} s/it final {r['psnr_final_average']:.2f} "
            f"best avg {r['psnr_best_average']:.2f}@{r['best_average_step']}"
        )
    base = out["runs"].get(f"skip{128}")
    if base:
        for r in out["runs"].values():
            r["speedup_vs_skip128"] = base["seconds_per_iteration"] / r["seconds_per_iteration"]
            r["psnr_cost_final_db"] = base["psnr_final_average"] - r["psnr_final_average"]
            r["psnr_cost_best_db"] = base["psnr_best_average"] - r["psnr_best_average"]
    return out


# --------------------------------------------------------------------------------------------- report


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _deepinv_line(info: Any) -> str:
    if isinstance(info, dict):
        return f"deepinv {info.get('version')} (torchvision: {info.get('torchvision')})"
    return str(info)


def write_markdown(path: Path, res: dict[str, Any]) -> None:
    m = res["meta"]
    lines = [
        f"# DIP loop speed on the CPU ({m['date']})",
        "",
        f"- device: {m['device']}; torch threads: {m['torch_threads']}",
        (
            f"- versions: torch {m['versions']['torch']}, deepinv {m['versions'].get('deepinv') or 'unavailable'}, "
            f"deepprior {m['versions']['deepprior']}, numpy {m['versions']['numpy']}, "
            f"python {m['versions']['python']}"
        ),
        f"- command: `{m['command']}`",
        (
            f"- image: {m['image']} (centre crop per size), generator skip128 "
            f"(build_generator('skip', 32, 3), 2,217,831 parameters)"
        ),
        f"- deepinv: {_deepinv_line(m['deepinv'])}",
    ]
    if m.get("runs"):
        lines.append("- runs that produced this file, oldest first (a later run replaces the sections it redoes):")
    for run in m.get("runs", []):
        lines.append(
            f"  - section(s) {', '.join(run['sections'])}: `{run['command']}` ({run['date']}, "
            f"{run['torch_threads']} thread(s))"
        )
    lines.append("")
    for threads, entry in res.get("speed_threads", {}).items():
        speed = entry["speed"]
        lines += [
            f"## Seconds per iteration — {threads} torch thread(s)",
            "",
            (
                f"`{entry['command']}` ({entry['date']}; {entry['warmup']} warm-up + {entry['timed']} timed steps "
                f"per call, {entry['rounds']} interleaved rounds; medians over all timed steps)"
            ),
            "",
            "| loop | " + " | ".join(f"{s}² median (mean)" for s in speed) + " |",
            "|---|" + "---|" * len(speed),
        ]
        names = list(next(iter(speed.values()))["loops"])
        for name in names:
            cells = []
            for sz in speed.values():
                r = sz["loops"][name]
                cells.append(f"{_fmt(r['median_s'])} ({_fmt(r['mean_s'])})")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Speed-up (peer s/it ÷ our s/it; > 1 means ours is faster):",
            "",
            "| ratio | " + " | ".join(f"{sz}²" for sz in speed) + " |",
            "|---|" + "---|" * len(speed),
        ]
        keys = list(next(iter(speed.values()))["speedup"])
        for k in keys:
            lines.append(f"| {k} | " + " | ".join(_fmt(sz["speedup"].get(k), 2) for sz in speed.values()) + " |")
        lines += [
            "",
            "Load average (1, 5, 15 min) before → after each size: "
            + "; ".join(f"{k}²: {v['loadavg_before']} → {v['loadavg_after']}" for k, v in speed.items()),
            "",
        ]
    if res.get("speed_threads"):
        lines += ["Loops:", ""] + [f"- `{k}`: {v}" for k, v in LOOP_LABELS.items()] + [""]
    if "memory" in res:
        lines += [
            "## Peak memory (one fit per size in a fresh process; VmHWM)",
            "",
            (
                "| size | config | steps | baseline RSS after imports (MiB) | peak RSS (MiB) | "
                "peak − baseline (MiB) | s |"
            ),
            "|---|---|---|---|---|---|---|",
        ]
        for key, r in res["memory"].items():
            size, _, config = key.partition(" ")
            config = config or r.get("config", "fp32")
            if "error" in r:
                lines.append(f"| {size}² | {config} | – | – | – | {r['error']} | – |")
            else:
                lines.append(
                    f"| {size}² | {config} | {r['steps']} | {r['baseline_rss_mib']:.0f} | "
                    f"{r['peak_rss_mib']:.0f} | {r['peak_delta_mib']:.0f} | {r['seconds']:.1f} |"
                )
        lines.append("")
    if "profile" in res:
        p = res["profile"]
        total = p["phases_ms"]["total"]
        lines += [
            f"## Where one iteration goes ({p['size']}², fp32, contiguous, foreach Adam)",
            "",
            "| phase | ms | share |",
            "|---|---|---|",
        ]
        for k, v in p["phases_ms"].items():
            lines.append(f"| {k} | {v:.1f} | {100 * v / total:.1f}% |")
        c = p["check_costs"]
        lines += [
            "",
            (
                f"Once per check (every {c['check_every']} steps): checkpoint save for backtracking "
                f"{1000 * c['checkpoint_save_s']:.1f} ms, history flush {1000 * c['history_flush_s']:.2f} ms → "
                f"{1000 * c['amortised_per_step_s']:.2f} ms per step amortised."
            ),
            "",
            "Top operators by self CPU time (one step, torch.profiler):",
            "",
            "| op | self ms | calls |",
            "|---|---|---|",
        ]
        for row in p["top_ops"]:
            lines.append(f"| {row['op']} | {row['self_ms']:.1f} | {row['calls']} |")
        lines += [
            "",
            f"### CPU options ({p['size']}², whole step, interleaved)",
            "",
            "| option | s/it | speed-up | forward ms | backward ms | Adam ms |",
            "|---|---|---|---|---|---|",
        ]
        for k, v in p["options"].items():
            extra = f" (compile + warm-up {v['compile_and_warmup_s']:.0f} s)" if "compile_and_warmup_s" in v else ""
            lines.append(
                f"| {k}{extra} | {v['total_s']:.3f} | ×{v['speedup_vs_default']:.2f} | "
                f"{v['forward_ms']:.0f} | {v['backward_ms']:.0f} | {v['adam_ms']:.1f} |"
            )
        for k, v in p.get("option_errors", {}).items():
            lines.append(f"| {k} | failed: {v} | | | | |")
        if "compile_note" in p:
            lines += ["", p["compile_note"]]
        if p.get("narrow"):
            n = p["narrow"]
            labels = list(next(iter(n["variants"].values())))
            lines += [
                "",
                f"### The same options for narrower networks ({n['size']}², whole step, ms)",
                "",
                "| network | " + " | ".join(labels) + " |",
                "|---|" + "---|" * len(labels),
            ]
            for k, v in n["variants"].items():
                lines.append(
                    f"| {k} | "
                    + " | ".join(f"{1000 * v[lb]['total_s']:.1f} (×{v[lb]['speedup_vs_fp32']:.2f})" for lb in labels)
                    + " |"
                )
        lines.append("")
    if "fast" in res:
        f = res["fast"]
        lines += [
            (
                f"## Fast mode: narrower skip networks ({f['image']}, centre crop {f['crop']}², σ=25, "
                f"{f['iterations']} iterations, denoise preset; noisy PSNR {f['noisy_psnr']:.2f} dB)"
            ),
            "",
            (
                "| network | parameters | s/it | speed-up | PSNR final average | PSNR best average (step) | "
                "time to best average (s) | best raw (step) | cost vs skip128 final / best (dB) |"
            ),
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for k, r in f["runs"].items():
            lines.append(
                f"| {k} | {r['parameters']:,} | {r['seconds_per_iteration']:.4f} | "
                f"×{_fmt(r.get('speedup_vs_skip128'), 2)} | {r['psnr_final_average']:.2f} | "
                f"{r['psnr_best_average']:.2f} ({r['best_average_step']}) | "
                f"{r['seconds_to_best_average']:.0f} | {r['psnr_best_raw']:.2f} "
                f"({r['best_raw_step']}) | {_fmt(r.get('psnr_cost_final_db'), 2)} / "
                f"{_fmt(r.get('psnr_cost_best_db'), 2)} |"
            )
        lines.append("")
    lines += [
        f"Total wall time of this run: {res['meta']['wall_s'] / 60:.1f} min"
        + (
            f" (earlier runs kept here: {res['meta']['wall_s_previous'] / 60:.1f} min)."
            if res["meta"].get("wall_s_previous")
            else "."
        ),
        "",
    ]
    common.write_text(path, "\n".join(lines))


# --------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="image sizes (square) for the speed table")
    ap.add_argument("--loops", nargs="+", default=list(LOOPS), choices=LOOPS, help="loops to time")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up steps per loop call (not timed)")
    ap.add_argument("--timed", type=int, default=3, help="timed steps per loop call")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (each runs every loop once)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument(
        "--memory-sizes",
        type=int,
        nargs="*",
        default=[256, 512, 1024],
        help="sizes for the peak-memory subprocesses (>512: one step only)",
    )
    ap.add_argument("--memory-timeout", type=int, default=180, help="seconds per memory subprocess")
    ap.add_argument(
        "--memory-configs",
        nargs="+",
        default=["fp32", "bf16-cl"],
        choices=["fp32", "bf16-cl"],
        help="fp32 = contiguous fp32; bf16-cl = channels_last + bf16 autocast",
    )
    ap.add_argument("--profile-size", type=int, default=256)
    ap.add_argument("--profile-steps", type=int, default=4, help="timed steps per profile variant")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile variants (slow to compile)")
    ap.add_argument("--fast-image", default="F16")
    ap.add_argument("--fast-size", type=int, default=128)
    ap.add_argument("--fast-iterations", type=int, default=1200)
    ap.add_argument("--fast-channels", type=int, nargs="*", default=[32, 64, 128])
    ap.add_argument(
        "--fast-bf16-channels",
        type=int,
        nargs="*",
        default=[128],
        help="widths also run with channels_last + bf16 autocast (quality cost of bf16)",
    )
    ap.add_argument(
        "--skip", nargs="*", default=[], choices=["speed", "memory", "profile", "fast"], help="sections to leave out"
    )
    common.add_data_dir_argument(ap, f"; the images are read from its {DENOISE_DIR}")
    ap.add_argument("--image", default="F16", help="image of the speed table (<name>_noisy.png, <name>_GT.png)")
    ap.add_argument("--out", type=Path, default=common.RESULTS_DIR, help="output folder")
    ap.add_argument("--name", default="speed_cpu", help="output file stem")
    ap.add_argument(
        "--update", action="store_true", help="keep the sections of an existing <out>/<name>.json that this run skips"
    )
    ap.add_argument("--_memory-child", dest="memory_child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_memory-steps", dest="memory_steps", type=int, default=2, help=argparse.SUPPRESS)
    ap.add_argument("--_memory-config", dest="memory_config", default="fp32", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child is not None:
        memory_child(args.memory_child, args.memory_steps, args.memory_config)
        return 0
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {msg}", flush=True)

    deepinv, deepinv_info = (None, {"available": False, "reason": "not requested"})
    if "deepinv" in args.loops and "speed" not in args.skip:
        deepinv, deepinv_info = import_deepinv()
    log(f"deepinv: {deepinv_info}")
    import skimage  # noqa: F401 - imported so that the recorded versions include it

    data = common.data_path(DENOISE_DIR, args.data_dir) if {"speed", "fast"} - set(args.skip) else None
    prov = common.provenance()  # date, command, git commit, host, CPU, torch threads, load, versions
    prov["versions"]["deepinv"] = deepinv_info.get("version")
    meta: dict[str, Any] = {
        **prov,
        "device": f"cpu: {prov['cpu']} ({prov['cpu_count']} logical CPUs; flags {', '.join(cpu_flags())})",
        "deepinv": deepinv_info if deepinv_info.get("available") else f"unavailable: {deepinv_info.get('reason')}",
        "image": f"{args.image}_noisy.png / {args.image}_GT.png from {data}",
        "warmup": args.warmup,
        "timed": args.timed,
        "rounds": args.rounds,
        "loadavg_start": prov["loadavg"],
        "settings_ours": {k: v for k, v in vars(get_preset("denoise").settings).items()},
    }
    res: dict[str, Any] = {"meta": meta}
    args.out.mkdir(parents=True, exist_ok=True)
    previous = args.out / f"{args.name}.json"
    if args.update and previous.exists():
        # Keep the sections this run does not redo; record which command produced which section.
        res = json.loads(previous.read_text())
        sections = [s for s in ("speed", "memory", "profile", "fast") if s not in args.skip]
        history = res["meta"].get("runs") or [
            {
                "command": res["meta"]["command"],
                "date": res["meta"]["date"],
                "torch_threads": res["meta"]["torch_threads"],
                "sections": [s for s in ("speed", "memory", "profile", "fast") if s in res],
            }
        ]
        history.append(
            {
                "command": meta["command"],
                "date": meta["date"],
                "torch_threads": meta["torch_threads"],
                "sections": sections,
            }
        )
        meta["runs"] = history
        meta["wall_s_previous"] = res["meta"].get("wall_s", 0) + res["meta"].get("wall_s_previous", 0)
        if "speed" in args.skip:  # deepinv was only imported by the run that timed the loops
            meta["deepinv"] = res["meta"].get("deepinv", meta["deepinv"])
            meta["versions"]["deepinv"] = res["meta"].get("versions", {}).get("deepinv")
        if "speed" in res and "speed_threads" not in res:
            old = history[0]
            res["speed_threads"] = {
                str(old["torch_threads"]): {
                    "speed": res["speed"],
                    "command": old["command"],
                    "date": old["date"],
                    "warmup": res["meta"]["warmup"],
                    "timed": res["meta"]["timed"],
                    "rounds": res["meta"]["rounds"],
                }
            }
        res["meta"] = meta

    def save() -> None:
        meta["wall_s"] = time.perf_counter() - started
        meta["loadavg_end"] = loadavg()
        common.write_json(args.out / f"{args.name}.json", res)
        write_markdown(args.out / f"{args.name}.md", res)

    if "speed" not in args.skip:
        noisy = load_rgb(data / f"{args.image}_noisy.png")
        gt = load_rgb(data / f"{args.image}_GT.png")
        log("speed ...")
        res["speed"] = run_speed(args, noisy, gt, deepinv, log)
        res.setdefault("speed_threads", {})[str(torch.get_num_threads())] = {
            "speed": res["speed"],
            "command": meta["command"],
            "date": meta["date"],
            "warmup": args.warmup,
            "timed": args.timed,
            "rounds": args.rounds,
        }
        save()
    if "memory" not in args.skip and args.memory_sizes:
        log("memory ...")
        res["memory"] = run_memory(args, log)
        save()
    if "profile" not in args.skip:
        log("profile ...")
        res["profile"] = run_profile(args, log)
        save()
    if "fast" not in args.skip:
        log("fast mode ...")
        res["fast"] = run_fast(args, data, log)
        save()
    save()
    log(f"wrote {args.out / (args.name + '.json')} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(common.run_script(main))
