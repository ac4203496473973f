"""Images per hour for a folder on this machine: one at a time, worker processes, and a local Ray instance.

The same folder (``--images`` noisy 96×96 crops of the bundled sample) is restored by ``deepprior denoise`` three
ways, as whole processes, each ``--rounds`` times (medians):

- ``one at a time``: ``--threads N`` (all cores for each image in turn);
- ``workers``: the default on the CPU, one image per free core, one thread each;
- ``ray``: ``--ray``, a local Ray instance of this machine's cores, one task per image.

Run it on an otherwise idle machine::

    python -m benchmarks.bench_folder

writes ``benchmarks/results/folder_cpu.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import common


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR)
    args = parser.parse_args(argv)

    from deepprior.demo import DEMO_SIGMA, sample_image
    from deepprior.io import write_image

    cores = len(os.sched_getaffinity(0))
    ways = {
        "one at a time": ["--threads", str(cores)],
        "workers": [],
        "ray": ["--ray"],
    }
    seconds: dict[str, list[float]] = {way: [] for way in ways}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        clean = sample_image()
        for index in range(args.images):
            rng = np.random.default_rng(index)
            crop = clean[16 * (index % 3) : 16 * (index % 3) + 96, 16 * (index // 3) : 16 * (index // 3) + 96]
            noisy = np.clip(crop + rng.normal(0, DEMO_SIGMA, crop.shape), 0, 1).astype(np.float32)
            write_image(folder / f"img{index}.png", noisy)
        for round_ in range(args.rounds):
            for way, flags in ways.items():
                out = Path(tmp) / f"out-{way.replace(' ', '-')}-{round_}"
                command = [
                    sys.executable,
                    "-m",
                    "deepprior.cli",
                    "denoise",
                    str(folder),
                    "-o",
                    str(out),
                    "--iterations",
                    str(args.iterations),
                    "--channels",
                    str(args.channels),
                    "--quiet",
                    "--no-json",
                    *flags,
                ]
                start = time.perf_counter()
                subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
                seconds[way].append(time.perf_counter() - start)
                print(f"round {round_ + 1}: {way} {seconds[way][-1]:.1f} s", flush=True)
    median = {way: statistics.median(values) for way, values in seconds.items()}
    per_hour = {way: args.images * 3600 / value for way, value in median.items()}
    result = {
        **common.provenance(),
        "images": args.images,
        "iterations": args.iterations,
        "channels": args.channels,
        "cores": cores,
        "seconds": seconds,
        "median_seconds": median,
        "images_per_hour": per_hour,
    }
    common.write_json(args.out / "folder_cpu.json", result)
    lines = [
        "# A folder of images on this CPU: one at a time, worker processes, Ray",
        "",
        f"- {result['date']}; {result['cpu']}, {cores} cores; torch {result['versions']['torch']}",
        f"- command: `{result['command']}`; {args.images} images of 96×96, `deepprior denoise`, "
        f"{args.iterations} steps, skip{args.channels}; whole processes, medians of {args.rounds} rounds",
        "",
        "| way | wall time (s) | images per hour |",
        "|---|---|---|",
        *[f"| {way} | {median[way]:.1f} | {per_hour[way]:.0f} |" for way in ways],
        "",
    ]
    common.write_text(args.out / "folder_cpu.md", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
