"""The benchmarks (``python -m benchmarks.run_suites``, not installed): suites run end to end on tiny crops, resume,
scoring protocols, reports, user errors; the shared helpers of ``benchmarks.common``; and that the installed package
holds no benchmark code."""

from __future__ import annotations

import importlib.util
import json
import math
import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import common, run_suites
from benchmarks.suite import runner
from benchmarks.suite.report import markdown
from benchmarks.suite.results import load_results
from benchmarks.suite.runner import BenchRequest, run_suite
from benchmarks.suite.suites import PROFILES, QUICK_LABEL, SUITES, paper_figures, score, select_items
from deepprior.errors import InputError

TINY = ["--crop", "32", "--iterations", "10", "--channels", "8", "-q"]


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on a shared, oversubscribed CPU two OpenMP threads can be 100× slower on tiny nets."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def bench(argv: list[str]) -> int:
    """``python -m benchmarks.run_suites ARGV`` in this process; user errors raise InputError."""
    return run_suites.run(run_suites.parse_args(argv))


def request(tmp_path, data, **kwargs) -> BenchRequest:
    options = {
        "suite": "denoise-color25",
        "profile": "quick",
        "limit": 2,
        "crop": 32,
        "iterations": 10,
        "channels": 8,
        "progress": False,
        "results_dir": tmp_path,
        "data_dir": data,
    }
    options.update(kwargs)
    return BenchRequest(**options)


def test_quick_suite_writes_json_and_markdown_and_resumes(tmp_path, shared_data, monkeypatch):
    assert (
        bench(
            [
                "denoise-color25",
                "--limit",
                "2",
                "--methods",
                "dip,tv-chambolle",
                "--data-dir",
                str(shared_data),
                "--results-dir",
                str(tmp_path),
                *TINY,
            ]
        )
        == 0
    )
    path = tmp_path / "denoise-color25-quick.jsonl"
    data = load_results(path)
    assert data["label"] == QUICK_LABEL and data["profile_settings"]["iterations"] == 10
    assert sorted((e["image"], e["method"]) for e in data["entries"]) == [
        ("F16", "dip"),
        ("F16", "tv-chambolle"),
        ("peppers", "dip"),
        ("peppers", "tv-chambolle"),
    ]
    for entry in data["entries"]:
        assert entry["suite"] == "denoise-color25" and entry["seed"] == 0
        assert math.isfinite(entry["psnr"]) and 0 < entry["ssim"] <= 1 and entry["wall_seconds"] >= 0
        assert entry["versions"]["torch"] and entry["device_name"] and "git_commit" in entry
        assert entry["iterations"] == (10 if entry["method"] == "dip" else 0)
    text = (tmp_path / "denoise-color25-quick.md").read_text()
    assert QUICK_LABEL in text and "| F16 |" in text and "| **mean** |" in text
    headers = [line for line in text.splitlines() if line.startswith(("| method", "| image"))]
    assert len(headers) == 3 and not any("paper" in line or "Δ" in line for line in headers)

    # A second run computes nothing: the method must not even be called.
    def refuse(*args, **kwargs):
        raise AssertionError("a finished entry was recomputed")

    monkeypatch.setattr(runner, "compute_entry", refuse)
    summary = run_suite(request(tmp_path, shared_data, methods=["dip", "tv-chambolle"]))
    assert (summary.computed, summary.skipped, summary.failures) == (0, 4, [])
    assert load_results(path)["entries"] == data["entries"]
    assert [r["record"] for r in common.read_jsonl(path)].count("run") == 2  # one line per run, nothing rewritten
    monkeypatch.undo()

    # Two seeds: only the DIP entries of seed 1 are new; the deterministic baseline runs once.
    summary = run_suite(request(tmp_path, shared_data, methods=["dip", "tv-chambolle"], seeds=2))
    assert (summary.computed, summary.skipped) == (2, 4)
    seeds = sorted((e["image"], e["method"], e["seed"]) for e in load_results(path)["entries"])
    assert ("F16", "dip", 1) in seeds and ("F16", "tv-chambolle", 1) not in seeds
    assert "±" in (tmp_path / "denoise-color25-quick.md").read_text()

    # An edited preset row makes its method's entries stale: they are recomputed, the classical ones are not.
    real = runner.row_fingerprint
    assert real("dip", "denoise") == real("dip", "denoise") != real("dip@fast", "denoise")
    assert real("tv-chambolle", "denoise") is None
    monkeypatch.setattr(runner, "row_fingerprint", lambda m, t: None if real(m, t) is None else "edited")
    summary = run_suite(request(tmp_path, shared_data, methods=["dip", "tv-chambolle"], seeds=2))
    assert (summary.computed, summary.skipped) == (4, 2)
    assert {e["row"] for e in load_results(path)["entries"] if e["method"] == "dip"} == {"edited"}
    # Entries from before the hash was stored count as done, whatever the row now.
    lines = [{k: v for k, v in row.items() if k != "row"} for row in common.read_jsonl(path)]
    path.write_text("".join(json.dumps(row) + "\n" for row in lines))
    monkeypatch.setattr(runner, "row_fingerprint", lambda m, t: None if real(m, t) is None else "edited again")
    assert run_suite(request(tmp_path, shared_data, methods=["dip", "tv-chambolle"], seeds=2)).computed == 0


def test_a_refined_rows_fingerprint_follows_the_refiners_revision_not_their_code(monkeypatch):
    import deepprior.refiners
    from benchmarks.suite.methods import row_fingerprint

    before = row_fingerprint("dip@fast", "denoise"), row_fingerprint("dip", "denoise")
    monkeypatch.setattr(deepprior.refiners, "REVISION", deepprior.refiners.REVISION + 1)
    assert row_fingerprint("dip@fast", "denoise") != before[0]  # the fast row ends with a refiner
    assert row_fingerprint("dip", "denoise") == before[1]  # the paper row has none


def test_interrupted_run_keeps_finished_entries_and_resumes(tmp_path, shared_data, monkeypatch):
    real = runner.compute_entry
    calls = []

    def interrupt_third(*args, **kwargs):
        calls.append(args[:2])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "compute_entry", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        run_suite(request(tmp_path, shared_data, suite="deblock-clipart", methods=["input", "tv-chambolle"]))
    data = load_results(tmp_path / "deblock-clipart-quick.jsonl")
    assert len(data["entries"]) == 2
    monkeypatch.setattr(runner, "compute_entry", real)
    summary = run_suite(request(tmp_path, shared_data, suite="deblock-clipart", methods=["input", "tv-chambolle"]))
    assert (summary.computed, summary.skipped) == (2, 2)


def test_changed_profile_settings_refuse_to_mix_results(tmp_path, shared_data):
    run_suite(request(tmp_path, shared_data, suite="deblock-clipart", methods=["input"], limit=1))
    with pytest.raises(InputError, match="--fresh"):
        run_suite(request(tmp_path, shared_data, suite="deblock-clipart", methods=["input"], limit=1, crop=40))
    summary = run_suite(
        request(tmp_path, shared_data, suite="deblock-clipart", methods=["input"], limit=1, crop=40, fresh=True)
    )
    assert summary.computed == 1


def test_sr_scoring_uses_luma_and_the_paper_crop():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.2, 0.8, (40, 40, 3))
    border_only = truth.copy()
    border_only[:4] = 0
    border_only[:, :4] = 1
    border_only[-5:] = 0
    border_only[:, -5:] = 1
    assert score("y-sr", border_only, truth)[0] == math.inf  # the 4/5-pixel border is not scored
    assert score("rgb", border_only, truth)[0] < 20
    shifted = truth + 0.1
    # Y' = (219·Y + 16)/255, so a shift of 0.1 in every channel moves Y' by 0.1·219/255.
    expected = -20 * math.log10(0.1 * 219 / 255)
    assert score("y-sr", shifted, truth)[0] == pytest.approx(expected, abs=1e-6)
    # Only luma counts: a colour change with Y unchanged scores as perfect.
    recoloured = truth.copy()
    recoloured[5:-6, 5:-6] += np.array([0.587, -0.299, 0.0]) * 0.1
    assert score("y-sr", recoloured, truth)[0] > 90


def test_sr_inputs_follow_the_paper_protocol(shared_data):
    suite = SUITES.get("sr-set5-x4")
    woman = next(i for i in suite.items(shared_data) if i.name == "woman")  # 228×344: cropped to 224×320
    sample = suite.load(woman, PROFILES["paper"])
    assert sample.truth.shape == (320, 224, 3) and sample.observation.shape == (80, 56, 3)
    quick = SUITES.get("sr-set5-x8").load(woman, PROFILES["quick"])
    assert quick.truth.shape == (128, 128, 3) and quick.observation.shape == (16, 16, 3)


def test_clipart_ground_truth_is_alpha_composited(tmp_path, shared_data):
    summary = run_suite(
        BenchRequest(
            "deblock-clipart",
            profile="paper",
            methods=["input"],
            data_dir=shared_data,
            results_dir=tmp_path,
            progress=False,
        )
    )
    assert summary.computed == 10
    data = load_results(summary.results_path)
    mean = np.mean([e["psnr"] for e in data["entries"]])
    assert mean == pytest.approx(27.60, abs=0.01)  # the paper's input PSNR (REFERENCE §3)
    text = summary.markdown_path.read_text()
    assert "| `input` | 10 | 1 (deterministic) | 27.60 |" in text and "| 27.60 | +0.00 |" in text
    assert QUICK_LABEL not in text


def test_paper_markdown_sets_paper_figures_beside_ours():
    entries = [
        {
            "image": image,
            "method": method,
            "seed": seed,
            "psnr": psnr + seed * 0.2,
            "ssim": 0.9,
            "wall_seconds": 1.0,
            "iterations": 2000,
        }
        for image, psnr in (("baby", 31.0), ("bird", 32.0))
        for method in ("dip", "bicubic")
        for seed in ((0, 1) if method == "dip" else (0,))
    ]
    data = {
        "suite": "sr-set5-x4",
        "title": "t",
        "task": "super-resolve",
        "metric": "y-sr",
        "profile": "paper",
        "label": None,
        "suite_images": 5,
        "entries": entries,
    }
    text = markdown(data)
    assert "paper `dip`" in text and "| baby | 31.10 ± 0.14 | 31.49 | -0.39 |" in text
    # the paper mean over the same two images, (31.49 + 31.80) / 2; bicubic has only a 5-image paper mean
    assert "| **mean** | 31.60 | 31.64 | -0.04 |" in text and "paper 28.44 on all 5 images" in text
    assert "| `dip` | 2 | 2 | 31.60 | 0.14 | 31.50–31.70 |" in text  # spread of the suite mean over seeds
    nks = markdown(
        {
            **data,
            "suite": "smooth-nks",
            "task": "smooth",
            "metric": "rgb",
            "entries": [{**e, "method": "dip-l0"} for e in entries if e["method"] == "dip"],
        }
    )
    assert "paper (other images)" in nks and "Δ" not in nks.split("## SSIM")[0]


def test_no_ground_truth_suite_writes_images_and_a_contact_sheet(tmp_path, shared_data):
    assert (
        bench(
            [
                "deblock-snail",
                "--methods",
                "tv-chambolle",
                "--data-dir",
                str(shared_data),
                "--results-dir",
                str(tmp_path),
                *TINY,
            ]
        )
        == 0
    )
    assert (tmp_path / "deblock-snail-quick" / "snail__tv-chambolle__seed0.png").exists()
    assert (tmp_path / "deblock-snail-quick" / "snail__input.png").exists()
    from PIL import Image

    with Image.open(tmp_path / "deblock-snail-quick.png") as sheet:
        assert sheet.width >= 80 and sheet.height >= 40
    md = tmp_path / "deblock-snail-quick.md"
    assert "![contact sheet](deblock-snail-quick.png)" in md.read_text()
    md.unlink()
    assert bench(["report", "--results-dir", str(tmp_path)]) == 0  # rebuilds every table from the JSONL
    assert "snail__tv-chambolle__seed0.png" in md.read_text()


def test_user_errors_are_input_errors(tmp_path, shared_data, monkeypatch):
    with pytest.raises(InputError, match="unknown benchmark suite 'nope'"):
        bench(["nope", "--results-dir", str(tmp_path)])
    with pytest.raises(InputError, match="does not exist.*--data-dir"):
        bench(["denoise-color25", "--data-dir", str(tmp_path / "missing"), "--results-dir", str(tmp_path)])
    monkeypatch.setenv("DEEPPRIOR_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(InputError, match="DEEPPRIOR_DATA"):
        bench(["denoise-color25", "--results-dir", str(tmp_path)])
    with pytest.raises(InputError, match="does not apply"):
        bench(["sr-set5-x4", "--methods", "nl-means", "--data-dir", str(shared_data), "--results-dir", str(tmp_path)])
    with pytest.raises(InputError, match="only accepted with --profile quick"):
        bench(["sr-set5-x4", "--profile", "paper", "--iterations", "5", "--data-dir", str(shared_data)])
    with pytest.raises(InputError, match="no benchmark results"):
        bench(["report", "--results-dir", str(tmp_path)])


def test_every_suite_lists_its_images_and_limit_spreads_them(shared_data):
    for name in SUITES:
        suite = SUITES.get(name)
        items = suite.items(shared_data)
        assert items and all(m in suite.methods for m in suite.default_methods)
    names = [i.name for i in select_items(SUITES.get("denoise-color25").items(shared_data), 3)]
    assert names == ["F16", "kodim02", "peppers"]
    nks = SUITES.get("smooth-nks").items(shared_data)
    assert len(nks) == 80 and sum("reconstructed" in i.files["truth"].name for i in nks) == 4


def test_every_suite_plans_its_dip_entries_through_the_task_registry(shared_data):
    """The DIP entries reach each suite's task by its registered spec: the observation as the restored image, the
    sample's mask, flash image, scale or PSF by name, the row by the task's option, inpainting's whole output."""
    from benchmarks.suite.methods import DIP_TASKS, RunOptions, _Dip

    for name in SUITES:
        suite = SUITES.get(name)
        if suite.task not in DIP_TASKS:
            continue
        sample = suite.load(suite.items(shared_data)[0], PROFILES["quick"])
        plan = _Dip("dip").plan(sample, suite.task, RunOptions(iterations=1, channels=8))
        assert plan.preset.task == ("inpaint" if suite.task.startswith("inpaint-") else suite.task), name
        assert plan.problem.observation.shape[:2] == sample.observation.shape[:2]
        if suite.task.startswith("inpaint-"):
            assert plan.preset.method == suite.task.split("-", 1)[1] and plan.finish is None  # the whole output
            assert plan.problem.extra["known_fraction"] == pytest.approx(sample.inputs["mask"].mean())
        if "flash" in sample.inputs:
            np.testing.assert_array_equal(plan.problem.guide, sample.inputs["flash"])
        if "scale" in sample.meta:
            assert plan.problem.image_size == tuple(sample.meta["scale"] * n for n in sample.observation.shape[:2])
        if "psf" in sample.meta:
            assert plan.problem.extra["psf"] == sample.meta["psf"]


def test_the_deblurring_suite_blurs_adds_its_noise_and_its_peers_deconvolve(shared_data):
    import torch

    from benchmarks.suite.methods import METHODS, RunOptions
    from deepprior.operators import Blur

    suite = SUITES.get("deblur-gauss2")
    sample = suite.load(suite.items(shared_data)[0], PROFILES["crops"])
    truth = torch.from_numpy(sample.truth).permute(2, 0, 1)[None]
    blurred = Blur(sample.meta["psf"])(truth)[0].permute(1, 2, 0).numpy()
    inner = (slice(8, -8), slice(8, -8))  # away from the crop's border, blurred in from outside it
    residual = sample.observation[inner] - blurred[inner]
    assert abs(residual.mean()) < 2e-3 and residual.std() == pytest.approx(sample.meta["sigma"], rel=0.15)
    before, _ = score("rgb", sample.observation, sample.truth)
    for name in ("richardson-lucy", "wiener"):  # zero or periodic borders would ring them below the input
        output = METHODS.get(name).run(sample, "deblur", RunOptions())
        assert score("rgb", output.image, sample.truth)[0] > before + 1.0, name


# --------------------------------------------------------------------------- benchmarks.common


def test_data_dir_resolution_order_flag_env_default(tmp_path, monkeypatch):
    # The real default is ../shared/data beside the repository root, computed from the file, not the cwd.
    assert (common.REPO_ROOT / "benchmarks" / "common.py").is_file()
    assert common.DEFAULT_DATA == common.REPO_ROOT.parent / "shared" / "data"
    flag, env, default = (tmp_path / name for name in ("flag", "env", "default"))
    for folder in (flag, env, default):
        folder.mkdir()
    monkeypatch.setattr(common, "DEFAULT_DATA", default)
    monkeypatch.chdir(env)
    monkeypatch.setenv("DEEPPRIOR_DATA", str(env))
    assert common.data_dir(flag) == flag.resolve()  # the flag wins
    assert common.data_dir() == env.resolve()  # then the environment variable
    monkeypatch.setenv("DEEPPRIOR_DATA", "")
    assert common.data_dir() == default.resolve()  # then the default (an empty variable counts as unset)
    monkeypatch.delenv("DEEPPRIOR_DATA")
    assert common.data_dir() == default.resolve()
    default.rmdir()
    with pytest.raises(
        InputError,
        match=r"'.*default' \(from the default.*\) does not exist; pass --data-dir DIR or "
        r"set DEEPPRIOR_DATA=DIR",
    ):
        common.data_dir()
    with pytest.raises(InputError, match="from --data-dir"):
        common.data_dir(tmp_path / "missing")
    with pytest.raises(InputError, match="nks/validation' does not exist"):
        common.data_path("nks/validation", flag)


def test_jsonl_append_resume_and_a_torn_last_line(tmp_path):
    path = tmp_path / "results.jsonl"
    assert common.read_jsonl(path) == []
    rows = [
        {"record": "header", "format": "x"},
        {"record": "entry", "image": "F16", "method": "dip", "seed": 0, "psnr": np.float32(1.5)},
        {"record": "entry", "image": "F16", "method": "dip", "seed": 1, "psnr": None},
        {"record": "failure", "image": "lena", "method": "dip", "seed": 0},
    ]
    for row in rows:
        common.append_jsonl(path, row)
    assert path.read_text().count("\n") == 4 and common.read_jsonl(path)[1]["psnr"] == 1.5
    # An append cut short by a crash leaves a torn last line: readers ignore it, the next append drops it.
    with open(path, "ab") as handle:
        handle.write(b'{"record": "entry", "image": "pep')
    read = common.read_jsonl(path)
    assert len(read) == 4 and read[0] == rows[0]
    keys = common.done_keys(read, ("image", "method", "seed"), record="entry")
    assert keys == {("F16", "dip", 0), ("F16", "dip", 1)}  # the failure and the torn entry are not done
    common.append_jsonl(path, {"record": "entry", "image": "peppers", "method": "dip", "seed": 0})
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(line) for line in lines)
    assert ("peppers", "dip", 0) in common.done_keys(common.read_jsonl(path), ("image", "method", "seed"))
    # A complete last object without its newline is kept, and the next append starts a new line.
    with open(path, "ab") as handle:
        handle.write(b'{"record": "note"}')
    assert common.read_jsonl(path)[-1] == {"record": "note"}
    common.append_jsonl(path, {"record": "end"})
    assert [r["record"] for r in common.read_jsonl(path)][-2:] == ["note", "end"]
    # Damage anywhere but the last line is an error, not silently skipped.
    path.write_text('{"a": 1}\nnot json\n{"b": 2}\n')
    with pytest.raises(InputError, match="line 2"):
        common.read_jsonl(path)


def test_common_crops_provenance_and_writers(tmp_path):
    image = np.arange(5 * 7 * 3, dtype=np.float32).reshape(5, 7, 3)
    assert common.centre_crop(image, None) is image and common.centre_crop(image, 0) is image
    assert common.centre_crop(image, 3).shape == (3, 3, 3) and common.centre_crop(image, 3)[0, 0, 0] == image[1, 2, 0]
    assert common.centre_crop(image, 6).shape == (5, 6, 3)  # a shorter side is kept whole
    padded = common.centre_crop(image, 9, pad=True)
    assert padded.shape == (9, 9, 3) and padded.flags.c_contiguous
    record = common.provenance()
    assert {"date", "command", "git_commit", "host", "cpu", "torch_threads", "loadavg", "versions"} <= set(record)
    assert record["versions"]["deepprior"] and record["versions"]["torch"]
    assert (
        common.command_line([str(common.REPO_ROOT / "benchmarks" / "bench_speed.py"), "--sizes", "64"])
        == "python -m benchmarks.bench_speed --sizes 64"
    )
    target = common.write_text(tmp_path / "sub" / "table.md", "| a |\n")
    assert target.read_text() == "| a |\n"
    assert json.loads(common.write_json(tmp_path / "sub" / "r.json", {"x": np.float64(2.0)}).read_text()) == {"x": 2.0}
    pair = common.write_result(tmp_path / "sub" / "result", {"y": 1}, "# result\n")
    assert json.loads(pair.read_text()) == {"y": 1} and pair.with_suffix(".md").read_text() == "# result\n"


def test_paper_figures_come_from_the_data_file_with_citations():
    tables = paper_figures()
    assert set(tables) <= set(SUITES)
    for name, table in tables.items():
        citation = table["citation"]
        assert citation["paper"] and citation["where"] and citation["source"], name
        suite = SUITES.get(name)
        assert suite.paper == table.get("psnr_per_image", {}) and suite.paper_mean == table["psnr_mean"]
        assert suite.paper_source == table["caption"]
    assert SUITES.get("denoise-color25").paper["dip"]["F16"] == 33.69
    assert SUITES.get("smooth-nks").paper_ssim_mean == {"dip-l0": 0.9641}
    assert not SUITES.get("smooth-nks").paper_comparable


def test_installed_package_holds_no_benchmark_code(tmp_path):
    import deepprior

    assert importlib.util.find_spec("deepprior.bench") is None
    package = Path(deepprior.__file__).parent
    assert not [p for p in package.rglob("*") if "bench" in p.name]
    assert not [m.name for m in pkgutil.iter_modules(deepprior.__path__) if "bench" in m.name]
    # Outside the repository root, `import deepprior` cannot reach the benchmarks at all.
    code = (
        "import importlib.util, sys, deepprior; "
        "print(importlib.util.find_spec('benchmarks') is None, importlib.util.find_spec('deepprior.bench') is None,"
        " any(m.startswith('benchmarks') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "False"]


def test_benchmark_scripts_use_no_sys_path_edits_or_absolute_paths():
    root = common.REPO_ROOT / "benchmarks"
    for path in [*root.glob("*.py"), *root.glob("suite/*.py")]:
        text = path.read_text(encoding="utf-8")
        assert "sys.path" not in text and "/work/" not in text, path


def test_each_suite_gets_one_html_page_with_its_tables_and_the_quality_time_plot(tmp_path):
    import shutil

    from benchmarks.suite.report import rebuild_reports

    shutil.copy(Path(__file__).resolve().parents[1] / "benchmarks/results/denoise-color25-quick.jsonl", tmp_path)
    written = rebuild_reports(tmp_path)
    page = (tmp_path / "denoise-color25-quick.html").read_text()
    assert tmp_path / "denoise-color25-quick.html" in written
    assert page.count("<table>") >= 3 and "nl-means" in page and "paper" in page
    assert "Quality against time" in page and "<svg" in page
    plot = (tmp_path / "denoise-color25-quick-front.svg").read_text()
    assert rebuild_reports(tmp_path) and (tmp_path / "denoise-color25-quick-front.svg").read_text() == plot  # no date


def test_preset_methods_run_the_library_as_a_user_does_and_the_peers_run_beside_them(tmp_path, shared_data):
    from benchmarks.suite.methods import METHODS

    methods = ["dip@fast", "dip@best", "zs-n2n"]
    if METHODS.get("deepinv-dip").unavailable() is None:  # deepinv is in the bench extra, not the test one
        methods.append("deepinv-dip")
    # 64² crops: deepinv does not pad, and skip128's deepest BatchNorm needs 2×2 maps
    summary = run_suite(request(tmp_path, shared_data, methods=methods, limit=1, crop=64, iterations=3))
    assert summary.failures == []
    entries = {e["method"]: e for e in load_results(tmp_path / "denoise-color25-quick.jsonl")["entries"]}
    assert entries["dip@fast"]["settings"]["generator"]["channels_down"] == 8  # the quick profile's width wins
    assert entries["dip@fast"]["settings"]["refinement"]["name"] == "wiener"
    assert entries["dip@best"]["settings"]["refinement"]["name"] == "wiener-bm3d"
    assert entries["dip@best"]["iterations"] == 3
    for entry in (entries["dip@fast"], entries["dip@best"]):  # the fit's and the refiner's own time, apart
        fit, refine = entry["settings"]["fit_seconds"], entry["settings"]["refinement"]["seconds"]
        assert 0 < fit and 0 < refine and fit + refine <= entry["wall_seconds"]
    assert entries["zs-n2n"]["iterations"] == 3 and entries["zs-n2n"]["settings"]["width"] == 8  # the quick profile's
    if "deepinv-dip" in entries:
        assert entries["deepinv-dip"]["iterations"] == 3 and math.isfinite(entries["deepinv-dip"]["psnr"])
    from benchmarks.suite.report import rebuild_reports

    rebuild_reports(tmp_path)
    assert (tmp_path / "denoise-color25-quick-front.svg").read_text().startswith("<svg")


def test_the_refinement_benchmark_compares_every_variant_on_the_same_pilot():
    from benchmarks.bench_refine import ALONE, BEST, MEAN, variants
    from helpers import add_noise, smooth_image

    clean = smooth_image(32)
    noisy = add_noise(clean, 0.1)
    pilot = (noisy + clean) / 2  # a pilot with half the noise left
    outputs = {name: run(noisy, pilot) for name, run in variants().items()}
    assert outputs.pop("none (the pilot)") is pilot
    for name, out in outputs.items():
        assert out.shape == clean.shape and np.isfinite(out).all(), name
        assert not np.allclose(out, pilot), name  # every other variant filters
    # this pilot explains y (its residual is half the noise): the best row's weighted mean is the plain mean
    np.testing.assert_allclose(outputs[BEST], outputs[MEAN], atol=1e-5)
    flat = np.full_like(noisy, noisy.mean())  # a pilot that missed the signal: BM3D's half alone
    np.testing.assert_allclose(variants()[BEST](noisy, flat), outputs[ALONE], atol=1e-5)


def _echo_member(name, k, observation):
    return name, k, observation * k, 0


def test_the_crops_scripts_parse_their_arguments_and_fit_every_member(shared_data):
    from benchmarks.bench_ensemble_transforms import fit_members, parse_crops_arguments

    args, reference, samples = parse_crops_arguments("x", ["F16"], ["--jobs", "1", "--data-dir", str(shared_data)])
    assert args.jobs == 1 and list(samples) == ["F16"] and ("F16", "bm3d") in reference
    assert samples["F16"].inputs["observation"].shape == (128, 128, 3)
    outputs = fit_members(_echo_member, samples, 2, jobs=1)
    np.testing.assert_array_equal(outputs["F16"][1], samples["F16"].inputs["observation"])
    assert sorted(outputs["F16"]) == [0, 1]


def test_entries_of_one_method_and_size_are_stepped_together_and_score_as_one_at_a_time(tmp_path, shared_data, fp32):
    methods = ["dip", "dip-tv", "tv-chambolle"]
    together = run_suite(request(tmp_path / "together", shared_data, methods=methods, limit=3, at_once=2))
    alone = run_suite(request(tmp_path / "alone", shared_data, methods=methods, limit=3))
    assert together.failures == [] and together.computed == alone.computed == 9
    entries = {
        name: {(e["image"], e["method"]): e for e in load_results(summary.results_path)["entries"]}
        for name, summary in (("together", together), ("alone", alone))
    }
    for method in ("dip", "dip-tv"):  # a regulariser's fits step together too, each with its own
        stepped = [e["settings"].get("at_once") for key, e in entries["together"].items() if key[1] == method]
        assert sorted(stepped, key=str) == [2, 2, None]  # two images in one batch, the third alone
    assert all("at_once" not in e["settings"] for key, e in entries["together"].items() if key[1] == "tv-chambolle")
    for key, entry in entries["together"].items():
        assert entry["psnr"] == pytest.approx(entries["alone"][key]["psnr"], abs=0.05)
    with pytest.raises(InputError, match="not with --jobs"):
        run_suite(request(tmp_path, shared_data, at_once=2, jobs=2))


def test_zs_n2n_splits_each_block_by_its_diagonals_and_denoises_blind():
    import torch

    from benchmarks.suite.zs_n2n import pair_downsample, zs_n2n_denoise
    from deepprior.metrics import psnr
    from helpers import add_noise, smooth_image

    y = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)  # rows 0–3, 4–7, 8–11, 12–15
    main, anti = pair_downsample(torch.cat([y, 2 * y], dim=1))
    assert main[0, 0].tolist() == [[2.5, 4.5], [10.5, 12.5]]  # (0 + 5) / 2, (2 + 7) / 2, ...
    assert anti[0, 0].tolist() == [[2.5, 4.5], [10.5, 12.5]]  # (1 + 4) / 2: equal means on a linear ramp
    assert anti[0, 1].tolist() == (2 * anti[0, 0]).tolist()  # channel by channel
    ramp = torch.tensor([[0.0, 1.0], [0.0, 0.0]]).reshape(1, 1, 2, 2)
    assert pair_downsample(ramp)[0].item() == 0.0 and pair_downsample(ramp)[1].item() == 0.5

    clean = smooth_image(32)
    noisy = add_noise(clean, 0.1)
    out = zs_n2n_denoise(noisy, iterations=400, width=16, seed=3)
    assert out.shape == noisy.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert psnr(out, clean) > psnr(noisy, clean) + 3  # it learned to remove noise it was never told the level of
    assert np.array_equal(out, zs_n2n_denoise(noisy, iterations=400, width=16, seed=3))  # the seed is the run
    with pytest.raises(InputError, match="at least one step"):
        zs_n2n_denoise(noisy, iterations=0)
    with pytest.raises(InputError, match="at least 2×2"):
        zs_n2n_denoise(noisy[:1], iterations=5)


def test_opencv_smoothers_leave_their_input_alone_and_smooth_within_range(tmp_path, shared_data):
    pytest.importorskip("cv2")
    from benchmarks.suite import opencv_filters
    from benchmarks.tune_l0_nks import ground_truth
    from deepprior.io import read_image
    from deepprior.metrics import psnr

    nks = shared_data / "nks"
    textured = read_image(nks / "validation" / "S10_T10.png").pixels  # a structure image under a texture
    structure, _ = ground_truth(nks, "S10_T10")
    for name, (smoother, setting) in opencv_filters.TUNED.items():
        given = textured.copy()
        out = smoother(given, **setting)
        assert np.array_equal(given, textured), name  # OpenCV 5's l0Smooth overwrites a float32 input it is handed
        assert out.shape == textured.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1, name
        assert psnr(out, structure) > psnr(textured, structure) + 1, name  # the texture goes, the structure stays
        assert setting in opencv_filters.GRIDS[name], name  # the tuned setting is one the sweep tried
    summary = run_suite(
        request(tmp_path, shared_data, suite="smooth-nks", methods=list(opencv_filters.TUNED), limit=1, crop=64)
    )
    assert summary.failures == []
    entries = load_results(tmp_path / "smooth-nks-quick.jsonl")["entries"]
    assert sorted(e["method"] for e in entries) == sorted(opencv_filters.TUNED)
    assert all(math.isfinite(e["psnr"]) and e["settings"]["opencv"] for e in entries)


def test_the_benchmarks_readme_has_a_section_for_every_script():
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    headings = [line for line in (folder / "README.md").read_text(encoding="utf-8").splitlines() if line[:3] == "## "]
    scripts = [p.name for p in folder.glob("*.py") if p.name not in ("__init__.py", "common.py", "run_suites.py")]
    assert [name for name in scripts if not any(h.startswith(f"## {name}") for h in headings)] == []


def test_a_classical_method_whose_output_is_not_finite_fails_instead_of_being_scored():
    from benchmarks.suite.methods import _classical

    with pytest.raises(RuntimeError, match="not finite"):
        _classical(np.full((8, 8, 3), np.nan, np.float32), implementation="a peer")
    assert _classical(np.zeros((8, 8), np.float32)).image.shape == (8, 8, 1)


def test_bm3d_denoises_a_gray_image_stored_as_rgb_as_its_one_channel():
    pytest.importorskip("bm3d")
    from benchmarks.suite.methods import METHODS, RunOptions
    from benchmarks.suite.suites import Sample

    rng = np.random.default_rng(0)
    clean = np.kron(rng.uniform(0.2, 0.8, (8, 8)), np.ones((8, 8))).astype(np.float32)
    noisy = np.clip(clean + 0.05 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
    sample = Sample("gray", {"observation": np.repeat(noisy[..., None], 3, axis=2)}, None, {"sigma": 0.05})
    output = METHODS.get("bm3d").run(sample, "denoise", RunOptions())  # CBM3D's colour transform gives NaN here
    assert output.settings["gray"] is True and np.isfinite(output.image).all()
    assert np.array_equal(output.image[..., 0], output.image[..., 2])
    assert np.mean((output.image[..., 0] - clean) ** 2) < np.mean((noisy - clean) ** 2) / 2


def test_a_row_fingerprint_leaves_neutral_settings_at_their_defaults_out():
    import dataclasses as dc

    from benchmarks.suite.methods import _without_neutral_defaults
    from deepprior.presets import get_preset

    row = get_preset("denoise")
    left = _without_neutral_defaults(repr(row), row)
    assert "cuda_graph" not in left and "tile" not in left and "stretch" not in left
    graphed = dc.replace(row, settings=dc.replace(row.settings, cuda_graph=True), tile_overlap=32, stretch_below=0.7)
    left = _without_neutral_defaults(repr(graphed), graphed)
    assert "cuda_graph=True" in left and "tile_overlap=32" in left and "tile=" not in left
    assert "stretch_below=0.7" in left


@pytest.mark.parametrize("profile", ["paper", "crops"])
def test_no_suite_image_is_stretched_so_the_stretch_stays_out_of_the_rows_fingerprints(shared_data, profile):
    """stretch_below is a neutral row field (out of the fingerprint at its default): that holds while every stored
    entry's observation spans at least that much of [0, 1], its known pixels for inpainting."""
    from benchmarks.suite.suites import PROFILES, SUITES
    from deepprior.presets import Preset

    for name in SUITES.names():
        spec = SUITES.get(name)
        for item in spec.items(shared_data):
            sample = spec.load(item, PROFILES[profile])
            mask = sample.inputs.get("mask")
            values = sample.observation if mask is None else sample.observation[mask]
            assert np.ptp(values) >= Preset.stretch_below, (name, item.name, float(np.ptp(values)))


def test_cuda_graph_reaches_the_fits_and_an_entry_claims_it_only_where_the_step_was_recorded(tmp_path, shared_data):
    from benchmarks.suite.methods import RunOptions, _fit_options

    assert _fit_options(RunOptions(cuda_graph=True))["cuda_graph"] is True
    assert "cuda_graph" not in _fit_options(RunOptions())  # the row's own setting stands
    argv = ["denoise-color25", "--methods", "dip", "--limit", "1", "--crop", "32", "--iterations", "3"]
    argv += ["--channels", "8", "--cuda-graph", "-q", "--results-dir", str(tmp_path), "--data-dir", str(shared_data)]
    assert bench(argv) == 0
    results = load_results(tmp_path / "denoise-color25-quick.jsonl")
    assert [run["cuda_graph"] for run in results["runs"]] == [True]
    assert [entry["settings"].get("cuda_graph") for entry in results["entries"]] == [None]  # a CPU steps eagerly


def test_the_next_gpu_campaign_resumes_every_committed_gpu_entry(monkeypatch):
    """GPU time is scarce: an edit that changes no result must not make the committed GPU entries look stale (the
    next campaign would fit them again). If a preset row or a refiner's output changed on purpose, those entries
    are stale indeed: say so in benchmarks/results/gpu/README.md and leave them out here. Left out: the refined
    rows' entries of the refiners' revision 1 and the Haar noise estimate (``NOISE_SIGMA_REVISION`` 1), stale on
    purpose since 2026-11-24 (the weak-texture estimate; ``wiener-bm3d`` weighing the pilot); nothing else may be."""
    import deepprior.metrics
    import deepprior.refiners
    from benchmarks.suite.methods import row_fingerprint

    def fingerprints(method: str, task: str) -> set[str | None]:
        now = row_fingerprint(method, task)
        with monkeypatch.context() as before:
            before.setattr(deepprior.metrics, "NOISE_SIGMA_REVISION", 1)
            before.setattr(deepprior.refiners, "REVISION", 1)
            return {now, row_fingerprint(method, task)}

    root = Path(__file__).resolve().parents[1] / "benchmarks/results/gpu"
    stale, stale_on_purpose = [], []
    for path in sorted(root.rglob("*.jsonl")):
        latest = {}
        for row in common.read_jsonl(path):
            if row.get("record") == "entry" and "row" in row:  # entries from before rows were hashed count as done
                latest[(row["image"], row["method"], row["seed"])] = row
        for (image, method, _), row in latest.items():
            task = SUITES.get(row["suite"]).task
            if row["row"] != row_fingerprint(method, task):
                held = stale_on_purpose if row["row"] in fingerprints(method, task) else stale
                held.append(f"{path.relative_to(root)}: {image} {method}")
    assert stale == []
    assert {entry.split(":")[0] for entry in stale_on_purpose} <= {"suites-refine/denoise-color25-paper.jsonl"}


# --------------------------------------------------------------------------- time budget


def test_the_time_budget_estimates_an_entry_from_the_nearest_finished_entry_of_its_method_in_its_table():
    from benchmarks.suite.budget import TimeBudget

    now = [100.0]
    budget = TimeBudget(deadline=160.0, clock=lambda: now[0])
    assert budget.estimate("s", "dip", 0.25, steps=100) is None and budget.allows(None)  # nothing to go by: runs
    dip = {"record": "entry", "method": "dip", "iterations": 1000}
    budget.learn_rows(
        "s",
        [
            {**dip, "image": "a", "wall_seconds": 40.0, "device": "cuda:0"},
            {**dip, "image": "b", "wall_seconds": 400.0, "device": "cpu"},  # another kind of device: not here
            {**dip, "image": "c", "wall_seconds": 80.0, "device": "cuda", "settings": {"at_once": 4}},
            {"record": "failure", "method": "dip", "image": "a"},
            {"record": "entry", "method": "tv", "image": "a", "wall_seconds": 1.0, "iterations": 200},  # on the CPU
        ],
        megapixels_of={"a": 0.25, "b": 0.25, "c": 1.0}.get,
        device_type="cuda",
        is_network=lambda method: method.startswith("dip"),
    )
    assert budget.estimate("s", "tv", 0.25, steps=None) == 1.0  # a classical method: its own entry, no steps
    assert budget.estimate("s", "dip", 0.25) == 40.0  # a's own size, on this device
    assert budget.estimate("s", "dip", 0.06) == 40.0  # a smaller image: never less (a launch-bound GPU)
    assert budget.estimate("s", "dip", 2.0) == 40.0  # c, nearest, is a batch of 4's share of 80 s, scaled by pixels
    # a first entry (another table: other steps, say): the seconds per step of the network fits, not of tv's
    assert budget.estimate("t", "dip", 0.25, steps=500) == 20.0 and budget.estimate("t", "dip", 0.25) is None
    assert budget.allows(40.0) and budget.allows(50.0, ahead=10.0) and not budget.allows(50.0, ahead=20.0)
    budget.learn("s", "dip", 0.25, 30.0)  # this run's own entry of a's size (stepped together, say): it counts
    assert budget.estimate("s", "dip", 0.25) == 30.0
    now[0] = 161.0
    assert not budget.allows(None) and not budget.allows(0.0)  # past the deadline nothing starts
    assert TimeBudget().allows(1e9)  # no deadline: anything


def test_a_suite_run_with_a_time_budget_starts_only_the_entries_expected_to_end_in_it(tmp_path, shared_data):
    import time

    from benchmarks.suite.budget import TimeBudget

    def budget(seconds: float) -> TimeBudget:
        return TimeBudget(time.monotonic() + seconds)

    suite = "deblock-clipart"
    methods = ["input", "tv-chambolle"]
    first = run_suite(request(tmp_path, shared_data, suite=suite, methods=methods, limit=1))
    rows = [json.loads(line) for line in first.results_path.read_text().splitlines()]
    for row in rows:  # as if each entry had taken a quarter of an hour
        if row.get("record") == "entry":
            row["wall_seconds"] = 900.0
    first.results_path.write_text("".join(json.dumps(row) + "\n" for row in rows))

    shared = budget(600)  # one budget for two suite runs: each summary counts its own
    deferred = run_suite(request(tmp_path, shared_data, suite=suite, methods=methods, limit=3, budget=shared))
    assert deferred.computed == 0 and deferred.deferred == 2 * 3 - deferred.skipped > 0
    assert "left for the next run" in runner.summary_line(deferred)
    unknown = run_suite(  # a method with nothing to go by runs while the deadline has not passed
        request(tmp_path, shared_data, suite=suite, methods=["region-fusion"], limit=1, budget=shared)
    )
    assert unknown.computed == 1 and unknown.deferred == 0
    for way in ({"at_once": 2, "methods": ["dip"]}, {"jobs": 2, "methods": ["input"]}):  # every way of running
        passed = run_suite(request(tmp_path / str(way), shared_data, limit=2, budget=budget(-1), **way))
        assert passed.computed == 0 and passed.deferred == 2, way
    resumed = run_suite(request(tmp_path, shared_data, suite=suite, methods=methods, limit=3, budget=budget(1e5)))
    assert resumed.computed == deferred.deferred and resumed.deferred == 0
    with pytest.raises(SystemExit):  # argparse's one line: a budget must be a positive number of seconds
        run_suites.parse_args([suite, "--time-budget", "0"])


def test_the_photon_benchmark_records_counts_and_tabulates_its_methods():
    from benchmarks.bench_poisson import HEADROOM, markdown, record

    y = record(np.full((256, 256, 3), 0.5), 30, "grey")
    counts = y.astype(np.float64) * HEADROOM * 30  # 15 photons on average, on the 16-bit grid
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-3)
    assert counts.mean() == pytest.approx(15, abs=0.1) and counts.var() == pytest.approx(15, rel=0.05)
    assert np.array_equal(y, record(np.full((256, 256, 3), 0.5), 30, "grey"))  # seeded by the name
    # a white-balanced colour sensor: channel c counts 30 / g_c photons at white, each g_c times larger
    balanced = record(np.full((256, 256, 3), 0.5), 30, "grey", gains=(2.0, 1.0, 1.5)).astype(np.float64)
    np.testing.assert_allclose(balanced.mean(axis=(0, 1)), 0.25, rtol=0.02)
    photon = np.array([2.0, 1.0, 1.5]) / (HEADROOM * 30)
    np.testing.assert_allclose(balanced.var(axis=(0, 1)), 0.25 * photon, rtol=0.06)  # var = a x
    rows = [
        {"image": image, "method": method, "psnr": psnr, "ssim": 0.5, "seconds": 1.0, **extra}
        for image, method, psnr, extra in [
            ("a", "dip, Gaussian", 20.0, {"noise": None}),
            ("a", "dip, noise model, pooled", 21.0, {"noise": {"a": 1 / 60}}),
            ("a", "dip, noise model", 22.0, {"noise": {"a": [1 / 60, 2 / 60, 1.5 / 60]}}),
            ("b", "dip, Gaussian", 24.0, {"noise": None}),
            ("b", "dip, noise model, pooled", 25.5, {"noise": {"a": 1 / 60}}),
            ("b", "dip, noise model", 25.0, {"noise": {"a": [1.1 / 60, 2 / 60, 1.5 / 60]}}),
        ]
    ]
    result = {"rows": rows, "peak": 30.0, "crop": 128, "iterations": None, "threads": 2, "provenance": {}}
    text = markdown(result)  # a result from before --gains: one gain of 1
    assert "| dip, noise model | 23.50 | 0.5000 | 1.0 |" in text and "(true: 1)" in text
    assert "| a | 20.00 | 21.00 | 22.00 | 1.00 / 2.00 / 1.50 |" in text  # the per-channel row's estimate
    assert "| b | 24.00 | 25.50 | 25.00 | 1.10 / 2.00 / 1.50 |" in text
    text = markdown({**result, "gains": [2.0, 1.0, 1.5]})
    assert "with gains g = (2, 1, 1.5)" in text and "(true: 2 / 1 / 1.5)" in text
    assert "Read noise: Gaussian, σ = 2 photons" in markdown({**result, "read_noise": 2.0})
    assert "Read noise" not in markdown({**result, "read_noise": 0.0})
    from benchmarks import bench_poisson

    with pytest.raises(SystemExit):  # argparse's one line
        bench_poisson.main(["--read-noise", "-1"])


def test_the_noise_sigma_benchmark_scores_every_estimate_and_what_bm3d_makes_of_it(tmp_path, shared_data):
    from benchmarks import bench_noise_sigma

    out = tmp_path / "sigma"
    argv = ["--data-dir", str(shared_data), "--limit", "1", "--crop", "48", "--threads", "1", "--out", str(out)]
    assert bench_noise_sigma.main(argv) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    rows = result["accuracy"]
    assert len(rows) == len(bench_noise_sigma.SIGMAS) * 2 and {row["image"] for row in rows} == {"denoise/F16_GT"}
    for row in rows:  # a smooth jet on sky: every estimate within 10 %, at every level, floats or 8 bits
        assert abs(row[bench_noise_sigma.NEW] / row["true"] - 1) < 0.1
    sensors = [(peak, gains) for peak in bench_noise_sigma.PEAKS for gains in ([1.0], list(bench_noise_sigma.GAINS))]
    assert [(row["peak"], row["gains"]) for row in result["photons"]] == sensors  # a colour image: both sensors
    for row in result["photons"]:  # photon noise: one σ for the image, its RMS noise
        assert abs(row[bench_noise_sigma.NEW] / row["true"] - 1) < 0.15
    assert [row["sigma"] for row in result["denoising"]] == [5, 15, 25, 50]
    assert all(row["psnr"]["true"] > 24 for row in result["denoising"])
    text = out.with_suffix(".md").read_text()
    assert f"| 5 | 8-bit, clipped | {bench_noise_sigma.NEW} |" in text and "## What it costs a blind denoiser" in text
    assert f"| 30 | white-balanced | 1 | {bench_noise_sigma.NEW} |" in text
    with pytest.raises(SystemExit):  # argparse's one line
        bench_noise_sigma.main(["--limit", "-1"])


def test_the_noise_level_benchmark_scores_both_ways_against_the_sensors_truth(tmp_path, shared_data):
    from benchmarks import bench_noise_level
    from benchmarks.bench_poisson import HEADROOM, record

    # read noise of r photons, added before the gain: var = a x + b with b = (g r / (2 peak))²
    noisy = record(np.full((256, 256, 3), 0.5), 30, "grey", gains=(2.0, 1.0, 1.5), read_noise=3.0)
    photon = np.array([2.0, 1.0, 1.5]) / (HEADROOM * 30)
    np.testing.assert_allclose(noisy.var(axis=(0, 1)), 0.25 * photon + (3 * photon) ** 2, rtol=0.06)
    out = tmp_path / "levels"
    argv = ["--data-dir", str(shared_data), "--limit", "2", "--peaks", "30", "--read-noise", "0", "--out", str(out)]
    assert bench_noise_level.main(argv) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert {(row["way"], tuple(row["gains"])) for row in result["rows"]} == {
        (way, gains) for way in ("per channel", "pooled") for gains in ((1, 1, 1), (2, 1, 1.5))
    }
    per_channel = [row for row in result["rows"] if row["way"] == "per channel" and row["gains"] == [2, 1, 1.5]]
    errors = np.concatenate([bench_noise_level._errors(row)[0] for row in per_channel])
    assert np.abs(errors).max() < 0.3  # each channel's photon found, though the channels' photons differ 2×
    text = out.with_suffix(".md").read_text()
    assert "| 30 | 2,1,1.5 | 0 | per channel |" in text and "| 30 | 2,1,1.5 | 0 | pooled |" in text
    with pytest.raises(SystemExit):  # argparse's one line
        bench_noise_level.main(["--gains", "1,2"])
