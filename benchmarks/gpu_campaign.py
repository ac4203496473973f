"""The GPU campaign: the papers' tables at full size, the GPU code paths, and the GPU speed, in one resumable run.

Stages run in priority order; each appends what it measured to ``OUT/campaign.jsonl`` as soon as it has it (one
JSON line per measurement with the device, driver, torch/CUDA versions, commit, command and seconds), and a stage
that finished is never run again, so a run cut off by the end of a GPU lease keeps its results and the next run
goes on::

    python -m benchmarks.gpu_campaign --device cuda --out gpu_results            # on the GPU (see GPU.md)
    python -m benchmarks.gpu_campaign --device cpu --profile toy --out /tmp/toy   # the dry run on any CPU

Stages (``--stages`` picks some):

1. ``smoke``: every preset row for a few steps on the device; a folder's images stepped together
   (``run_together``); a fit with ES-WMV, and three stepped together, under
   ``torch.cuda.set_sync_debug_mode("error")`` between checks (no hidden host synchronisation); short fits with
   their step recorded as a CUDA graph against eager ones (plain and DIP-ℓ0: the same image?); the
   out-of-memory path (its one-line message); a 2048² image tiled by ``tile="auto"`` with all but 4 GiB held
   by a ballast; the memory estimate against the measured peak.
2. ``speed``: skip128 seconds per step at 256², 512², 1024² for our loop (fp32, channels_last, bf16 autocast
   + channels_last; at 512² also ``torch.compile`` and CUDA graphs through ``mode="reduce-overhead"``), a
   notebook-style loop (host PSNRs every step) and deepinv's ``DeepImagePrior`` when installed; peak GPU memory;
   achieved TFLOP/s (≈465 GFLOP per step at 512²). Ours and the notebook loop are timed inside one fit after its
   warm-up steps; deepinv's opaque loop by the difference of two runs (each row says which).
3. ``graphs-fit``: whole paper-length fits of F16 (512²) in fp32, and with CUDA graphs in fp32 and in bf16 +
   channels_last: seconds from the call to the result, capture and compilation included, and the PSNRs.
   ``step-graph``: the same for the whole step recorded as one CUDA graph without compiling
   (``cuda_graph=True``), after its seconds per step at each speed size; if that fit is faster at the same PSNR,
   the later stages' GPU-bound fits record their steps too.
4. ``batch-seeds``: a 4-seed ensemble on F16 (512²) fitted one seed at a time and with ``batch_seeds`` (the
   stacked networks stepped together), at 32 and 128 channels: fits per hour, peak memory, PSNRs.
5. ``throughput``: the same four full-size denoising fits (1000 steps) one at a time, two and four at once:
   images per hour for each (``--jobs 0`` runs the later stages with the fastest).
6. ``throughput-l0``: the same for four DIP-ℓ0 fits of NKS images (500 steps), whose v-steps run on the CPU,
   and the four stepped together in one process (their v-steps in threads at once); ``--jobs 0`` runs the DIP-ℓ0
   suites the fastest way.
7. ``denoise``: the 9 colour images at full size, the paper and fast rows with their ground-truth-free stops.
8. ``fast-width``: the fast denoising row with 64 and 128 channels on four of them (does a wider fast network
   carry the crops' result over to full size?).
9. ``sr-inpaint``: SR ×4 Set5 and Set14, ×8 Set5, 50% inpainting.
10. ``l0-tv``: DIP-ℓ0 on the clip art; DIP, DIP-TV and two-stage DIP-TV on the full F16 image for three λ
    (plain DIP once); DIP-ℓ0 on NKS validation.
11. ``denoise-best``: the fast denoising row as it is now (with its Wiener refiner) and the best row (the same
    fit refined by ``wiener-bm3d``) on the 9 images, and ZS-N2N (the training-free peer) beside them, in
    ``suites-refine/``.
12. ``best-width``: the best row with the paper's 128 channels on the 9 images, in ``suites-best128/`` (does a
    wider pilot close the gap to CBM3D on the textured images?).
13. ``l0-fast``: DIP-ℓ0's fast row on the NKS validation images and the clip art, beside ``l0-tv``'s paper rows.
14. ``fast-rows``: the fast row of SR ×4 and ×8 on Set5 and of 50 % inpainting on four images, beside
    ``sr-inpaint``'s paper rows (measured so far on CPU crops only).

Stages 5–14 go through the suite runner (``benchmarks.suite``), which keeps per-entry JSONL results and resumes
entry by entry; ``--jobs N`` runs N entries at once in worker processes sharing the GPU (``--jobs 0``: the
fastest way the throughput stages measured, which may be fits of one size stepped together in one process).

``--time-budget SECONDS`` (a lease's length, less a margin) starts only the work expected to end in time: a stage
measured as a whole only if its last duration (:data:`STAGE_SECONDS` until it has one) fits in what is left, a
suite's entry only if the finished entries of its method say it will end in time
(:mod:`benchmarks.suite.budget`). What did not fit is left for the next run (``stage deferred``), and the time
left goes to the later stages' shorter work, where a run cut off by its lease would lose the fits in flight.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks import common
from benchmarks.suite.budget import TimeBudget
from deepprior.argtypes import positive
from deepprior.registry import Registry

CAMPAIGN_FILE = "campaign.jsonl"


#: Steps a fit runs before the in-fit timer starts: the first forward compiles (where asked) and cuDNN picks its
#: kernels there.
TIMER_WARMUP = 10


@dataclasses.dataclass(frozen=True)
class CampaignProfile:
    """How big the campaign is: the real one on a GPU, or a toy one that checks the plumbing on a CPU."""

    name: str
    smoke_size: int
    smoke_steps: int
    speed_sizes: tuple[int, ...]
    speed_steps: int
    suite_profile: str  # the suite runner's profile
    limit: int | None  # images per suite (None: all)
    crop: int | None = None
    iterations: int | None = None
    channels: int | None = None
    speed_warmup: int = TIMER_WARMUP  # steps before the speed stage's timer starts


PROFILES = {
    "gpu": CampaignProfile(
        "gpu",
        smoke_size=128,
        smoke_steps=5,
        speed_sizes=(256, 512, 1024),
        speed_steps=100,
        suite_profile="paper",
        limit=None,
    ),
    "toy": CampaignProfile(
        "toy",
        smoke_size=64,
        smoke_steps=2,
        speed_sizes=(64,),
        speed_steps=2,
        speed_warmup=1,  # the plumbing, not the numbers: bf16 steps take a second each on a CPU without it
        suite_profile="quick",
        limit=1,
        crop=32,
        iterations=3,
        channels=8,
    ),
}

STAGES: Registry = Registry("campaign stage")

#: About how long each stage that is measured as a whole takes on an H100, for ``--time-budget`` until the stage has
#: run in ``OUT`` (its own last duration then counts): the durations in ``results/gpu/campaign.jsonl``, and
#: GPU.md's estimates for the stages that have not run yet (step-graph, batch-seeds, throughput-l0). The other
#: stages run suites, whose entries are budgeted one by one.
STAGE_SECONDS: dict[str, float] = {
    "smoke": 70.0,
    "speed": 230.0,
    "graphs-fit": 260.0,
    "step-graph": 180.0,
    "batch-seeds": 120.0,
    "throughput": 260.0,
    "throughput-l0": 180.0,
}
#: Seconds of one paper-length fit of the full F16 in the DIP-TV λ sweep (a fit of the fifth run's graphs-fit took
#: 51 s), until a λ of the sweep has run.
TV_FIT_SECONDS = 60.0


@dataclasses.dataclass
class Campaign:
    """What every stage gets: where to write, on which device, at which profile, and the time budget."""

    out: Path
    device: torch.device
    profile: CampaignProfile
    data_dir: Path | None
    jobs: int
    provenance: dict[str, Any]
    budget: TimeBudget = dataclasses.field(default_factory=TimeBudget)  # --time-budget's deadline (None: none)
    deferred: bool = False  # the stage in progress left work for the next run

    def in_time(self, seconds: float | None) -> bool:
        """Whether work of about ``seconds`` (None: unknown) ends within the time budget; if not, the stage in
        progress counts as deferred."""
        if self.budget.allows(seconds):
            return True
        self.deferred = True
        return False

    def stage_estimate(self, stage: str) -> float | None:
        """Seconds a stage measured as a whole should take (its last duration here, else :data:`STAGE_SECONDS`);
        None for the stages that run suites, whose entries are budgeted one by one."""
        if stage not in STAGE_SECONDS:
            return None
        durations = [
            row["seconds"] for row in self.rows() if row.get("stage") == stage and row.get("event") == "stage done"
        ]
        return durations[-1] if durations else STAGE_SECONDS[stage]

    def suite_mode(self, measured_by: str = "throughput") -> tuple[int, int]:
        """(worker processes, fits stepped together in each) for the suites: ``--jobs`` one fit at a time each,
        or (``--jobs 0``) the most images per hour that the stage ``measured_by`` measured (``throughput`` for
        GPU-bound fits, ``throughput-l0`` for DIP-ℓ0's, whose v-steps run on the CPU), else one process, one fit
        at a time. GPU-bound fits step together when ``batch-seeds`` found that faster (:meth:`suite_at_once`)."""
        if self.jobs:
            return self.jobs, 1
        at_once = self.suite_at_once() if measured_by == "throughput" else 1
        if at_once > 1:
            return 1, at_once
        rates = {
            (row["jobs"], row.get("at_once") or 1): row["computed"] / row["seconds"]
            for row in self.rows()
            if row.get("stage") == measured_by and row.get("ok") and row.get("computed") and row.get("seconds")
        }
        return max(rates, key=rates.__getitem__) if rates else (1, 1)

    def suite_at_once(self) -> int:
        """GPU-bound DIP fits of one size stepped together in the suites (the runner's ``at_once``): the
        ``batch-seeds`` stage's seeds (4) where stepping them together did more fits per hour than one at a time at
        every width it measured, else 1."""
        rates: dict[tuple[int, str], float] = {}
        for row in self.rows():
            if row.get("stage") == "batch-seeds" and row.get("ok"):
                rates[(row["width"], row["mode"])] = row["fits_per_hour"]
        widths = {width for width, _ in rates}
        wins = [rates.get((width, "together"), 0.0) > rates.get((width, "one at a time"), math.inf) for width in widths]
        if not (wins and all(wins)):
            return 1
        from benchmarks import bench_batch_seeds

        return bench_batch_seeds.SEEDS

    def suite_cuda_graph(self, measured_by: str = "throughput") -> bool:
        """Whether the suites' fits (``measured_by`` as in :meth:`suite_mode`) record their step as a CUDA graph
        (``cuda_graph=True``): where the ``step-graph`` stage found a whole fp32 fit of F16 faster that way than
        eager, recording included, at the eager fit's PSNR (within :data:`GRAPH_PSNR_TOLERANCE`); DIP-ℓ0's fits
        only if the latest smoke check found its recorded fit giving the eager one's image too."""
        rows = self.rows()
        fits = {
            row["loop"]: row
            for row in rows
            if row.get("stage") == "step-graph" and row.get("ok") and "psnr" in row and "seconds" in row
        }
        eager, graph = (fits.get(name) for name in (STEP_GRAPH_EAGER, STEP_GRAPH_FP32))
        if eager is None or graph is None:
            return False
        if measured_by == "throughput-l0":
            agrees = [row.get("ok") for row in rows if row.get("check") == graph_agrees_check(GRAPH_L0_CASE)]
            if not agrees or agrees[-1] is not True:
                return False
        return graph["seconds"] < eager["seconds"] and graph["psnr"] >= eager["psnr"] - GRAPH_PSNR_TOLERANCE

    def rows(self) -> list[dict[str, Any]]:
        """What the campaign has measured so far in ``out`` (this run's rows and earlier runs')."""
        return campaign_rows(self.out)

    def record(self, stage: str, **row: Any) -> None:
        """Append one measurement (flushed to disk at once)."""
        common.append_jsonl(self.out / CAMPAIGN_FILE, {"stage": stage, **row, **self.provenance})


def device_facts(device: torch.device) -> dict[str, Any]:
    """The accelerator's name, driver and CUDA version (what a result needs beside it)."""
    facts: dict[str, Any] = {"device": str(device), "torch": torch.__version__}
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        facts.update(
            device_name=properties.name,
            cuda=torch.version.cuda,
            memory_gib=round(properties.total_memory / 2**30, 1),
            driver=_driver_version(),
        )
    else:
        from deepprior.device import cpu_model

        facts.update(device_name=cpu_model(), threads=torch.get_num_threads())
    return facts


def _driver_version() -> str | None:
    import subprocess

    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return done.stdout.strip().splitlines()[0] if done.returncode == 0 else None
    except (OSError, IndexError, subprocess.SubprocessError):
        return None


# --------------------------------------------------------------------------------------------- 1. smoke


@STAGES.register("smoke")
def stage_smoke(campaign: Campaign) -> None:
    from deepprior.presets import PRESETS
    from deepprior.registry import TASKS

    size = campaign.profile.smoke_size
    rng = np.random.default_rng(0)
    image = rng.random((size, size, 3)).astype(np.float32)
    for key, preset in PRESETS.items():
        start = time.perf_counter()
        try:
            TASKS.get(preset.task).try_row(preset, image, **_smoke_settings(campaign))
            campaign.record("smoke", check=f"preset {key}", ok=True, seconds=time.perf_counter() - start)
        except Exception as exc:  # a failure is a finding: record it and go on
            campaign.record("smoke", check=f"preset {key}", ok=False, error=f"{type(exc).__name__}: {exc}")
    _smoke_images_together(campaign)
    _smoke_no_hidden_sync(campaign)
    _smoke_step_graph_agrees(campaign)
    _smoke_out_of_memory(campaign)
    _smoke_tiles_when_memory_is_short(campaign)


def _smoke_settings(campaign: Campaign) -> dict[str, Any]:
    """What every smoke fit overrides: a few steps, on the device; at the toy profile its narrow networks too (the
    plumbing, not the numbers), where the GPU's smoke runs each row's own width."""
    profile = campaign.profile
    width = {} if profile.channels is None else {"width": profile.channels}
    return {"iterations": profile.smoke_steps, "device": str(campaign.device), **width}


def _smoke_images_together(campaign: Campaign) -> None:
    """Images stepped together as a folder run steps them (``run_together``): three denoisings and two inpaintings
    with masks of their own, in batches of two, on the device; each record must say how many shared its batch."""
    import deepprior
    from deepprior.restore import run_together

    size = campaign.profile.smoke_size
    rng = np.random.default_rng(1)
    tiny = _smoke_settings(campaign)
    images = [rng.random((size, size, 3)).astype(np.float32) for _ in range(3)]
    plans = [deepprior.denoise.plan(image, **tiny) for image in images]
    masks = [rng.random((size, size)) > 0.5 for _ in range(2)]
    plans += [deepprior.inpaint.plan(image, known, kind="pixels", **tiny) for image, known in zip(images, masks)]
    start = time.perf_counter()
    try:
        at_once = [r.record.at_once for r in run_together(plans, at_once=2)]
        ok = at_once == [2, 2, 1, 2, 2]
        campaign.record(
            "smoke", check="images stepped together", ok=ok, at_once=at_once, seconds=time.perf_counter() - start
        )
    except Exception as exc:
        campaign.record("smoke", check="images stepped together", ok=False, error=f"{type(exc).__name__}: {exc}")


def _smoke_no_hidden_sync(campaign: Campaign) -> None:
    """A fit with ES-WMV, averaging and backtracking, the same with its step recorded as a CUDA graph, and three
    such fits stepped together (``fit_batch``), each raise on any host synchronisation between checks (the
    recording itself synchronises once, after the warm-up steps)."""
    from deepprior.batch import Member, fit_batch
    from deepprior.callbacks import Callback
    from deepprior.inputs import make_input
    from deepprior.loop import fit
    from deepprior.nets import build_generator
    from deepprior.operators import Identity
    from deepprior.settings import FitSettings
    from deepprior.step_graph import StepGraph

    device = campaign.device
    checks = ("no hidden sync", "no hidden sync, 3 fits stepped together", "no hidden sync, the step as a CUDA graph")
    if device.type != "cuda":
        for check in checks:
            campaign.record("smoke", check=check, ok=None, note="needs CUDA")
        return
    settings = FitSettings(
        iterations=60,
        check_every=10,
        average=0.99,
        backtrack=True,
        reg_noise_std=1 / 30,
        stop="es-wmv",
        stop_options={"window": 10, "patience": 1000},
    )

    def is_check(step: int) -> bool:
        return (step + 1) % settings.check_every == 0

    class SyncGuard(Callback):
        """Errors on a synchronisation between checks. Its mode holds from its own ``on_step`` (the last) to the
        next one: through this step's ``on_check`` and the next step's work, so both must be plain steps."""

        restorable = False

        def on_step(self, state: Any) -> None:
            records = state.settings.cuda_graph and state.step + 1 == StepGraph.WARMUP  # the next step records
            allowed = is_check(state.step) or is_check(state.step + 1) or records
            torch.cuda.set_sync_debug_mode("default" if allowed else "error")

        def on_end(self, state: Any) -> None:
            torch.cuda.set_sync_debug_mode("default")

    size = campaign.profile.smoke_size
    y = torch.rand(1, 3, size, size)

    def member(seed: int) -> Member:
        net, z = build_generator("skip", 32, 3, width=32, seed=seed), make_input("noise", 32, size, size, seed=seed)
        return Member(net, z, y, Identity(), dataclasses.replace(settings, seed=seed))

    def alone() -> None:
        one = member(0)
        fit(one.net, one.z, y, Identity(), settings, device=device, callbacks=[SyncGuard()])

    def together() -> None:  # the guard as a callback of the batch: called after every member's own
        fit_batch([member(seed) for seed in range(3)], device=device, callbacks=[SyncGuard()])

    def recorded() -> None:
        one = member(0)
        graphed = dataclasses.replace(settings, cuda_graph=True)
        fit(one.net, one.z, y, Identity(), graphed, device=device, callbacks=[SyncGuard()])

    for check, run in zip(checks, (alone, together, recorded)):
        try:
            run()
            campaign.record("smoke", check=check, ok=True)
        except Exception as exc:
            campaign.record("smoke", check=check, ok=False, error=f"{type(exc).__name__}: {exc}", where=_where(exc))
        finally:
            torch.cuda.set_sync_debug_mode("default")


#: The smoke check that a fit whose step is recorded as a CUDA graph returns the eager fit's image (one per case).
GRAPH_AGREES = "the step as a CUDA graph gives the eager fit"
#: Mean absolute difference (of [0, 1] pixel values) between the two that counts as the same fit whatever the
#: run-to-run noise: a replay runs the eager step's kernels, so only non-deterministic sums may part them.
GRAPH_AGREES_MAX_DIFF = 1e-3
#: ... or at most this many times the difference between two eager fits of the same seed: on CUDA the backward
#: passes of reflection padding and bilinear upsampling add with atomics in no fixed order, and over 100 steps
#: (and Region Fusion's thresholds, for DIP-ℓ0) those last-bit differences may grow past any fixed bound.
GRAPH_NOISE_FACTOR = 3.0
GRAPH_L0_CASE = "DIP-ℓ0"  # the case whose check decides whether the DIP-ℓ0 suites record their steps


def graph_agrees_check(case: str) -> str:
    """The name of the smoke check that ``case``'s recorded fit gives the eager one's image."""
    return f"{GRAPH_AGREES}: {case}"


def _smoke_step_graph_agrees(campaign: Campaign) -> None:
    """Short fits, eager and with the step recorded (``cuda_graph=True``), give the same image: plain denoising,
    and DIP-ℓ0 with a v-step every 5 steps, whose recorded penalty must read each new v and w (its buffers are
    overwritten in place). "The same" is within the run-to-run noise of two eager fits (:data:`GRAPH_NOISE_FACTOR`)
    or :data:`GRAPH_AGREES_MAX_DIFF`. The suites record DIP-ℓ0's steps only where this passed
    (:meth:`Campaign.suite_cuda_graph`)."""
    import deepprior

    device = campaign.device
    cases: dict[str, Callable[..., Any]] = {
        "denoise": deepprior.denoise,
        GRAPH_L0_CASE: partial(deepprior.smooth, method="dip-l0", regularizer_options={"inner_steps": 5}),
    }
    if device.type != "cuda":
        for name in cases:
            campaign.record("smoke", check=graph_agrees_check(name), ok=None, note="needs CUDA")
        return
    size = campaign.profile.smoke_size
    image = np.random.default_rng(2).random((size, size, 3)).astype(np.float32)
    options = {**_smoke_settings(campaign), "iterations": 100, "seed": 0}  # 20 v-steps for DIP-ℓ0
    for name, run in cases.items():
        check = graph_agrees_check(name)
        try:
            eager = run(image, **options)
            again = run(image, **options)  # the same eager fit: how far two runs part by themselves
            graphed = run(image, cuda_graph=True, **options)
            difference = float(np.abs(graphed.image - eager.image).mean())
            noise = float(np.abs(again.image - eager.image).mean())
            campaign.record(
                "smoke",
                check=check,
                ok=graphed.record.cuda_graph and difference <= max(GRAPH_AGREES_MAX_DIFF, GRAPH_NOISE_FACTOR * noise),
                recorded=graphed.record.cuda_graph,
                mean_difference=difference,
                eager_noise=noise,
                max_difference=float(np.abs(graphed.image - eager.image).max()),
            )
        except Exception as exc:
            campaign.record("smoke", check=check, ok=False, error=f"{type(exc).__name__}: {exc}")


def _where(exc: BaseException) -> list[str]:
    """The package's frames of a traceback, innermost last: which line synchronised."""
    frames = traceback.extract_tb(exc.__traceback__)
    return [f"{Path(f.filename).name}:{f.lineno} {f.line}" for f in frames if "deepprior" in f.filename][-4:]


def _smoke_out_of_memory(campaign: Campaign) -> None:
    """The allocator's failure becomes one DeviceError line (the estimate is bypassed by calling fit directly)."""
    from deepprior.errors import DeviceError
    from deepprior.loop import fit
    from deepprior.nets import build_generator
    from deepprior.operators import Identity
    from deepprior.settings import FitSettings

    device = campaign.device
    if device.type != "cuda":
        campaign.record("smoke", check="out of memory", ok=None, note="needs CUDA (a CPU would swap first)")
        return
    # Fill the device but 2 GiB with a ballast, then fit at 1024² (skip128 needs about 7 GiB there): the
    # allocator fails on any GPU size, and every tensor stays far below CUDA's 2^31-element indexing limit (the
    # first campaign's 16384² hit that limit instead; its 3968² fitted in 80 GiB)
    side = 1024
    ballast = None
    try:
        free, _ = torch.cuda.mem_get_info(device)
        ballast = torch.empty(max(free - 2 * 2**30, 0), dtype=torch.uint8, device=device)
        z = torch.zeros(1, 32, side, side, device=device)
        fit(
            build_generator("skip", 32, 3),
            z,
            torch.zeros(1, 3, side, side, device=device),
            Identity(),
            FitSettings(iterations=1),
            device=device,
        )
        campaign.record("smoke", check="out of memory", ok=False, error="no error")
    except DeviceError as exc:
        campaign.record("smoke", check="out of memory", ok="\n" not in str(exc), message=str(exc))
    except Exception as exc:
        campaign.record("smoke", check="out of memory", ok=False, error=f"{type(exc).__name__}: {exc}")
    finally:
        del ballast
        torch.cuda.empty_cache()


def _smoke_tiles_when_memory_is_short(campaign: Campaign) -> None:
    """With all but 4 GiB of the device held by a ballast, a 2048² denoising (skip128 needs about 34 GiB for it
    at once) is restored in tiles by the default ``tile="auto"``, on the device, to the whole image's size."""
    import deepprior

    device = campaign.device
    check = "tiles when the memory is short"
    if device.type != "cuda":
        campaign.record("smoke", check=check, ok=None, note="needs CUDA (the CPU's free memory is the machine's)")
        return
    ballast = None
    start = time.perf_counter()
    try:
        free, _ = torch.cuda.mem_get_info(device)
        ballast = torch.empty(max(free - 4 * 2**30, 0), dtype=torch.uint8, device=device)
        image = np.random.default_rng(2).random((2048, 2048, 3)).astype(np.float32)
        result = deepprior.denoise(image, iterations=2, device=str(device), progress=False)
        tiling = result.record.tiling
        ok = tiling is not None and result.image.shape == image.shape and bool(np.isfinite(result.image).all())
        described = None if tiling is None else {k: v for k, v in tiling.items() if k != "tiles"}
        campaign.record("smoke", check=check, ok=ok, tiling=described, seconds=time.perf_counter() - start)
    except Exception as exc:
        campaign.record("smoke", check=check, ok=False, error=f"{type(exc).__name__}: {exc}")
    finally:
        del ballast
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------------------------- 2. speed

GFLOP_512 = 465.0  # skip128, one step (forward + backward) at 512² (REFERENCE §1)


class _StepTimer:
    """Seconds per step inside one fit: the clock starts after step ``warmup`` (:data:`TIMER_WARMUP`) and stops
    ``steps`` steps later, the device synchronised at both ends (so neither the set-up nor the compilation is
    timed)."""

    def __init__(self, steps: int, device: torch.device, warmup: int = TIMER_WARMUP) -> None:
        self.steps, self.device, self.warmup = steps, device, warmup
        self.start: float | None = None
        self.per_step: float | None = None

    def tick(self, step: int) -> None:
        """Call after each step (0-based)."""
        if step not in (self.warmup, self.warmup + self.steps):
            return
        from deepprior.device import synchronize

        synchronize(self.device)
        if step == self.warmup:
            self.start = time.perf_counter()
        elif self.start is not None:
            self.per_step = (time.perf_counter() - self.start) / self.steps

    def __call__(self, state: Any) -> None:  # as a function callback of deepprior's fit
        self.tick(state.step)


def _time_steps(
    run: Callable[..., None], steps: int, device: torch.device, warmup: int = TIMER_WARMUP
) -> tuple[float, str]:
    """Seconds per step and how they were timed.

    A loop that takes a :class:`_StepTimer` (``run(n, timer)``) is timed inside one fit; an opaque one
    (``run(n)``, deepinv's) by ``run(3 + steps)`` less ``run(3)`` after a warm-up ``run(3)``, which leaves out
    the set-up every run repeats but carries its noise.
    """
    from deepprior.device import synchronize

    if "timer" in inspect.signature(run).parameters:
        timer = _StepTimer(steps, device, warmup)
        run(warmup + steps + 1, timer)
        if timer.per_step is None:  # pragma: no cover - the fit runs every step it is given
            raise RuntimeError("the fit ended before the timer stopped")
        return timer.per_step, "in-fit"

    def seconds(n: int) -> float:
        synchronize(device)
        start = time.perf_counter()
        run(n)
        synchronize(device)
        return time.perf_counter() - start

    run(3)
    short = seconds(3)
    return max(seconds(3 + steps) - short, 0.0) / steps, "difference of two runs"


def _ours(size: int, device: torch.device, **settings: Any) -> Callable[..., None]:
    from deepprior.inputs import make_input
    from deepprior.loop import fit
    from deepprior.nets import build_generator
    from deepprior.operators import Identity
    from deepprior.presets import get_preset

    y = torch.rand(1, 3, size, size)
    base = get_preset("denoise").settings

    def run(steps: int, timer: _StepTimer) -> None:
        fit(
            build_generator("skip", 32, 3),
            make_input("noise", 32, size, size),
            y,
            Identity(),
            dataclasses.replace(base, iterations=steps, stop="fixed", **settings),
            reference=y,
            device=device,
            callbacks=[timer],
        )

    return run


def _notebook(size: int, device: torch.device) -> Callable[..., None]:
    """The original notebooks' loop: jitter, forward, EMA, MSE, backward, three host PSNRs per step, Adam."""
    from deepprior.nets import build_generator

    def run(steps: int, timer: _StepTimer) -> None:
        net = build_generator("skip", 32, 3).to(device)
        z = (torch.rand(1, 32, size, size) * 0.1).to(device)
        y = torch.rand(1, 3, size, size, device=device)
        optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
        average = None
        for step in range(steps):
            optimizer.zero_grad()
            out = net(z + torch.randn_like(z) / 30)
            average = out.detach() if average is None else 0.99 * average + 0.01 * out.detach()
            loss = torch.nn.functional.mse_loss(out, y)
            loss.backward()
            for image in (out, out, average):  # the notebooks' three PSNRs, on the host
                float(torch.mean((image.detach() - y) ** 2).cpu())
            optimizer.step()
            timer.tick(step)

    return run


def _deepinv(size: int, device: torch.device) -> Callable[[int], None]:
    """deepinv's ``DeepImagePrior`` on the same skip128 (the peer a user would pick instead)."""
    from benchmarks.bench_speed import import_deepinv
    from deepprior.nets import build_generator

    deepinv, info = import_deepinv()
    if deepinv is None:
        raise RuntimeError(f"deepinv is not available: {info.get('reason')}")

    def run(steps: int) -> None:
        net = build_generator("skip", 32, 3).to(device)
        dip = deepinv.models.DeepImagePrior(
            generator=net, img_size=(32, size, size), iterations=steps, learning_rate=0.01, verbose=False
        ).to(device)
        physics = deepinv.physics.Denoising(deepinv.physics.GaussianNoise(sigma=25 / 255))
        dip(torch.rand(1, 3, size, size, device=device), physics)

    return run


@STAGES.register("speed")
def stage_speed(campaign: Campaign) -> None:
    device = campaign.device
    configs: dict[str, Callable[[int, torch.device], Callable[..., None]]] = {
        "ours fp32": lambda s, d: _ours(s, d, channels_last=False, amp=False),
        "ours fp32 channels_last": lambda s, d: _ours(s, d, channels_last=True, amp=False),
        "ours bf16 channels_last": lambda s, d: _ours(s, d, channels_last=True, amp=True),
        "ours fp32 compile": lambda s, d: _ours(s, d, channels_last=False, amp=False, compile=True),
        "ours fp32 CUDA graphs": lambda s, d: _ours(s, d, channels_last=False, amp=False, compile="reduce-overhead"),
        "ours bf16 channels_last CUDA graphs": lambda s, d: _ours(
            s, d, channels_last=True, amp=True, compile="reduce-overhead"
        ),
        "notebook loop": _notebook,
        "deepinv DeepImagePrior": _deepinv,
    }
    compiled = {name for name in configs if "compile" in name or "graphs" in name}
    for size in campaign.profile.speed_sizes:
        for name, make in configs.items():
            # compiling is slow: one size says enough, and on a CPU it would take minutes for nothing
            if name in compiled and (size != 512 or device.type != "cuda"):
                continue
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            try:
                profile = campaign.profile
                per_step, timer = _time_steps(make(size, device), profile.speed_steps, device, profile.speed_warmup)
            except Exception as exc:
                campaign.record("speed", loop=name, size=size, ok=False, error=f"{type(exc).__name__}: {exc}")
                continue
            peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
            tflops = GFLOP_512 * (size / 512) ** 2 / per_step / 1000
            campaign.record(
                "speed",
                loop=name,
                size=size,
                ok=True,
                seconds_per_step=per_step,
                timer=timer,
                peak_memory_gib=peak,
                achieved_tflops=tflops,
            )


#: Loop settings that ``graphs-fit`` times over a whole fit: the CUDA default, then CUDA graphs in fp32 and in bf16
#: + channels_last (the fastest per step in the fourth run's ``speed`` stage, before their one-off capture cost).
GRAPHS_FIT_LOOPS: dict[str, dict[str, Any]] = {
    "fp32 eager (default)": {"channels_last": False, "amp": False, "compile": False},
    "fp32 CUDA graphs": {"channels_last": False, "amp": False, "compile": "reduce-overhead"},
    "bf16 channels_last CUDA graphs": {"channels_last": True, "amp": True, "compile": "reduce-overhead"},
}
GRAPHS_FIT_IMAGE = "dip/project_page/Denoising/Color/25/F16"  # + _noisy.png / _GT.png: 512², the paper's input


@STAGES.register("graphs-fit")
def stage_graphs_fit(campaign: Campaign) -> None:
    """Whole paper-length fits of F16 (the paper row, fixed steps) with each of :data:`GRAPHS_FIT_LOOPS`: wall time
    from the call to the result, capture and compilation included, and the PSNR (the loops must agree)."""
    _whole_fits(campaign, "graphs-fit", GRAPHS_FIT_LOOPS)


def _whole_fits(campaign: Campaign, stage: str, loops: dict[str, dict[str, Any]]) -> None:
    """Time whole paper-length denoising fits of F16, one per entry of ``loops`` (settings for ``denoise``); a
    loop that graphs or compiles is skipped off CUDA, where it would say nothing about a GPU."""
    from deepprior import denoise
    from deepprior.io import read_image
    from deepprior.metrics import psnr
    from deepprior.presets import get_preset

    source = common.data_dir(campaign.data_dir)
    noisy, clean = (read_image(source / f"{GRAPHS_FIT_IMAGE}_{kind}.png").pixels for kind in ("noisy", "GT"))
    crop = campaign.profile.crop
    if crop:
        noisy, clean = noisy[:crop, :crop], clean[:crop, :crop]
    iterations = campaign.profile.iterations or get_preset("denoise").settings.iterations  # the paper's 3000
    for name, loop in loops.items():
        # compiling on a CPU takes minutes, and a step is recorded as a CUDA graph only on CUDA
        if (loop.get("compile") or loop.get("cuda_graph")) and campaign.device.type != "cuda":
            campaign.record(stage, loop=name, ok=True, skipped="graphs on CUDA only")
            continue
        try:
            start = time.perf_counter()
            result = denoise(noisy, device=str(campaign.device), iterations=iterations, stop="fixed", **loop)
            seconds = time.perf_counter() - start
        except Exception as exc:
            campaign.record(stage, loop=name, ok=False, error=f"{type(exc).__name__}: {exc}")
            continue
        campaign.record(
            stage,
            loop=name,
            ok=True,
            image="F16",
            size=list(noisy.shape[:2]),
            iterations=iterations,
            seconds=seconds,
            fit_seconds=result.record.seconds,
            psnr=psnr(np.clip(result.image, 0, 1), clean),
        )


#: Loop settings that ``step-graph`` compares: the CUDA default, then the whole step recorded as a CUDA graph
#: (``FitSettings.cuda_graph``: nothing compiled) in fp32 and in bf16 + channels_last.
STEP_GRAPH_EAGER = "fp32 eager (default)"
STEP_GRAPH_FP32 = "fp32, the step as a CUDA graph"
STEP_GRAPH_LOOPS: dict[str, dict[str, Any]] = {
    STEP_GRAPH_EAGER: {"channels_last": False, "amp": False},
    STEP_GRAPH_FP32: {"channels_last": False, "amp": False, "cuda_graph": True},
    "bf16 channels_last, the step as a CUDA graph": {"channels_last": True, "amp": True, "cuda_graph": True},
}
#: PSNR (dB) a recorded fit may lose against the eager one and still count as the same fit: a replayed step runs
#: the eager step's kernels, so anything beyond run-to-run noise would be a bug, not a trade. That noise is not
#: small: the third run's same four 1000-step fits, run in three ways, parted by up to 0.14 dB per image
#: (``results/gpu/README.md``), where a bug (a buffer read stale, gradients added up) costs dBs.
GRAPH_PSNR_TOLERANCE = 0.2


@STAGES.register("step-graph")
def stage_step_graph(campaign: Campaign) -> None:
    """The step recorded as one CUDA graph (``cuda_graph=True``) against the eager default: seconds per step of
    skip128 at each speed size, timed inside one fit after its warm-up (:func:`_time_steps`), then whole
    paper-length fits of F16 as ``graphs-fit`` times them (recording included) with their PSNRs. If the fp32
    graph wins over a whole fit at the same PSNR, the later stages' GPU-bound fits record their steps
    (:meth:`Campaign.suite_cuda_graph`), and it should become the CUDA default."""
    device = campaign.device
    for size in campaign.profile.speed_sizes:
        for name, loop in STEP_GRAPH_LOOPS.items():
            if loop.get("cuda_graph") and device.type != "cuda":
                campaign.record("step-graph", loop=name, size=size, ok=True, skipped="graphs on CUDA only")
                continue
            profile = campaign.profile
            try:
                run = _ours(size, device, **loop)
                per_step, timer = _time_steps(run, profile.speed_steps, device, profile.speed_warmup)
            except Exception as exc:
                campaign.record("step-graph", loop=name, size=size, ok=False, error=f"{type(exc).__name__}: {exc}")
                continue
            campaign.record("step-graph", loop=name, size=size, ok=True, seconds_per_step=per_step, timer=timer)
    _whole_fits(campaign, "step-graph", STEP_GRAPH_LOOPS)


BATCH_STEPS = 500  # per fit of the batch-seeds stage


@STAGES.register("batch-seeds")
def stage_batch_seeds(campaign: Campaign) -> None:
    """A 4-seed ensemble on F16 at full size, one seed at a time and stepped together (``batch_seeds``), at the
    fast row's width and the paper's (:func:`benchmarks.bench_batch_seeds.measure`): does stepping fits together
    beat one at a time on a GPU, and by how much?"""
    from benchmarks import bench_batch_seeds

    profile = campaign.profile
    noisy, clean = bench_batch_seeds.read_f16(campaign.data_dir, profile.crop)
    widths = (profile.channels,) if profile.channels else bench_batch_seeds.WIDTHS
    iterations = profile.iterations or BATCH_STEPS
    for row in bench_batch_seeds.measure(noisy, clean, str(campaign.device), widths, iterations=iterations):
        campaign.record("batch-seeds", image="F16", **row)


# --------------------------------------------------------------------------------------------- 3-5. suites


def _suites(
    campaign: Campaign,
    stage: str,
    suites: list[tuple[str, list[str]]],
    channels: int | None = None,
    limit: int | None = None,
    results: str = "suites",
    iterations: int | None = None,
    jobs: int | None = None,
    fresh: bool = False,
    measured_by: str = "throughput",
    at_once: int | None = None,
) -> None:
    """Run each ``(suite, methods)`` through the suite runner at the campaign's profile; ``channels``, ``limit``
    and ``iterations`` override the profile's (on the GPU, in the suite runner's ``full`` profile, since the
    paper profile takes no overrides), ``results`` names the folder (one per set of overrides: a results file holds
    one profile setting), ``jobs`` the fits at once (default: the campaign's, as ``measured_by`` found fastest);
    ``fresh`` discards earlier results instead of resuming them; ``jobs`` and ``at_once`` the worker processes
    and the fits of one size stepped together in each (default: as ``measured_by`` found fastest,
    :meth:`Campaign.suite_mode`)."""
    from benchmarks.suite.runner import BenchRequest, run_suite

    profile = campaign.profile
    suite_profile = profile.suite_profile
    if (channels is not None or iterations is not None) and suite_profile == "paper":
        suite_profile = "full"
    if jobs is None or at_once is None:
        jobs, at_once = campaign.suite_mode(measured_by)
    cuda_graph = at_once == 1 and campaign.suite_cuda_graph(measured_by)  # fits stepped together step eagerly
    for suite, methods in suites:
        start = time.perf_counter()
        request = BenchRequest(
            suite=suite,
            profile=suite_profile,
            methods=methods,
            limit=profile.limit if limit is None else min(limit, profile.limit or limit),
            device=str(campaign.device),
            jobs=jobs,
            at_once=at_once,
            data_dir=campaign.data_dir,
            results_dir=campaign.out / results,
            progress=False,
            crop=profile.crop,
            iterations=profile.iterations if iterations is None else iterations,
            channels=profile.channels if channels is None else channels,
            fresh=fresh,
            cuda_graph=cuda_graph,
            budget=None if fresh else campaign.budget,  # a fresh measurement was budgeted as a whole
        )
        try:
            summary = run_suite(request)
            campaign.deferred = campaign.deferred or summary.deferred > 0
            campaign.record(
                stage,
                suite=suite,
                ok=not summary.failures,
                computed=summary.computed,
                failures=len(summary.failures),
                deferred=summary.deferred,
                results=str(summary.results_path),
                seconds=time.perf_counter() - start,
                jobs=jobs,
                at_once=at_once,
                cuda_graph=cuda_graph,
            )
        except Exception as exc:
            campaign.record(stage, suite=suite, ok=False, error=f"{type(exc).__name__}: {exc}")


#: Fits at once that the throughput stage compares; ``--jobs 0`` then runs the suites with the fastest.
THROUGHPUT_JOBS = (1, 2, 4)
THROUGHPUT_STEPS = 1000  # per fit: long enough that a worker's start (a process, CUDA) is a small share


@STAGES.register("throughput")
def stage_throughput(campaign: Campaign) -> None:
    _throughput(campaign, "throughput", "denoise-color25", "dip", THROUGHPUT_STEPS)


THROUGHPUT_L0_STEPS = 500  # per DIP-ℓ0 fit: 20 outer iterations, each 25 steps on the GPU and a v-step on the CPU


@STAGES.register("throughput-l0")
def stage_throughput_l0(campaign: Campaign) -> None:
    # DIP-ℓ0 runs its Region Fusion v-step on the CPU between GPU steps: several fits at once may overlap one's
    # v-step with another's steps (worker processes), or run their v-steps at once in threads while their GPU
    # steps are one batched pass (stepped together), which GPU-bound denoising fits cannot gain from
    _throughput(campaign, "throughput-l0", "smooth-nks", "dip-l0", THROUGHPUT_L0_STEPS, together=THROUGHPUT_TOGETHER)


#: Fits of one size that the throughput-l0 stage also steps together in one process (run_together).
THROUGHPUT_TOGETHER = 4


def _throughput(campaign: Campaign, stage: str, suite: str, method: str, steps: int, together: int = 0) -> None:
    """The same 4 full-size fits of ``suite``'s ``method``, one at a time, then 2 and 4 at once in worker
    processes, into ``STAGE-jobsN`` folders, and (``together``) that many stepped together in one process, into
    ``STAGE-togetherN`` (``--jobs 0`` then takes the fastest)."""
    modes = [(jobs, 1) for jobs in THROUGHPUT_JOBS] + ([(1, together)] if together > 1 else [])
    _warm_up(campaign, suite, method)
    for jobs, at_once in modes:
        _suites(
            campaign,
            stage,
            [(suite, [method])],
            limit=4,
            results=f"{stage}-jobs{jobs}" if at_once == 1 else f"{stage}-together{at_once}",
            iterations=campaign.profile.iterations or steps,
            jobs=jobs,
            fresh=True,  # a resumed measurement would time part of the work
            measured_by=stage,  # whether its fits record their steps, as the suites it measures for will
            at_once=at_once,
        )


def _warm_up(campaign: Campaign, suite: str, method: str) -> None:
    """A few steps of ``method`` in this process first, so that its one-off costs (the CUDA context, loading the
    compiled ℓ0 solvers) fall on no measured mode: one at a time and stepped together both run in this process."""
    from benchmarks.suite.methods import METHODS, RunOptions
    from benchmarks.suite.suites import SUITES, Sample

    image = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    sample = Sample("warm-up", inputs={"observation": image}, truth=None)
    options = RunOptions(device=str(campaign.device), iterations=30, channels=8)
    METHODS.get(method).run(sample, SUITES.get(suite).task, options)


@STAGES.register("denoise")
def stage_denoise(campaign: Campaign) -> None:
    _suites(campaign, "denoise", [("denoise-color25", ["dip", "dip@fast"])])


#: Widths of the fast denoising row tried at full size: its 32 channels learned baboon's texture slowly (the first
#: campaign), and on a launch-bound GPU a wider network costs little more per step.
FAST_WIDTHS = (64, 128)


@STAGES.register("fast-width")
def stage_fast_width(campaign: Campaign) -> None:
    for width in FAST_WIDTHS:  # the suite's first 4 images (F16, kodim01, kodim03, peppers)
        _suites(campaign, "fast-width", [("denoise-color25", ["dip@fast"])], width, 4, f"suites-width{width}")


@STAGES.register("sr-inpaint")
def stage_sr_inpaint(campaign: Campaign) -> None:
    _suites(
        campaign,
        "sr-inpaint",
        [("sr-set5-x4", ["dip"]), ("sr-set14-x4", ["dip"]), ("sr-set5-x8", ["dip"]), ("inpaint-50p", ["dip"])],
    )


TV_LAMBDAS = (0.003, 0.01, 0.03)  # around the library's DIP-TV default for denoising, λ = 0.01


@STAGES.register("l0-tv")
def stage_l0_tv(campaign: Campaign) -> None:
    # the clip art and the λ sweep first: the NKS table already has most of its images, they have none
    _suites(campaign, "l0-tv", [("deblock-clipart", ["dip-l0"])], measured_by="throughput-l0")
    _tv_sweep(campaign)
    _suites(campaign, "l0-tv", [("smooth-nks", ["dip-l0"])], measured_by="throughput-l0")


def _tv_sweep(campaign: Campaign) -> None:
    """DIP, DIP-TV and two-stage DIP-TV on the full F16 image for each of :data:`TV_LAMBDAS` (does two-stage
    DIP-TV end above DIP's peak at full size, seed 002's claim?): plain DIP, which has no λ, with the first only;
    a λ whose results exist is not fitted again."""
    from benchmarks import two_stage_tv

    profile = campaign.profile
    size = profile.crop or 0
    for index, lam in enumerate(TV_LAMBDAS):
        folder = campaign.out / "two_stage_tv" / f"lam{lam:g}"
        if (folder / f"{two_stage_tv.results_stem('F16', size)}.json").exists():
            continue
        methods = two_stage_tv.METHODS if index == 0 else [m for m in two_stage_tv.METHODS if m != "dip"]
        per_fit = [
            row["seconds"] / row["fits"]
            for row in campaign.rows()
            if row.get("stage") == "l0-tv" and row.get("ok") and row.get("fits") and row.get("seconds")
        ]
        if not campaign.in_time((per_fit[-1] if per_fit else TV_FIT_SECONDS) * len(methods)):
            continue
        argv = ["--size", str(size), "--lam", str(lam), "--device", str(campaign.device), "--out", str(folder)]
        argv += ["--iterations", str(profile.iterations or 3000), "--methods", ",".join(methods)]
        argv += ["--channels", str(profile.channels)] if profile.channels else []
        argv += ["--data-dir", str(campaign.data_dir)] if campaign.data_dir else []
        start = time.perf_counter()
        check = f"two-stage DIP-TV, F16, lam={lam:g}"
        try:
            two_stage_tv.main(argv)
            seconds = time.perf_counter() - start
            campaign.record("l0-tv", check=check, ok=True, results=str(folder), seconds=seconds, fits=len(methods))
        except Exception as exc:
            campaign.record("l0-tv", check=check, ok=False, error=f"{type(exc).__name__}: {exc}")


@STAGES.register("denoise-best")
def stage_denoise_best(campaign: Campaign) -> None:
    # the fast row again, in its own folder: its committed full-size entries predate the Wiener refiner it now ends
    # with; then the best row (the same fit, refined by wiener-bm3d) and ZS-N2N, the training-free peer, beside them
    rows = ["dip@fast", "dip@best", "zs-n2n"]
    _suites(campaign, "denoise-best", [("denoise-color25", rows)], results="suites-refine")


#: The best row's width tried at full size: its 32-channel pilot left baboon and kodim01 1.3 dB under CBM3D (the
#: fifth run), and on a launch-bound GPU the paper's 128 channels cost about the same per step.
BEST_WIDTH = 128


@STAGES.register("best-width")
def stage_best_width(campaign: Campaign) -> None:
    _suites(campaign, "best-width", [("denoise-color25", ["dip@best"])], BEST_WIDTH, results=f"suites-best{BEST_WIDTH}")


@STAGES.register("l0-fast")
def stage_l0_fast(campaign: Campaign) -> None:
    # DIP-ℓ0's fast row at full size beside the paper settings' entries (l0-tv) in the same files: 16 NKS images
    # spread over the 80 (about a quarter hour on an H100) and the 10 clip-art images
    l0 = [("smooth-nks", ["dip-l0@fast"]), ("deblock-clipart", ["dip-l0@fast"])]
    _suites(campaign, "l0-fast", l0, limit=16, measured_by="throughput-l0")


#: Inpainting images the fast row runs on: 11 × 11000 steps would take most of a session.
FAST_ROWS_INPAINT_LIMIT = 4


@STAGES.register("fast-rows")
def stage_fast_rows(campaign: Campaign) -> None:
    # the fast rows of the tasks that have no full-size number yet, in the files of sr-inpaint's paper rows:
    # SR x4 and x8 on Set5, and 50 % inpainting on four of the 11 images
    _suites(campaign, "fast-rows", [("sr-set5-x4", ["dip@fast"]), ("sr-set5-x8", ["dip@fast"])])
    _suites(campaign, "fast-rows", [("inpaint-50p", ["dip@fast"])], limit=FAST_ROWS_INPAINT_LIMIT)


# --------------------------------------------------------------------------------------------- driver


def campaign_rows(out: Path) -> list[dict[str, Any]]:
    """The rows of ``out``'s campaign file (none before the first)."""
    path = out / CAMPAIGN_FILE
    return common.read_jsonl(path) if path.exists() else []


def _done(out: Path) -> set[str]:
    return {row["stage"] for row in campaign_rows(out) if row.get("event") == "stage done"}


def run_campaign(
    out: Path,
    device: str,
    profile: str = "gpu",
    stages: list[str] | None = None,
    data_dir: Path | None = None,
    jobs: int = 1,
    time_budget: float | None = None,
) -> list[str]:
    """Run the stages not yet done, in order, starting only the work expected to end within ``time_budget``
    seconds (None: all); returns the stages run now (done, or deferred in part)."""
    from deepprior.device import resolve_device

    torch_device = resolve_device(device)
    out.mkdir(parents=True, exist_ok=True)
    facts = {
        **device_facts(torch_device),
        **{k: v for k, v in common.provenance().items() if k != "versions"},
        "versions": common.provenance()["versions"],
        "profile": profile,
    }
    deadline = None if time_budget is None else time.monotonic() + time_budget
    campaign = Campaign(out, torch_device, PROFILES[profile], data_dir, jobs, facts, TimeBudget(deadline))
    done = _done(out)
    ran = []
    for name in stages or STAGES.names():
        if name in done:
            continue
        campaign.deferred = False
        estimate = campaign.stage_estimate(name)
        if not campaign.in_time(estimate):
            campaign.record(name, event="stage deferred", estimate_seconds=estimate)
            continue
        start = time.perf_counter()
        STAGES.get(name)(campaign)
        event = "stage deferred" if campaign.deferred else "stage done"  # a deferred stage goes on next run
        campaign.record(name, event=event, seconds=time.perf_counter() - start)
        ran.append(name)
    return ran


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m benchmarks.gpu_campaign`` (GPU.md's commands are checked against it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile", choices=list(PROFILES), default="gpu")
    parser.add_argument("--stages", nargs="+", choices=STAGES.names(), help="only these (default: all, in order)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="suite entries at once on the device (worker processes); 0: as many as the throughput stage found fastest",
    )
    parser.add_argument(
        "--time-budget",
        type=positive,
        metavar="SECONDS",
        help="start only the work expected to end within SECONDS (a lease's length less a margin); the rest is "
        "left for the next run",
    )
    common.add_data_dir_argument(parser, "; on the GPU machine, the folder made by --prepare")
    parser.add_argument(
        "--prepare",
        type=Path,
        metavar="DIR",
        help="copy the data the campaign reads into DIR (to carry to the GPU machine) and stop",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.jobs < 0:
        parser.error(f"--jobs must be 0 (as the throughput stage found fastest) or more, got {args.jobs}")
    if args.prepare:
        prepare(args.prepare, common.data_dir(args.data_dir), args.stages)
        return 0
    ran = run_campaign(args.out, args.device, args.profile, args.stages, args.data_dir, args.jobs, args.time_budget)
    print(json.dumps({"ran": ran, "results": str(args.out / CAMPAIGN_FILE)}))
    return 0


# what each stage reads from the shared data folder (globs inside it): a GPU call carries the stages' share only,
# since the working tree, the data and the wheels travel together within 64 MiB
STAGE_DATA = {
    "graphs-fit": (f"{GRAPHS_FIT_IMAGE}_*",),
    "step-graph": (f"{GRAPHS_FIT_IMAGE}_*",),
    "batch-seeds": (f"{GRAPHS_FIT_IMAGE}_*",),
    "throughput": ("dip/project_page/Denoising/Color/25/*",),
    "throughput-l0": ("nks/validation/*", "nks/gt/*"),
    "denoise": ("dip/project_page/Denoising/Color/25/*",),
    "fast-width": ("dip/project_page/Denoising/Color/25/*",),
    "denoise-best": ("dip/project_page/Denoising/Color/25/*",),
    "best-width": ("dip/project_page/Denoising/Color/25/*",),
    "sr-inpaint": ("dip/project_page/SR/**/*", "dip/project_page/Reconstruction/Gray/50p/*"),
    "l0-tv": ("nks/validation/*", "nks/gt/*", "clipart/*", "dip/project_page/Denoising/Color/25/F16_*"),
    "l0-fast": ("nks/validation/*", "nks/gt/*", "clipart/*"),
    "fast-rows": ("dip/project_page/SR/Set5/**/*", "dip/project_page/Reconstruction/Gray/50p/*"),
}


def stage_files(source: Path, stages: list[str] | None = None) -> set[Path]:
    """The files of the shared data folder ``source`` that the given stages read (all stages: None)."""
    patterns = {pattern for stage in stages or STAGES.names() for pattern in STAGE_DATA.get(stage, ())}
    return {path for pattern in patterns for path in source.glob(pattern) if path.is_file()}


def prepare(target: Path, source: Path, stages: list[str] | None = None) -> None:
    """Copy the data the given stages read (all stages: None) into ``target``, keeping the shared layout."""
    import shutil

    files = stage_files(source, stages)
    for path in sorted(files):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    print(f"copied {sum(path.stat().st_size for path in files) / 2**20:.1f} MiB into {target}")


if __name__ == "__main__":
    sys.exit(common.run_script(main))
