"""What every benchmark shares: the data folder, centre crops, provenance and the result writers.

- **Data folder**: ``--data-dir DIR`` (:func:`add_data_dir_argument`), else ``$DEEPPRIOR_DATA``, else
  ``../shared/data`` beside the repository root (computed from this file, so the current folder does not matter).
  :func:`data_dir` resolves it and raises one :class:`~deepprior.errors.InputError` when it is missing.
- **Crops**: :func:`centre_crop` (and :func:`centre_box`, the DIP code's rounding).
- **Provenance**: :func:`provenance` — date, command line, git commit, host and CPU, torch threads, load average
  and library versions (:func:`deepprior.record.versions`).
- **Writers**: :func:`append_jsonl` / :func:`read_jsonl` / :func:`done_keys` for append-only results that resume,
  :func:`write_text` and :func:`write_json` for whole files written atomically (:func:`deepprior.io.atomic_write`),
  :func:`write_result` for a script's JSON and Markdown pair.

Importing this module imports numpy but not torch.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepprior.errors import DeepPriorError, InputError
from deepprior.io import atomic_write
from deepprior.io import write_json as _write_json
from deepprior.io.files import json_default

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DATA_ENV = "DEEPPRIOR_DATA"
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"


# --------------------------------------------------------------------------- data folder


def add_data_dir_argument(parser: argparse.ArgumentParser | Any, extra: str = "") -> None:
    """Add ``--data-dir DIR`` (default None: resolved later by :func:`data_dir`)."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"the shared data folder (default: ${DATA_ENV}, else ../shared/data beside the repository){extra}",
    )


def add_crop_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of a script that fits a suite's centre crops: ``--limit``, ``--crop``, ``--iterations``,
    ``--threads``."""
    parser.add_argument(
        "--limit", type=int, default=4, help="N of the suite's images, as its --limit picks them (0: all)"
    )
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--iterations", type=int, help="DIP steps (default: the fast row's, with its stop)")
    parser.add_argument("--threads", type=int, default=2)


def data_dir(flag: str | os.PathLike[str] | None = None) -> Path:
    """The benchmark data folder: ``flag`` (``--data-dir``), else ``$DEEPPRIOR_DATA``, else the default.

    Raises
    ------
    InputError
        The chosen folder does not exist; the message says where the path came from and how to set it.
    """
    if flag is not None:
        path, source = Path(flag), "--data-dir"
    elif os.environ.get(DATA_ENV):
        path, source = Path(os.environ[DATA_ENV]), f"${DATA_ENV}"
    else:
        path, source = DEFAULT_DATA, "the default, ../shared/data beside the repository"
    path = path.expanduser()
    if not path.is_dir():
        raise InputError(
            f"benchmark data folder '{path}' (from {source}) does not exist; pass --data-dir DIR or set {DATA_ENV}=DIR"
        )
    return path.resolve()


def data_path(relative: str | os.PathLike[str], flag: str | os.PathLike[str] | None = None) -> Path:
    """``relative`` inside the data folder (:func:`data_dir`); InputError if it is missing."""
    root = data_dir(flag)
    path = root / relative
    if not path.exists():
        raise InputError(
            f"'{path}' does not exist (is '{root}' the shared data folder? pass --data-dir DIR or set {DATA_ENV}=DIR)"
        )
    return path


# --------------------------------------------------------------------------- crops


def centre_box(height: int, width: int, new_h: int, new_w: int) -> tuple[int, int]:
    """Top-left corner of a centred (new_h, new_w) box, rounding down as the DIP code does."""
    return (height - new_h) // 2, (width - new_w) // 2


def centre_crop(array: np.ndarray, size: int | None, *, pad: bool = False) -> np.ndarray:
    """Centre ``size``×``size`` crop of an (H, W[, C]) array; None or ``size <= 0``: the array unchanged.

    A side shorter than ``size`` is kept whole, or with ``pad=True`` first padded symmetrically (mirror) to
    ``size``, so that the result is always ``size``×``size``.
    """
    if size is None or size <= 0:
        return array
    h, w = array.shape[:2]
    if pad and (h < size or w < size):
        ph, pw = max(0, size - h), max(0, size - w)
        widths = [(ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)] + [(0, 0)] * (array.ndim - 2)
        array = np.pad(array, widths, mode="symmetric")
        h, w = array.shape[:2]
    new_h, new_w = min(h, size), min(w, size)
    top, left = centre_box(h, w, new_h, new_w)
    return np.ascontiguousarray(array[top : top + new_h, left : left + new_w])


# --------------------------------------------------------------------------- provenance


def now() -> str:
    """UTC time, ISO 8601 to the second (sorts as text)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _git(*args: str) -> str | None:
    """The output of ``git ARGS`` in this repository; None outside a git checkout or without git."""
    try:
        result = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_commit() -> str | None:
    """``git rev-parse HEAD`` of this repository; None outside a git checkout or without git."""
    return _git("rev-parse", "HEAD") or None


def git_dirty() -> bool | None:
    """True when tracked files differ from ``HEAD`` (the commit alone does not say what ran), None without git."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as typed: ``shlex.join(sys.argv)``, a module of this repository shown as ``python -m ...``."""
    args = list(sys.argv if argv is None else argv)
    if args:
        try:
            relative = Path(args[0]).resolve().relative_to(REPO_ROOT)
        except (ValueError, OSError):
            relative = None
        if relative is not None and relative.suffix == ".py" and relative.parts[0] == "benchmarks":
            args = ["python", "-m", ".".join(relative.with_suffix("").parts), *args[1:]]
    return shlex.join(args)


def loadavg() -> list[float] | None:
    """1, 5 and 15-minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def provenance() -> dict[str, Any]:
    """Where and how a benchmark ran: date, command, git commit (and whether the tree differed from it), host, CPU,
    torch threads, load, versions."""
    from deepprior.device import cpu_model
    from deepprior.record import versions

    try:
        import torch

        threads: int | None = torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is a dependency
        threads = None
    return {
        "date": now(),
        "command": command_line(),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "host": platform.node(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "loadavg": loadavg(),
        "versions": versions(),
    }


def provenance_line(provenance: dict[str, Any]) -> str:
    """A results table's last line: the command, the commit, the CPU and torch's version."""
    torch_version = provenance.get("versions", {}).get("torch")
    return (
        f"Command: `{provenance.get('command')}`; commit {provenance.get('git_commit')}; "
        f"{provenance.get('cpu', 'CPU')}; torch {torch_version}."
    )


# --------------------------------------------------------------------------- writers


def _parse_row(raw: bytes) -> dict[str, Any] | None:
    """One JSONL line as a dict, or None when it is not a complete JSON object."""
    try:
        row = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return row if isinstance(row, dict) else None


def _tail(path: Path) -> tuple[int, bytes]:
    """(offset, bytes) of the text after the last newline of a file (b"" when it ends with one)."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = position = handle.tell()
        chunk = 1 << 16
        while position > 0:
            start = max(0, position - chunk)
            handle.seek(start)
            block = handle.read(position - start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                offset = start + cut + 1
                handle.seek(offset)
                return offset, handle.read(end - offset)
            position = start
        handle.seek(0)
        return 0, handle.read(end)


def append_jsonl(path: str | os.PathLike[str], row: dict[str, Any]) -> None:
    """Append ``row`` as one JSON line and flush it to disk (fsync): a crash loses at most the line being written.

    A torn last line (a write cut short) is dropped first, so the file stays one complete object per line; a last
    line that is complete but lacks its newline gets one.
    """
    path = Path(path)
    line = (json.dumps(row, ensure_ascii=False, default=json_default) + "\n").encode("utf-8")
    if path.exists() and path.stat().st_size:
        offset, tail = _tail(path)
        if tail:
            if _parse_row(tail) is not None:
                line = b"\n" + line
            else:
                with open(path, "rb+") as handle:
                    handle.truncate(offset)
                print(f"note: dropped a torn last line of '{path}' ({len(tail)} bytes)", file=sys.stderr)
    with open(path, "ab") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a JSONL file ([] when it does not exist).

    A torn last line (an interrupted append) is ignored; any other line that is not a JSON object raises
    InputError naming the file and line.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InputError(f"cannot read '{path}': {exc.strerror or exc}") from None
    lines = data.split(b"\n")
    rows = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        row = _parse_row(raw)
        if row is None:
            if number == len(lines):  # after the last newline: a write cut short
                continue
            raise InputError(f"'{path}' line {number} is not a JSON object; the file is damaged")
        rows.append(row)
    return rows


def done_keys(rows: Iterable[dict[str, Any]], fields: Sequence[str], **match: Any) -> set[tuple[Any, ...]]:
    """The keys (values of ``fields``) of the rows that have all ``fields`` and equal ``match``: what a resumed run
    skips. E.g. ``done_keys(rows, ("image", "method", "seed"), record="entry")``."""
    return {
        tuple(row[f] for f in fields)
        for row in rows
        if all(f in row for f in fields) and all(row.get(k) == v for k, v in match.items())
    }


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text file (Markdown) atomically, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (:func:`deepprior.io.write_json`), creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_json(path, obj)


def write_result(stem: str | os.PathLike[str], result: Any, text: str, *, echo: bool = False) -> Path:
    """Write a script's result as ``STEM.json`` and its Markdown table as ``STEM.md``, each atomically (``echo``:
    print the table too); returns the JSON path."""
    stem = Path(stem)
    write_text(stem.with_suffix(".md"), text)
    if echo:
        print(text)
    return write_json(stem.with_suffix(".json"), result)


def suite_crops(args: argparse.Namespace, suite: str) -> Iterator[tuple[str, Any]]:
    """For a script of :func:`add_crop_fit_arguments`: torch set to ``--threads``, then the suite's ``--limit``
    images (as the suite's own ``--limit`` picks them), each loaded as a ``--crop`` centre crop: (name, sample)."""
    import torch

    from benchmarks.suite.suites import PROFILES, SUITES, select_items

    torch.set_num_threads(args.threads)
    spec, profile = SUITES.get(suite), PROFILES["crops"].with_overrides(crop=args.crop)
    for item in select_items(spec.items(data_dir(args.data_dir)), args.limit):
        yield item.name, spec.load(item, profile)


def score_methods(
    image: str,
    truth: np.ndarray,
    runs: dict[str, Callable[[], Any]],
    as_truth: Callable[[np.ndarray], np.ndarray] = lambda output: output,
) -> list[dict[str, Any]]:
    """Run each method on one image, timed, and score it: the rows of :func:`method_tables`, each printed as it
    ends. ``runs`` maps a method to a call returning its output, or (output, details to record); ``as_truth``
    maps an output onto the truth's scale. Scored on RGB against ``truth`` after rounding to 8 bits."""
    from benchmarks.suite.suites import quantize, score

    rows = []
    for method, run in runs.items():
        start = time.perf_counter()
        output = run()
        seconds = time.perf_counter() - start
        output, details = output if isinstance(output, tuple) else (output, {})
        value, similarity = score("rgb", quantize(as_truth(output)), truth)
        rows.append(
            {"image": image, "method": method, "psnr": value, "ssim": similarity, "seconds": seconds, **details}
        )
        print(f"{image} {method}: {value:.2f} dB, {seconds:.1f} s", flush=True)
    return rows


def crop_fit_result(args: argparse.Namespace, rows: list[dict[str, Any]], **facts: Any) -> dict[str, Any]:
    """The JSON of a run of a script of :func:`add_crop_fit_arguments`: its rows of :func:`score_methods`, the
    script's own ``facts``, then the crop side, the steps, the threads and the provenance."""
    return {
        "rows": rows,
        **facts,
        "crop": args.crop,
        "iterations": args.iterations,
        "threads": args.threads,
        "provenance": provenance(),
    }


def steps_text(result: dict[str, Any]) -> str:
    """The steps of such a run in words: the DIP row's own, or the ``--iterations`` given."""
    return "the row's own steps and stop" if result["iterations"] is None else f"{result['iterations']} steps"


def method_tables(
    rows: Sequence[dict[str, Any]], last_column: tuple[str, Callable[[list[dict[str, Any]]], str]] | None = None
) -> list[str]:
    """The Markdown lines of a method comparison's two tables: each method's mean PSNR, SSIM and seconds over the
    images, then each image's PSNR by method. ``rows`` hold ``image``, ``method``, ``psnr``, ``ssim`` and
    ``seconds``; ``last_column`` = (heading, the image's rows → cell) adds a column to the second table."""
    methods = list(dict.fromkeys(row["method"] for row in rows))
    images = list(dict.fromkeys(row["image"] for row in rows))
    lines = ["| method | PSNR | SSIM | s / image |", "|---|---|---|---|"]
    for method in methods:
        same = [row for row in rows if row["method"] == method]
        lines.append(
            f"| {method} | {np.mean([r['psnr'] for r in same]):.2f} | {np.mean([r['ssim'] for r in same]):.4f} "
            f"| {np.mean([r['seconds'] for r in same]):.1f} |"
        )
    headings = ["image", *methods, *([last_column[0]] if last_column else [])]
    lines += ["", "PSNR per image (dB):", "", "| " + " | ".join(headings) + " |", "|---" * len(headings) + "|"]
    for image in images:
        same = [row for row in rows if row["image"] == image]
        values = {row["method"]: row["psnr"] for row in same}
        cells = [image, *(f"{values[m]:.2f}" for m in methods), *([last_column[1](same)] if last_column else [])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


# --------------------------------------------------------------------------- scripts


def run_script(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run a script's ``main``; a user error (missing data, bad option) is one line on stderr and exit status 2."""
    try:
        return int(main(argv) or 0)
    except DeepPriorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


__all__ = [
    "DATA_ENV",
    "DEFAULT_DATA",
    "REPO_ROOT",
    "RESULTS_DIR",
    "add_data_dir_argument",
    "append_jsonl",
    "centre_box",
    "centre_crop",
    "command_line",
    "data_dir",
    "data_path",
    "done_keys",
    "git_commit",
    "loadavg",
    "now",
    "provenance",
    "read_jsonl",
    "run_script",
    "write_json",
    "write_result",
    "crop_fit_result",
    "method_tables",
    "score_methods",
    "steps_text",
    "suite_crops",
    "add_crop_fit_arguments",
    "write_text",
]
