"""The GPU campaign runs end to end at its toy profile on the CPU, so a GPU lease never dies of a typo."""

from __future__ import annotations

import dataclasses
import json
from functools import partial

import pytest

from benchmarks import gpu_campaign


@pytest.mark.slow
def test_the_campaign_runs_every_stage_at_the_toy_profile_and_resumes(tmp_path, shared_data):
    out = tmp_path / "campaign"
    ran = gpu_campaign.run_campaign(out, "cpu", "toy", data_dir=shared_data)
    assert ran == gpu_campaign.STAGES.names()
    rows = gpu_campaign.campaign_rows(out)
    failed = [row for row in rows if row.get("ok") is False and row.get("loop") != "deepinv DeepImagePrior"]
    assert failed == []
    assert {row["stage"] for row in rows if row.get("event") == "stage done"} == set(ran)
    assert all(row["device"] == "cpu" and row["git_commit"] is not None for row in rows)
    speed = [row for row in rows if row["stage"] == "speed"]
    assert any(row.get("loop") == "notebook loop" and row["seconds_per_step"] > 0 for row in speed)
    timed_inside = [row for row in speed if row.get("loop", "").startswith(("ours", "notebook"))]
    assert timed_inside and all(row["timer"] == "in-fit" and row["seconds_per_step"] > 0 for row in timed_inside)
    assert any(row.get("loop") == "deepinv DeepImagePrior" for row in speed)  # measured, or why not, recorded
    step_graph = [row for row in rows if row["stage"] == "step-graph" and "loop" in row]
    assert {row["loop"] for row in step_graph} == set(gpu_campaign.STEP_GRAPH_LOOPS)
    graphed = [row for row in step_graph if "CUDA graph" in row["loop"]]
    assert graphed and all(row["skipped"] == "graphs on CUDA only" for row in graphed)  # this CPU cannot record
    eager = [row for row in step_graph if row not in graphed]
    assert any(row.get("seconds_per_step", 0) > 0 for row in eager) and any("psnr" in row for row in eager)
    sweep = {path.parent.name: json.loads(path.read_text()) for path in (out / "two_stage_tv").glob("*/*.json")}
    assert [sweep[f"lam{lam:g}"]["lam"] for lam in gpu_campaign.TV_LAMBDAS] == list(gpu_campaign.TV_LAMBDAS)
    first, *later = (set(sweep[f"lam{lam:g}"]["results"]) for lam in gpu_campaign.TV_LAMBDAS)
    assert first == {"dip", "dip-tv", "two-stage-tv"} and all(methods == first - {"dip"} for methods in later)
    assert gpu_campaign.run_campaign(out, "cpu", "toy", data_dir=shared_data) == []  # all done: nothing runs
    (out / gpu_campaign.CAMPAIGN_FILE).write_text("")  # forget the stages: a λ with results is not fitted again
    before = {path: path.stat().st_mtime_ns for path in (out / "two_stage_tv").glob("*/*.json")}
    gpu_campaign.run_campaign(out, "cpu", "toy", ["l0-tv"], data_dir=shared_data)
    assert {path: path.stat().st_mtime_ns for path in (out / "two_stage_tv").glob("*/*.json")} == before


def test_prepare_copies_each_stages_share_of_the_data(tmp_path, shared_data):
    gpu_campaign.prepare(tmp_path / "a", shared_data, ["denoise"])
    names = sorted(p.name for p in (tmp_path / "a").rglob("*.png"))
    assert "F16_noisy.png" in names and not any(name.startswith("S") for name in names)


def test_every_suite_request_of_the_gpu_profile_passes_the_runners_checks(tmp_path, monkeypatch):
    """The toy profile runs the quick suite profile; the GPU's requests (paper and full profiles, overrides) are
    checked here without running, since a request refused on the GPU costs a stage (it did, once)."""
    from benchmarks import two_stage_tv
    from benchmarks.suite import runner

    requests = []

    def check_only(request):
        requests.append(request)
        runner.check_request(request)
        return runner.BenchSummary(request.suite, request.profile, tmp_path / "r.jsonl", None)

    monkeypatch.setattr(runner, "run_suite", check_only)
    monkeypatch.setattr(two_stage_tv, "main", lambda argv: 0)
    suite_stages = [
        "throughput",
        "throughput-l0",
        "denoise",
        "fast-width",
        "sr-inpaint",
        "l0-tv",
        "denoise-best",
        "best-width",
        "l0-fast",
        "fast-rows",
    ]
    assert set(suite_stages) <= set(gpu_campaign.STAGES.names())
    gpu_campaign.run_campaign(tmp_path / "campaign", "cpu", "gpu", suite_stages)
    rows = gpu_campaign.campaign_rows(tmp_path / "campaign")
    assert [row for row in rows if row.get("ok") is False] == []
    assert {r.profile for r in requests} == {"paper", "full"}
    assert {r.channels for r in requests if r.profile == "full"} == {
        None,
        *gpu_campaign.FAST_WIDTHS,
        gpu_campaign.BEST_WIDTH,
    }
    assert [r.methods for r in requests if r.results_dir.name == "suites-best128"] == [["dip@best"]]
    assert {r.jobs for r in requests if r.results_dir.name.startswith("throughput")} == {1, 2, 4}
    l0_throughput = [r for r in requests if r.results_dir.name.startswith("throughput-l0")]
    assert {(r.suite, tuple(r.methods), r.limit) for r in l0_throughput} == {("smooth-nks", ("dip-l0",), 4)}
    fast_rows = {(r.suite, r.limit) for r in requests if r.methods == ["dip@fast"] and r.suite != "denoise-color25"}
    assert fast_rows == {
        ("sr-set5-x4", None),
        ("sr-set5-x8", None),
        ("inpaint-50p", gpu_campaign.FAST_ROWS_INPAINT_LIMIT),
    }


def test_jobs_zero_takes_the_most_images_per_hour_that_the_throughput_stage_measured(tmp_path):
    from benchmarks import common

    campaign = gpu_campaign.Campaign(tmp_path, None, gpu_campaign.PROFILES["toy"], None, 0, {})
    assert campaign.suite_mode() == (1, 1)  # nothing measured yet: one at a time
    for jobs, seconds, ok in [(1, 100.0, True), (2, 60.0, True), (4, 70.0, True), (8, 10.0, False)]:
        common.append_jsonl(
            tmp_path / gpu_campaign.CAMPAIGN_FILE,
            {"stage": "throughput", "jobs": jobs, "computed": 4, "seconds": seconds, "ok": ok},
        )
    assert campaign.suite_mode() == (2, 1)
    assert campaign.suite_mode("throughput-l0") == (1, 1)  # DIP-ℓ0's own measurement: none yet
    for jobs, at_once, seconds in [(4, 1, 30.0), (1, 4, 20.0)]:
        common.append_jsonl(
            tmp_path / gpu_campaign.CAMPAIGN_FILE,
            {"stage": "throughput-l0", "jobs": jobs, "at_once": at_once, "computed": 4, "seconds": seconds, "ok": True},
        )
    assert campaign.suite_mode("throughput-l0") == (1, 4) and campaign.suite_mode() == (2, 1)
    assert dataclasses.replace(campaign, jobs=3).suite_mode() == (3, 1)
    assert campaign.suite_at_once() == 1  # batch-seeds has measured nothing: one fit at a time
    for width, mode, rate in [(32, "one at a time", 100.0), (32, "together", 300.0), (128, "one at a time", 90.0)]:
        common.append_jsonl(
            tmp_path / gpu_campaign.CAMPAIGN_FILE,
            {"stage": "batch-seeds", "width": width, "mode": mode, "fits_per_hour": rate, "ok": True},
        )
    assert campaign.suite_at_once() == 1  # 128 channels stepped together: not measured (it failed, say)
    common.append_jsonl(
        tmp_path / gpu_campaign.CAMPAIGN_FILE,
        {"stage": "batch-seeds", "width": 128, "mode": "together", "fits_per_hour": 120.0, "ok": True},
    )
    assert campaign.suite_at_once() == 4  # together won at both widths: the suites step 4 fits at once
    assert campaign.suite_mode() == (1, 4) and campaign.suite_mode("throughput-l0") == (1, 4)


def test_the_step_timer_times_only_the_steps_after_the_warm_up():
    import torch

    timer = gpu_campaign._StepTimer(steps=3, device=torch.device("cpu"))
    for step in range(gpu_campaign.TIMER_WARMUP):
        timer.tick(step)
    assert timer.start is None  # the warm-up steps (compilation, kernel choice) are not timed
    for step in range(gpu_campaign.TIMER_WARMUP, gpu_campaign.TIMER_WARMUP + 3):
        timer.tick(step)
    assert timer.start is not None and timer.per_step is None
    timer.tick(gpu_campaign.TIMER_WARMUP + 3)
    assert timer.per_step is not None and timer.per_step >= 0


def _step_graph_fits(path, eager, graph):
    from benchmarks import common

    for loop, (seconds, psnr) in [(gpu_campaign.STEP_GRAPH_EAGER, eager), (gpu_campaign.STEP_GRAPH_FP32, graph)]:
        common.append_jsonl(path, {"stage": "step-graph", "loop": loop, "size": 512, "ok": True, "seconds_per_step": 1})
        common.append_jsonl(path, {"stage": "step-graph", "loop": loop, "ok": True, "seconds": seconds, "psnr": psnr})


@pytest.mark.parametrize(
    ("eager", "graph", "records"),
    [
        ((50.0, 32.40), (40.0, 32.38), True),  # faster, the same image
        ((50.0, 32.40), (60.0, 32.40), False),  # slower over the whole fit (recording outweighs the steps)
        ((50.0, 32.40), (40.0, 31.90), False),  # faster but a different image: a bug, not a trade
    ],
)
def test_the_suites_record_their_steps_only_where_step_graph_found_a_whole_fit_faster_at_the_same_psnr(
    tmp_path, monkeypatch, eager, graph, records
):
    from benchmarks import common
    from benchmarks.suite import runner

    requests = []
    monkeypatch.setattr(
        runner,
        "run_suite",
        lambda request: requests.append(request) or runner.BenchSummary(request.suite, request.profile, tmp_path, None),
    )
    campaign = gpu_campaign.Campaign(tmp_path, None, gpu_campaign.PROFILES["gpu"], None, 0, {})
    gpu_campaign._suites(campaign, "denoise-best", [("denoise-color25", ["dip@best"])])
    assert not campaign.suite_cuda_graph() and not requests[-1].cuda_graph  # nothing measured: eager
    _step_graph_fits(tmp_path / gpu_campaign.CAMPAIGN_FILE, eager, graph)
    assert campaign.suite_cuda_graph() is records
    nks = [("smooth-nks", ["dip-l0"])]
    gpu_campaign._suites(campaign, "denoise-best", [("denoise-color25", ["dip@best"])])
    gpu_campaign._suites(campaign, "l0-tv", nks, measured_by="throughput-l0")
    gpu_campaign._suites(campaign, "l0-tv", nks, measured_by="throughput-l0", jobs=1, at_once=4)
    assert [r.cuda_graph for r in requests[1:]] == [records, False, False]  # DIP-ℓ0: not before the smoke check
    check = f"{gpu_campaign.GRAPH_AGREES}: DIP-ℓ0"
    for ok in (True, False, True):  # the latest smoke check counts
        common.append_jsonl(tmp_path / gpu_campaign.CAMPAIGN_FILE, {"stage": "smoke", "check": check, "ok": ok})
        assert campaign.suite_cuda_graph("throughput-l0") is (ok and records)
    gpu_campaign._suites(campaign, "l0-tv", nks, measured_by="throughput-l0")
    gpu_campaign._suites(campaign, "l0-tv", nks, measured_by="throughput-l0", jobs=1, at_once=4)
    assert [r.cuda_graph for r in requests[4:]] == [records, False]  # fits stepped together step eagerly


def test_the_smoke_check_finds_the_recorded_fits_giving_the_eager_ones_images(tmp_path, monkeypatch):
    """The CUDA branch run here: the recording is the CPU double of tests/helpers.py, the fits go to the CPU."""
    import torch

    import deepprior
    import deepprior.loop as loop
    from helpers import ReplayedHere

    monkeypatch.setattr(loop, "_records_the_step", lambda settings, device, regularizer: settings.cuda_graph)
    monkeypatch.setattr(loop, "StepGraph", ReplayedHere)

    def on_cpu(run, *args, **kwargs):
        return run(*args, **{**kwargs, "device": "cpu"})

    for name in ("denoise", "smooth"):
        monkeypatch.setattr(deepprior, name, partial(on_cpu, getattr(deepprior, name)))
    profile = dataclasses.replace(gpu_campaign.PROFILES["toy"], smoke_size=32)
    campaign = gpu_campaign.Campaign(tmp_path, torch.device("cuda"), profile, None, 0, {})
    gpu_campaign._smoke_step_graph_agrees(campaign)
    rows = gpu_campaign.campaign_rows(tmp_path)
    checks = [(row["check"], row["ok"], row["recorded"], row["mean_difference"], row["eager_noise"]) for row in rows]
    assert checks == [(f"{gpu_campaign.GRAPH_AGREES}: {case}", True, True, 0.0, 0.0) for case in ("denoise", "DIP-ℓ0")]


@pytest.mark.parametrize(
    "eager_noise, graph_difference, ok",
    [
        (0.0, 0.0, True),  # deterministic: the same image
        (0.0, 5e-4, True),  # within the fixed bound
        (0.0, 0.02, False),  # deterministic eager fits, a different recorded one: a bug
        (0.01, 0.02, True),  # two eager fits part by 0.01 by themselves (atomics): within the noise
        (0.01, 0.05, False),  # far beyond the noise
    ],
)
def test_the_smoke_check_allows_the_recorded_fit_the_run_to_run_noise_of_eager_ones(
    tmp_path, monkeypatch, eager_noise, graph_difference, ok
):
    import types

    import torch

    import deepprior

    calls = []

    def fit(image, cuda_graph=False, **options):  # eager, eager again, recorded: each its offset image
        calls.append(cuda_graph)
        offset = graph_difference if cuda_graph else (eager_noise if len(calls) % 3 == 2 else 0.0)
        return types.SimpleNamespace(image=image + offset, record=types.SimpleNamespace(cuda_graph=cuda_graph))

    monkeypatch.setattr(deepprior, "denoise", fit)
    monkeypatch.setattr(deepprior, "smooth", fit)
    campaign = gpu_campaign.Campaign(tmp_path, torch.device("cuda"), gpu_campaign.PROFILES["toy"], None, 0, {})
    gpu_campaign._smoke_step_graph_agrees(campaign)
    rows = gpu_campaign.campaign_rows(tmp_path)
    assert calls == [False, False, True] * 2 and [row["ok"] for row in rows] == [ok, ok]


def test_a_time_budget_defers_what_would_not_end_in_it_and_the_next_run_goes_on(tmp_path, monkeypatch):
    from benchmarks import two_stage_tv
    from benchmarks.suite import runner

    deferred_entries = [1, 0, 0, 0]  # the suite runner leaves one entry for the next run, then none
    requests = []

    def fake_run_suite(request):
        requests.append(request)
        return runner.BenchSummary(
            request.suite, request.profile, tmp_path / "r.jsonl", None, deferred=deferred_entries.pop(0)
        )

    monkeypatch.setattr(runner, "run_suite", fake_run_suite)
    swept = []
    monkeypatch.setattr(two_stage_tv, "main", lambda argv: swept.append(argv[argv.index("--lam") + 1]))
    out = tmp_path / "campaign"

    def events() -> dict[str, str]:
        return {row["stage"]: row["event"] for row in gpu_campaign.campaign_rows(out) if "event" in row}

    # batch-seeds (a whole measurement) is not started in 60 s; the denoise suite runs, with the deadline
    assert gpu_campaign.run_campaign(out, "cpu", "toy", ["batch-seeds", "denoise"], time_budget=60) == ["denoise"]
    assert events() == {"batch-seeds": "stage deferred", "denoise": "stage deferred"}  # one entry left
    assert requests[-1].budget.deadline is not None
    assert gpu_campaign.run_campaign(out, "cpu", "toy", ["denoise"], time_budget=60) == ["denoise"]
    assert events()["denoise"] == "stage done" and gpu_campaign._done(out) == {"denoise"}
    # the λ sweep starts only the λ whose fits would end in time: the first fits plain DIP too
    gpu_campaign.run_campaign(out, "cpu", "toy", ["l0-tv"], time_budget=2.5 * gpu_campaign.TV_FIT_SECONDS)
    assert swept == [f"{lam:g}" for lam in gpu_campaign.TV_LAMBDAS[1:]] and events()["l0-tv"] == "stage deferred"
    # a whole stage's own last duration here replaces the table's
    campaign = gpu_campaign.Campaign(out, None, gpu_campaign.PROFILES["toy"], None, 1, {})
    assert campaign.stage_estimate("batch-seeds") == gpu_campaign.STAGE_SECONDS["batch-seeds"]
    campaign.record("batch-seeds", event="stage done", seconds=30.0)
    assert campaign.stage_estimate("batch-seeds") == 30.0 and campaign.stage_estimate("denoise") is None
    assert gpu_campaign.run_campaign(out, "cpu", "toy", ["denoise"]) == []  # done stays done


def test_gpu_md_commands_parse_and_each_call_carries_the_data_its_stages_read(shared_data):
    """A typo in GPU.md's commands, or a stage whose images its call does not carry, costs a GPU call."""
    import re
    import shlex
    from itertools import takewhile
    from pathlib import Path

    text = (Path(__file__).parents[1] / "benchmarks" / "GPU.md").read_text()
    parser = gpu_campaign.build_parser()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if "benchmarks.gpu_campaign" in line:
                tokens = shlex.split(line.split("benchmarks.gpu_campaign", 1)[1])
                args = parser.parse_args(takewhile(lambda token: token not in ("2>&1", "|", ";", "&&"), tokens))
                timeout = re.search(r"timeout (\d+) ", line)
                commands.append((args, int(timeout.group(1)) if timeout else None))
    shares = {args.prepare.name: args.stages for args, _ in commands if args.prepare}
    calls = [(args, timeout) for args, timeout in commands if args.device == "cuda"]
    for span in re.findall(r"`(--data-dir \S+ --stages [^`]+)`", text):  # the calls given as their difference
        calls.append((parser.parse_args(["--out", "o", *shlex.split(span)]), None))
    assert {"gpu_data_a", "gpu_data_b"} == set(shares) and len(calls) >= 2

    for args, timeout in calls:
        carried = gpu_campaign.stage_files(shared_data, shares[args.data_dir.name])
        assert gpu_campaign.stage_files(shared_data, args.stages) <= carried, args.stages
        if timeout is not None:  # the campaign ends by itself before the timeout cuts it off
            assert args.time_budget is not None and args.time_budget < timeout
