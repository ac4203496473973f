"""Bad inputs and hostile situations, as a user meets them on the command line: each gets one clear line, the right
exit status, and leaves the user's files as they were. The table grows with every bug found."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

import deepprior
from deepprior.cli import main
from deepprior.io import read_image, write_image
from helpers import add_noise, smooth_image

FAST = ["--iterations", "3", "--channels", "8", "--quiet"]


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return int(exc.code)


def _noisy(tmp_path: Path, name: str = "in.png") -> Path:
    return write_image(tmp_path / name, add_noise(smooth_image(40)))


def _case_output_is_input(tmp_path: Path) -> tuple[list[str], Path]:
    source = _noisy(tmp_path)
    return ["denoise", str(source), "-o", str(source), *FAST], source


def _case_output_exists(tmp_path: Path) -> tuple[list[str], Path]:
    source = _noisy(tmp_path)
    existing = write_image(tmp_path / "out.png", np.zeros((4, 4)))
    return ["denoise", str(source), "-o", str(existing), *FAST], existing


def _case_animation(tmp_path: Path) -> tuple[list[str], Path | None]:
    frames = [PILImage.fromarray(np.full((40, 40), v, np.uint8)) for v in (0, 128, 255)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    return ["denoise", str(tmp_path / "anim.gif"), "-o", str(tmp_path / "out.png"), *FAST], None


def _case_solver_with_fit_options(tmp_path: Path) -> tuple[list[str], Path | None]:
    source = _noisy(tmp_path)
    return ["smooth", str(source), "--method", "l0-smooth", "--lr", "0.1", "-o", str(tmp_path / "o.png")], None


def _case_resume_someone_elses_checkpoint(tmp_path: Path) -> tuple[list[str], Path | None]:
    source = _noisy(tmp_path)
    (tmp_path / "out.checkpoint.pt").write_bytes(b"not a checkpoint")
    return ["denoise", str(source), "-o", str(tmp_path / "out.png"), "--resume", *FAST], None


def _case_batched_images_of_a_classical_solver(tmp_path: Path) -> tuple[list[str], Path | None]:
    source = _noisy(tmp_path)
    argv = ["smooth", str(source.parent), "-o", str(tmp_path / "out"), "--method", "region-fusion"]
    return [*argv, "--batch-images", "2"], None


def _case_batched_images_on_ray(tmp_path: Path) -> tuple[list[str], Path | None]:
    source = _noisy(tmp_path)
    return ["denoise", str(source.parent), "-o", str(tmp_path / "out"), "--batch-images", "2", "--ray", *FAST], None


def _case_batched_seeds_with_snapshots(tmp_path: Path) -> tuple[list[str], Path | None]:
    source = _noisy(tmp_path)
    return ["denoise", str(source), "-o", str(tmp_path / "o.png"), "--batch-seeds", "--save-every", "2", *FAST], None


# name → (set-up giving argv and a file that must stay untouched, exit status, words of the one line)
CASES = {
    "output is the input": (_case_output_is_input, 2, "is the input itself"),
    "output exists": (_case_output_exists, 2, "--overwrite replaces"),
    "animated GIF": (_case_animation, 2, "3 frames"),
    "fit option for a classical solver": (_case_solver_with_fit_options, 2, "--lr does not apply to l0-smooth"),
    "a foreign checkpoint": (_case_resume_someone_elses_checkpoint, 2, "cannot resume"),
    "batched images of a classical solver": (_case_batched_images_of_a_classical_solver, 2, "fits none"),
    "batched images on Ray": (_case_batched_images_on_ray, 2, "choose one"),
    "batched seeds with snapshots": (_case_batched_seeds_with_snapshots, 2, "cannot be combined with --save-every"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_one_line_and_nothing_changed(case, tmp_path, capsys):
    setup, status, words = CASES[case]
    argv, untouched = setup(tmp_path)
    before = untouched.read_bytes() if untouched is not None else None
    files_before = sorted(p.name for p in tmp_path.iterdir())
    assert _run(argv) == status
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err, err
    if untouched is not None:
        assert untouched.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files_before  # nothing written, nothing left behind


@pytest.mark.parametrize(
    "given",
    [
        ["--fp32"],
        ["--channels", "8"],
        ["--result", "last"],
        ["--tv-kind", "isotropic"],
        ["--save-every", "5"],
        ["--device", "cuda"],
        ["--device", "no-such-device"],
        ["--seed", "3"],
    ],
)
def test_a_classical_solver_names_the_fit_flag_it_refuses(given, tmp_path, capsys):
    """Each flag by the name the user typed (once '--amp' for --fp32, 'callbacks' for --save-every), and a
    device or seed it would ignore is refused as well."""
    source = _noisy(tmp_path)
    argv = ["enhance", str(source), "--method", "region-fusion", "-o", str(tmp_path / "o.png"), *given]
    assert _run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"deepprior: error: {given[0]} does not apply to region-fusion (a classical solver)"
    assert not (tmp_path / "o.png").exists()


def test_overwrite_and_skip_existing(tmp_path, capsys):
    source = _noisy(tmp_path)
    out = tmp_path / "out.png"
    assert _run(["denoise", str(source), "-o", str(out), *FAST]) == 0
    stamp = out.stat().st_mtime_ns
    assert _run(["denoise", str(source), "-o", str(out), "--skip-existing", *FAST]) == 0
    assert out.stat().st_mtime_ns == stamp
    assert _run(["denoise", str(source), "-o", str(out), "--overwrite", *FAST]) == 0
    assert out.stat().st_mtime_ns != stamp
    assert _run(["denoise", str(source), "-o", str(source), "--overwrite", *FAST]) == 0  # asked for in so many words


def test_a_folder_gives_colliding_names_distinct_outputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "a.png", smooth_image(40))
    write_image(folder / "a.jpg", smooth_image(40) * 0.5)
    write_image(folder / "b.png", smooth_image(40))
    assert _run(["denoise", str(folder), "-o", str(tmp_path / "out"), *FAST]) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["a_jpg.png", "a_png.png", "b.png"]
    dark = read_image(tmp_path / "out" / "a_jpg.png").pixels.mean()
    assert dark < read_image(tmp_path / "out" / "a_png.png").pixels.mean()  # each from its own source


def test_an_unwritable_output_is_reported_before_fitting(tmp_path, monkeypatch, capsys):
    import errno

    import deepprior.dip
    from deepprior.io import files

    def no_fit(*args, **kwargs):
        raise AssertionError("the fit started although the output cannot be written")

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    source = _noisy(tmp_path)
    monkeypatch.setattr(deepprior.dip, "fit", no_fit)
    monkeypatch.setattr(files, "open", read_only, raising=False)
    assert _run(["denoise", str(source), "-o", str(tmp_path / "out.png"), *FAST]) == 2
    assert "Read-only file system" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["start-up", "fit"])
def test_ctrl_c_prints_one_line_exits_130_and_leaves_nothing(where, tmp_path, monkeypatch, capsys):
    import deepprior.cli
    import deepprior.dip

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    if where == "start-up":
        monkeypatch.setattr(deepprior.cli, "build_parser", interrupt)
    else:
        monkeypatch.setattr(deepprior.dip, "fit", interrupt)
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "a.png", smooth_image(40))
    argv = ["denoise", str(folder), "-o", str(tmp_path / "new"), "--save-every", "1", *FAST]
    assert _run(argv) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no output folder, no snapshots folder


@pytest.mark.filterwarnings("default")
def test_warnings_are_one_line_each(tmp_path, capsys):
    image = write_image(tmp_path / "img.png", smooth_image(40))
    mask = np.zeros((40, 40), np.uint8)
    mask[:8] = 255  # 80% missing: most likely an inverted mask
    mask_path = write_image(tmp_path / "mask.png", mask)
    assert _run(["inpaint", str(image), "--mask", str(mask_path), "-o", str(tmp_path / "o.png"), *FAST]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert any("80% of the pixels missing" in line and "inverted" in line for line in err)
    assert any("far below" in line for line in err)
    assert all(line.startswith("deepprior: warning:") for line in err)


def test_inpainting_keeps_the_known_pixels_unless_asked_for_the_raw_output():
    clean = smooth_image(64)
    known = np.random.default_rng(0).random((64, 64)) > 0.3
    kept = deepprior.inpaint(clean, known, kind="pixels", iterations=3, width=8)
    assert np.array_equal(kept.image[known], clean[known]) and kept.record.extra["raw_output"] is False
    raw = deepprior.inpaint(clean, known, kind="pixels", iterations=3, width=8, raw_output=True)
    assert not np.array_equal(raw.image[known], clean[known])
    assert np.array_equal(raw.image[~known], kept.image[~known])


def test_a_microscopy_stack_is_restored_plane_by_plane_in_its_own_layout(tmp_path):
    rng = np.random.default_rng(0)
    planes = np.stack([smooth_image(40, channels=1)[..., 0] * (0.5 + 0.2 * z) for z in range(3)])
    noisy = np.clip(planes + rng.normal(0, 0.1, planes.shape), 0, 1)
    data = np.round(noisy * 65535).astype(np.uint16)
    metadata = {"axes": "ZYX", "spacing": 0.5, "unit": "um"}
    tifffile.imwrite(tmp_path / "z.tif", data, imagej=True, metadata=metadata, resolution=(4.0, 4.0))
    assert _run(["denoise", str(tmp_path / "z.tif"), "-o", str(tmp_path / "out.tif"), *FAST]) == 0
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        out, axes, imagej = tif.series[0].asarray(), tif.series[0].axes, tif.imagej_metadata
        resolution = tif.pages[0].tags["XResolution"].value
    assert out.shape == data.shape and out.dtype == np.uint16 and axes == "ZYX"
    assert imagej["spacing"] == 0.5 and imagej["unit"] == "um" and resolution[0] / resolution[1] == 4.0
    assert not np.array_equal(out, data)  # each plane went through the fit
    brightness = out.reshape(3, -1).mean(axis=1)
    assert brightness[0] < brightness[1] < brightness[2]  # planes stay in their order
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["extra"]["stack"] == {"axes": "ZYX", "shape": [3, 40, 40], "planes": 3}


def test_float_tiff_keeps_its_range_through_a_run(tmp_path):
    values = (smooth_image(40, channels=1)[..., 0] * 4.0 - 1.0).astype(np.float32)  # -1 … 3
    tifffile.imwrite(tmp_path / "sci.tif", values)
    assert _run(["denoise", str(tmp_path / "sci.tif"), "-o", str(tmp_path / "out.tif"), *FAST]) == 0
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.dtype == np.float32 and out.min() < 0 and out.max() > 1  # not clipped to [0, 1]
    assert abs(float(out.mean()) - float(values.mean())) < 0.5


def test_a_huge_image_is_refused_with_an_estimate_before_allocating_when_it_may_not_be_tiled():
    with pytest.raises(deepprior.DeviceError, match=r"needs about [\d.]+ GiB but [\d.]+ GiB is free"):
        deepprior.denoise(np.zeros((10000, 10000), np.uint8), iterations=1, tile=None)


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_bits(tmp_path):
    """SIGKILL mid-run, then --resume: the result equals an uninterrupted run's, bit for bit (CPU, 1 thread)."""
    source = _noisy(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [
        sys.executable,
        "-m",
        "deepprior.cli",
        "denoise",
        str(source),
        "--iterations",
        "300",
        "--channels",
        "8",
        "--threads",
        "1",
        "--checkpoint-every",
        "0",
        "--quiet",
    ]
    subprocess.run([*command, "-o", str(tmp_path / "whole.png")], check=True, env=env)
    out, checkpoint = tmp_path / "cut.png", tmp_path / "cut.checkpoint.pt"
    process = subprocess.Popen([*command, "-o", str(out)], env=env)
    deadline, saves, last = time.monotonic() + 120, 0, None
    while saves < 2 and time.monotonic() < deadline and process.poll() is None:
        stamp = checkpoint.stat().st_mtime_ns if checkpoint.exists() else None
        if stamp is not None and stamp != last:
            saves, last = saves + 1, stamp
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    if out.exists():
        pytest.skip("the run finished before it could be killed")
    assert checkpoint.exists()
    subprocess.run([*command, "-o", str(out), "--resume"], check=True, env=env)
    whole, resumed = read_image(tmp_path / "whole.png"), read_image(out)
    assert np.array_equal(whole.pixels, resumed.pixels)
    history = [json.loads(p.with_suffix(".json").read_text())["history"] for p in (tmp_path / "whole.png", out)]
    assert history[0]["loss"] == history[1]["loss"]  # every step's loss, before and after the kill
    assert not checkpoint.exists()  # done with it


def test_a_fits_image_keeps_its_range_and_header_and_its_nan_pixels_are_filled(tmp_path):
    fits = pytest.importorskip("astropy.io.fits")
    sky = (smooth_image(48, channels=1)[..., 0] * 900.0 + 100.0).astype(np.float32)  # counts 100 … 1000
    sky[10:14, 20:26] = np.nan  # a bad column block: no value
    header = fits.Header({"OBJECT": "M42", "EXPTIME": 30.0})
    fits.PrimaryHDU(sky, header=header).writeto(tmp_path / "m42.fits")
    assert _run(["denoise", str(tmp_path / "m42.fits"), *FAST]) == 0
    with fits.open(tmp_path / "m42_denoise.fits") as hdus:
        out, written = hdus[0].data, hdus[0].header
    assert out.shape == sky.shape and np.isfinite(out).all()  # the missing pixels are filled in
    assert 50 < np.nanmin(out) and np.nanmax(out) < 1100  # physical units, not [0, 1]
    assert written["OBJECT"] == "M42" and written["EXPTIME"] == 30.0
    record = json.loads((tmp_path / "m42_denoise.json").read_text())
    assert record["extra"]["missing_fraction"] == pytest.approx(24 / 48**2)
    assert _run(["inpaint", str(tmp_path / "m42.fits"), "-o", str(tmp_path / "filled.fits"), *FAST]) == 0
    with fits.open(tmp_path / "filled.fits") as hdus:
        filled = hdus[0].data
    known = np.isfinite(sky)
    np.testing.assert_allclose(filled[known], sky[known], rtol=1e-5)  # known pixels kept, the hole filled
    assert np.isfinite(filled).all()
    assert _run(["denoise", str(tmp_path / "m42.fits"), "-o", str(tmp_path / "x.png"), *FAST]) == 2
