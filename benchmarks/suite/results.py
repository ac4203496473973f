"""The results file of a suite run: ``<results>/<suite>-<profile>.jsonl``, append-only, one JSON object a line.

- Line 1, ``"record": "header"``: format, suite, title, task, metric, profile, label, the profile's settings (a run
  with other settings refuses to add to the file), its description and the data folder.
- ``"record": "run"``: one per invocation, appended when it starts: provenance
  (:func:`benchmarks.common.provenance`), methods, seeds, limit, what was planned and skipped.
- ``"record": "entry"``: one per finished (image, method, seed): scores, time, iterations, settings, device,
  versions, git commit. A later entry with the same key replaces an earlier one (an output image recomputed).
- ``"record": "failure"``: an entry that raised; it is tried again by the next run.

The runner appends (:mod:`.runner`), the reports read (:mod:`.report`); both use this module, not each other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmarks.common import read_jsonl
from benchmarks.suite.suites import Profile, Suite
from deepprior.errors import InputError

FORMAT = "deepprior-bench/2"
SUFFIX = ".jsonl"
KEY = ("image", "method", "seed")


def results_path(results_dir: str | os.PathLike[str], suite: str, profile: str) -> Path:
    return Path(results_dir) / f"{suite}-{profile}{SUFFIX}"


def images_dir(path: Path) -> Path:
    """Folder of the output images of a suite run (beside its results file)."""
    return path.with_suffix("")


def entry_key(entry: dict[str, Any]) -> tuple[str, str, int]:
    return str(entry["image"]), str(entry["method"]), int(entry["seed"])


def header(suite: Suite, profile: Profile, data_dir: Path, total_images: int) -> dict[str, Any]:
    """The first line of a new results file."""
    return {
        "record": "header",
        "format": FORMAT,
        "suite": suite.name,
        "title": suite.title,
        "task": suite.task,
        "metric": suite.metric,
        "profile": profile.name,
        "label": profile.label,
        "profile_settings": profile.settings(),
        "profile_description": profile.description,
        "data_dir": str(data_dir),
        "suite_images": total_images,
    }


def _timestamps(row: dict[str, Any]) -> list[str]:
    return [str(row[k]) for k in ("date", "started", "finished", "updated") if row.get(k)]


def load_results(path: Path, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A results file as one dict: the header's fields, ``runs``, ``failures`` and ``entries`` (the latest entry
    per key), ``suite_images`` and ``data_dir`` of the latest run, and ``updated`` (the latest time recorded).

    Raises
    ------
    InputError
        The file is missing, damaged or not a results file of this format.
    """
    if rows is None:
        if not path.is_file():
            raise InputError(f"benchmark results '{path}' do not exist")
        rows = read_jsonl(path)
    if not rows or rows[0].get("record") != "header" or rows[0].get("format") != FORMAT:
        raise InputError(f"'{path}' is not a deepprior benchmark results file (format {FORMAT})")
    data = {k: v for k, v in rows[0].items() if k != "record"}
    entries: dict[tuple[str, str, int], dict[str, Any]] = {}
    runs, failures, times = [], [], []
    for row in rows:
        kind = row.get("record")
        body = {k: v for k, v in row.items() if k != "record"}
        times += _timestamps(row)
        if kind == "entry":
            key = entry_key(row)
            entries.pop(key, None)  # a recomputed entry moves to the end, as it was finished last
            entries[key] = body
        elif kind == "run":
            runs.append(body)
            for field in ("suite_images", "data_dir"):
                if body.get(field) is not None:
                    data[field] = body[field]
        elif kind == "failure":
            failures.append(body)
    data.update(runs=runs, failures=failures, entries=list(entries.values()), updated=max(times, default=None))
    return data


__all__ = ["FORMAT", "KEY", "SUFFIX", "entry_key", "header", "images_dir", "load_results", "results_path"]
