"""A report people would rather look at: one self-contained HTML file per run, and an index page per folder.

The page needs no network: the images are embedded as PNG data, the curves as SVG drawn by matplotlib (an
optional extra, ``deepprior[report]``; without it the page says so and shows no plot). It holds the input and
the result under a before/after slider, a synchronised 4× zoom on a detail (click the image to move it), the
loss / PSNR / early-stopping curves with the selected step marked, and the settings, device, time and versions
of the run record.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .image import Image
from .record import what_ran

_STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
.compare{position:relative;width:min(640px,100%);cursor:crosshair;line-height:0}
.compare img{display:block;width:100%;image-rendering:pixelated}
.compare .after{position:absolute;top:0;left:0;clip-path:inset(0 0 0 50%)}
#slider{width:100%;max-width:640px;display:block;margin:8px 0}
.zoom{display:inline-block;width:256px;height:256px;border:1px solid #999;margin-right:8px;
  background-repeat:no-repeat;image-rendering:pixelated}
table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
.thumb{height:96px;image-rendering:pixelated} .fail{color:#a00}
"""

_SCRIPT = """
const slider = document.getElementById('slider');
const after = document.querySelector('.compare .after');
function setSplit(v){ after.style.clipPath = 'inset(0 0 0 ' + v + '%)'; slider.value = v;
  document.body.dataset.split = v; }
slider.addEventListener('input', e => setSplit(e.target.value));
const compare = document.querySelector('.compare');
const zooms = document.querySelectorAll('.zoom');
function setDetail(fx, fy){
  zooms.forEach(z => { const w = compare.clientWidth * 4, h = compare.clientHeight * 4;
    z.style.backgroundSize = w + 'px ' + h + 'px';
    z.style.backgroundPosition = (128 - fx * w) + 'px ' + (128 - fy * h) + 'px'; });
  document.body.dataset.detail = fx.toFixed(3) + ',' + fy.toFixed(3); }
compare.addEventListener('click', e => { const r = compare.getBoundingClientRect();
  setDetail((e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height); });
window.addEventListener('load', () => { setSplit(slider.value); setDetail(0.5, 0.5); });
"""


def _png(pixels: np.ndarray) -> str:
    """An (H, W[, C]) float image in [0, 1] as a PNG data URI."""
    import imagecodecs

    data = np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    data = data[..., 0] if data.ndim == 3 and data.shape[2] == 1 else data
    return "data:image/png;base64," + base64.b64encode(imagecodecs.png_encode(data)).decode("ascii")


def _plot(history: dict[str, Any] | None, selected_step: int | None) -> str:
    """The curves as inline SVG, or a sentence saying why there are none."""
    from .plot import history_svg

    if not history or not history.get("step"):
        return "<p>No per-step history in this record.</p>"
    try:
        return history_svg(history, selected_step)
    except InputError as exc:  # matplotlib is an optional extra
        return f"<p>No plot: {html.escape(str(exc))}.</p>"


def _settings_table(record: dict[str, Any]) -> str:
    keys = (
        "task",
        "method",
        "preset",
        "device",
        "device_name",
        "iterations_run",
        "stopped_at",
        "selected_step",
        "output_source",
        "seconds",
        "wall_seconds",
        "at_once",
        "settings",
        "generator",
        "regularizer",
        "data_term",
        "extra",  # the task's own facts: the noise model, the known fraction of a mask, a stack's layout
        "versions",
        "inputs",
        "command",
    )
    rows = []
    for key in keys:
        if record.get(key) not in (None, {}, []) and not (key == "at_once" and record[key] == 1):  # 1: alone
            value = record[key]
            text = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
            rows.append(f"<tr><th>{html.escape(key)}</th><td>{html.escape(text)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def render_report(before: Image, after: Image, record: dict[str, Any]) -> str:
    """The HTML of one run's report (see the module docstring)."""
    if before.pixels.shape[:2] != after.pixels.shape[:2]:
        from skimage.transform import resize  # super-resolution: show the input at the output's size

        before = before.with_pixels(resize(before.pixels, after.pixels.shape[:2], order=0))
    title = f"deepprior {record.get('task', '')} {record.get('method', '')}".strip()
    before_uri, after_uri = _png(before.pixels), _png(after.pixels)
    plot = _plot(record.get("history"), record.get("selected_step"))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(str(record.get("output_path") or ""))} — {html.escape(what_ran(record))},
{float(record.get("seconds") or 0):.1f} s on {html.escape(str(record.get("device_name") or record.get("device")))};
returned: {html.escape(str(record.get("output_source")))}</p>
<h2>Input and result (drag the slider; click the image to move the detail)</h2>
<div class="compare"><img class="before" alt="input" src="{before_uri}"><img class="after" alt="result"
 src="{after_uri}"></div>
<input id="slider" type="range" min="0" max="100" value="50" aria-label="before/after split">
<h2>Detail, 4×: input and result</h2>
<div class="zoom" id="zoom-before" style="background-image:url('{before_uri}')"></div><div class="zoom"
 id="zoom-after" style="background-image:url('{after_uri}')"></div>
<h2>Curves</h2>
<div class="plot">{plot}</div>
<h2>Settings</h2>
{_settings_table(record)}
<script>{_SCRIPT}</script>
</body></html>
"""


def _restored_input(task: str | None) -> str:
    """The name a run record gives the image its task restored: a registered task's last image (``noflash`` of a
    flash/no-flash pair), else ``image``."""
    from .registry import TASKS

    return TASKS.get(task).images[-1] if task in TASKS else "image"


def write_report(record_path: str | os.PathLike[str], target: str | os.PathLike[str] | None = None) -> Path:
    """Write the report of the run whose JSON record is ``record_path`` (beside it, ``.html``, by default).

    Raises
    ------
    InputError
        The record is not a deepprior run record, or its images cannot be read.
    """
    from .io import atomic_write, read_image
    from .record import SCHEMA

    path = Path(record_path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the run record '{path}': {exc}") from None
    if record.get("schema") != SCHEMA or not record.get("output_path") or not record.get("inputs"):
        raise InputError(f"'{path}' is not the record of a deepprior run with its files")
    source = Path(record["inputs"].get(_restored_input(record.get("task")), ""))
    before, after = read_image(source), read_image(record["output_path"])
    page = render_report(before, after, record)
    target = Path(target) if target is not None else path.with_suffix(".html")
    return atomic_write(target, lambda tmp: tmp.write_text(page, encoding="utf-8"))


def write_index(folder: str | os.PathLike[str], failures: list[str] | None = None, build: bool = True) -> Path:
    """Write ``index.html`` in a folder of results: one row per run (thumbnail, link to its report) and the
    failures, if any. ``build``: write each run's report too (False: they were written with the runs).

    Raises :class:`InputError` for a folder with neither (an empty page written into a folder of inputs would
    only be litter)."""
    from .io import atomic_write, read_image

    root = Path(folder)
    rows = []
    for record_path in sorted(root.glob("*.json")):
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            report = write_report(record_path) if build else record_path.with_suffix(".html")
            thumb = _png(read_image(record["output_path"]).pixels[::4, ::4])
        except (InputError, ValueError, KeyError, OSError):
            continue
        rows.append(
            f"<tr><td><a href='{html.escape(report.name)}'><img class='thumb' src='{thumb}' alt=''></a>"
            f"</td><td><a href='{html.escape(report.name)}'>{html.escape(record_path.stem)}</a></td>"
            f"<td>{html.escape(what_ran(record))}, {float(record.get('seconds') or 0):.1f} s</td></tr>"
        )
    if not rows and not failures:
        raise InputError(f"'{root}' holds no run records (the .json written beside each output) to index")
    failed = "".join(f"<li class='fail'>{html.escape(line)}</li>" for line in failures or [])
    page = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>deepprior: {html.escape(root.name)}"
        f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(root.name)}</h1>"
        f"<table><tr><th>result</th><th>run</th><th>fit</th></tr>{''.join(rows)}</table>"
        + (f"<h2>Failures</h2><ul>{failed}</ul>" if failed else "")
        + "</body></html>"
    )
    return atomic_write(root / "index.html", lambda tmp: tmp.write_text(page, encoding="utf-8"))


__all__ = ["render_report", "write_index", "write_report"]
