"""The preset profiles (paper, fast, best), seed ensembles and the time estimate line."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

import deepprior
from deepprior.callbacks import Progress
from deepprior.errors import InputError
from deepprior.metrics import psnr
from deepprior.presets import PRESETS, PROFILES, get_preset, methods, profiles
from helpers import add_noise, smooth_image

# Every profile must improve on a noisy tiny image by this much within STEPS steps of its own network, learning
# rate, averaging and seeds (the step count is cut: the full rows run for minutes).
MARGIN_DB = 5.0
STEPS = 200


@pytest.mark.parametrize("profile", PROFILES)
def test_every_denoise_profile_beats_its_input(profile):
    clean = smooth_image(32)
    noisy = add_noise(clean, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the under-fitting warning: the steps are cut on purpose
        result = deepprior.denoise(noisy, preset=profile, iterations=STEPS, threads=1)
    row = get_preset("denoise", "dip", profile)
    assert result.record.preset == profile and len(result.record.seeds) == (row.seeds if row.seeds > 1 else 0)
    refinement = result.record.refinement
    assert (refinement or {}).get("name") == row.refine and (refinement is None or refinement["sigma"] > 0)
    assert psnr(result.image, clean) > psnr(noisy, clean) + MARGIN_DB


def test_every_dip_row_has_every_profile_and_the_profiles_differ_as_the_table_says():
    for preset in PRESETS.values():
        if preset.kind == "classical":
            assert get_preset(preset.task, preset.method, "fast") is get_preset(preset.task, preset.method)
            continue
        assert profiles(preset.task, preset.method) == list(PROFILES), preset.key
        paper, fast, best = (get_preset(preset.task, preset.method, p) for p in PROFILES)
        widths = [c for k, v in fast.generator_options.items() if k.startswith("channels") for c in v]
        assert max(widths) <= 32 < max(c for c in paper.generator_options["channels_down"]), fast.key
        if preset.task == "denoise":  # refined instead: seeds add nothing once the fit is refined
            assert best.seeds == paper.seeds == 1 and (fast.refine, best.refine) == ("wiener", "wiener-bm3d")
        else:
            assert best.seeds > paper.seeds == 1
    assert all(m in methods(p.task) for p in PRESETS.values() for m in [p.method])


def test_an_unknown_profile_is_one_clear_error():
    with pytest.raises(InputError, match="unknown preset 'quick'; choose one of paper, fast, best"):
        deepprior.denoise(smooth_image(32), preset="quick")


def test_seeds_average_independent_fits_and_the_record_keeps_their_spread():
    noisy = add_noise(smooth_image(32), 0.1)
    options = {"iterations": 8, "width": 8, "threads": 1}
    one, two = (deepprior.denoise(noisy, seed=s, **options) for s in (3, 4))
    both = deepprior.denoise(noisy, seed=3, seeds=2, reference=smooth_image(32), **options)
    assert not np.allclose(one.image, two.image)  # two different fits
    np.testing.assert_allclose(both.image, (one.image + two.image) / 2, atol=1e-6)
    record = both.record
    assert [m["seed"] for m in record.seeds] == [3, 4] and record.output_source == "mean of 2 seeds"
    spread = np.sqrt(np.var(np.stack([one.image, two.image]), axis=0).mean())
    assert record.seed_spread == pytest.approx(spread, rel=1e-5) and record.seed_spread > 0
    assert all(m["psnr"] > 0 for m in record.seeds)
    assert record.iterations_run == 16 and deepprior.RunRecord.from_dict(record.to_dict()).seeds == record.seeds


def test_a_seed_ensemble_resumes_from_one_checkpoint_per_seed(tmp_path):
    noisy = add_noise(smooth_image(32), 0.1)
    options = {"iterations": 10, "width": 8, "threads": 1, "seeds": 2, "checkpoint": tmp_path / "run.pt"}
    first = deepprior.denoise(noisy, resume=True, **options)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.seed0.pt", "run.seed1.pt"]
    again = deepprior.denoise(noisy, resume=True, **options)  # both fits are finished: nothing is refitted
    np.testing.assert_array_equal(first.image, again.image)


def test_the_estimate_line_gives_a_positive_time_for_this_run_and_for_the_fast_preset(monkeypatch, capsys):
    monkeypatch.setattr(Progress, "ANNOUNCE_AFTER", 0.0)
    deepprior.denoise(smooth_image(32), iterations=6, seeds=2, threads=1, progress="photo.png")
    captured = capsys.readouterr()
    lines = [line for line in re.split(r"[\r\n]", captured.out + captured.err) if "about" in line]
    assert len(lines) == 1, captured  # once for the whole ensemble
    line = r"photo.png \(seed 0\): about .* × 2 seeds on cpu \(([0-9.e-]+) s/step.*the fast preset: at most about"
    found = re.search(line, lines[0])
    assert found is not None and float(found.group(1)) > 0, lines[0]


def test_the_smoothing_estimate_line_names_the_tasks_classical_solvers(monkeypatch, capsys):
    monkeypatch.setattr(Progress, "ANNOUNCE_AFTER", 0.0)
    deepprior.smooth(smooth_image(32), "dip-tv", iterations=6, threads=1, progress="photo.png")
    smoothing = capsys.readouterr()
    deepprior.denoise(smooth_image(32), iterations=6, threads=1, progress="photo.png")
    denoising = capsys.readouterr()
    classical = [row.method for row in PRESETS.values() if row.task == "smooth" and row.kind == "classical"]
    assert sorted(classical) == ["l0-smooth", "region-fusion"]
    assert f"the classical {' or '.join(classical)} (no network): seconds" in smoothing.err + smoothing.out
    assert "the fast preset" in smoothing.err + smoothing.out
    assert "classical" not in denoising.err + denoising.out  # denoising has no classical row


def test_the_command_line_runs_a_profile_with_a_seed_ensemble_and_leaves_no_checkpoint(tmp_path):
    from deepprior.cli import main
    from deepprior.io import write_image

    source = write_image(tmp_path / "noisy.png", add_noise(smooth_image(32), 0.1))
    out = tmp_path / "clean.png"
    argv = ["denoise", str(source), "-o", str(out), "--preset", "fast", "--seeds", "2", "--iterations", "4", "-q"]
    assert main(argv) == 0
    record = deepprior.RunRecord.from_dict(json.loads(out.with_suffix(".json").read_text()))
    assert record.preset == "fast" and [m["seed"] for m in record.seeds] == [0, 1]
    assert record.generator["channels_down"] == [32] * 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.json", "clean.png", "noisy.png"]
