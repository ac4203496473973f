"""Tiling a large image: the tiles' geometry, the blend, each task's tiled run, the automatic choice from the free
memory, the shared time limit, resuming a killed tiled run and the command line's options."""

from __future__ import annotations

import warnings
from contextlib import nullcontext

import numpy as np
import pytest
from PIL import Image as PILImage

import deepprior
from deepprior import memory
from deepprior.cli import main
from deepprior.dip import fit_memory
from deepprior.errors import InputError
from deepprior.restore import run_together, tile_checkpoints
from deepprior.tiling import blend, blend_weights, choose_tiling, tile_boxes, tile_starts
from helpers import TINY, OneSecondAStep, add_noise, smooth_image

FEW = dict(iterations=3, generator_options=TINY, progress=False)


@pytest.mark.parametrize("length, side, overlap", [(1000, 512, 64), (513, 512, 64), (300, 64, 31), (97, 64, 0)])
def test_tiles_cover_the_axis_evenly_and_overlap_by_at_least_the_overlap(length, side, overlap):
    starts = tile_starts(length, side, overlap)
    assert starts[0] == 0 and starts[-1] + side == length
    gaps = np.diff(starts)
    assert (gaps > 0).all() and (side - gaps >= overlap).all() and gaps.max() - gaps.min() <= 1


@pytest.mark.parametrize("size, side, overlap, multiple", [((150, 200), 64, 16, 1), ((96, 160), 64, 17, 4)])
def test_the_tiles_blend_back_into_the_image_they_were_cut_from(size, side, overlap, multiple):
    image = np.random.default_rng(0).random((*size, 3)).astype(np.float32)
    boxes = tile_boxes(size, side, overlap, multiple)
    assert all(value % multiple == 0 for box in boxes for value in box)
    assert all(box[2:] == (side, side) for box in boxes)
    crops = [image[t : t + h, l : l + w] for t, l, h, w in boxes]
    np.testing.assert_allclose(blend(crops, boxes, size, overlap), image, atol=1e-6)


def test_a_tile_weighs_least_at_an_edge_another_tile_overlaps_and_fully_on_the_images_border():
    weights = blend_weights((0, 40, 64, 64), (100, 200), 16)
    assert weights[0, 30] == 1.0  # the image's top border: no ramp
    assert weights[30, 0] == pytest.approx(1 / 17) and weights[63, 30] == pytest.approx(1 / 17)
    assert weights[30, 63] == pytest.approx(1 / 17) and weights[30, 30] == 1.0


def test_a_tiled_denoising_blends_its_tiles_and_refines_the_whole():
    noisy = add_noise(smooth_image(96))
    result = deepprior.denoise(noisy, tile=64, tile_overlap=16, refine="wiener", **FEW)
    record = result.record
    assert result.image.shape == noisy.shape and record.image_size == (96, 96)
    assert record.tiling["count"] == 4 and record.tiling["side"] == 64 and record.tiling["reason"] is None
    assert [tile["box"] for tile in record.tiling["tiles"]] == [list(b) for b in tile_boxes((96, 96), 64, 16)]
    assert record.iterations_run == 4 * 3 and record.output_source == "4 tiles blended"
    assert record.refinement["name"] == "wiener"  # once, on the whole image
    untiled = deepprior.denoise(noisy, tile=96, **FEW)  # a tile as large as the image: no tiling
    assert untiled.record.tiling is None and untiled.record.output_source != record.output_source


def test_inpainting_in_tiles_keeps_every_known_pixel_and_super_resolution_tiles_on_whole_low_res_pixels():
    image = smooth_image(80)
    known = np.random.default_rng(1).random((80, 80)) > 0.5
    inpainted = deepprior.inpaint(image, known, tile=64, tile_overlap=8, **FEW)
    assert inpainted.record.tiling["count"] == 4
    np.testing.assert_array_equal(inpainted.image[known], image[known])
    small = smooth_image(40)
    enlarged = deepprior.super_resolve(small, scale=4, tile=96, tile_overlap=10, **FEW)
    assert enlarged.image.shape == (160, 160, 3)
    tiling = enlarged.record.tiling
    assert tiling["overlap"] == 12 and all(v % 4 == 0 for tile in tiling["tiles"] for v in tile["box"])


def test_a_guided_task_crops_its_guide_with_each_tile():
    flash, noflash = smooth_image(80, seed=0), add_noise(smooth_image(80), 0.05)
    result = deepprior.flash_noflash(flash, noflash, tile=64, tile_overlap=8, **FEW)
    assert result.image.shape == noflash.shape and result.record.tiling["count"] == 4


def test_auto_tiles_only_an_image_whose_whole_fit_would_not_fit_in_the_free_memory(monkeypatch):
    image = add_noise(smooth_image(300))
    plan = deepprior.denoise.plan(image, **FEW)
    estimate = fit_memory(plan)
    monkeypatch.setattr(memory, "available_bytes", lambda device: estimate((300, 300)) + 1)
    assert choose_tiling(plan) is None
    monkeypatch.setattr(memory, "available_bytes", lambda device: estimate((256, 256)) + 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = deepprior.denoise(image, **FEW)
    tiling = result.record.tiling
    assert tiling["side"] == 256 and tiling["count"] == 4 and "GiB is free on cpu" in tiling["reason"]
    assert any("restoring it in 4 tiles of 256×256" in str(w.message) for w in caught)
    with pytest.raises(deepprior.DeviceError, match="GiB is free"):  # never tiled: refused, as before
        deepprior.denoise(image, tile=None, **FEW)
    monkeypatch.setattr(memory, "available_bytes", lambda device: estimate((100, 100)))
    with pytest.raises(deepprior.DeviceError, match="tile the image"):  # not even the smallest tile fits
        deepprior.denoise(image, **FEW)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"tile": 32}, "at least 64 pixels"),
        ({"tile": "big"}, "at least 64 pixels"),
        ({"tile": 100, "tile_overlap": 50}, "below half the tile side"),
        ({"tile_overlap": -1}, "whole number of pixels"),
    ],
)
def test_nonsense_tiles_are_refused_before_any_fit(options, message):
    with pytest.raises(InputError, match=message):
        deepprior.denoise.plan(smooth_image(80), **options)


def test_a_classical_solver_takes_no_tiles():
    with pytest.raises(InputError, match="tile do not apply"):
        deepprior.smooth(smooth_image(80), method="region-fusion", tile=64)


def test_the_tiles_share_the_time_limit(monkeypatch):
    clock = OneSecondAStep()
    monkeypatch.setattr("time.perf_counter", clock)
    noisy = add_noise(smooth_image(96))
    options = dict(FEW, iterations=100, stop="fixed", check_every=5)
    result = deepprior.denoise(noisy, tile=64, tile_overlap=16, time_limit=40.0, callbacks=[clock], **options)
    # 10 s each: the first tile's share is a quarter of the limit, each next one what is left over the tiles left
    assert [tile["iterations_run"] for tile in result.record.tiling["tiles"]] == [10, 10, 10, 10]
    assert sum(e["event"] == "time limit" for e in result.history.events) == 4
    assert result.record.settings["time_limit"] == 40.0


class _KillAt:
    """Interrupts the tiled run at its ``at``-th step, counted over every tile."""

    def __init__(self, at: int) -> None:
        self.at, self.steps = at, 0

    def __call__(self, state) -> None:
        self.steps += 1
        if self.steps == self.at:
            raise KeyboardInterrupt


def test_a_killed_tiled_run_resumes_to_the_same_bits_and_skips_its_finished_tiles(tmp_path):
    noisy = add_noise(smooth_image(96))
    options = dict(FEW, iterations=6, tile=64, tile_overlap=16, check_every=2, threads=1)
    whole = deepprior.denoise(noisy, **options)
    path = tmp_path / "fit.pt"
    with pytest.raises(KeyboardInterrupt):  # in the third tile, after its checkpoint at step 4
        deepprior.denoise(noisy, checkpoint=path, checkpoint_every=0.0, callbacks=[_KillAt(2 * 6 + 5)], **options)
    assert [p.name for p in tile_checkpoints(path)] == ["fit.tile1.pt", "fit.tile2.pt", "fit.tile3.pt"]
    counted = _KillAt(0)
    resumed = deepprior.denoise(noisy, checkpoint=path, resume=True, callbacks=[counted], **options)
    np.testing.assert_array_equal(resumed.image, whole.image)
    assert counted.steps == 2 + 6  # the third tile's last two steps and the fourth tile's six


def test_a_tiled_plan_runs_alone_while_the_others_are_stepped_together():
    rng = np.random.default_rng(0)
    plans = [deepprior.denoise.plan(rng.random((64, 64, 3)), **FEW) for _ in range(2)]
    plans.append(deepprior.denoise.plan(rng.random((96, 96, 3)), tile=64, **FEW))
    restorations = run_together(plans, at_once=2)
    assert [r.record.at_once for r in restorations[:2]] == [2, 2]
    assert restorations[2].record.tiling["count"] == 4 and restorations[2].record.at_once == 1


def test_the_command_line_tiles_names_snapshots_by_tile_and_leaves_no_checkpoint(tmp_path, capsys):
    source = tmp_path / "in.png"
    PILImage.fromarray((add_noise(smooth_image(96)) * 255).astype(np.uint8)).save(source)
    out = tmp_path / "out.png"
    common = [str(source), "--iterations", "2", "--channels", "8", "-q"]
    assert main(["denoise", *common, "-o", str(out), "--tile", "64", "--tile-overlap", "16", "--save-every", "2"]) == 0
    snapshots = sorted(p.name for p in (tmp_path / "out_snapshots").iterdir())
    assert snapshots == [f"tile{k}_step_000002.png" for k in range(1, 5)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "out.json", "out.png", "out_snapshots"]
    for flags, message in [
        (["--tile", "big"], "expected a tile side in pixels, auto or none, got 'big'"),
        (["--tile", "100", "--tile-overlap", "50"], "below half the tile side"),
    ]:
        with pytest.raises(SystemExit, match="2") if flags[1] == "big" else nullcontext():  # argparse exits
            assert main(["denoise", *common, "-o", str(tmp_path / "bad.png"), *flags]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "bad.png").exists()
    smoothed = str(tmp_path / "s.png")
    assert main(["smooth", str(source), "--method", "region-fusion", "--tile", "64", "-o", smoothed]) == 2
    assert "--tile does not apply to region-fusion" in capsys.readouterr().err


def test_the_tiling_benchmark_runs_at_a_toy_profile_and_its_seam_band_follows_the_inner_edges(tmp_path, shared_data):
    from benchmarks.bench_tiling import main as bench
    from benchmarks.bench_tiling import seam_band

    band = seam_band((96, 96), tile_boxes((96, 96), 64, 16), 4)
    row = band[10]  # tiles start at 0 and 32 on each axis: inner edges at 32 and 64
    assert not row[:28].any() and row[28:36].all() and not row[36:60].any() and row[60:68].all() and not row[68:].any()
    argv = ["--images", "F16", "--crop", "96", "--tile", "64", "--overlaps", "16", "--iterations", "2"]
    assert bench([*argv, "--threads", "1", "--data-dir", str(shared_data), "--out", str(tmp_path / "t")]) == 0
    table = (tmp_path / "t.md").read_text()
    assert "| F16 | whole | 1 |" in table and "| F16 | 16 | 4 |" in table


def test_memory_an_earlier_fit_left_in_the_cuda_allocators_cache_counts_as_free(monkeypatch):
    import torch

    gib = 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (10 * gib, 80 * gib))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: 30 * gib)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: 2 * gib)
    assert memory.available_bytes(torch.device("cuda")) == 38 * gib


def test_activation_counts_are_reused_only_for_the_same_network_and_shape(monkeypatch):
    from deepprior.nets import build_generator

    counted = []
    count = memory._count_activations
    monkeypatch.setattr(memory, "_count_activations", lambda net, shape: counted.append(shape) or count(net, shape))
    monkeypatch.setattr(memory, "_COUNTED", {})
    narrow, wide = (build_generator("skip", 8, 3, width=w) for w in (8, 16))
    first = memory.activation_values(narrow, (1, 8, 64, 64))
    assert memory.activation_values(build_generator("skip", 8, 3, width=8, seed=5), (1, 8, 64, 64)) == first
    assert memory.activation_values(wide, (1, 8, 64, 64)) > first
    assert memory.activation_values(narrow, (1, 8, 128, 128)) > 3 * first
    assert counted == [(1, 8, 64, 64), (1, 8, 64, 64), (1, 8, 128, 128)]  # the second network's weights differ only
