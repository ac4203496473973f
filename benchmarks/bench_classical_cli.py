"""The classical commands as a user meets them: whole processes, file in and file out, against OpenCV.

``deepprior l0`` runs Region Fusion (or L0 smoothing) in well under a second of solver time; what the user waits
for is the whole process: Python, imports, the numba cache, reading and writing the image and its record. This
script times, as whole processes started one after another in turn (``--rounds`` rounds, medians reported):

- ``deepprior --version``: the floor (the interpreter and the package's entry point);
- ``deepprior l0 IMAGE`` with Region Fusion (λ = 0.03) and with L0 smoothing (λ = 0.01);
- ``deepprior enhance IMAGE --method region-fusion``, the detail enhancement a photographer runs on it;
- the peer: a plain ``python -c`` that reads the image with OpenCV, runs OpenCV contrib's
  ``cv2.ximgproc.l0Smooth`` (λ = 0.01) and writes the result (needs ``opencv-contrib-python-headless``; skipped
  without it);
- on a folder (``--folder``, default the NKS validation split; ``--no-folder`` leaves it out): ``deepprior l0
  --solver l0-smooth FOLDER`` as it runs by default (worker processes on the free cores) against the loop over
  the folder that an OpenCV user would write, as is and with glibc's mmap threshold raised (``GLIBC_NO_MMAP``).

It also records whether each deepprior command imported torch (``-X importtime``). On an otherwise idle machine::

    python -m benchmarks.bench_classical_cli [--image PATH] [--rounds 7]

writes ``benchmarks/results/classical_cli.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import common

NKS_DIR = "nks/validation"  # inside the shared data folder (common.data_dir)

#: The peer: what a user of OpenCV would run on the same file (λ as our l0-smooth row's).
OPENCV_SCRIPT = (
    "import sys, cv2; image = cv2.imread(sys.argv[1]); "
    "cv2.imwrite(sys.argv[2], cv2.ximgproc.l0Smooth(image, None, 0.01, 2.0))"
)


#: The peer on a folder: the loop a user of OpenCV would write (one process, one image after another).
OPENCV_FOLDER_SCRIPT = (
    "import sys, pathlib, cv2\n"
    "for path in sorted(pathlib.Path(sys.argv[1]).glob('*.png')):\n"
    "    image = cv2.ximgproc.l0Smooth(cv2.imread(str(path)), None, 0.01, 2.0)\n"
    "    cv2.imwrite(str(pathlib.Path(sys.argv[2]) / path.name), image)"
)

#: Environment settings that keep glibc from returning large freed blocks to the OS (and faulting fresh pages
#: in at the next allocation): OpenCV's l0Smooth allocates its buffers anew at every call, and most of a call's
#: time in a fresh process goes to those page faults. The peer at its best, beside the peer as users run it.
GLIBC_NO_MMAP = ("MALLOC_MMAP_THRESHOLD_=2000000000", "MALLOC_TRIM_THRESHOLD_=4000000000")

#: The distributions whose versions the result names (the peer's included).
VERSIONED = ("deepprior", "numba", "scipy", "torch", "opencv-contrib-python-headless")


def _deepprior() -> list[str]:
    """The installed ``deepprior`` command, run by this interpreter."""
    script = shutil.which("deepprior", path=str(Path(sys.executable).parent)) or shutil.which("deepprior")
    if script is None:
        raise SystemExit("no deepprior command on PATH: install the package first (pip install -e .)")
    return [sys.executable, script]


def commands(image: Path, out: Path, folder: Path | None = None) -> dict[str, list[str]]:
    """Each timed command, by label (the OpenCV peers only when OpenCV contrib is installed); with ``folder``,
    also ``deepprior l0 --solver l0-smooth`` on the whole folder (its default way: worker processes on the CPU's
    free cores) and the OpenCV loop over it."""
    deepprior = _deepprior()
    found = {
        "deepprior --version (floor)": [*deepprior, "--version"],
        "deepprior l0 (region-fusion)": [*deepprior, "l0", str(image), "-o", str(out / "rf.png"), "--overwrite", "-q"],
        "deepprior l0 --solver l0-smooth": [
            *deepprior,
            "l0",
            str(image),
            "--solver",
            "l0-smooth",
            "-o",
            str(out / "l0s.png"),
            "--overwrite",
            "-q",
        ],
        "deepprior enhance --method region-fusion": [
            *deepprior,
            "enhance",
            str(image),
            "--method",
            "region-fusion",
            "-o",
            str(out / "enhanced.png"),
            "--overwrite",
            "-q",
        ],
    }
    opencv = importlib.util.find_spec("cv2") is not None
    if opencv:
        found["OpenCV l0Smooth (python -c)"] = [sys.executable, "-c", OPENCV_SCRIPT, str(image), str(out / "cv.png")]
    if folder is not None:
        images = len(list(folder.glob("*.png")))
        for name in ("ours", "cv"):
            (out / name).mkdir(exist_ok=True)
        found[f"deepprior l0 --solver l0-smooth FOLDER ({images} images)"] = [
            *deepprior,
            "l0",
            str(folder),
            "--solver",
            "l0-smooth",
            "-o",
            str(out / "ours"),
            "--overwrite",
            "-q",
        ]
        if opencv:
            loop = [sys.executable, "-c", OPENCV_FOLDER_SCRIPT, str(folder), str(out / "cv")]
            found[f"OpenCV l0Smooth loop over FOLDER ({images} images)"] = loop
            found[f"the same loop, glibc's mmap threshold raised ({images} images)"] = ["env", *GLIBC_NO_MMAP, *loop]
    return found


def _version(distribution: str) -> str:
    """An installed distribution's version, or "not installed"."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def imports_torch(command: list[str]) -> bool:
    """Whether the command's process imported torch (from ``-X importtime``'s list)."""
    done = subprocess.run([command[0], "-X", "importtime", *command[1:]], capture_output=True, text=True, check=True)
    return any(line.split("|")[-1].strip() == "torch" for line in done.stderr.splitlines() if "|" in line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=Path, help="the image (default: the first NKS validation image)")
    parser.add_argument(
        "--folder", type=Path, help="a folder of PNG images for the folder rows (default: the NKS validation split)"
    )
    parser.add_argument("--no-folder", action="store_true", help="leave the folder rows out")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR)
    parser.add_argument("--name", default="classical_cli")
    common.add_data_dir_argument(parser)
    args = parser.parse_args(argv)
    image = args.image
    if image is None:
        pngs = sorted(common.data_path(NKS_DIR, args.data_dir).glob("*.png"))
        if not pngs:
            raise SystemExit(f"no image: pass --image (looked in {common.data_path(NKS_DIR, args.data_dir)})")
        image = pngs[0]
    folder = None if args.no_folder else args.folder or common.data_path(NKS_DIR, args.data_dir)
    if folder is not None and not any(folder.glob("*.png")):
        raise SystemExit(f"no PNG images in {folder}: pass --folder, or --no-folder")

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    load_before = common.loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        runs = commands(image, Path(tmp), folder)
        torch_loaded = {label: imports_torch(cmd) for label, cmd in runs.items() if "deepprior" in label}
        times: dict[str, list[float]] = {label: [] for label in runs}
        for cmd in runs.values():  # one warm-up each: the numba cache and the page cache are then warm
            subprocess.run(cmd, check=True, env=env, capture_output=True)
        for round_ in range(args.rounds):
            for label, cmd in runs.items():
                start = time.perf_counter()
                subprocess.run(cmd, check=True, env=env, capture_output=True)
                times[label].append(time.perf_counter() - start)
            print(f"round {round_ + 1}: " + ", ".join(f"{v[-1]:.2f}" for v in times.values()), flush=True)

    median = {label: statistics.median(v) for label, v in times.items()}
    peer = median.get("OpenCV l0Smooth (python -c)")
    folder_peer = next((v for k, v in median.items() if k.startswith("OpenCV l0Smooth loop")), None)

    def peer_of(label: str) -> float | None:
        """The OpenCV time a row compares with: the loop for a folder row, else the one-image script."""
        return folder_peer if "images)" in label else peer

    result = {
        **common.provenance(),
        "image": str(image),
        "folder": None if folder is None else str(folder),
        "rounds": args.rounds,
        "loadavg_before": load_before,
        "seconds": times,
        "median_seconds": median,
        "imports_torch": torch_loaded,
        "over_opencv": {k: v / p for k, v in median.items() if (p := peer_of(k)) is not None},
    }
    versions = {name: _version(name) for name in VERSIONED}
    result["versions"] = {**result["versions"], **versions}
    lines = [
        "# The classical commands as whole processes, against OpenCV's l0Smooth",
        "",
        f"- {result['date']}; {result['cpu']}, {result['cpu_count']} cores, load average {load_before} before and "
        f"{result['loadavg']} after; " + ", ".join(f"{name} {version}" for name, version in versions.items()),
        f"- command: `{result['command']}`; image `{Path(image).name}`"
        + ("" if folder is None else f", folder `{folder.name}`")
        + f"; {args.rounds} rounds after one warm-up each (the commands in turn); each process runs with its "
        "default threads; a folder row's / OpenCV is against the OpenCV loop over the folder as is",
        "",
        "| command | median wall (s) | / OpenCV | imports torch | runs (s) |",
        "|---|---|---|---|---|",
    ]
    for label, values in times.items():
        ratio = "" if (p := peer_of(label)) is None else f"{median[label] / p:.2f}"
        loaded = {True: "yes", False: "no"}.get(torch_loaded.get(label), "")  # type: ignore[arg-type]
        lines.append(
            f"| {label} | {median[label]:.2f} | {ratio} | {loaded} | {', '.join(f'{t:.2f}' for t in values)} |"
        )
    lines.append("")
    common.write_result(args.out / args.name, result, "\n".join(lines), echo=True)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_script(main))
