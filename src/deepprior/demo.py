"""``deepprior demo``: denoise the bundled sample (σ = 25) and write the images and the loss/PSNR curve."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from .errors import InputError

# Sized to end within about a minute on a 2-core CPU (timings in benchmarks/results/speed_cpu.md).
DEMO_ITERATIONS = 1000
DEMO_CHANNELS = 64
DEMO_SIGMA = 25 / 255


def sample_image() -> np.ndarray:
    """The bundled 128×128 RGB sample (public-domain NASA photo, see data/SOURCE.md) as float32 in [0, 1]."""
    from .io import read_image

    with resources.as_file(resources.files("deepprior") / "data" / "astronaut.png") as path:
        return read_image(path).pixels


def run_demo(
    output: Path, iterations: int | None = None, device: str = "auto", quiet: bool = False, seed: int = 0
) -> dict[str, float]:
    """Add Gaussian noise to the sample, restore it, write clean/noisy/restored PNGs, a curve and a JSON record."""
    from dataclasses import replace

    from . import tasks
    from .io import write_image
    from .metrics import psnr, ssim
    from .plot import plot_history
    from .record import write_record

    output = Path(output)
    if output.exists() and not output.is_dir():
        raise InputError(f"'{output}' exists and is not a folder")
    if not output.parent.exists():
        raise InputError(f"output folder '{output.parent}' does not exist")
    output.mkdir(exist_ok=True)
    clean = sample_image()
    rng = np.random.default_rng(seed)
    noisy = np.clip(clean + rng.normal(0.0, DEMO_SIGMA, clean.shape), 0, 1).astype(np.float32)
    restoration = tasks.denoise(
        noisy,
        reference=clean,
        iterations=iterations or DEMO_ITERATIONS,
        seed=seed,
        device=device,
        progress=False if quiet else "demo denoise",
        width=DEMO_CHANNELS,
    )
    record = restoration.record
    scores = {
        "psnr_noisy": psnr(noisy, clean),
        "psnr_restored": psnr(restoration.image, clean),
        "ssim_noisy": ssim(noisy, clean),
        "ssim_restored": ssim(restoration.image, clean),
        "seconds": record.seconds,
    }
    write_image(output / "clean.png", clean)
    write_image(output / "noisy.png", noisy)
    write_image(output / "restored.png", restoration.image)
    try:
        plot_history(
            restoration.history,
            output / "curve.png",
            title=f"deepprior demo: denoise sigma=25, skip{DEMO_CHANNELS}, {record.device}",
        )
        curve = ", curve.png"
    except InputError as exc:  # matplotlib is optional: the demo goes on without the curve
        curve = f" (no curve: {exc})"
    write_record(
        output / "restored.json", replace(record, extra={**record.extra, "scores": scores}), restoration.history
    )
    if not quiet:
        print(f"noisy    PSNR {scores['psnr_noisy']:.2f} dB  SSIM {scores['ssim_noisy']:.3f}")
        print(
            f"restored PSNR {scores['psnr_restored']:.2f} dB  SSIM {scores['ssim_restored']:.3f}  "
            f"({record.iterations_run} iterations, {scores['seconds']:.1f} s on {record.device})"
        )
        print(f"wrote {output}/clean.png, noisy.png, restored.png, restored.json{curve}")
    return scores
