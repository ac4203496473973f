"""Restoring an image too large to fit at once: overlapping tiles, each fitted as an image of its own, blended back.

A network fitted to a whole 12-megapixel photo needs tens of GiB of memory (:mod:`deepprior.memory`). Tiled, each
fit needs what a tile of ``side``² needs. The tiles cover the image on an even grid and overlap by at least
``overlap`` pixels. Each is restored by the plan's own row, seeds and stopping rule, with its own crop of y, the
operator's crop (:meth:`deepprior.operators.Operator.crop`) and the guide's. Their outputs are blended with weights
that ramp across the overlaps, so that no seam is a hard edge. The refiner and the task's finish (inpainting's
known pixels) then run once, on the whole image.

``tile="auto"`` (every row's default, :attr:`deepprior.presets.Preset.tile`) tiles only an image whose whole fit
would not fit in the memory free on the device, with the largest of :data:`AUTO_SIDES` that does; a side tiles
any image larger than it; None never tiles.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .errors import InputError, warn
from .image import as_image
from .operators.base import Box
from .record import History
from .restore import Plan, Restoration, tile_checkpoint, time_share

#: Tile sides ``tile="auto"`` tries, largest first: the first whose fit fits in the free memory is taken.
AUTO_SIDES = (4096, 3072, 2048, 1536, 1024, 768, 512, 384, 256)
#: The smallest tile side accepted: below it a tile holds too little of the image for the network's prior.
MIN_SIDE = 64


@dataclass(frozen=True)
class Tiling:
    """How one image is cut: the tile ``side`` and ``overlap`` (pixels of the restored image), the tiles' boxes
    and, for an automatic choice, why the image was tiled."""

    side: int
    overlap: int
    boxes: tuple[Box, ...]
    reason: str | None = None

    def describe(self) -> dict[str, Any]:
        """The record's ``tiling`` entry (without the tiles' own facts, which :func:`run_tiled` adds)."""
        return {"side": self.side, "overlap": self.overlap, "count": len(self.boxes), "reason": self.reason}


def check_tile_options(tile: Any, overlap: Any) -> None:
    """Refuse a ``tile`` that is not None, ``"auto"`` or a side of at least :data:`MIN_SIDE`, and an ``overlap``
    the user gave (None: the row's, narrowed to fit the side) that is not a whole number from 0 to below half the
    side (a tile must keep a middle that no other covers)."""
    if tile is not None and tile != "auto":
        if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < MIN_SIDE:
            raise InputError(f"a tile side must be a whole number of at least {MIN_SIDE} pixels, got {tile!r}")
    if overlap is None:
        return
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) or overlap < 0:
        raise InputError(f"the tile overlap must be a whole number of pixels >= 0, got {overlap!r}")
    if isinstance(tile, (int, np.integer)) and 2 * overlap >= tile:
        raise InputError(f"the tile overlap must be below half the tile side, {overlap} is too much for {tile}")


def tile_starts(length: int, side: int, overlap: int) -> list[int]:
    """Where tiles of ``side`` start along an axis of ``length`` so that they cover it, evenly spaced, the first
    at 0 and the last ending at ``length``, each overlapping the next by at least ``overlap``.

    Examples
    --------
    >>> tile_starts(900, 512, 64)
    [0, 388]
    >>> tile_starts(1000, 512, 64)  # two would overlap by 24 only
    [0, 244, 488]
    >>> tile_starts(300, 512, 64)
    [0]
    """
    if length <= side:
        return [0]
    count = math.ceil((length - overlap) / (side - overlap))
    return [i * (length - side) // (count - 1) for i in range(count)]


def tile_boxes(size: tuple[int, int], side: int, overlap: int, multiple: int = 1) -> list[Box]:
    """The boxes of the tiles covering an image of ``size`` (H, W), row by row; with ``multiple`` (a
    super-resolution scale) every start and side is a multiple of it, so that each tile observes whole pixels
    of y. ``size`` must be a multiple of ``multiple``.

    Examples
    --------
    >>> tile_boxes((600, 900), 512, 64)
    [(0, 0, 512, 512), (0, 388, 512, 512), (88, 0, 512, 512), (88, 388, 512, 512)]
    """
    height, width = size[0] // multiple, size[1] // multiple
    side, overlap = side // multiple, -(-overlap // multiple)
    rows, columns = tile_starts(height, side, overlap), tile_starts(width, side, overlap)
    h, w = min(side, height), min(side, width)
    m = multiple
    return [(top * m, left * m, h * m, w * m) for top in rows for left in columns]


def blend_weights(box: Box, size: tuple[int, int], overlap: int) -> np.ndarray:
    """The (h, w) weights of a tile in the blend: 1 inside, ramping down linearly over its outer ``overlap``
    pixels on each side that another tile overlaps (never on the image's own border), to 1 / (overlap + 1) at
    its edge."""
    top, left, height, width = box

    def ramp(start: int, length: int, total: int) -> np.ndarray:
        weights = np.ones(length, np.float32)
        n = min(overlap, length)
        rising = np.arange(1, n + 1, dtype=np.float32) / (overlap + 1)
        if start > 0:
            weights[:n] = np.minimum(weights[:n], rising)
        if start + length < total:
            weights[length - n :] = np.minimum(weights[length - n :], rising[::-1])
        return weights

    return np.outer(ramp(top, height, size[0]), ramp(left, width, size[1]))


def blend(tiles: Sequence[np.ndarray], boxes: Sequence[Box], size: tuple[int, int], overlap: int) -> np.ndarray:
    """The (H, W, C) image whose tiles, (h, w, C) each at its box, are averaged where they overlap with the
    weights of :func:`blend_weights`.

    Examples
    --------
    >>> image = np.random.default_rng(0).random((100, 150, 3)).astype(np.float32)
    >>> boxes = tile_boxes((100, 150), 64, 16)
    >>> crops = [image[t : t + h, l : l + w] for t, l, h, w in boxes]
    >>> bool(np.allclose(blend(crops, boxes, (100, 150), 16), image))
    True
    """
    channels = tiles[0].shape[2]
    total = np.zeros((*size, channels), np.float32)
    weight = np.zeros(size, np.float32)
    for pixels, box in zip(tiles, boxes):
        top, left, height, width = box
        w = blend_weights(box, size, overlap)
        total[top : top + height, left : left + width] += pixels * w[..., None]
        weight[top : top + height, left : left + width] += w
    return total / weight[..., None]


def choose_tiling(plan: Plan) -> Tiling | None:
    """The tiling a DIP plan runs with (None: the whole image at once), from its ``tile`` and ``tile_overlap``
    (the overrides', else the row's). ``"auto"`` tiles only when the whole fit (its seeds stepped together with
    ``batch_seeds``) would need more memory than is free on the device, with the largest of :data:`AUTO_SIDES`
    that fits; when none does, or the free memory cannot be known, the fit's own memory check speaks."""
    tile = plan.overrides.get("tile", plan.preset.tile)
    overlap = plan.overrides.get("tile_overlap", plan.preset.tile_overlap)
    height, width = plan.problem.image_size
    multiple = plan.problem.operator.scale
    reason = None
    if tile is None:
        return None
    if tile == "auto":
        from .device import resolve_device
        from .dip import fit_memory
        from .memory import available_bytes

        device = resolve_device(plan.problem.device)
        free = available_bytes(device)
        if free is None:  # nothing to weigh the fit against: its own memory check speaks
            return None
        fits = plan.seeds if plan.overrides.get("batch_seeds") else 1
        memory = fit_memory(plan)
        need = fits * memory((height, width))
        if need <= free:
            return None
        sides = [s for s in AUTO_SIDES if s < max(height, width) and fits * memory((s, s)) <= free]
        if not sides:
            return None
        tile = sides[0]
        reason = f"needs about {need / 2**30:.1f} GiB at once but {free / 2**30:.1f} GiB is free on {device}"
    side = max(tile // multiple, 1) * multiple
    if height <= side and width <= side:
        return None
    overlap = max(overlap, 2 * plan.problem.operator.reach)  # the blend covers where a tile's borders differ
    overlap = min(-(-overlap // multiple) * multiple, (side - 1) // 2)
    return Tiling(side, overlap, tuple(tile_boxes((height, width), side, overlap, multiple)), reason)


def tile_plan(plan: Plan, tiling: Tiling, index: int) -> Plan:
    """The plan of tile ``index``: the problem cropped to its box (y and the operator through
    :meth:`deepprior.operators.Operator.crop`, the guide, the reference), its own checkpoint file and progress
    label, no refiner and no finish (those run on the whole image), never tiled again."""
    problem = plan.problem
    box = tiling.boxes[index]
    operator, seen = problem.operator.crop(box)
    source = problem.source  # on y's grid
    cropped = replace(
        problem,
        source=replace(source, pixels=_crop(source.pixels, seen), alpha=_crop(source.alpha, seen), missing=None),
        observation=_crop(problem.observation, seen),
        operator=operator,
        image_size=box[2:],
        guide=_crop(problem.guide, box),
        alpha=_crop(problem.alpha, box),
    )
    overrides = {**plan.fit_overrides, "tile": None, "refine": None}
    if overrides.get("reference") is not None:
        overrides["reference"] = _crop(as_image(overrides["reference"], "reference").pixels, box)
    if overrides.get("checkpoint") is not None:
        overrides["checkpoint"] = tile_checkpoint(overrides["checkpoint"], index)
    if overrides.get("progress"):
        label = overrides["progress"] if isinstance(overrides["progress"], str) else "fit"
        overrides["progress"] = f"{label} tile {index + 1}/{len(tiling.boxes)}"
    if overrides.get("callbacks"):
        overrides["callbacks"] = [_for_tile(c, index, len(tiling.boxes)) for c in overrides["callbacks"]]
    return replace(
        plan,
        problem=cropped,
        overrides=overrides,
        refiner=None,
        finish=None,
        refine_reserve=0.0,
        tile_of=(index, len(tiling.boxes)),
    )


def _crop(array: np.ndarray | None, box: Box) -> np.ndarray | None:
    top, left, height, width = box
    return None if array is None else array[top : top + height, left : left + width]


def _for_tile(callback: Any, index: int, count: int) -> Any:
    """The callback a tile's fit calls: its own :meth:`deepprior.callbacks.Callback.for_tile` where it has one
    (snapshots name their files by tile), else itself."""
    for_tile = getattr(callback, "for_tile", None)
    return for_tile(index, count) if for_tile is not None else callback


def run_tiled(plan: Plan, tiling: Tiling) -> Restoration:
    """Restore each tile (:func:`tile_plan`, one after another, sharing the time limit), blend them, then refine
    and finish the whole: the plan's :class:`deepprior.restore.Restoration`, whose record's ``tiling`` lists the
    tiles' boxes, steps, stops and seconds."""
    from .dip import complete, output_image

    problem = plan.problem
    reference = plan.overrides.get("reference")
    if reference is not None:  # checked and converted once, for the whole image: the tiles crop its pixels
        from .dip import check_reference

        pixels = check_reference(reference, problem.image_size, problem.observation.shape[2])
        plan = replace(plan, overrides={**plan.overrides, "reference": as_image(pixels, "reference")})
    if tiling.reason is not None:
        height, width = problem.image_size
        warn(
            f"a {width}×{height} fit {tiling.reason}: restoring it in {len(tiling.boxes)} tiles of "
            f"{tiling.side}×{tiling.side} overlapping by {tiling.overlap} pixels (tile / --tile sets their side)"
        )
    limit = plan.fit_overrides.get("time_limit")
    deadline = None if limit is None else time.perf_counter() + limit
    tiles: list[Restoration] = []
    for index in range(len(tiling.boxes)):
        tile = tile_plan(plan, tiling, index)
        if deadline is not None:  # the tiles share the limit: each what is left over the tiles left
            tile = replace(
                tile, overrides={**tile.overrides, "time_limit": time_share(deadline, len(tiling.boxes) - index)}
            )
        tiles.append(tile.run())
    pixels = blend([t.output.pixels for t in tiles], tiling.boxes, problem.image_size, tiling.overlap)
    first = tiles[0]
    described = tiling.describe()
    described["tiles"] = [
        {
            "box": list(box),
            "iterations_run": t.record.iterations_run,
            "stopped_at": t.record.stopped_at,
            "selected_step": t.record.selected_step,
            "output_source": t.record.output_source,
            "seconds": t.record.seconds,
            "seed_spread": t.record.seed_spread,
        }
        for box, t in zip(tiling.boxes, tiles)
    ]
    record = replace(
        first.record,
        settings={**first.record.settings, "time_limit": limit},  # the whole fit's, not the first tile's share
        image_size=problem.image_size,
        iterations_run=sum(t.record.iterations_run for t in tiles),
        stopped_at=None,
        selected_step=None,
        output_source=f"{len(tiles)} tiles blended",
        seconds=sum(t.record.seconds for t in tiles),
        extra=dict(problem.extra or {}),
        seeds=[],
        seed_spread=None,
        tiling=described,
    )
    history = _history(tiles)
    merged = Restoration(output_image(problem, pixels), history, record, squeeze=problem.squeeze)
    return complete(plan, [merged])


def _history(tiles: Sequence[Restoration]) -> History:
    """The first tile's history, with every tile's events (a stop, the time limit), each naming its tile."""
    first = tiles[0].history
    events = [{**event, "tile": index} for index, t in enumerate(tiles) for event in t.history.events]
    return replace(first, events=events)


__all__ = [
    "AUTO_SIDES",
    "MIN_SIDE",
    "Tiling",
    "blend",
    "blend_weights",
    "check_tile_options",
    "choose_tiling",
    "run_tiled",
    "tile_boxes",
    "tile_plan",
    "tile_starts",
]
