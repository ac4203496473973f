"""Running a benchmark suite: plan the (image, method, seed) entries, skip the finished ones, run the rest.

An entry of a deepprior DIP method is finished only if it was computed with the preset row that the method runs
now (a hash of the row is stored with it): editing a row makes its entries stale, and the next run recomputes them.
Entries written before the hash was stored count as finished.

Every finished entry is appended to the suite's results file (``<results>/<suite>-<profile>.jsonl``, see
:mod:`.results`) and flushed to disk, so an interrupted run loses at most the entry in progress and the next run
resumes where it stopped. Progress and the ETA are counted in DIP steps × megapixels, so quick classical entries do
not distort the estimate. A run with a deadline (``--time-budget``) starts only the entries it expects to end by
then (:mod:`.budget`) and leaves the rest to the next run.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, append_jsonl, data_dir, now, provenance, read_jsonl
from benchmarks.suite import report
from benchmarks.suite.budget import TimeBudget
from benchmarks.suite.methods import METHODS, MethodOutput, RunOptions, planned_iterations, row_fingerprint
from benchmarks.suite.results import entry_key, header, images_dir, load_results, results_path
from benchmarks.suite.suites import PROFILES, SUITES, Item, Profile, Sample, Suite, quantize, score, select_items
from deepprior.errors import DeepPriorError, InputError

DEFAULT_RESULTS = RESULTS_DIR
_UNHASHED = object()  # an entry from before entries stored their preset row's hash


@dataclass
class BenchRequest:
    """Everything ``python -m benchmarks.run_suites SUITE`` takes (see :func:`run_suite`)."""

    suite: str
    profile: str = "quick"
    methods: Sequence[str] | None = None  # None: the suite's defaults that can run here
    seeds: int = 1
    limit: int | None = None  # None: the profile's default (quick: the suite's quick_limit); 0: all images
    device: str = "auto"
    jobs: int = 1
    at_once: int = 1  # DIP fits of one method and image size stepped together in one process (run_together)
    threads: int | None = None  # torch CPU threads (None: torch's default; per worker with jobs > 1)
    data_dir: str | os.PathLike[str] | None = None
    results_dir: str | os.PathLike[str] = DEFAULT_RESULTS
    fresh: bool = False
    save_images: bool = False
    progress: bool = True
    ray: str | None = None  # a Ray cluster's address ("auto": the running one or a local one) instead of --jobs
    gpus_per_fit: float = 0.0  # GPUs each Ray task reserves (a fraction shares a GPU)
    crop: int | None = None  # quick-profile overrides
    iterations: int | None = None
    channels: int | None = None
    cuda_graph: bool = False  # deepprior's fits record their step as a CUDA graph (FitSettings.cuda_graph)
    budget: TimeBudget | None = None  # the deadline every entry started must meet; one may serve several suites


@dataclass
class BenchSummary:
    suite: str
    profile: str
    results_path: Path
    markdown_path: Path | None
    computed: int = 0
    skipped: int = 0
    deferred: int = 0  # entries not started: they would not have ended by the deadline
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    contact_sheet: Path | None = None
    seconds: float = 0.0


# --------------------------------------------------------------------------- one entry


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))


def compute_entry(
    suite_name: str, method_name: str, sample: Sample, seed: int, options: dict[str, Any]
) -> tuple[dict[str, Any], Any]:
    """Run one method on one sample; return (the measured part of the entry, the output image).

    A module-level function so a process pool can run it.
    """
    suite = SUITES.get(suite_name)
    method = METHODS.get(method_name)
    run_options = RunOptions(seed=seed, **options)
    start = time.perf_counter()
    output: MethodOutput = method.run(sample, suite.task, run_options)
    return measure(suite, method_name, sample, output, time.perf_counter() - start)


def measure(
    suite: Suite, method_name: str, sample: Sample, output: MethodOutput, wall: float
) -> tuple[dict[str, Any], Any]:
    """A method's output scored as the entry stores it (and the output image, quantised as saved)."""
    image = quantize(output.image)  # scored as saved: 8 bits, like the papers' published images
    if image.shape != sample.output_shape:
        raise InputError(f"{method_name} returned {image.shape}, expected {sample.output_shape}")
    psnr = ssim = None
    if suite.metric is not None and sample.truth is not None:
        psnr, ssim = score(suite.metric, image, sample.truth)
        psnr = None if not math.isfinite(psnr) else psnr
    measured = {
        "psnr": psnr,
        "ssim": ssim,
        "iterations": output.iterations,
        "wall_seconds": wall,
        "device": output.device,
        "device_name": output.device_name,
        "settings": output.settings,
    }
    return measured, image


def _worker_init(threads: int, parent: int | None = None) -> None:
    _die_with_parent(parent)
    _set_threads(threads)


def _die_with_parent(parent: int | None) -> None:
    """On Linux, have the kernel kill this worker when ``parent`` (the run that started it) dies: a run cut off
    by a time limit must not leave fits running on the device (they did, and slowed what ran next)."""
    if parent is None or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


# --------------------------------------------------------------------------- planning


def resolve_methods(suite: Suite, requested: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(methods to run, notes about default methods left out)."""
    notes: list[str] = []
    if requested:
        names = list(dict.fromkeys(requested))
        if names == ["all"]:
            names = list(suite.methods)
            requested = None
        for name in names:
            METHODS.get(name)
            if name not in suite.methods:
                raise InputError(
                    f"method {name!r} does not apply to suite {suite.name}; its methods are {', '.join(suite.methods)}"
                )
    else:
        names = list(suite.default_methods)
    chosen = []
    for name in names:
        reason = METHODS.get(name).unavailable()
        if reason is None:
            chosen.append(name)
        elif requested:
            raise InputError(f"method {name!r} cannot run here: {reason}")
        else:
            notes.append(f"{name} left out: {reason}")
    if not chosen:
        raise InputError(f"no method of suite {suite.name} can run here ({'; '.join(notes)})")
    return chosen, notes


def _plan(items: list[Item], methods: list[str], seeds: int) -> Iterator[tuple[Item, str, int]]:
    for item in items:
        for method in methods:
            for seed in [0] if METHODS.get(method).deterministic else range(seeds):
                yield item, method, seed


def _image_name(image: str, method: str, seed: int) -> str:
    return f"{image}__{method}__seed{seed}.png"


def _write_png(path: Path, pixels: Any) -> None:
    from deepprior.io import write_image

    write_image(path, pixels)


def _write_inputs(folder: Path, sample: Sample, with_truth: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for key, array in sample.inputs.items():
        if key == "mask":
            continue
        target = folder / f"{sample.name}__{'input' if key == 'observation' else key}.png"
        if not target.exists():
            _write_png(target, array)
    if with_truth and sample.truth is not None:
        target = folder / f"{sample.name}__truth.png"
        if not target.exists():
            _write_png(target, sample.truth)


# --------------------------------------------------------------------------- the run


def check_request(request: BenchRequest) -> tuple[Suite, Profile, list[str], list[str]]:
    """The suite, the profile with the request's overrides, the methods to run and notes about the methods left
    out; raises :class:`InputError` on a request that :func:`run_suite` would refuse, before any data is read."""
    suite = SUITES.get(request.suite)
    if request.profile not in PROFILES:
        raise InputError(f"unknown profile {request.profile!r}; choose {' or '.join(PROFILES)}")
    profile = PROFILES[request.profile].with_overrides(
        crop=request.crop, iterations=request.iterations, channels=request.channels
    )
    if request.seeds < 1 or request.jobs < 1 or request.at_once < 1:
        raise InputError("--seeds, --jobs and --at-once must be at least 1")
    if request.at_once > 1 and (request.jobs > 1 or request.ray):
        raise InputError("--at-once steps fits together in this process: not with --jobs or --ray")
    if request.limit is not None and request.limit < 0:
        raise InputError(f"--limit must be >= 0, got {request.limit}")
    methods, notes = resolve_methods(suite, request.methods)
    return suite, profile, methods, notes


def run_suite(request: BenchRequest) -> BenchSummary:
    """Run (or resume) one suite; append every finished entry to its JSONL, then write its Markdown table (and
    contact sheet) from the file.

    Raises
    ------
    InputError
        Unknown suite, method or profile; missing data; a results file made with other profile settings.
    """
    started = time.perf_counter()
    suite, profile, methods, notes = check_request(request)
    root = data_dir(request.data_dir)
    all_items = suite.items(root)
    limit = request.limit
    if limit is None and not profile.comparable:
        limit = suite.quick_limit
    items = select_items(all_items, limit)
    if len(items) < len(all_items):
        notes.append(f"{len(items)} of {len(all_items)} images (--limit {limit}; --limit 0 runs all)")

    results_dir = Path(request.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_path(results_dir, suite.name, profile.name)
    out_dir = images_dir(path)
    rows = [] if request.fresh else read_jsonl(path)
    if rows:
        previous = load_results(path, rows)
        if previous.get("profile_settings") != profile.settings():
            raise InputError(
                f"'{path}' was made with other {profile.name}-profile settings "
                f"({previous.get('profile_settings')} vs {profile.settings()}); pass --fresh to start "
                "over, or --results-dir to keep both"
            )
    else:
        if path.exists():
            path.unlink()
        if request.fresh and out_dir.is_dir():  # drop the images of the discarded run
            for stale in out_dir.glob("*__*.png"):
                stale.unlink()
        append_jsonl(path, header(suite, profile, root, len(all_items)))
    summary = BenchSummary(suite.name, profile.name, path, None, notes=notes)

    save_images = request.save_images or not suite.has_truth
    # the latest entry per key; one written before rows were hashed counts as done (the committed results, GPU
    # hours among them, would otherwise all be refitted)
    latest_row = {entry_key(r): r.get("row", _UNHASHED) for r in rows if r.get("record") == "entry"}
    rows_of = {m: row_fingerprint(m, suite.task) for m in methods}

    def finished(item: Item, method: str, seed: int) -> bool:
        key = (item.name, method, seed)
        # an entry of a DIP method counts only if its preset row is the one that runs now
        if key not in latest_row or latest_row[key] not in (rows_of[method], _UNHASHED):
            return False
        return not save_images or (out_dir / _image_name(item.name, method, seed)).exists()

    plan = list(_plan(items, methods, request.seeds))
    todo = [p for p in plan if not finished(*p)]
    summary.skipped = len(plan) - len(todo)

    if request.threads is not None:
        if request.threads < 1:
            raise InputError(f"--threads must be at least 1, got {request.threads}")
        _set_threads(request.threads)
    device_label = "cpu"
    if any(METHODS.get(m).kind == "network" for _, m, _ in todo):  # something fits a network: on which device
        from deepprior.device import device_name, resolve_device

        device = resolve_device(request.device)
        device_label = device.type
        if profile.comparable and device.type == "cpu":
            print(
                f"run_suites: the {profile.name} profile on the CPU runs the papers' step counts on full "
                "images: expect hours per image (use --profile quick for a smoke test)",
                file=sys.stderr,
            )
        notes.append(f"networks fitted on {device_name(device)}")
    options = {
        "device": request.device,
        "iterations": profile.iterations,
        "channels": profile.channels,
        "cuda_graph": request.cuda_graph,
    }
    run = provenance()
    append_jsonl(
        path,
        {
            "record": "run",
            **run,
            "methods": methods,
            "seeds": request.seeds,
            "limit": limit,
            "jobs": request.jobs,
            "at_once": request.at_once,
            "cuda_graph": request.cuda_graph,
            "threads": request.threads,
            "device": device_label,
            "data_dir": str(root),
            "suite_images": len(all_items),
            "planned": len(plan),
            "skipped": summary.skipped,
        },
    )

    samples: dict[str, Sample] = {}

    def sample_of(item: Item) -> Sample:
        if item.name not in samples:
            samples.clear()  # the plan is image-major: keep one image in memory
            samples[item.name] = suite.load(item, profile)
            if save_images:
                _write_inputs(out_dir, samples[item.name], with_truth=True)
        return samples[item.name]

    side = profile.sr_crop if suite.task == "super-resolve" else profile.crop
    named = {item.name: item for item in all_items}
    hints: dict[str, float] = {}  # read once per image: the budget asks again for every entry it weighs

    def megapixels(item: Item) -> float:
        if item.name not in hints:
            hints[item.name] = _pixels_hint(item) if side is None else min(_pixels_hint(item), side * side / 1e6)
        return hints[item.name]

    def planned(method: str) -> int:
        return planned_iterations(method, suite.task, RunOptions(**options), _scale_of(suite))

    def weight(item: Item, method: str) -> float:
        return planned(method) * megapixels(item)

    budget = request.budget or TimeBudget()

    def is_network(method: str) -> bool:
        return METHODS.get(method).kind == "network"

    def learn(entries: list[dict[str, Any]]) -> None:
        if budget.deadline is None:  # nothing to budget
            return
        budget.learn_rows(
            str(path),
            [entry for entry in entries if entry.get("method") in METHODS],
            megapixels_of=lambda image: megapixels(named[image]) if image in named else 0.0,
            device_type=device_label,
            is_network=is_network,
        )

    def estimate(item: Item, method: str) -> float | None:
        return budget.estimate(str(path), method, megapixels(item), planned(method) if is_network(method) else None)

    learn(rows)

    def record(item: Item, method: str, seed: int, sample: Sample, measured: dict[str, Any], image: Any) -> None:
        from deepprior.record import versions

        entry = {
            "record": "entry",
            "suite": suite.name,
            "profile": profile.name,
            "image": item.name,
            "method": method,
            "seed": seed,
            **measured,
            "row": rows_of[method],
            "reference": item.files.get("truth").name if item.files.get("truth") else None,
            "versions": versions(),
            "git_commit": run["git_commit"],
            "finished": now(),
            "output": None,
        }
        if sample.meta.get("reference_note"):
            entry["reference_note"] = sample.meta["reference_note"]
        if save_images and image is not None:
            target = out_dir / _image_name(item.name, method, seed)
            _write_png(target, image)
            entry["output"] = str(target.relative_to(path.parent))
        append_jsonl(path, entry)
        summary.computed += 1
        learn([entry])

    def fail(item: Item, method: str, seed: int, exc: BaseException) -> None:
        message = f"{item.name} / {method} / seed {seed}: {type(exc).__name__}: {exc}"
        summary.failures.append(message)
        append_jsonl(
            path,
            {
                "record": "failure",
                "image": item.name,
                "method": method,
                "seed": seed,
                "message": message,
                "date": now(),
            },
        )
        print(f"run_suites: failed {message}", file=sys.stderr)

    weights = {(i.name, m, s): weight(i, m) for i, m, s in plan}
    total = sum(weights.values())
    remaining = sum(weights[(i.name, m, s)] for i, m, s in todo)
    bar = _Bar(suite.name, total, total - remaining, len(plan), summary.skipped, request.progress)
    entries = _Entries(suite, options, sample_of, record, fail, bar, weights, budget, estimate)
    try:
        if request.at_once > 1:
            _run_together(entries, todo, request.at_once)
        elif (request.jobs == 1 and not request.ray) or len(todo) <= 1:
            for item, method, seed in todo:
                if entries.in_time([(item, method)]):
                    entries.settle(item, method, seed, partial(entries.compute, item, method, seed))
        else:
            _run_pool(entries, todo, request.jobs, request.threads, ray=request.ray, gpus_per_fit=request.gpus_per_fit)
    finally:
        bar.close()
    summary.deferred = entries.deferred
    if summary.deferred:
        notes.append(
            f"{summary.deferred} {'entry' if summary.deferred == 1 else 'entries'} left for the next run: "
            "not expected to end within the time budget"
        )
    data = load_results(path)
    summary.markdown_path = report.write_markdown(path, data)
    if save_images:
        summary.contact_sheet = report.write_contact_sheet(path, data)
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass
class _Entries:
    """What every way of running a suite's entries shares: the suite, the run options, the loader of samples, the
    writers of an entry and of a failure, the progress bar and each entry's weight on it, and the time budget with
    its estimate of an entry's seconds (None: nothing to go by yet)."""

    suite: Suite
    options: dict[str, Any]
    sample_of: Callable[[Item], Sample]
    record: Callable[..., None]
    fail: Callable[[Item, str, int, BaseException], None]
    bar: Any
    weights: dict[tuple[str, str, int], float]
    budget: TimeBudget
    estimate: Callable[[Item, str], float | None]
    deferred: int = 0  # entries not started: not expected to end by the deadline

    def in_time(self, batch: list[tuple[Item, str]], ahead: float = 0.0) -> bool:
        """Whether the entries of ``batch``, started after ``ahead`` seconds of queued work, should end by the
        deadline, their seconds added up (conservative for fits stepped together, which take less); if not, they
        count as deferred to the next run."""
        estimates = [self.estimate(item, method) for item, method in batch]
        seconds = None if None in estimates else sum(e or 0.0 for e in estimates)
        if self.budget.allows(seconds, ahead):
            return True
        self.deferred += len(batch)
        return False

    def compute(self, item: Item, method: str, seed: int) -> tuple[Sample, dict[str, Any], Any]:
        """Load the entry's sample and run it here (:func:`compute_entry`)."""
        sample = self.sample_of(item)
        return (sample, *compute_entry(self.suite.name, method, sample, seed, self.options))

    def settle(self, item: Item, method: str, seed: int, outcome: Callable[[], tuple[Sample, dict, Any]]) -> None:
        """Record the entry that ``outcome`` gives (its sample, measured part and image) or, if it raises, its
        failure — a bug in one method must not lose the rest of a long run (``DEEPPRIOR_DEBUG`` re-raises bugs)
        — and advance the bar."""
        self.bar.describe(item.name, method, seed)
        try:
            sample, measured, image = outcome()
        except Exception as exc:
            if os.environ.get("DEEPPRIOR_DEBUG") and not isinstance(exc, DeepPriorError):
                raise
            self.fail(item, method, seed, exc)
        else:
            self.record(item, method, seed, sample, measured, image)
        self.bar.advance(self.weights[(item.name, method, seed)])


def _raise(exc: BaseException) -> Any:
    """An outcome that failed before it could be settled."""
    raise exc


def _run_together(entries: _Entries, todo: list[tuple[Item, str, int]], at_once: int) -> None:
    """Run the entries with up to ``at_once`` fits of one method, image size and settings stepped together
    (:func:`deepprior.restore.run_together`); the entries of methods without a plan (classical methods, deepinv)
    run one at a time. Each entry's ``wall_seconds`` is its batch's."""
    from benchmarks.suite.methods import from_restoration
    from deepprior.restore import run_together

    def measured(method: str, sample: Sample, output: MethodOutput, wall: float) -> tuple[Sample, dict, Any]:
        return (sample, *measure(entries.suite, method, sample, output, wall))

    def flush(batch: list[tuple[Item, str, int, Sample, Any]]) -> None:
        if not entries.in_time([(item, method) for item, method, *_ in batch]):
            return
        start = time.perf_counter()
        try:
            restorations = run_together([plan for *_, plan in batch], at_once=at_once)
        except Exception as exc:
            for item, method, seed, _, _ in batch:
                entries.settle(item, method, seed, partial(_raise, exc))
            return
        wall = time.perf_counter() - start
        for (item, method, seed, sample, _), restoration in zip(batch, restorations):
            entries.settle(item, method, seed, partial(measured, method, sample, from_restoration(restoration), wall))

    waiting: dict[Any, list[tuple[Item, str, int, Sample, Any]]] = {}
    for item, method, seed in todo:
        runner = METHODS.get(method).run
        if not hasattr(runner, "plan"):  # nothing to step it with: alone
            if entries.in_time([(item, method)]):
                entries.settle(item, method, seed, partial(entries.compute, item, method, seed))
            continue
        try:
            sample = entries.sample_of(item)
            plan = runner.plan(sample, entries.suite.task, RunOptions(seed=seed, **entries.options))
        except Exception as exc:
            entries.settle(item, method, seed, partial(_raise, exc))
            continue
        key = (method, plan.batch_key)
        batch = waiting.setdefault(key, [])
        batch.append((item, method, seed, sample, plan))
        if sum(entry[4].seeds for entry in batch) >= at_once:
            flush(waiting.pop(key))
    for batch in waiting.values():
        flush(batch)


def _run_pool(
    entries: _Entries,
    todo: list[tuple[Item, str, int]],
    jobs: int,
    threads: int | None,
    ray: str | None = None,
    gpus_per_fit: float = 0.0,
) -> None:
    """Run the entries in ``jobs`` worker processes (each with ``threads`` or cpu_count/jobs torch threads), or as
    tasks of a Ray cluster; record them in this process, as they finish.

    Meant for an accelerator that one fit does not saturate, or a cluster; the samples are loaded here and sent.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pending: dict[Any, tuple[Item, str, int, Sample]] = {}
    queue = list(todo)
    if ray:
        pool: Any = _RayPool(ray, gpus_per_fit)
        jobs = max(jobs, pool.slots)
    else:
        threads = threads or max(1, (os.cpu_count() or 1) // jobs)
        context = multiprocessing.get_context("spawn")  # CUDA cannot be used in forked children
        pool = ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_worker_init, initargs=(threads, os.getpid())
        )
    with pool:
        try:
            while queue or pending:
                while queue and len(pending) < 2 * jobs:
                    item, method, seed = queue.pop(0)
                    queued = sum(entries.estimate(i, m) or 0.0 for i, m, *_ in pending.values()) / jobs
                    if not entries.in_time([(item, method)], ahead=queued):
                        continue
                    try:
                        sample = entries.sample_of(item)
                    except DeepPriorError as exc:
                        entries.settle(item, method, seed, partial(_raise, exc))
                        continue
                    future = pool.submit(compute_entry, entries.suite.name, method, sample, seed, entries.options)
                    pending[future] = (item, method, seed, sample)
                finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for future in finished:
                    item, method, seed, sample = pending.pop(future)
                    entries.settle(item, method, seed, partial(_with_sample, sample, future))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _with_sample(sample: Sample, future: Any) -> tuple[Sample, dict, Any]:
    """A worker's finished entry as an outcome (its result raises what the worker raised)."""
    return (sample, *future.result())


class _RayPool:
    """The part of a ``concurrent.futures`` executor that :func:`_run_pool` uses, on a Ray cluster: each entry is
    one task (retried if its worker dies), its result a ``concurrent.futures.Future``."""

    def __init__(self, address: str, gpus_per_fit: float) -> None:
        from deepprior.distributed import RETRIES, connect

        self.ray = connect(address)
        self.slots = max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        self.options = {"num_cpus": 1, "num_gpus": gpus_per_fit, "max_retries": RETRIES}

    def submit(self, function: Any, *arguments: Any) -> Any:
        return self.ray.remote(**self.options)(function).remote(*arguments).future()

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Leave the cluster running (it may be shared); pending tasks finish or are dropped with the driver."""

    def __enter__(self) -> _RayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _scale_of(suite: Suite) -> int | None:
    digits = suite.name.rsplit("-x", 1)
    return int(digits[1]) if suite.task == "super-resolve" and len(digits) == 2 and digits[1].isdigit() else None


def _pixels_hint(item: Item) -> float:
    """Megapixels of an item's first file (header only), for the ETA weights; 0.25 when unknown."""
    try:
        from PIL import Image

        with Image.open(next(iter(item.files.values()))) as image:
            return image.size[0] * image.size[1] / 1e6
    except Exception:  # the weight is only for the ETA
        return 0.25


class _Bar:
    """tqdm over work units (DIP steps × megapixels) that shows the entry count and the entry in progress."""

    def __init__(self, desc: str, total: float, initial: float, entries: int, skipped: int, enabled: bool) -> None:
        self.entries, self.count = entries, skipped
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.desc = desc
            self.bar = tqdm(
                total=total,
                initial=initial,
                desc=f"{desc} {skipped}/{entries}",
                unit="work",
                dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]{postfix}",
            )

    def describe(self, image: str, method: str, seed: int) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{image} {method} seed {seed}")

    def advance(self, amount: float) -> None:
        self.count += 1
        if self.bar is not None:
            self.bar.set_description_str(f"{self.desc} {self.count}/{self.entries}", refresh=False)
            self.bar.update(max(0.0, min(amount, (self.bar.total or 0) - self.bar.n)))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def summary_line(summary: BenchSummary) -> str:
    text = (
        f"{summary.suite} ({summary.profile}): {summary.computed} computed, {summary.skipped} already done"
        f"{f', {len(summary.failures)} failed' if summary.failures else ''}"
        f"{f', {summary.deferred} left for the next run (time budget)' if summary.deferred else ''}"
        f" in {summary.seconds:.1f} s; "
        f"{summary.results_path}"
    )
    if summary.markdown_path:
        text += f", {summary.markdown_path}"
    if summary.contact_sheet:
        text += f", {summary.contact_sheet}"
    return text


__all__ = [
    "BenchRequest",
    "BenchSummary",
    "check_request",
    "compute_entry",
    "resolve_methods",
    "run_suite",
    "summary_line",
]
