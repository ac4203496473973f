"""Markdown tables and contact sheets from the suites' results files (``python -m benchmarks.run_suites report``
rebuilds them all).

Tables: a summary per method (mean over images; spread over seeds as std and min–max of the per-seed means),
then PSNR and SSIM per image. The paper profile sets the papers' figures and the difference beside ours; the quick
profile carries the "not a reproduction" label and no paper column.
"""

from __future__ import annotations

import base64
import io
import math
import re
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.common import write_text
from benchmarks.suite.results import SUFFIX, images_dir, load_results
from benchmarks.suite.suites import QUICK_LABEL, SUITES, Suite
from deepprior.errors import InputError

DASH = "—"


def _natural(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    return f"{value:.{digits}f}"


def _signed(value: float | None, digits: int = 2) -> str:
    return DASH if value is None else f"{value:+.{digits}f}"


def _std(values: list[float]) -> float | None:
    return statistics.stdev(values) if len(values) >= 2 else None


class _Table:
    """Entries of one results file grouped as method → image → seed → entry."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        name = data.get("suite", "")
        self.suite: Suite | None = SUITES.get(name) if name in SUITES else None
        self.by: dict[str, dict[str, dict[int, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
        for entry in data.get("entries", []):
            self.by[entry["method"]][entry["image"]][int(entry["seed"])] = entry
        order = list(self.suite.methods) if self.suite else []
        present = list(dict.fromkeys(e["method"] for e in data.get("entries", [])))
        self.methods = [m for m in order if m in self.by] + [m for m in present if m not in order]
        self.images = sorted({e["image"] for e in data.get("entries", [])}, key=_natural)

    def values(self, method: str, image: str, key: str) -> list[float]:
        return [e[key] for _, e in sorted(self.by[method].get(image, {}).items()) if e.get(key) is not None]

    def image_mean(self, method: str, image: str, key: str) -> float | None:
        values = self.values(method, image, key)
        return statistics.fmean(values) if values else None

    def cell(self, method: str, image: str, key: str, digits: int) -> str:
        values = self.values(method, image, key)
        if not values:
            return DASH
        mean = statistics.fmean(values)
        spread = _std(values)
        return _fmt(mean, digits) if spread is None else f"{mean:.{digits}f} ± {spread:.{digits}f}"

    def method_images(self, method: str, key: str) -> list[str]:
        return [i for i in self.images if self.values(method, i, key)]

    def mean(self, method: str, key: str) -> float | None:
        means = [self.image_mean(method, i, key) for i in self.method_images(method, key)]
        return statistics.fmean(means) if means else None

    def seed_means(self, method: str, key: str) -> list[float]:
        """Per seed, the mean over the images that have that seed."""
        per_seed: dict[int, list[float]] = defaultdict(list)
        for seeds in self.by[method].values():
            for seed, entry in seeds.items():
                if entry.get(key) is not None:
                    per_seed[seed].append(entry[key])
        return [statistics.fmean(v) for _, v in sorted(per_seed.items())]

    def seeds(self, method: str) -> list[int]:
        return sorted({s for seeds in self.by[method].values() for s in seeds})

    def seconds(self, method: str) -> float | None:
        values = [
            e["wall_seconds"]
            for seeds in self.by[method].values()
            for e in seeds.values()
            if e.get("wall_seconds") is not None
        ]
        return statistics.fmean(values) if values else None


def _paper_mean(table: _Table, method: str) -> tuple[float | None, str]:
    """The paper's mean PSNR for the images we ran: the mean of its per-image figures over them, or its suite
    mean when we ran every image. Returns (value, note)."""
    suite = table.suite
    if suite is None:
        return None, ""
    images = table.method_images(method, "psnr")
    per_image = suite.paper.get(method, {})
    if per_image and images and all(i in per_image for i in images):
        return statistics.fmean(per_image[i] for i in images), ""
    if method in suite.paper_mean:
        total = table.data.get("suite_images")
        if total is None or len(images) == total:
            return suite.paper_mean[method], ""
        return None, f"paper {suite.paper_mean[method]:.2f} on all {total} images"
    return None, ""


def markdown(data: dict[str, Any]) -> str:
    """The Markdown report of one results file."""
    table = _Table(data)
    suite = table.suite
    profile = data.get("profile", "?")
    comparable = not data.get("label")
    lines = [f"# {data.get('suite')}: {data.get('title', '')} ({profile} profile)", ""]
    if data.get("label"):
        settings = data.get("profile_settings", {})
        lines += [
            f"> **{data['label']}.** {data.get('profile_description', '')}. Settings: "
            + ", ".join(f"{k} {v}" for k, v in settings.items())
            + (
                ". These numbers only show that the pipeline runs end to end; they are not comparable with the "
                "papers' figures, so no paper column is shown."
                if data["label"] == QUICK_LABEL
                else ". No paper column is shown: the papers score full images."
            ),
            "",
        ]
    metric = data.get("metric")
    metric_text = {
        "rgb": "PSNR (dB, data range 1) and SSIM on RGB in [0, 1]",
        "y-sr": "Y-channel PSNR by the DIP SR protocol (Y' = (219·Y + 16)/255, crop 4 px top/left and "
        "5 px bottom/right); SSIM on the same Y'",
    }.get(metric or "", "no ground truth: images only")
    lines += [f"Task: `{data.get('task')}`. Metric: {metric_text}. Outputs are rounded to 8 bits before scoring.", ""]
    if not table.images:
        lines += ["No finished entries yet.", ""]
        return "\n".join(lines)
    if metric is None:
        lines += _images_only(table, data)
    else:
        lines += _summary(table, comparable)
        lines += _per_image(table, "psnr", "PSNR per image (dB)", 2, comparable)
        lines += _per_image(table, "ssim", "SSIM per image", 4, False)
        if comparable and suite is not None:
            lines += _paper_other(table)
    lines += _footer(table, data)
    return "\n".join(lines).rstrip() + "\n"


def _summary(table: _Table, comparable: bool) -> list[str]:
    suite = table.suite
    paper_header = []
    if comparable and suite is not None:
        paper_header = ["paper", "Δ"] if suite.paper_comparable else ["paper (other images)"]
    header = [
        "method",
        "images",
        "seeds",
        "PSNR",
        "std over seeds",
        "min–max over seeds",
        "SSIM",
        "s / run",
        *paper_header,
    ]
    rows = []
    notes = []
    for method in table.methods:
        seeds = table.seeds(method)
        seed_means = table.seed_means(method, "psnr")
        mean = table.mean(method, "psnr")
        deterministic = method in _deterministic()
        spread = _std(seed_means)
        row = [
            f"`{method}`",
            str(len(table.method_images(method, "psnr"))),
            "1 (deterministic)" if deterministic else str(len(seeds)),
            _fmt(mean),
            _fmt(spread),
            f"{min(seed_means):.2f}–{max(seed_means):.2f}" if len(seed_means) >= 2 else DASH,
            _fmt(table.mean(method, "ssim"), 4),
            _fmt(table.seconds(method), 1),
        ]
        if paper_header:
            paper, note = _paper_mean(table, method)
            if suite is not None and suite.paper_comparable:
                row += [_fmt(paper), _signed(None if paper is None or mean is None else mean - paper)]
            else:
                value = suite.paper_mean.get(method) if suite else None
                ssim = suite.paper_ssim_mean.get(method) if suite else None
                row += [DASH if value is None else f"{value:.2f}" + (f" / SSIM {ssim:.4f}" if ssim else "")]
            if note:
                notes.append(f"`{method}`: {note} (this run has a subset).")
        rows.append(row)
    lines = ["## Summary (mean over images)", "", *_md_table(header, rows), ""]
    lines += [f"- {n}" for n in notes]
    if notes:
        lines.append("")
    return lines


def _per_image(table: _Table, key: str, title: str, digits: int, with_paper: bool) -> list[str]:
    suite = table.suite
    header = ["image"]
    columns: list[tuple[str, str]] = []
    for method in table.methods:
        header.append(f"`{method}`")
        columns.append(("ours", method))
        if with_paper and suite is not None and suite.paper_comparable and method in suite.paper:
            header += [f"paper `{method}`", "Δ"]
            columns += [("paper", method), ("delta", method)]
    rows = []
    for image in table.images:
        row = [image + (" †" if _reconstructed(table, image) else "")]
        for kind, method in columns:
            figure = suite.paper.get(method, {}).get(image) if suite else None
            if kind == "ours":
                row.append(table.cell(method, image, key, digits))
            elif kind == "paper":
                row.append(_fmt(figure, digits))
            else:
                ours = table.image_mean(method, image, key)
                row.append(_signed(None if ours is None or figure is None else ours - figure, digits))
        rows.append(row)
    mean_row = ["**mean**"]
    partial = False
    for kind, method in columns:
        if kind == "ours":
            count = len(table.method_images(method, key))
            partial |= 0 < count < len(table.images)
            mean_row.append(_fmt(table.mean(method, key), digits) + ("*" if 0 < count < len(table.images) else ""))
        elif kind == "paper":
            paper, _ = _paper_mean(table, method)
            mean_row.append(_fmt(paper, digits))
        else:
            paper, _ = _paper_mean(table, method)
            ours = table.mean(method, key)
            mean_row.append(_signed(None if paper is None or ours is None else ours - paper, digits))
    rows.append(mean_row)
    lines = [f"## {title}", "", *_md_table(header, rows), ""]
    if partial:
        lines += ["\\* mean over the images this method has finished.", ""]
    if any(_reconstructed(table, i) for i in table.images):
        lines += [
            (
                "† scored against an estimated ground truth (gt/S11_reconstructed.png: S11 is missing from the "
                "NKS release)."
            ),
            "",
        ]
    if any(len(table.seeds(m)) > 1 for m in table.methods):
        lines += ["Cells with several seeds show mean ± std over the seeds.", ""]
    return lines


def _paper_other(table: _Table) -> list[str]:
    suite = table.suite
    assert suite is not None
    lines = []
    missing = {m: v for m, v in suite.paper_mean.items() if m not in table.methods}
    if missing or suite.paper_other:
        lines += ["## Paper figures of methods not run here", ""]
        lines += [f"- `{m}`: {v:.2f} dB" for m, v in missing.items()]
        lines += [f"- {label}: {v:.2f} dB" for label, v in suite.paper_other.items()]
        lines.append("")
    return lines


def _images_only(table: _Table, data: dict[str, Any]) -> list[str]:
    rows = []
    for image in table.images:
        for method in table.methods:
            for seed, entry in sorted(table.by[method].get(image, {}).items()):
                rows.append(
                    [
                        image,
                        f"`{method}`",
                        str(seed),
                        str(entry.get("iterations", DASH)),
                        _fmt(entry.get("wall_seconds"), 1),
                        f"`{entry.get('output') or DASH}`",
                    ]
                )
    sheet = Path(str(data.get("_results_name", ""))).with_suffix(".png").name
    lines = [
        "## Outputs (no ground truth)",
        "",
        *_md_table(["image", "method", "seed", "iterations", "seconds", "output"], rows),
        "",
    ]
    if sheet:
        lines += [f"![contact sheet]({sheet})", ""]
    return lines


def _footer(table: _Table, data: dict[str, Any]) -> list[str]:
    suite = table.suite
    entries = data.get("entries", [])
    devices = sorted({str(e.get("device_name")) for e in entries if e.get("device_name")})
    commits = sorted({str(e.get("git_commit")) for e in entries if e.get("git_commit")})
    latest = max(entries, key=lambda e: e.get("finished", ""), default={})
    lines = ["## Notes", ""]
    if suite is not None:
        if suite.paper_source and data.get("metric") and not data.get("label"):
            lines.append(f"- Paper figures: {suite.paper_source}.")
        lines += [f"- {note}" for note in suite.notes]
    for method in table.methods:
        settings = _settings_text(table, method)
        if settings:
            lines.append(f"- `{method}`: {settings}")
    lines.append(
        f"- Devices: {', '.join(devices) or DASH}; git commit(s): {', '.join(c[:12] for c in commits) or DASH}"
        f"; versions: {', '.join(f'{k} {v}' for k, v in (latest.get('versions') or {}).items())}."
    )
    lines.append(f"- {len(entries)} entries; data: `{data.get('data_dir')}`; updated {data.get('updated', DASH)}.")
    if data.get("label"):
        lines += ["", f"**{data['label']}.**"]
    return lines + [""]


def _settings_text(table: _Table, method: str) -> str:
    """A short description of the settings of a method's entries (from the first one)."""
    first = next((e for seeds in table.by[method].values() for e in seeds.values()), None)
    if not first:
        return ""
    settings = first.get("settings") or {}
    parts = []
    generator = settings.get("generator")
    if generator:
        parts.append(
            f"{generator.get('name')} net, {generator.get('parameters', '?'):,} parameters"
            if isinstance(generator.get("parameters"), int)
            else f"{generator.get('name')} net"
        )
    fit = settings.get("fit")
    if fit and fit.get("iterations"):
        parts.append(
            f"{fit.get('iterations')} steps, LR {fit.get('lr')}, σ_reg {fit.get('reg_noise_std'):.3g}"
            if isinstance(fit.get("reg_noise_std"), float)
            else f"{fit.get('iterations')} steps"
        )
    regularizer = settings.get("regularizer")
    if regularizer:
        parts.append(
            ", ".join(
                f"{k} {v}" for k, v in regularizer.items() if k in ("lam", "beta", "until", "kind") and v is not None
            )
        )
    refinement = settings.get("refinement")
    if refinement:
        parts.append(f"then {refinement.get('name')} refinement (σ estimated from y)")
    for key in ("weight", "lam", "sigma", "h", "implementation"):
        if key in settings and not regularizer:
            value = settings[key]
            parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return "; ".join(str(p) for p in parts if p)


def _reconstructed(table: _Table, image: str) -> bool:
    return any(
        e.get("reference_note") for seeds in (m.get(image, {}) for m in table.by.values()) for e in seeds.values()
    )


def _deterministic() -> set[str]:
    from benchmarks.suite.methods import METHODS

    return {name for name, method in METHODS.items() if method.deterministic}


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# --------------------------------------------------------------------------- files


def write_markdown(results_file: Path, data: dict[str, Any] | None = None) -> Path:
    """Write ``<suite>-<profile>.md`` beside the results file (``data``: its :func:`load_results`, if read)."""
    data = dict(load_results(results_file) if data is None else data)
    data["_results_name"] = results_file.name
    return write_text(results_file.with_suffix(".md"), markdown(data))


def write_contact_sheet(results_file: Path, data: dict[str, Any] | None = None, thumb: int = 256) -> Path | None:
    """A PNG grid beside the results file: one row per image; columns input(s), ground truth (if saved), methods
    (seed 0).

    Built from the images under ``<suite>-<profile>/``; None when there is none.
    """
    from PIL import Image, ImageDraw, ImageFont

    from deepprior.io import atomic_write

    data = load_results(results_file) if data is None else data
    folder = images_dir(results_file)
    if not folder.is_dir():
        return None
    table = _Table(data)
    first = "no-flash (input)" if data.get("task") == "flash-noflash" else "input"
    columns: list[tuple[str, str]] = [("input", first), ("flash", "flash"), ("truth", "ground truth")]
    rows = []
    for image in table.images:
        cells = []
        for suffix, label in columns:
            path = folder / f"{image}__{suffix}.png"
            if path.exists():
                cells.append((label, path))
        for method in table.methods:
            seeds = table.by[method].get(image, {})
            if seeds:
                seed = min(seeds)
                entry = seeds[seed]
                path = folder / f"{image}__{method}__seed{seed}.png"
                if path.exists():
                    label = method if entry.get("psnr") is None else f"{method} {entry['psnr']:.2f} dB"
                    cells.append((label, path))
        if cells:
            rows.append((image, cells))
    if not rows:
        return None
    font = ImageFont.load_default()
    label_h, pad = 18, 4
    thumbs: list[list[tuple[str, Any]]] = []
    for _, cells in rows:
        row = []
        for label, path in cells:
            with Image.open(path) as im:
                im = im.convert("RGB")
                im.thumbnail((thumb, thumb), Image.Resampling.LANCZOS)
                row.append((label, im.copy()))
        thumbs.append(row)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max(measure.textlength(label, font=font) for row in thumbs for label, _ in row)
    cell_w = int(max(max(im.width for row in thumbs for _, im in row), label_w)) + 2 * pad
    cell_h = max(im.height for row in thumbs for _, im in row) + label_h + pad
    width = cell_w * max(len(row) for row in thumbs) + pad
    height = (cell_h + label_h) * len(thumbs) + pad
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    y = pad
    for (image, _), row in zip(rows, thumbs):
        draw.text((pad, y), image, fill="black", font=font)
        y += label_h
        for index, (label, im) in enumerate(row):
            x = pad + index * cell_w
            draw.text((x, y), label, fill="black", font=font)
            sheet.paste(im, (x, y + label_h))
        y += cell_h
    target = results_file.with_suffix(".png")
    atomic_write(target, lambda tmp: sheet.save(tmp, format="PNG"))
    return target


def quality_time_svg(data: dict[str, Any]) -> str | None:
    """PSNR against seconds per image, one point per method (means over the entries), as inline SVG; None when
    there is nothing to plot (no ground truth) or matplotlib is missing."""
    points: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for entry in data.get("entries", []):
        if entry.get("psnr") is not None and entry.get("wall_seconds") is not None:
            points[entry["method"]][0].append(float(entry["wall_seconds"]))
            points[entry["method"]][1].append(float(entry["psnr"]))
    if not points:
        return None
    from deepprior.plot import pyplot

    try:
        plt = pyplot()
    except InputError:  # matplotlib is optional
        return None
    figure, axes = plt.subplots(figsize=(6.5, 4))
    for method, (seconds, psnr) in sorted(points.items()):
        x, y = statistics.mean(seconds), statistics.mean(psnr)
        axes.scatter([x], [y])
        axes.annotate(method, (x, y), textcoords="offset points", xytext=(5, 3))
    axes.set_xscale("symlog", linthresh=0.1)
    axes.set_xlabel("seconds per image (mean)")
    axes.set_ylabel("PSNR (dB, mean)")
    axes.set_title("quality against time")
    figure.tight_layout()
    buffer = io.StringIO()
    # no date and fixed element ids: the same results give the same file, so a rebuilt report changes no
    # committed plot whose results did not change
    with plt.rc_context({"svg.hashsalt": "deepprior"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def write_html(results_file: Path, data: dict[str, Any] | None = None) -> Path:
    """One self-contained HTML page of a suite: its tables (the papers' figures beside ours), the quality–time
    plot (also written alone as ``<suite>-<profile>-front.svg``, to keep with the results) and the contact sheet,
    rebuilt from the results file (python-markdown renders the tables)."""
    import markdown as markdown_renderer

    data = dict(load_results(results_file) if data is None else data)
    data["_results_name"] = results_file.name
    body = markdown_renderer.markdown(markdown(data), extensions=["tables"])
    plot = quality_time_svg(data)
    if plot:
        write_text(results_file.with_name(f"{results_file.stem}-front.svg"), plot)
    sheet = results_file.with_suffix(".png")
    picture = ""
    if sheet.exists():
        encoded = base64.b64encode(sheet.read_bytes()).decode("ascii")
        picture = f"<h2>Contact sheet</h2><img alt='contact sheet' src='data:image/png;base64,{encoded}'>"
    style = (
        "body{font:14px system-ui,sans-serif;margin:24px;max-width:1200px} table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px} img{max-width:100%}"
    )
    page = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{data.get('suite')}</title>"
        f"<style>{style}</style></head><body>{body}"
        + (f"<h2>Quality against time</h2>{plot}" if plot else "")
        + f"{picture}</body></html>"
    )
    return write_text(results_file.with_suffix(".html"), page)


def rebuild_reports(results_dir: str | Path) -> list[Path]:
    """Rewrite the Markdown, the HTML page (and contact sheet, where images were saved) of every results file in
    a folder."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise InputError(f"results folder '{folder}' does not exist (run a suite first, or pass --results-dir)")
    written = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            data = load_results(path)
        except InputError:
            continue
        written.append(write_markdown(path, data))
        sheet = write_contact_sheet(path, data)
        if sheet is not None:
            written.append(sheet)
        written.append(write_html(path, data))
    if not written:
        raise InputError(f"no benchmark results (*{SUFFIX}) in '{folder}'")
    return written


__all__ = ["markdown", "quality_time_svg", "rebuild_reports", "write_contact_sheet", "write_html", "write_markdown"]
