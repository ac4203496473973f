"""What every task shares: the :class:`Task` type (a function with its ``.plan``), the :class:`TaskSpec` that
registers it, and the plan of the tasks whose forward model is the identity.

Importing this module (and any task's) imports neither numpy nor torch: the command line lists the registered
tasks for ``deepprior --help``, which stays fast.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol

from ..errors import InputError, warn
from ..presets import get_preset
from ..registry import TASKS

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    import numpy as np

    from ..image import Image, ImageLike
    from ..noise import NoiseModel
    from ..operators import Operator
    from ..presets import Preset
    from ..restore import Plan, Restoration

P = ParamSpec("P")

#: A mask whose known fraction is below this draws a warning: it is more likely inverted than meant.
INVERTED_MASK_KNOWN = 0.3

#: What a task's command-line hook fills in from the parsed options: the keyword arguments of its function, and
#: the files read with every image (a mask, a PSF), by the keyword they are passed as.
ReadArguments = Callable[["argparse.Namespace", dict[str, Any], dict[str, "Path"]], None]


class Task(Protocol[P]):
    """A task function: calling it restores (a :class:`deepprior.restore.Restoration`); its ``.plan``, with the
    same arguments, returns the checked :class:`deepprior.restore.Plan` instead, not yet run."""

    plan: Callable[P, Plan]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Restoration: ...


def task_from_plan(plan: Callable[P, Plan]) -> Task[P]:
    """Make the task function from its planner, whose name, docstring and arguments it takes; the planner stays
    reachable as the function's ``.plan`` (for :func:`deepprior.restore.run_together`, which steps several images'
    fits at once)."""

    @functools.wraps(plan)
    def task(*args: P.args, **kwargs: P.kwargs) -> Restoration:
        return plan(*args, **kwargs).run()

    task.__signature__ = inspect.signature(plan).replace(return_annotation="Restoration")  # type: ignore[attr-defined]
    task.__annotations__ = {**plan.__annotations__, "return": "Restoration"}
    task.plan = plan  # type: ignore[attr-defined]
    plan.__doc__ = f"Plan :func:`{plan.__name__}` without running it: the same arguments, checked; a Plan."
    return task  # type: ignore[return-value]


@dataclass(frozen=True)
class TaskSpec:
    """One registered task: its function, and what the command line and the tests need to know of it.

    Parameters
    ----------
    name
        The sub-command (``deepprior NAME``); the function is ``deepprior.<name with _ for ->``.
    function
        The public function. With a ``.plan`` (:func:`task_from_plan`) a folder run can step several images
        together (``--batch-images``).
    summary
        One line: the sub-command's help.
    rows
        The task of the preset table whose rows it runs (None: ``name``).
    row_option
        The keyword of ``function`` that picks the row, and the sub-command's flag ``--ROW_OPTION`` when the task
        has several rows; None: the task has one row.
    images
        The images it takes, in the function's order. One, ``"image"``: a file or a folder, the positional
        argument. Several: one run, each image an option that ``add_arguments`` declares.
    add_arguments
        Declares the sub-command's own options (beyond the fit and output options every task takes).
    read_arguments
        Turns them into keyword arguments and files read with every image (:data:`ReadArguments`).
    example
        Calls ``function`` on a small sample made from an image, ``example(image, **keywords)``, adding what the
        task needs besides (a PSF, a mask, a second image); None: ``function(image, **keywords)``.
    """

    name: str
    function: Callable[..., Restoration]
    summary: str
    rows: str | None = None
    row_option: str | None = "method"
    images: tuple[str, ...] = ("image",)
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    read_arguments: ReadArguments | None = None
    example: Callable[..., Restoration] | None = None

    @property
    def preset_task(self) -> str:
        """The preset table's task whose rows this task runs."""
        return self.rows or self.name

    @property
    def batched(self) -> bool:
        """Whether a folder run can step several images' fits together (a plan, one image each)."""
        return hasattr(self.function, "plan") and self.images == ("image",)

    def try_row(self, preset: Preset, image: np.ndarray, **settings: Any) -> Restoration:
        """Run the row ``preset`` on a sample made from ``image`` ((H, W, 3) floats in [0, 1], at least 32×32)
        with the fit ``settings`` (a few steps, a narrow network), which a classical row does not take."""
        keywords = {"preset": preset.profile, **(settings if preset.kind != "classical" else {})}
        if self.row_option is not None:
            keywords[self.row_option] = preset.method
        return (self.example or self.function)(image, **keywords)


def register(spec: TaskSpec) -> TaskSpec:
    """Add a task to :data:`deepprior.registry.TASKS` under its name."""
    return TASKS.register(spec.name)(spec)


def blind_plan(
    task: str,
    image: ImageLike,
    method: str | None,
    profile: str,
    seed: int,
    device: str,
    overrides: dict[str, Any],
    noise: str = "gaussian",
    noise_level: tuple[float, ...] | None = None,
) -> Plan:
    """The plan of a task whose forward model is the identity (denoise, deblock, smooth); pixels the image marks
    missing (:attr:`deepprior.image.Image.missing`, e.g. NaN in a FITS file) are left out of the fit and filled
    in. The fit runs on the image stabilised by the ``noise`` model (:data:`deepprior.registry.NOISE_MODELS`), with
    the parameters ``noise_level`` or, without them, those estimated from the image, and its result is mapped
    back."""
    import numpy as np

    from ..image import as_image

    preset = get_preset(task, method, profile)
    source = as_image(image)
    squeeze = np.ndim(image) == 2
    if preset.kind == "classical":  # runs without torch: nothing below is imported
        from ..device import check_device_name
        from ..restore import plan_classical

        check_device_name(device)  # ignored (the solvers run on the CPU), but a misspelt name is still an error

        if source.missing is not None:
            raise InputError(f"{preset.method} cannot skip missing pixels: use a DIP method, or inpaint first")
        if noise != "gaussian" or noise_level is not None:
            raise InputError(f"{preset.method} takes no noise model: use a DIP method")
        return plan_classical(preset, source, overrides, squeeze=squeeze)
    from ..dip import plan_dip
    from ..operators import Identity

    operator, observation, extra = Identity(), source.pixels, {}
    known = known_pixels(None, source)
    model, finish = noise_model(noise, noise_level, source.pixels, known), None
    if noise != "gaussian":
        extra["noise"] = model.describe()
    if model.stabilises:
        observation, finish = model.stabilise(observation), functools.partial(_unstabilised, model)
        if overrides.get("reference") is not None:  # the fit's PSNR curves compare stabilised images
            overrides = {**overrides, "reference": model.stabilise(as_image(overrides["reference"]).pixels)}
    if known is not None:
        operator, observation = leave_out(known, observation)
        extra["missing_fraction"] = float(source.missing.mean())  # type: ignore[union-attr]
    return plan_dip(
        preset,
        source,
        observation,
        operator,
        image_size=source.shape,
        seed=seed,
        device=device,
        overrides=overrides,
        squeeze=squeeze,
        extra=extra,
        finish=finish,
    )


def noise_model(name: str, level: tuple[float, ...] | None, pixels: np.ndarray, known: np.ndarray | None) -> NoiseModel:
    """The noise model ``name`` with the parameters ``level`` or, without them, those estimated from ``pixels``
    (its ``known`` ones). A model with parameters that finds nothing to stabilise (a Poisson model whose variance
    hardly grows with the intensity) draws a warning."""
    from ..noise.base import level_text
    from ..registry import NOISE_MODELS

    model_type = NOISE_MODELS.get(name)
    count = len(model_type.parameters)
    if level is None:
        model = model_type.estimate(pixels, known)
    elif len(level) == count or (model_type.per_channel and count and level and len(level) % count == 0):
        per = len(level) // count  # a number per parameter, or a run of them each (one per channel)
        runs = [level[start : start + per] for start in range(0, len(level), per)]
        model = model_type(*(float(run[0]) if per == 1 else tuple(map(float, run)) for run in runs))
    else:
        takes = ", ".join(model_type.parameters) or "none"
        each = ", ".join(f"{parameter}1…{parameter}C" for parameter in model_type.parameters)
        channels = f", or one number per channel for each ({each})" if model_type.per_channel else ""
        raise InputError(f"the {name} noise model's level is ({takes}){channels}, got {len(level)} number(s)")
    if model_type.parameters and not model.stabilises:
        text = level_text(model.describe(), model_type.parameters, digits=3)
        warn(f"the noise hardly varies with the intensity ({name} noise, {text}): denoising it as Gaussian")
    return model


def _unstabilised(model: NoiseModel, restoration: Restoration) -> Restoration:
    """The restoration mapped back from the stabilised image the fit restored."""
    restoration.output.pixels = model.unstabilise(restoration.output.pixels)
    return restoration


def known_pixels(mask: Any, source: Image) -> np.ndarray | None:
    """The pixels of ``source`` a fit may use, as a bool (H, W) array: those ``mask`` marks known, less those the
    image itself marks missing (:attr:`deepprior.image.Image.missing`, e.g. NaN in a FITS file).

    ``mask`` is (H, W) or (H, W, C), True / non-zero where a pixel is known; a colour mask marks a pixel known
    where every channel does. None: the image's own missing pixels only, and None where it has none.

    Raises
    ------
    InputError
        The mask's size is not the image's, or no pixel is left known.
    """
    import numpy as np

    if mask is None:
        return None if source.missing is None else ~source.missing
    known = np.asarray(mask)
    if known.ndim == 3:
        known = known.all(axis=2) if known.dtype == bool else (known > 0).all(axis=2)
    if known.shape != source.shape:
        raise InputError(
            f"the mask is {known.shape[1]}×{known.shape[0]} but the image is "
            f"{source.width}×{source.height} (width×height)"
        )
    known = known.astype(bool) if known.dtype == bool else known > 0
    if source.missing is not None:
        known = known & ~source.missing
    if not known.any():
        raise InputError("the mask marks no known pixel (non-zero = known)")
    if known.mean() < INVERTED_MASK_KNOWN:  # the paper's hardest case, 50% pixels, is far from this
        warn(f"the mask marks {1 - known.mean():.0%} of the pixels missing (non-zero = known): is it inverted?")
    return known


def leave_out(known: np.ndarray, pixels: np.ndarray, operator: Operator | None = None) -> tuple[Operator, np.ndarray]:
    """The forward model that leaves the pixels not ``known`` out of the fit, ``operator`` (None: the identity)
    followed by their :class:`~deepprior.operators.Mask`, and y with them set to 0, where the mask puts A x."""
    from ..operators import Composed, Mask

    mask = Mask(known)
    return (mask if operator is None else Composed(mask, operator)), pixels * known[..., None]
