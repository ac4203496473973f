"""`deepprior bench`: suites run end to end on tiny crops, resume, scoring protocols, reports, user errors."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest

from deepprior.bench import runner
from deepprior.bench.cli import add_bench_parser
from deepprior.bench.report import markdown
from deepprior.bench.runner import BenchRequest, run_suite
from deepprior.bench.suites import QUICK_LABEL, PROFILES, SUITES, get_suite, score, select_items
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
    parser = argparse.ArgumentParser(prog="deepprior")
    add_bench_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *argv])
    return args.handler(args)


def request(tmp_path, data, **kwargs) -> BenchRequest:
    options = dict(suite="denoise-color25", profile="quick", limit=2, crop=32, iterations=10, channels=8,
                   progress=False,
                   results_dir=tmp_path, data_dir=data)
    options.update(kwargs)
    return BenchRequest(**options)


def test_quick_suite_writes_json_and_markdown_and_resumes(tmp_path, shared_data, monkeypatch):
    assert bench(["denoise-color25", "--limit", "2", "--methods", "dip,tv-chambolle", "--data-dir",
                  str(shared_data), "--results-dir", str(tmp_path), *TINY]) == 0
    path = tmp_path / "denoise-color25-quick.json"
    data = json.loads(path.read_text())
    assert data["label"] == QUICK_LABEL and data["profile_settings"]["iterations"] == 10
    assert sorted((e["image"], e["method"]) for e in data["entries"]) == [
        ("F16", "dip"), ("F16", "tv-chambolle"), ("peppers", "dip"), ("peppers", "tv-chambolle")]
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
    assert json.loads(path.read_text())["entries"] == data["entries"]
    monkeypatch.undo()

    # Two seeds: only the DIP entries of seed 1 are new; the deterministic baseline runs once.
    summary = run_suite(request(tmp_path, shared_data, methods=["dip", "tv-chambolle"], seeds=2))
    assert (summary.computed, summary.skipped) == (2, 4)
    seeds = sorted((e["image"], e["method"], e["seed"]) for e in json.loads(path.read_text())["entries"])
    assert ("F16", "dip", 1) in seeds and ("F16", "tv-chambolle", 1) not in seeds
    assert "±" in (tmp_path / "denoise-color25-quick.md").read_text()


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
    data = json.loads((tmp_path / "deblock-clipart-quick.json").read_text())
    assert len(data["entries"]) == 2
    monkeypatch.setattr(runner, "compute_entry", real)
    summary = run_suite(request(tmp_path, shared_data, suite="deblock-clipart", methods=["input", "tv-chambolle"]))
    assert (summary.computed, summary.skipped) == (2, 2)


def test_changed_profile_settings_refuse_to_mix_results(tmp_path, shared_data):
    run_suite(request(tmp_path, shared_data, suite="deblock-clipart", methods=["input"], limit=1))
    with pytest.raises(InputError, match="--fresh"):
        run_suite(request(tmp_path, shared_data, suite="deblock-clipart", methods=["input"], limit=1, crop=40))
    summary = run_suite(request(tmp_path, shared_data, suite="deblock-clipart", methods=["input"], limit=1, crop=40,
                                fresh=True))
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
    suite = get_suite("sr-set5-x4")
    woman = next(i for i in suite.items(shared_data) if i.name == "woman")  # 228×344: cropped to 224×320
    sample = suite.load(woman, PROFILES["paper"])
    assert sample.truth.shape == (320, 224, 3) and sample.observation.shape == (80, 56, 3)
    quick = get_suite("sr-set5-x8").load(woman, PROFILES["quick"])
    assert quick.truth.shape == (128, 128, 3) and quick.observation.shape == (16, 16, 3)


def test_clipart_ground_truth_is_alpha_composited(tmp_path, shared_data):
    summary = run_suite(BenchRequest("deblock-clipart", profile="paper", methods=["input"], data_dir=shared_data,
                                     results_dir=tmp_path, progress=False))
    assert summary.computed == 10
    data = json.loads(summary.json_path.read_text())
    mean = np.mean([e["psnr"] for e in data["entries"]])
    assert mean == pytest.approx(27.60, abs=0.01)  # the paper's input PSNR (REFERENCE §3)
    text = summary.markdown_path.read_text()
    assert "| `input` | 10 | 1 (deterministic) | 27.60 |" in text and "| 27.60 | +0.00 |" in text
    assert QUICK_LABEL not in text


def test_paper_markdown_sets_paper_figures_beside_ours():
    entries = [{"image": image, "method": method, "seed": seed, "psnr": psnr + seed * 0.2, "ssim": 0.9,
                "wall_seconds": 1.0, "iterations": 2000}
               for image, psnr in (("baby", 31.0), ("bird", 32.0))
               for method in ("dip", "bicubic") for seed in ((0, 1) if method == "dip" else (0,))]
    data = {"suite": "sr-set5-x4", "title": "t", "task": "super-resolve", "metric": "y-sr", "profile": "paper",
            "label": None, "suite_images": 5, "entries": entries}
    text = markdown(data)
    assert "paper `dip`" in text and "| baby | 31.10 ± 0.14 | 31.49 | -0.39 |" in text
    # the paper mean over the same two images, (31.49 + 31.80) / 2; bicubic has only a 5-image paper mean
    assert "| **mean** | 31.60 | 31.64 | -0.04 |" in text and "paper 28.44 on all 5 images" in text
    assert "| `dip` | 2 | 2 | 31.60 | 0.14 | 31.50–31.70 |" in text  # spread of the suite mean over seeds
    nks = markdown({**data, "suite": "smooth-nks", "task": "smooth", "metric": "rgb", "entries": [
        {**e, "method": "dip-l0"} for e in entries if e["method"] == "dip"]})
    assert "paper (other images)" in nks and "Δ" not in nks.split("## SSIM")[0]


def test_no_ground_truth_suite_writes_images_and_a_contact_sheet(tmp_path, shared_data):
    assert bench(["deblock-snail", "--methods", "tv-chambolle", "--data-dir", str(shared_data),
                  "--results-dir", str(tmp_path), *TINY]) == 0
    assert (tmp_path / "deblock-snail-quick" / "snail__tv-chambolle__seed0.png").exists()
    assert (tmp_path / "deblock-snail-quick" / "snail__input.png").exists()
    from PIL import Image

    with Image.open(tmp_path / "deblock-snail-quick.png") as sheet:
        assert sheet.width >= 80 and sheet.height >= 40
    md = tmp_path / "deblock-snail-quick.md"
    assert "![contact sheet](deblock-snail-quick.png)" in md.read_text()
    md.unlink()
    assert bench(["report", "--results-dir", str(tmp_path)]) == 0  # rebuilds every table from the JSON
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
        bench(["sr-set5-x4", "--methods", "nl-means", "--data-dir", str(shared_data), "--results-dir",
               str(tmp_path)])
    with pytest.raises(InputError, match="only accepted with --profile quick"):
        bench(["sr-set5-x4", "--profile", "paper", "--iterations", "5", "--data-dir", str(shared_data)])
    with pytest.raises(InputError, match="no benchmark results"):
        bench(["report", "--results-dir", str(tmp_path)])


def test_every_suite_lists_its_images_and_limit_spreads_them(shared_data):
    for suite in SUITES.values():
        items = suite.items(shared_data)
        assert items and all(m in suite.methods for m in suite.default_methods)
    names = [i.name for i in select_items(get_suite("denoise-color25").items(shared_data), 3)]
    assert names == ["F16", "kodim02", "peppers"]
    nks = get_suite("smooth-nks").items(shared_data)
    assert len(nks) == 80 and sum("reconstructed" in i.files["truth"].name for i in nks) == 4
