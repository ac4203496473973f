"""Loss / PSNR curves drawn by matplotlib (the optional extra ``deepprior[report]``, imported on first use).

Without matplotlib these functions raise :class:`deepprior.errors.InputError` saying how to install it; the demo
and the HTML report then go on without a plot and say so.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import InputError
from .io import atomic_write
from .record import History

_PSNR_SERIES = (
    ("psnr", "PSNR of output vs reference"),
    ("psnr_average", "PSNR of average vs reference"),
    ("psnr_observation", "PSNR of A(output) vs observation"),
)


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend, or an InputError saying how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError('plots need matplotlib: pip install "deepprior[report]"') from None
    return plt


def _values(history: Mapping[str, Any], key: str) -> list[float]:
    return [math.nan if v is None else float(v) for v in history.get(key) or []]


def history_figure(history: History | Mapping[str, Any], title: str = "", selected_step: int | None = None) -> Any:
    """A two-panel matplotlib figure: the loss (log scale) and the PSNRs over the steps, the selected step marked.

    Raises
    ------
    InputError
        matplotlib is not installed.
    """
    plt = pyplot()
    data = history.to_dict() if isinstance(history, History) else history
    steps = data.get("step") or []
    figure, (loss_axes, psnr_axes) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    loss = _values(data, "loss")
    if any(v > 0 for v in loss if math.isfinite(v)):
        loss_axes.semilogy(steps, loss, color="tab:blue")
    loss_axes.set_ylabel("loss")
    for key, label in _PSNR_SERIES:
        series = _values(data, key)
        if any(math.isfinite(v) for v in series):
            psnr_axes.plot(steps, series, label=label)
    if selected_step is not None:
        for axes in (loss_axes, psnr_axes):
            axes.axvline(selected_step, color="black", linestyle="--", linewidth=1)
        psnr_axes.annotate(f" selected step {selected_step}", (selected_step, 0.03), xycoords=("data", "axes fraction"))
    psnr_axes.set_xlabel("step")
    psnr_axes.set_ylabel("PSNR (dB)")
    if psnr_axes.get_legend_handles_labels()[0]:
        psnr_axes.legend(loc="lower right")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_history(
    history: History | Mapping[str, Any], path: str | Path, title: str = "", selected_step: int | None = None
) -> Path:
    """Write :func:`history_figure` as a PNG, atomically."""
    figure = history_figure(history, title, selected_step)
    try:
        return atomic_write(Path(path), lambda tmp: figure.savefig(tmp, format="png", dpi=100))
    finally:
        pyplot().close(figure)


def history_svg(history: History | Mapping[str, Any], selected_step: int | None = None) -> str:
    """:func:`history_figure` as an inline ``<svg>`` element (for self-contained HTML)."""
    figure = history_figure(history, selected_step=selected_step)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    pyplot().close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def plot_series(
    path: str | Path,
    steps: Sequence[int],
    series: list[tuple[str, Sequence[float]]],
    title: str,
    y_label: str = "PSNR (dB)",
) -> Path:
    """Write a one-panel PNG of named curves over the same steps (e.g. PSNR of several methods)."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(8, 4))
    for name, values in series:
        axes.plot(steps, [math.nan if v is None else v for v in values], label=name)
    axes.set_xlabel("step")
    axes.set_ylabel(y_label)
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    try:
        return atomic_write(Path(path), lambda tmp: figure.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(figure)


__all__ = ["history_figure", "history_svg", "plot_history", "plot_series", "pyplot"]
