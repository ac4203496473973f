"""A loss / PSNR curve as a PNG, drawn with Pillow (no plotting library needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .callbacks import History
from .io import atomic_write

_COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14))


def _draw(image: Image.Image) -> ImageDraw.ImageDraw:
    """A drawing context with Pillow's scalable default font (the bitmap fallback squeezes spaces away)."""
    draw = ImageDraw.Draw(image)
    try:
        draw.font = ImageFont.load_default(size=12)
    except (TypeError, OSError):  # Pillow without FreeType: the bitmap font
        pass
    return draw


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _panel(
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    steps: Sequence[int],
    series: list[tuple[str, Sequence[float]]],
    title: str,
    log: bool = False,
) -> None:
    left, top, right, bottom = box
    draw.rectangle(box, outline=(0, 0, 0))
    draw.text((left, top - 14), title, fill=(0, 0, 0))
    values = [math.log10(v) if log else v for _, s in series for v in _finite(s) if not log or v > 0]
    if not values or not steps:
        draw.text((left + 10, top + 10), "no data", fill=(0, 0, 0))
        return
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 1, hi + 1
    x_max = max(steps[-1], 1)

    def point(step: int, value: float) -> tuple[float, float]:
        v = math.log10(value) if log else value
        return (left + (right - left) * step / x_max, bottom - (bottom - top) * (v - lo) / (hi - lo))

    for i in range(5):  # horizontal grid with labels
        v = lo + (hi - lo) * i / 4
        y = bottom - (bottom - top) * i / 4
        draw.line((left, y, right, y), fill=(225, 225, 225))
        draw.text((4, y - 6), f"{10**v:.2g}" if log else f"{v:.2f}", fill=(0, 0, 0))
    draw.text((right - 60, bottom + 4), f"step {x_max}", fill=(0, 0, 0))
    for (name, data), colour in zip(series, _COLOURS):
        points = [point(s, v) for s, v in zip(steps, data) if v is not None and math.isfinite(v) and (not log or v > 0)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        legend_y = top + 4 + 14 * series.index((name, data))
        draw.text((left + 8, legend_y), name, fill=colour)


def plot_history(history: History, path: str | Path, title: str = "") -> Path:
    """Write a two-panel PNG: loss (log scale) and PSNR (vs reference, and of A·out vs y) over the steps."""
    width, height = 720, 520
    image = Image.new("RGB", (width, height), "white")
    draw = _draw(image)
    if title:
        draw.text((60, 6), title, fill=(0, 0, 0))
    _panel(draw, (60, 40, width - 20, 240), history.step, [("loss", history.loss)], "loss", log=True)
    psnr_series = [
        ("PSNR of output vs reference", history.psnr),
        ("PSNR of average vs reference", history.psnr_average),
        ("PSNR of A(output) vs observation", history.psnr_observation),
    ]
    psnr_series = [(n, s) for n, s in psnr_series if _finite(s)]
    _panel(draw, (60, 290, width - 20, height - 30), history.step, psnr_series, "PSNR (dB)")
    return atomic_write(Path(path), lambda tmp: image.save(tmp, format="PNG"))


def plot_series(
    path: str | Path,
    steps: Sequence[int],
    series: list[tuple[str, Sequence[float]]],
    title: str,
    y_label: str = "PSNR (dB)",
) -> Path:
    """Write a one-panel PNG with up to five named curves over the same steps (e.g. PSNR of several methods)."""
    image = Image.new("RGB", (720, 360), "white")
    draw = _draw(image)
    draw.text((60, 6), title, fill=(0, 0, 0))
    _panel(draw, (60, 40, 700, 330), steps, series, y_label)
    return atomic_write(Path(path), lambda tmp: image.save(tmp, format="PNG"))
