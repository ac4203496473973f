"""The GPU campaign runs end to end at its toy profile on the CPU, so a GPU lease never dies of a typo."""

from __future__ import annotations

import json

import pytest

from benchmarks import gpu_campaign


@pytest.mark.slow
def test_the_campaign_runs_every_stage_at_the_toy_profile_and_resumes(tmp_path, shared_data):
    out = tmp_path / "campaign"
    ran = gpu_campaign.run_campaign(out, "cpu", "toy", data_dir=shared_data)
    assert ran == gpu_campaign.STAGES.names()
    rows = [json.loads(line) for line in (out / gpu_campaign.CAMPAIGN_FILE).read_text().splitlines()]
    failed = [row for row in rows if row.get("ok") is False and row.get("loop") != "deepinv DeepImagePrior"]
    assert failed == []
    assert {row["stage"] for row in rows if row.get("event") == "stage done"} == set(ran)
    assert all(row["device"] == "cpu" and row["git_commit"] is not None for row in rows)
    speed = [row for row in rows if row["stage"] == "speed"]
    assert any(row.get("loop") == "notebook loop" and row["seconds_per_step"] > 0 for row in speed)
    assert any(row.get("loop") == "deepinv DeepImagePrior" for row in speed)  # measured, or why not, recorded
    assert gpu_campaign.run_campaign(out, "cpu", "toy", data_dir=shared_data) == []  # all done: nothing runs


def test_prepare_copies_each_stages_share_of_the_data(tmp_path, shared_data):
    gpu_campaign.prepare(tmp_path / "a", shared_data, ["denoise"])
    names = sorted(p.name for p in (tmp_path / "a").rglob("*.png"))
    assert "F16_noisy.png" in names and not any(name.startswith("S") for name in names)
