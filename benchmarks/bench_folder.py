"""Images per hour for a folder on this machine: one at a time, worker processes, a local Ray instance, and the
images stepped together in one process.

The same folder (``--images`` noisy 96×96 crops of the bundled sample) is restored by ``deepprior denoise`` (or
``--task smooth``: DIP-ℓ0, whose v-steps run on the CPU) in each of the ``--ways``, as whole processes, each
``--rounds`` times (medians):

- ``one at a time``: ``--threads N`` (all cores for each image in turn);
- ``workers``: the default on the CPU, one image per free core, one thread each;
- ``ray``: ``--ray``, a local Ray instance of this machine's cores, one task per image;
- ``batched``: ``--batch-images`` all of them with ``--threads N``: one batched pass of their networks per step
  (DIP-ℓ0's v-steps in threads at once).

Run it on an otherwise idle machine::

    python -m benchmarks.bench_folder                                          # folder_cpu.{json,md}
    python -m benchmarks.bench_folder --task smooth --ways "one at a time" workers batched   # folder_cpu_smooth

writes ``benchmarks/results/folder_cpu[_TASK].json`` and ``.md``.
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

#: way → its command-line flags, given the cores and the number of images
WAYS = {
    "one at a time": lambda cores, images: ["--threads", str(cores)],
    "workers": lambda cores, images: [],
    "ray": lambda cores, images: ["--ray"],
    "batched": lambda cores, images: ["--threads", str(cores), "--batch-images", str(images)],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--task", choices=["denoise", "smooth"], default="denoise", help="smooth: DIP-ℓ0")
    parser.add_argument("--ways", nargs="+", choices=list(WAYS), default=["one at a time", "workers", "ray"])
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR)
    args = parser.parse_args(argv)

    from deepprior.demo import DEMO_SIGMA, sample_image
    from deepprior.io import write_image

    cores = len(os.sched_getaffinity(0))
    ways = {way: WAYS[way](cores, args.images) for way in args.ways}
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
                    args.task,
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
    name = "folder_cpu" if args.task == "denoise" else f"folder_cpu_{args.task}"
    what = "`deepprior denoise`" if args.task == "denoise" else "`deepprior smooth` (DIP-ℓ0)"
    result = {
        **common.provenance(),
        "task": args.task,
        "images": args.images,
        "iterations": args.iterations,
        "channels": args.channels,
        "cores": cores,
        "seconds": seconds,
        "median_seconds": median,
        "images_per_hour": per_hour,
    }
    common.write_json(args.out / f"{name}.json", result)
    lines = [
        f"# A folder of images on this CPU: {', '.join(ways)}",
        "",
        f"- {result['date']}; {result['cpu']}, {cores} cores; torch {result['versions']['torch']}",
        f"- command: `{result['command']}`; {args.images} images of 96×96, {what}, "
        f"{args.iterations} steps, skip{args.channels}; whole processes, medians of {args.rounds} rounds",
        "",
        "| way | wall time (s) | images per hour |",
        "|---|---|---|",
        *[f"| {way} | {median[way]:.1f} | {per_hour[way]:.0f} |" for way in ways],
        "",
    ]
    common.write_text(args.out / f"{name}.md", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
