"""Two ``deepprior`` runs started together against the same two runs one after the other, on this machine.

A run that shares the CPU with a busy neighbour must not collapse (issue: 3-33x slower with the default thread
count). This script times, as whole processes, ``deepprior denoise`` on the bundled 128×128 sample with σ = 25
noise (``--iterations`` steps, ``--channels`` wide):

- ``sequential``: run A, then run B (both with the automatic thread count, or ``--threads``);
- ``together``: A and B started at the same moment;
- each configuration ``--rounds`` times, alternating; medians reported.

The figure of merit is ``together / sequential`` (wall time until both are done): 1.0 means sharing costs nothing
beyond the work itself; the target is at most 1.3. Run it on an otherwise idle machine::

    python -m benchmarks.bench_load

writes ``benchmarks/results/load_cpu.json`` and ``.md``.
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


def _command(image: Path, output: Path, args: argparse.Namespace) -> list[str]:
    threads = ["--threads", str(args.threads)] if args.threads else []
    return [
        sys.executable,
        "-m",
        "deepprior.cli",
        "denoise",
        str(image),
        "-o",
        str(output),
        "--iterations",
        str(args.iterations),
        "--channels",
        str(args.channels),
        "--quiet",
        "--overwrite",
        "--no-json",
        *threads,
    ]


def _sequential(image: Path, folder: Path, args: argparse.Namespace, env: dict[str, str]) -> float:
    start = time.perf_counter()
    for name in ("a", "b"):
        subprocess.run(_command(image, folder / f"{name}.png", args), check=True, env=env)
    return time.perf_counter() - start


def _together(image: Path, folder: Path, args: argparse.Namespace, env: dict[str, str]) -> float:
    start = time.perf_counter()
    runs = [subprocess.Popen(_command(image, folder / f"{name}.png", args), env=env) for name in ("a", "b")]
    for run in runs:
        if run.wait() != 0:
            raise SystemExit("a run failed")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="pass --threads N to both runs (0: the automatic choice; N = the core count "
        "reproduces torch's own default, the behaviour before the automatic choice)",
    )
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR)
    parser.add_argument("--name", default="load_cpu")
    args = parser.parse_args(argv)

    from deepprior.demo import DEMO_SIGMA, sample_image
    from deepprior.io import write_image

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clean = sample_image()
        noisy = np.clip(clean + np.random.default_rng(0).normal(0, DEMO_SIGMA, clean.shape), 0, 1)
        image = write_image(folder / "noisy.png", noisy.astype(np.float32))
        env = {**os.environ}
        times: dict[str, list[float]] = {"sequential": [], "together": []}
        for round_ in range(args.rounds):
            order = ("sequential", "together") if round_ % 2 == 0 else ("together", "sequential")
            for kind in order:
                run = _sequential if kind == "sequential" else _together
                times[kind].append(run(image, folder, args, env))
                print(f"round {round_ + 1}: {kind} {times[kind][-1]:.1f} s", flush=True)
    median = {k: statistics.median(v) for k, v in times.items()}
    ratio = median["together"] / median["sequential"]
    result = {
        **common.provenance(),
        "iterations": args.iterations,
        "channels": args.channels,
        "threads": args.threads or "automatic",
        "rounds": args.rounds,
        "seconds": times,
        "median_seconds": median,
        "together_over_sequential": ratio,
    }
    common.write_json(args.out / f"{args.name}.json", result)
    lines = [
        "# Two runs at once against one after the other (CPU)",
        "",
        f"- {result['date']}; {result['cpu']}, {os.cpu_count()} cores; torch {result['versions']['torch']}; "
        f"deepprior {result['versions']['deepprior']}",
        f"- command: `{result['command']}`; each run: `deepprior denoise` of the bundled 128×128 sample, "
        f"{args.iterations} steps, skip{args.channels}, threads: {result['threads']}",
        "",
        "| configuration | median wall time (s) | runs (s) |",
        "|---|---|---|",
        *[f"| {k} | {median[k]:.1f} | {', '.join(f'{t:.1f}' for t in v)} |" for k, v in times.items()],
        "",
        f"**together / sequential = {ratio:.2f}** (target ≤ 1.3).",
        "",
    ]
    common.write_text(args.out / f"{args.name}.md", "\n".join(lines))
    print(f"together / sequential = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
