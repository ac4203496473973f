import json
import os
import subprocess
import sys

import numpy as np
import pytest

from deepprior.cli import main
from deepprior.io import read_image, write_image
from helpers import add_noise, smooth_image

FAST = ["--iterations", "4", "--channels", "8", "--quiet"]


@pytest.fixture
def noisy_png(tmp_path):
    return write_image(tmp_path / "noisy.png", add_noise(smooth_image(40)))


def test_denoise_end_to_end_writes_image_and_sidecar(tmp_path, noisy_png, capsys):
    out = tmp_path / "clean.png"
    assert main(["denoise", str(noisy_png), "-o", str(out), "--iterations", "4", "--channels", "8"]) == 0
    assert read_image(out).pixels.shape == (40, 40, 3)
    record = json.loads(out.with_suffix(".json").read_text())
    assert (record["schema"], record["version"]) == ("deepprior.run", 6)
    assert record["iterations_run"] == 4 and record["settings"]["seed"] == 0 and record["generator"]["width"] == 8
    assert record["versions"]["torch"] and len(record["history"]["loss"]) == 4
    assert record["output_path"] == str(out) and record["inputs"] == {"image": str(noisy_png)}
    assert "wrote" in capsys.readouterr().out


def test_sixteen_bit_input_gives_sixteen_bit_output_and_snapshots(tmp_path):
    source = write_image(tmp_path / "in16.png", smooth_image(40), bit_depth=16)
    out = tmp_path / "out.png"
    assert main(["deblock", str(source), "-o", str(out), "--save-every", "2", "--fp32", *FAST]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["amp"] is False
    assert read_image(out).bit_depth == 16
    assert sorted(p.name for p in (tmp_path / "out_snapshots").iterdir()) == ["step_000002.png", "step_000004.png"]


def test_gray_alpha_input_keeps_its_alpha_and_reference_psnr_is_printed(tmp_path, capsys):
    gray = smooth_image(40, channels=1)
    alpha = np.linspace(0, 1, 40 * 40, dtype=np.float32).reshape(40, 40)
    source = write_image(tmp_path / "la.png", gray, alpha=alpha)
    reference = write_image(tmp_path / "ref.png", gray)
    out = tmp_path / "la_out.png"
    assert (
        main(
            [
                "denoise",
                str(source),
                "-o",
                str(out),
                "--reference",
                str(reference),
                "--iterations",
                "4",
                "--channels",
                "8",
            ]
        )
        == 0
    )
    written = read_image(out)
    assert written.pixels.shape == (40, 40, 1)
    np.testing.assert_allclose(written.alpha, alpha, atol=1 / 255)
    assert "PSNR vs reference" in capsys.readouterr().out


def test_super_resolve_and_inpaint_and_flash(tmp_path):
    low = write_image(tmp_path / "low.png", smooth_image(64)[::2, ::2])
    assert main(["super-resolve", str(low), "--scale", "2", "-o", str(tmp_path / "sr.png"), *FAST]) == 0
    assert read_image(tmp_path / "sr.png").pixels.shape == (64, 64, 3)
    mask = np.ones((40, 40), np.uint8)
    mask[10:20, 10:20] = 0
    mask_path = write_image(tmp_path / "mask.png", mask * 255)
    image = write_image(tmp_path / "img.png", smooth_image(40))
    assert main(["inpaint", str(image), "--mask", str(mask_path), "-o", str(tmp_path / "ip.png"), *FAST]) == 0
    argv = ["flash-noflash", "--flash", str(image), "--noflash", str(image), "-o", str(tmp_path / "fn.png")]
    assert main([*argv, "--report", *FAST]) == 0
    assert (tmp_path / "fn.json").exists() and (tmp_path / "fn.html").exists()
    from deepprior.report import _restored_input  # the report's "before": the image the task restored

    assert [_restored_input(task) for task in ("flash-noflash", "denoise", "l0", None)] == [
        "noflash",
        "image",
        "image",
        "image",
    ]


def test_a_photographs_exif_reaches_the_restored_file_with_its_new_size(tmp_path):
    from PIL import Image as PILImage

    exif = PILImage.Exif()
    exif.update({0x010F: "Canon", 0x0112: 6})  # rotated on read: written upright, without the tag
    exif.get_ifd(0x8769).update({0x829A: (1, 200), 0xA002: 32, 0xA003: 24})
    photo = tmp_path / "photo.jpg"
    PILImage.fromarray(np.round(smooth_image(32)[:24] * 255).astype(np.uint8)).save(photo, exif=exif, quality=95)
    assert main(["super-resolve", str(photo), "--scale", "2", "-o", str(tmp_path / "big.jpg"), *FAST]) == 0
    with PILImage.open(tmp_path / "big.jpg") as im:
        written = im.getexif()
        assert im.size == (48, 64) and written[0x010F] == "Canon" and 0x0112 not in written
        assert written.get_ifd(0x8769)[0x829A] == (1, 200)
        assert (written.get_ifd(0x8769)[0xA002], written.get_ifd(0x8769)[0xA003]) == (48, 64)
    assert main(["denoise", str(photo), "--no-exif", "-o", str(tmp_path / "private.jpg"), *FAST]) == 0
    with PILImage.open(tmp_path / "private.jpg") as im:
        assert dict(im.getexif()) == {}


def test_deblurring_a_fits_file_leaves_its_nan_pixels_out(tmp_path):
    fits = pytest.importorskip("astropy.io.fits")
    data = smooth_image(48)[..., 0].astype(np.float32)
    data[20:23, 5:40] = np.nan  # a dead column's worth of pixels
    fits.PrimaryHDU(data).writeto(tmp_path / "sky.fits")
    out = tmp_path / "sharp.fits"
    assert main(["deblur", str(tmp_path / "sky.fits"), "--psf", "gaussian:1", "-o", str(out), *FAST]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["operator"]["name"] == "Composed" and record["extra"]["known_fraction"] == pytest.approx(
        1 - 105 / 48**2
    )
    with fits.open(out) as hdus:
        assert np.isfinite(hdus[0].data).all()


def test_inpainting_a_fits_files_own_missing_pixels_takes_kind_and_raw_output(tmp_path):
    """Without --mask the pixels the image marks missing (NaN) are filled in, by the row --kind names and with
    --raw-output as given (both were dropped without a mask)."""
    fits = pytest.importorskip("astropy.io.fits")
    data = smooth_image(48)[..., 0].astype(np.float32)
    data[10:14, 20:30] = np.nan
    fits.PrimaryHDU(data).writeto(tmp_path / "sky.fits")
    out = tmp_path / "filled.fits"
    argv = ["inpaint", str(tmp_path / "sky.fits"), "--kind", "pixels", "--raw-output", "-o", str(out), *FAST]
    assert main(argv) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["method"] == "pixels" and record["extra"]["raw_output"] is True
    with fits.open(out) as hdus:
        assert np.isfinite(hdus[0].data).all()


def test_folder_input_continues_past_a_failing_image(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "a.png", smooth_image(40))
    (folder / "b.png").write_text("not an image")
    write_image(folder / "c.png", smooth_image(40))
    out = tmp_path / "out"
    assert main(["denoise", str(folder), "-o", str(out), *FAST]) == 1
    assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "c.png"]
    err = capsys.readouterr().err
    assert "1 of 3 image(s) failed" in err and "b.png" in err


@pytest.mark.filterwarnings("default")  # the command line's filter, not the test suite's "ignore"
def test_a_folder_in_worker_processes_shows_each_warning_once(tmp_path, capsys, monkeypatch):
    """Every image warns that 4 steps under-fit: the main process shows that once, for the two workers (each
    printed its own copy before, where a Ray node's went nowhere; tests/test_ray.py checks Ray's)."""
    import deepprior.device

    monkeypatch.setattr(deepprior.device, "free_cores", lambda **sampling: 2)
    folder = tmp_path / "in"
    folder.mkdir()
    for name in "abc":
        write_image(folder / f"{name}.png", smooth_image(40))
    assert main(["denoise", str(folder), "-o", str(tmp_path / "out"), *FAST]) == 0
    err = capsys.readouterr().err
    assert err.count("is far below the denoise/dip preset's 3000") == 1, err
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["a.png", "b.png", "c.png"]


def _bad(tmp_path, noisy_png):
    small = write_image(tmp_path / "small.png", smooth_image(40)[:9, :9])
    mask = write_image(tmp_path / "mask.png", np.ones((20, 20), np.uint8) * 255)
    text = tmp_path / "text.png"
    text.write_text("hello")
    # black and white only: every 2×2 block clipped, no intensity level to fit a noise level function through
    flat = write_image(tmp_path / "flat.png", (np.indices((40, 40)).sum(0) % 3 == 0).astype(np.float32))
    out = str(tmp_path / "out.png")
    return {
        "missing file": (["denoise", str(tmp_path / "nope.png"), "-o", out], "does not exist"),
        "not an image": (["denoise", str(text), "-o", out], "not an image"),
        "mask size": (["inpaint", str(noisy_png), "--mask", str(mask), "-o", out], "mask"),
        "scale 1.5": (["super-resolve", str(noisy_png), "--scale", "1.5", "-o", out], "integer >= 2"),
        "scale 1": (["super-resolve", str(noisy_png), "--scale", "1", "-o", out], "integer >= 2"),
        "too small": (["denoise", str(small), "-o", out, *FAST], "needs at least"),
        "missing folder": (["denoise", str(noisy_png), "-o", str(tmp_path / "no" / "x.png")], "does not exist"),
        "unknown device": (["denoise", str(noisy_png), "-o", out, "--device", "gpu0", *FAST], "device"),
        "cuda absent": (["denoise", str(noisy_png), "-o", out, "--device", "cuda", *FAST], "device"),
        "negative lr": (["denoise", str(noisy_png), "-o", out, "--lr", "-1"], "--lr"),
        "zero iterations": (["denoise", str(noisy_png), "-o", out, "--iterations", "0"], "--iterations"),
        "bad suffix": (["denoise", str(noisy_png), "-o", str(tmp_path / "out.gif")], ".png"),
        "lam without reg": (["denoise", str(noisy_png), "-o", out, "--lam", "0.1", *FAST], "--regularizer"),
        "unknown preset": (["denoise", str(noisy_png), "-o", out, "--preset", "quick"], "--preset"),
        "zero seeds": (["denoise", str(noisy_png), "-o", out, "--seeds", "0"], "--seeds"),
        "bad time limit": (["denoise", str(noisy_png), "-o", out, "--time-limit", "5 minutes"], "--time-limit"),
        "zero time limit": (["denoise", str(noisy_png), "-o", out, "--time-limit", "0s"], "--time-limit"),
        "time limit, classical": (
            ["smooth", str(noisy_png), "-o", out, "--method", "region-fusion", "--time-limit", "5m"],
            "--time-limit does not apply",
        ),
        "psf missing": (["deblur", str(noisy_png), "-o", out, "--psf", "psf.png"], "PSF file 'psf.png' does not"),
        "psf shape": (["deblur", str(noisy_png), "-o", out, "--psf", "motion:5"], "unknown PSF 'motion:5'"),
        "psf too wide": (["deblur", str(noisy_png), "-o", out, "--psf", "gaussian:8", *FAST], "must be smaller"),
        "psf not an image": (["deblur", str(noisy_png), "-o", out, "--psf", str(text)], "not an image"),
        "deblur mask size": (
            ["deblur", str(noisy_png), "-o", out, "--psf", "gaussian:1", "--mask", str(mask), *FAST],
            "is 20×20 pixels but the image is 40×40",
        ),
        "report without a record": (["report", str(noisy_png)], "has no run record beside it ('noisy.json'"),
        "report, a folder without records": (["report", str(tmp_path)], "holds no run records"),
        "unknown noise": (["denoise", str(noisy_png), "-o", out, "--noise", "poison"], "did you mean poisson?"),
        "noise level, not numbers": (["denoise", str(noisy_png), "-o", out, "--noise-level", "1,a"], "--noise-level"),
        "noise level, one number": (
            ["denoise", str(noisy_png), "-o", out, "--noise", "poisson", "--noise-level", "0.01", *FAST],
            "level is (a, b), or one number per channel for each (a1…aC, b1…bC), got 1 number(s)",
        ),
        "noise level for two channels of three": (
            ["denoise", str(noisy_png), "-o", out, "--noise", "poisson", "--noise-level", "0.01,0.02,0,0", *FAST],
            "the noise level gives 2 channels, the image has 3",
        ),
        "noise level of a model without one": (
            ["denoise", str(noisy_png), "-o", out, "--noise-level", "0.01,0", *FAST],
            "the gaussian noise model's level is (none)",
        ),
        "noise level not estimable": (
            ["denoise", str(flat), "-o", out, "--noise", "poisson", *FAST],
            "give the noise level (a, b) instead",
        ),
    }


def run_cli(argv):
    """main() returns the status; argparse errors exit through SystemExit with the same status."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize(
    "case",
    [
        "missing file",
        "not an image",
        "mask size",
        "scale 1.5",
        "scale 1",
        "too small",
        "missing folder",
        "unknown device",
        "cuda absent",
        "negative lr",
        "zero iterations",
        "bad suffix",
        "lam without reg",
        "unknown preset",
        "zero seeds",
        "bad time limit",
        "zero time limit",
        "time limit, classical",
        "psf missing",
        "psf shape",
        "psf too wide",
        "psf not an image",
        "deblur mask size",
        "report without a record",
        "report, a folder without records",
        "unknown noise",
        "noise level, not numbers",
        "noise level, one number",
        "noise level of a model without one",
        "noise level not estimable",
    ],
)
@pytest.mark.filterwarnings("default")  # the command line's filter: a warning would be a second line
def test_bad_input_one_line_exit_2_no_output(case, tmp_path, noisy_png, capsys):
    if case == "cuda absent":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    argv, message = _bad(tmp_path, noisy_png)[case]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "index.html").exists()


@pytest.mark.parametrize(
    "argv, hint",
    [
        (["denoize", "x.png"], "(did you mean denoise?)"),
        (["denoise", "x.png", "--preset", "fsat"], "(did you mean fast?)"),
        (["denoise", "x.png", "--stop", "es-wvm"], "(did you mean es-wmv?)"),
        (["denoise", "x.png", "--generator", "xyzzy"], None),  # nothing near: the choices alone
    ],
)
def test_a_misspelt_choice_gets_the_nearest_one_named(argv, hint, capsys):
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "invalid choice" in err
    assert err.endswith(hint) if hint else "did you mean" not in err


@pytest.mark.parametrize(
    "text, seconds", [("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("5min", 300.0), ("1.5h", 5400.0)]
)
def test_a_time_limit_is_read_with_its_unit(text, seconds):
    from deepprior.argtypes import duration

    assert duration(text) == seconds


def test_a_time_limit_ends_the_fit_and_the_summary_and_record_say_so(tmp_path, noisy_png, capsys):
    out = tmp_path / "out.png"
    argv = ["denoise", str(noisy_png), "-o", str(out), "--iterations", "100000", "--channels", "8"]
    # a fixed thread count: the automatic one logs a "threads" event whenever another process takes a core
    assert main([*argv, "--time-limit", "1s", "--threads", "1"]) == 0
    assert "ended by the time limit" in capsys.readouterr().out
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["settings"]["time_limit"] == 1.0 and record["iterations_run"] < 100000
    assert record["stopped_at"] == record["iterations_run"] - 1
    assert [e["event"] for e in record["history"]["events"]] == ["time limit"]


@pytest.mark.parametrize("module", ["deepprior.cli", "deepprior"])  # python -m deepprior, without the script
def test_console_script_reports_errors_without_traceback(tmp_path, module):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", module, "denoise", str(tmp_path / "missing.png")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("deepprior: error:") and "Traceback" not in done.stderr
    assert "does not exist" in done.stderr


def test_demo_writes_images_curve_and_record(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--iterations", "6"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "clean.png",
        "curve.png",
        "noisy.png",
        "restored.json",
        "restored.png",
    ]
    record = json.loads((out / "restored.json").read_text())
    assert record["extra"]["scores"]["psnr_noisy"] < 25 and len(record["history"]["psnr"]) == 6
    assert read_image(out / "curve.png").pixels.shape[:2] == (550, 800)  # matplotlib, 8 × 5.5 in at 100 dpi
    assert "restored PSNR" in capsys.readouterr().out


def test_a_classical_run_reports_its_settings_not_iterations(tmp_path, capsys):
    """The summary line and the HTML report name the solver's settings where a fit would count its steps."""
    image = write_image(tmp_path / "img.png", smooth_image(40))
    argv = ["enhance", str(image), "--method", "region-fusion", "--lam", "0.05", "-o", str(tmp_path / "e.png")]
    assert main([*argv, "--report"]) == 0
    line = capsys.readouterr().out.strip()
    settings = "region-fusion, λ = 0.05, passes = 50"
    assert line.startswith(f"wrote {tmp_path / 'e.png'} ({settings}, in ") and "iterations" not in line
    page = (tmp_path / "e.html").read_text(encoding="utf-8")
    assert f"— {settings}," in page and "0 steps" not in page


def test_smooth_and_l0_commands(tmp_path):
    image = write_image(tmp_path / "img.png", smooth_image(40))
    assert (
        main(["l0", str(image), "--solver", "l0-smooth", "--lam", "0.02", "-o", str(tmp_path / "a.png"), "--quiet"])
        == 0
    )
    assert (
        main(
            [
                "smooth",
                str(image),
                "--method",
                "region-fusion",
                "--lam",
                "0.05",
                "-o",
                str(tmp_path / "b.png"),
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "b.json").read_text())["settings"]["lam"] == 0.05
    assert (
        main(["smooth", str(image), "--method", "dip-tv", "--lam", "0.05", "-o", str(tmp_path / "c.png"), *FAST]) == 0
    )
    assert read_image(tmp_path / "c.png").pixels.shape == (40, 40, 3)
    # a classical solver has no network to fit: fit options are refused, not ignored
    assert (
        main(["smooth", str(image), "--method", "region-fusion", "--iterations", "3", "-o", str(tmp_path / "d.png")])
        == 2
    )
    assert not (tmp_path / "d.png").exists()


def test_options_that_failed_before_the_registries_drove_the_cli(tmp_path):
    """`--regularizer l0` was refused as an invalid choice and `--generator unet --channels 8` crashed."""
    image = write_image(tmp_path / "img.png", smooth_image(32))
    assert (
        main(
            [
                "denoise",
                str(image),
                "-o",
                str(tmp_path / "u.png"),
                "--generator",
                "unet",
                "--channels",
                "8",
                "--iterations",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "u.json").read_text())["generator"]["name"] == "unet"
    assert (
        main(
            [
                "denoise",
                str(image),
                "-o",
                str(tmp_path / "l.png"),
                "--regularizer",
                "l0",
                "--lam",
                "0.02",
                "--iterations",
                "25",
                "--channels",
                "8",
                "--quiet",
            ]
        )
        == 0
    )
    record = json.loads((tmp_path / "l.json").read_text())
    assert record["regularizer"]["name"] == "l0" and record["regularizer"]["lam"] == 0.02
    assert record["data_term"] == "sse"  # the regulariser's λ and β are calibrated for sums
    assert record["output_source"] == "regularizer"


def test_a_folder_run_leaves_out_the_files_given_with_every_image(tmp_path):
    """A mask, a PSF or a reference kept in the input folder is not restored as one more image."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        write_image(folder / name, smooth_image(40))
    psf = write_image(folder / "psf.png", np.pad(np.ones((3, 3)), 1))
    reference = write_image(folder / "truth.png", smooth_image(40))
    out = tmp_path / "out"
    argv = ["deblur", str(folder), "--psf", str(psf), "--reference", str(reference), "-o", str(out), "--threads", "1"]
    assert main([*argv, *FAST]) == 0
    assert sorted(path.name for path in out.glob("*.png")) == ["a.png", "b.png"]
