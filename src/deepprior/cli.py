"""Command line: ``deepprior TASK INPUT -o OUTPUT [options]``.

The choices of every option come from the registries and the preset table, so a new generator, regulariser,
stopping rule, data term or preset row appears here without an edit. Only the sub-command being run gets its
options (and imports what they need): ``deepprior --help`` and ``--version`` load neither torch nor scipy.

Every user error ends in one line on stderr and exit status 2; a folder run continues past failing images and
exits 1 if any failed. Outputs are written atomically, so an interrupted or failed run leaves no partial file.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import presets
from .argtypes import RegistryChoices, duration, non_negative, non_negative_int, positive, positive_int, tile_side
from .errors import DeepPriorError, InputError, Warned, did_you_mean, warn

if TYPE_CHECKING:
    from .image import Image
    from .restore import Restoration
    from .tasks.base import TaskSpec

EXIT_USER_ERROR = 2
EXIT_SOME_FAILED = 1
EXIT_INTERRUPTED = 130

# folders this run created: removed again if the run ends with nothing in them (error, Ctrl-C)
_CREATED: list[Path] = []
# checkpoints of the fits in progress: kept when a run is interrupted, so that --resume can go on
_CHECKPOINTS: list[Path] = []

# the classical rows of smooth as a sub-command of their own, beside the registered tasks
L0_COMMAND = ("l0", "classical l0 gradient smoothing (Region Fusion or L0 smoothing), seconds")


def commands() -> dict[str, tuple[str, str]]:
    """sub-command → (task of the preset table, help): every registered task (:data:`deepprior.registry.TASKS`)
    and ``l0``, by name."""
    from .registry import TASKS

    table = {name: (spec.preset_task, spec.summary) for name, spec in TASKS.items()}
    table[L0_COMMAND[0]] = ("smooth", L0_COMMAND[1])
    return dict(sorted(table.items()))


def _spec(command: str) -> TaskSpec:
    """The registered task of a sub-command."""
    from .registry import TASKS

    return TASKS.get(command)


class _Parser(argparse.ArgumentParser):
    """argparse that exits with our user-error status and one line, naming the nearest choice to a misspelt one."""

    def error(self, message: str) -> None:  # type: ignore[override]
        invalid = re.search(r"invalid choice: '?(.*?)'? \(choose from (.*)\)$", message)
        if invalid:
            message += did_you_mean(invalid[1], [choice.strip(" '") for choice in invalid[2].split(",")])
        self.exit(EXIT_USER_ERROR, f"deepprior: error: {message}\n")


def _add_fit_options(parser: argparse.ArgumentParser) -> None:
    from .registry import DATA_TERMS, GENERATORS, REFINERS, REGULARIZERS, STOPPERS
    from .settings import OUTPUT_POLICIES

    group = parser.add_argument_group("fit options (default: the preset row of the task and method)")
    group.add_argument(
        "--preset",
        choices=presets.PROFILES,
        default="paper",
        help="paper: the paper's settings (default); fast: close to them in a fraction of the time; best: more "
        "time for more quality (the README's 'which preset' table has the measured numbers)",
    )
    group.add_argument(
        "--seeds",
        type=positive_int,
        metavar="N",
        help="fit N times from seeds SEED, SEED+1, ... and average (default: the preset's; 3 for --preset best "
        "except denoising, else 1)",
    )
    group.add_argument(
        "--batch-seeds",
        action="store_true",
        default=None,
        help="step the seeds' fits together, one batched pass of their networks per step, instead of one after "
        "another (for a GPU that one small network leaves idle; not with --save-every)",
    )
    group.add_argument(
        "--refine",
        choices=RegistryChoices(REFINERS, "none"),
        metavar="NAME",
        help="after the fit, filter y once more with the fit as the pilot, for denoising only (%(choices)s); "
        "wiener: BM3D's Wiener stage; wiener-bm3d: its result averaged with BM3D on y alone, the pilot's half "
        "weighing less where the fit left signal in its residual (default: the preset's, wiener for denoise "
        "--preset fast, wiener-bm3d for --preset best)",
    )
    group.add_argument("--iterations", type=positive_int, help="Adam steps (disables the default early stop)")
    group.add_argument("--lr", type=positive, help="learning rate")
    group.add_argument("--reg-noise-std", type=non_negative, metavar="SIGMA", help="input jitter σ_reg")
    group.add_argument(
        "--average", type=non_negative, metavar="A", help="output average weight (0.99 in the paper; 0 disables)"
    )
    group.add_argument(
        "--backtrack",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="restore the last good state when the fit diverges",
    )
    group.add_argument(
        "--stop",
        choices=RegistryChoices(STOPPERS),
        metavar="NAME",
        help="stopping rule, one of %(choices)s; es-* stop without ground truth (default: es-wmv for denoise/deblock "
        "when --iterations is not given)",
    )
    group.add_argument(
        "--result",
        choices=OUTPUT_POLICIES,
        help="which image to return (default auto: the early-stop pick, the regulariser's output, "
        "the average, or the last output, the first that exists)",
    )
    group.add_argument(
        "--time-limit",
        type=duration,
        metavar="DURATION",
        help="end each image's fit by this time (90, 90s, 5m, 1.5h), at the last step before it, with the "
        "result its stopping rule or average has then (the seeds of an ensemble share it; a refiner's time, "
        "measured first on crops of the image, is held back from it)",
    )
    group.add_argument(
        "--tile",
        type=tile_side,
        default=argparse.SUPPRESS,  # absent unless given: --tile none (None) is a choice
        metavar="SIDE",
        help="restore the image in overlapping tiles of SIDE×SIDE pixels, each fitted alone, blended back (for "
        "images too large for the memory); auto (default): only when the whole fit would not fit in the free "
        "memory; none: never (such an image is refused)",
    )
    group.add_argument(
        "--tile-overlap",
        type=non_negative_int,
        metavar="PIXELS",
        help=f"how far the tiles overlap, blended across (default {presets.Preset.tile_overlap}, narrowed to "
        "below half a tile)",
    )
    group.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    group.add_argument("--generator", choices=RegistryChoices(GENERATORS), metavar="NAME", help="network: %(choices)s")
    group.add_argument(
        "--channels",
        type=positive_int,
        metavar="C",
        help="network width: channels per scale (128 in the paper; 32-64 is faster)",
    )
    group.add_argument(
        "--data-term", choices=RegistryChoices(DATA_TERMS), metavar="NAME", help="data term E(A·x, y): %(choices)s"
    )
    group.add_argument(
        "--regularizer",
        choices=RegistryChoices(REGULARIZERS),
        metavar="NAME",
        help="explicit regulariser: %(choices)s",
    )
    group.add_argument("--lam", type=non_negative, help="regulariser weight λ (default: the method's)")
    group.add_argument("--tv-kind", choices=["anisotropic", "isotropic"], help="TV flavour")
    group.add_argument(
        "--fp32", action="store_true", help="full float32 (the default on CUDA; bf16 autocast on CPUs with native bf16)"
    )
    group.add_argument(
        "--stretch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fit the image stretched from its lowest to its highest value onto the full range, and map the result "
        "back (default: when it spans less than half the range, e.g. a 12-bit camera's counts in a 16-bit file)",
    )
    group.add_argument("--reference", type=Path, help="ground truth, for the PSNR in the progress bar and history")
    group.add_argument("--save-every", type=positive_int, metavar="N", help="write a snapshot every N steps")
    group.add_argument(
        "--resume",
        action="store_true",
        help="go on from the checkpoint a killed run left beside its output (OUTPUT.checkpoint.pt); "
        "in a folder, images already done are skipped",
    )
    group.add_argument(
        "--checkpoint-every",
        type=non_negative,
        default=120.0,
        metavar="SECONDS",
        help="save the whole fit this often, to resume a killed run (default 120; 0: every check)",
    )


def _add_output_options(parser: argparse.ArgumentParser, batch: bool = False) -> None:
    group = parser.add_argument_group("outputs and resources")
    if batch:
        group.add_argument(
            "--batch-images",
            type=positive_int,
            metavar="N",
            help="in a folder, step up to N images of one size together, one batched pass of their networks per "
            "step, their regularisers' CPU steps (DIP-l0's) in threads at once (for a GPU that one small network "
            "leaves idle; not with --save-every or --ray; default 1: one at a time)",
        )
    group.add_argument("--overwrite", action="store_true", help="replace existing outputs (the input itself too)")
    group.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave images whose output and record exist alone (resumes a folder run)",
    )
    group.add_argument(
        "--threads", type=positive_int, metavar="N", help="CPU threads (default: the cores that are free now)"
    )
    group.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="restore a folder on a Ray cluster, one task per image (default address: auto, the running cluster "
        "or a new local one); needs deepprior[ray]",
    )
    group.add_argument(
        "--gpus-per-fit",
        type=non_negative,
        default=0.0,
        metavar="F",
        help="GPUs each Ray task reserves; a fraction lets several fits share one GPU (default 0)",
    )
    group.add_argument("--no-json", action="store_true", help="do not write the JSON run record")
    group.add_argument(
        "--no-exif",
        action="store_true",
        help="leave the input's EXIF metadata (camera, date, GPS location) out of the output; its colour profile stays",
    )
    group.add_argument(
        "--report",
        action="store_true",
        help="also write an HTML report beside each output (and index.html for a folder)",
    )
    group.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")


def _given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _classical_extras(args: argparse.Namespace) -> list[tuple[str, bool]]:
    """The fit options outside the overrides, and whether the user gave each (a classical solver takes none: it
    is deterministic and runs on the CPU)."""
    return [
        ("--device", args.device not in ("auto", "cpu")),
        ("--seed", args.seed != 0),
        ("--save-every", bool(getattr(args, "save_every", None))),
    ]


def _fit_options(args: argparse.Namespace) -> dict[str, Any]:
    """The overrides the user gave (only those: the preset row fills the rest)."""
    options = _given(
        args,
        "iterations",
        "lr",
        "reg_noise_std",
        "backtrack",
        "stop",
        "generator",
        "data_term",
        "regularizer",
        "lam",
        "seeds",
        "batch_seeds",
        "time_limit",
        "tile_overlap",
        "stretch",
    )
    if hasattr(args, "tile"):
        options["tile"] = args.tile
    batched = (("--batch-seeds", args.batch_seeds), ("--batch-images", _at_once(args) > 1))
    together = [flag for flag, on in batched if on]
    if together and getattr(args, "save_every", None):
        raise InputError(f"{together[0]} cannot be combined with --save-every: snapshots are written one fit at a time")
    if _at_once(args) > 1:
        if _row(args).kind == "classical":
            raise InputError(f"--batch-images steps networks together, and {_row(args).method} fits none: leave it out")
        if getattr(args, "ray", None):
            raise InputError("--batch-images and --ray: choose one (Ray restores one image per task)")
    if args.average is not None:
        if args.average >= 1:
            raise InputError(f"--average must be below 1, got {args.average}")
        options["average"] = args.average
    if args.result is not None:
        options["output"] = args.result
    if args.refine is not None:
        options["refine"] = None if args.refine == "none" else args.refine
    if args.fp32:
        options["amp"] = False
    if args.channels is not None:
        options["width"] = args.channels
    if args.tv_kind is not None:
        options["regularizer_options"] = {"kind": args.tv_kind}
    row = _row(args)
    if row.kind == "classical":
        from .restore import CLI_FLAGS

        fit_flags = [CLI_FLAGS.get(k, (f"--{k.replace('_', '-')}",))[0] for k in options if k != "lam"]
        fit_flags += [flag for flag, given in _classical_extras(args) if given]
        if fit_flags:
            verb = "does" if len(fit_flags) == 1 else "do"
            raise InputError(f"{', '.join(sorted(fit_flags))} {verb} not apply to {row.method} (a classical solver)")
        return options
    if (args.lam is not None or args.tv_kind is not None) and not (args.regularizer or row.regularizer):
        raise InputError("--lam and --tv-kind need --regularizer (or a --method with a regulariser)")
    options["threads"] = args.threads or "auto"
    return options


def _at_once(args: argparse.Namespace) -> int:
    """The most images stepped together (--batch-images; 1 for a command without it)."""
    return getattr(args, "batch_images", None) or 1


def _output_suffix(source: Path) -> str:
    """Keep lossless 16-bit-capable formats and FITS; everything else (JPEG, BMP) is written as PNG."""
    keep = (".png", ".tif", ".tiff", ".fits", ".fit", ".fts")
    return source.suffix.lower() if source.suffix.lower() in keep else ".png"


def _default_output(source: Path, task: str) -> Path:
    return source.with_name(f"{source.stem}_{task}{_output_suffix(source)}")


def _check_suffix(path: Path) -> None:
    from .io import IMAGE_SUFFIXES
    from .io.images import FITS_SUFFIXES

    if path.suffix.lower() not in IMAGE_SUFFIXES + FITS_SUFFIXES:
        raise InputError(f"cannot write '{path}': use a .png, .tif, .jpg or .bmp output name")


def _resolve_jobs(
    args: argparse.Namespace, source: Path, task: str, given: Sequence[Path] = ()
) -> list[tuple[Path, Path]]:
    """(input, output) pairs: one for a file, one per image for a folder (into an output folder), leaving out the
    files ``given`` with every image (a mask, a PSF, a reference kept in the folder beside the images).

    Checked before any work: the input exists; no output is the input itself or an existing file unless
    ``--overwrite`` (``--skip-existing`` drops those jobs); outputs of a folder that would share a name get
    distinct names; every output folder accepts a new file.
    """
    from .io import check_writable, list_images

    output = args.output
    if not source.exists():
        raise InputError(f"'{source}' does not exist")
    if source.is_dir():
        kept = {path.resolve() for path in given}
        images = [image for image in list_images(source) if image.resolve() not in kept]
        if not images:
            raise InputError(f"the folder '{source}' holds no image")
        target = output if output is not None else source.with_name(f"{source.name}_{task}")
        if target.exists() and not target.is_dir():
            raise InputError(f"the input is a folder, so the output '{target}' must be a folder too")
        if not target.parent.exists():
            raise InputError(f"output folder '{target.parent}' does not exist")
        names = [f"{image.stem}{_output_suffix(image)}" for image in images]
        shared = {name for name in names if names.count(name) > 1}
        # a.png and a.jpg would both become a.png: each gets its source suffix in its name instead
        jobs = [
            (
                image,
                target
                / (f"{image.stem}_{image.suffix[1:].lower()}{_output_suffix(image)}" if name in shared else name),
            )
            for image, name in zip(images, names)
        ]
    else:
        target = output if output is not None else _default_output(source, task)
        if target.is_dir():
            target = target / _default_output(source, task).name
        if not target.parent.exists():
            raise InputError(f"output folder '{target.parent}' does not exist")
        _check_suffix(target)
        jobs = [(source, target)]
    jobs = _existing_outputs(args, jobs)
    if jobs:
        if not jobs[0][1].parent.exists():
            jobs[0][1].parent.mkdir()
            _CREATED.append(jobs[0][1].parent)
        check_writable(jobs[0][1])
    return jobs


def _existing_outputs(args: argparse.Namespace, jobs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """Refuse to replace inputs and existing outputs unless told to; drop finished jobs with --skip-existing."""
    if args.overwrite:
        return jobs
    for source, output in jobs:
        if output.exists() and output.resolve() == source.resolve():
            raise InputError(f"the output '{output}' is the input itself: give another -o, or --overwrite")
    finished = [(s, o) for s, o in jobs if o.exists() and (args.no_json or o.with_suffix(".json").exists())]
    if args.skip_existing or getattr(args, "resume", False):
        for _, output in finished:
            if not args.quiet:
                print(f"deepprior: {output} exists, skipped")
        return [job for job in jobs if job not in finished]
    existing = [o for _, o in jobs if o.exists()]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise InputError(f"'{existing[0]}'{more} exists: --overwrite replaces, --skip-existing leaves it")
    return jobs


def _checkpoint_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.checkpoint.pt")


def _row(args: argparse.Namespace) -> presets.Preset:
    """The preset row a sub-command's row option names (--method; inpainting's --kind; l0's --solver)."""
    option = "solver" if args.command == L0_COMMAND[0] else _spec(args.command).row_option
    method = getattr(args, option, None) if option is not None else None
    return presets.get_preset(commands()[args.command][0], method, getattr(args, "preset", "paper"))


def _fits_a_network(args: argparse.Namespace) -> bool:
    return args.command != "l0" and _row(args).kind == "dip"


def _snapshots(every: int, output: Path, source: Image) -> Any:
    """Every ``every`` steps, the fit's image as a PNG beside the output, in the source's bit depth (16 at most)
    and colour profile."""
    from .callbacks import Snapshots
    from .image import Image
    from .io import write_image
    from .loop import as_numpy_image

    folder = output.with_name(f"{output.stem}_snapshots")
    if not folder.exists():
        folder.mkdir()
        _CREATED.append(folder)
    return Snapshots(
        every,
        lambda name, image: write_image(
            folder / f"{name}.png",
            Image(as_numpy_image(image), None, min(source.bit_depth, 16), icc_profile=source.icc_profile),
        ),
    )


def _checkpoints_on_disk(path: Path) -> list[Path]:
    """The checkpoint file ``path`` and its tiles' (a tiled image's, :func:`deepprior.restore.tile_checkpoints`)
    that exist."""
    from .restore import tile_checkpoints

    return [each for each in [path, *tile_checkpoints(path)] if each.exists()]


def _write_result(
    restoration: Restoration, output: Path, args: argparse.Namespace, inputs: dict[str, str], wall: float
) -> None:
    from .io import write_image
    from .record import write_record

    write_image(output, dataclasses.replace(restoration.output, exif=None) if args.no_exif else restoration.output)
    if not args.no_json:
        record = dataclasses.replace(
            restoration.record, inputs=inputs, output_path=str(output), command=list(sys.argv), wall_seconds=wall
        )
        write_record(output.with_suffix(".json"), record, restoration.history)


def _summary(restoration: Restoration, output: Path, wall: float, reference: Image | None, fitted: bool) -> str:
    """The line printed for each image written (``fitted``: a network was fitted, else a classical solver ran)."""
    record = restoration.record
    if not fitted:  # no steps: the solver's settings instead
        from .record import what_ran

        text = f"wrote {output} ({what_ran(record.to_dict())}, in {wall:.1f} s on {record.device}"
    else:
        text = (
            f"wrote {output} ({record.iterations_run} iterations in {wall:.1f} s on {record.device}, "
            f"output: {record.output_source}"
        )
    if record.selected_step is not None:
        text += f" at step {record.selected_step}"
    if restoration.history is not None and any(e["event"] == "time limit" for e in restoration.history.events):
        text += ", ended by the time limit"
    noise = record.extra.get("noise")
    if noise and noise.get("stabilised_sigma") is not None:  # the level, to reuse with --noise-level
        from .noise.base import level_text
        from .registry import NOISE_MODELS

        level = level_text(noise, NOISE_MODELS.get(noise["name"]).parameters)
        text += f", {noise['name']} noise {level}{' (estimated)' if noise.get('estimated') else ''}"
    stretch = record.extra.get("stretch")
    if stretch:  # the fit ran on another scale than the file's
        text += f", fitted stretched from [{stretch['low']:.4g}, {stretch['high']:.4g}]"
    if reference is not None and reference.pixels.shape == restoration.output.pixels.shape:
        from .metrics import psnr

        text += f", PSNR vs reference {psnr(restoration.output.pixels, reference.pixels):.2f} dB"
    return text + ")"


@dataclasses.dataclass
class Restorer:
    """What every image of one command is restored with: the parsed command line, the task function, its
    options, the extra inputs (a mask) and the reference. Picklable, so that worker processes and Ray tasks get it
    whole."""

    args: argparse.Namespace
    run: Callable[..., Restoration]
    options: dict[str, Any]
    extra_inputs: dict[str, Path] = dataclasses.field(default_factory=dict)
    reference: Image | None = None
    quiet_bar: bool = False

    def inputs(self, source: Path) -> dict[str, Path]:
        return {"image": source, **self.extra_inputs}


@dataclasses.dataclass
class _Call:
    """One image's task call, read and set up: the images read (in the task's argument order), the keyword
    arguments, and the checkpoint files its fit may leave."""

    images: dict[str, Path]
    output: Path
    read: list[Image]
    kwargs: dict[str, Any]
    checkpoints: list[Path]


def _prepare_call(restorer: Restorer, images: dict[str, Path], output: Path) -> _Call:
    """Read the inputs of one job and build the task's arguments (mask, reference, snapshots, checkpoint, bar)."""
    from .io import read_image, read_mask

    args, options, reference = restorer.args, restorer.options, restorer.reference
    task = commands()[args.command][0]
    read = {name: read_image(path) for name, path in images.items() if name != "mask"}
    kwargs = dict(options)
    if reference is not None:
        kwargs["reference"] = reference
    if "mask" in images:
        kwargs["mask"] = read_mask(images["mask"], read["image"].shape)
    main = read["image"] if "image" in read else list(read.values())[-1]  # a pair's last: the one restored
    if getattr(args, "save_every", None):
        kwargs["callbacks"] = [_snapshots(args.save_every, output, main)]
    checkpoints = []
    if _fits_a_network(args):
        from .restore import checkpoint_files

        checkpoint = _checkpoint_path(output)
        kwargs.update(checkpoint=checkpoint, resume=args.resume, checkpoint_every=args.checkpoint_every)
        seeds, together = args.seeds or _row(args).seeds, bool(args.batch_seeds) or _at_once(args) > 1
        checkpoints = checkpoint_files(checkpoint, seeds, args.seed, together)
        _CHECKPOINTS.extend(checkpoints)
    quiet_bar = args.quiet or restorer.quiet_bar  # workers print summaries, not bars
    kwargs["progress"] = False if quiet_bar else f"{task} {main.path.name if main.path else ''}".strip()
    return _Call(images, output, list(read.values()), kwargs, checkpoints)


def _finish_call(restorer: Restorer, call: _Call, restoration: Restoration, wall: float) -> None:
    """Write one job's image and record (and report), drop its checkpoints, print the summary."""
    args, output = restorer.args, call.output
    _write_result(restoration, output, args, {k: str(v) for k, v in call.images.items()}, wall)
    if getattr(args, "report", False) and not args.no_json:
        from .report import write_report

        write_report(output.with_suffix(".json"))
    for path in call.checkpoints:  # the result is safe: the checkpoints have done their job
        for each in _checkpoints_on_disk(path):
            each.unlink(missing_ok=True)
        if path in _CHECKPOINTS:
            _CHECKPOINTS.remove(path)
    if not args.quiet:
        print(_summary(restoration, output, wall, restorer.reference, _fits_a_network(args)))


def _skip_image(failures: list[str], name: str, error: object) -> None:
    """A folder's image that failed: one line now, and one in the list printed at the end."""
    failures.append(f"{name}: {error}")
    print(f"deepprior: skipped {name}: {error}", file=sys.stderr)


def _restore_one(restorer: Restorer, images: dict[str, Path], output: Path) -> None:
    """Read the inputs of one job, restore, write the image and its record, print the summary."""
    from .io.stacks import is_stack

    if "image" in images and is_stack(images["image"]):
        _restore_stack(restorer.args, restorer.run, images, output, restorer.options)
        return
    call = _prepare_call(restorer, images, output)
    start = time.perf_counter()
    restoration = restorer.run(*call.read, **call.kwargs)
    _finish_call(restorer, call, restoration, time.perf_counter() - start)


def _restore_batched(restorer: Restorer, jobs: list[tuple[Path, Path]], at_once: int) -> list[str]:
    """Restore the jobs with up to ``at_once`` images of one size stepped together
    (:func:`deepprior.restore.run_together`); a stack, one at a time. Returns the failures (one line each)."""
    from .io.stacks import is_stack
    from .restore import run_together

    failures: list[str] = []

    def failed(call: _Call, error: DeepPriorError) -> None:
        _skip_image(failures, call.images["image"].name, error)

    def run(batch: list[tuple[_Call, Any]]) -> None:
        start = time.perf_counter()
        try:
            restorations = run_together([plan for _, plan in batch], at_once=at_once)
        except DeepPriorError as exc:
            for call, _ in batch:
                failed(call, exc)
            return
        wall = time.perf_counter() - start
        for (call, _), restoration in zip(batch, restorations):
            _finish_call(restorer, call, restoration, wall)

    waiting: dict[Any, list[tuple[_Call, Any]]] = {}
    for source, output in jobs:
        images = restorer.inputs(source)
        call = _Call(images, output, [], {}, [])
        try:
            if is_stack(source):
                _restore_one(restorer, images, output)
                continue
            call = _prepare_call(restorer, images, output)
            plan = restorer.run.plan(*call.read, **call.kwargs)  # type: ignore[attr-defined]
        except DeepPriorError as exc:
            failed(call, exc)
            continue
        batch = waiting.setdefault(plan.batch_key, [])
        batch.append((call, plan))
        if sum(waiting_plan.seeds for _, waiting_plan in batch) >= at_once:
            run(waiting.pop(plan.batch_key))
    for batch in waiting.values():
        run(batch)
    return failures


def _restore_stack(
    args: argparse.Namespace,
    run: Callable[..., Restoration],
    images: dict[str, Path],
    output: Path,
    options: dict[str, Any],
) -> None:
    """A TIFF stack: every plane restored alone, written back in the stack's layout, dtype and metadata."""
    from .io import read_mask
    from .io.stacks import read_stack, write_stack
    from .record import write_record

    stack = read_stack(images["image"])
    fits = stack.fits_header is not None
    if output.suffix.lower() not in ((".fits", ".fit", ".fts") if fits else (".tif", ".tiff")):
        kind = "a FITS file is written as FITS (.fits)" if fits else "a TIFF stack is written as TIFF (.tif)"
        raise InputError(f"cannot write '{output}': {kind}, to keep its layout and metadata")
    kwargs = dict(options)
    if "mask" in images:
        kwargs["mask"] = read_mask(images["mask"], stack.planes[0].shape)
    start = time.perf_counter()
    results = []
    for number, plane in enumerate(stack.planes, 1):
        label = f"{args.command} {images['image'].name} plane {number}/{len(stack.planes)}"
        kwargs["progress"] = False if args.quiet else label
        results.append(run(plane, **kwargs))
    wall = time.perf_counter() - start
    write_stack(output, stack, [result.output.pixels for result in results])
    if not args.no_json:
        layout: dict[str, Any] = {"axes": stack.axes, "shape": list(stack.shape), "planes": len(results)}
        per_plane = [result.record.extra for result in results]
        if any(extra != per_plane[0] for extra in per_plane):  # e.g. each plane's estimated noise model
            layout["plane_extra"] = per_plane
        record = dataclasses.replace(
            results[0].record,
            extra={**results[0].record.extra, "stack": layout},
            seconds=sum(result.record.seconds for result in results),
            iterations_run=sum(result.record.iterations_run for result in results),
            inputs={k: str(v) for k, v in images.items()},
            output_path=str(output),
            command=list(sys.argv),
            wall_seconds=wall,
        )
        write_record(output.with_suffix(".json"), record)
    if not args.quiet:
        what = f"{len(results)} plane(s) of a FITS image" if fits else f"{len(results)} planes of a {stack.axes} stack"
        print(f"wrote {output} ({what} in {wall:.1f} s)")


def _run_jobs(
    args: argparse.Namespace, run: Callable[..., Restoration], options: dict[str, Any], extra_inputs: dict[str, Path]
) -> int:
    """Restore a file, or every image of a folder (continuing past failures)."""
    from .io import read_image

    task = args.command if args.command != "l0" else f"l0-{args.solver}"  # names the default outputs
    given = [*extra_inputs.values(), *([args.reference] if getattr(args, "reference", None) else [])]
    jobs = _resolve_jobs(args, args.input, task, given)
    reference = read_image(args.reference) if getattr(args, "reference", None) else None
    restorer = Restorer(args, run, options, extra_inputs, reference)
    workers = _workers(args, len(jobs))
    at_once = _at_once(args)
    failures: list[str] = []
    if getattr(args, "ray", None) and jobs:
        from .distributed import run_on_ray

        if not args.quiet:
            print(f"deepprior: {len(jobs)} image(s) on the Ray cluster at {args.ray}", file=sys.stderr)
        tasks = [((source, output), (restorer, restorer.inputs(source), output)) for source, output in jobs]
        for (source, output), error, warned in run_on_ray(args.ray, args.gpus_per_fit, _worker_job, tasks):
            _relay_warnings(warned)
            if error is not None:
                _skip_image(failures, source.name, error)
            elif not args.quiet:
                print(f"wrote {output}")
    elif at_once > 1 and len(jobs) > 1:
        if not args.quiet:
            print(f"deepprior: {len(jobs)} images, up to {at_once} of one size at once", file=sys.stderr)
        failures = _restore_batched(restorer, jobs, at_once)
    elif workers > 1:
        if not args.quiet:
            print(
                f"deepprior: {len(jobs)} images on the CPU: {workers} at a time with one thread each "
                "(more images per hour than one at a time with every thread)",
                file=sys.stderr,
            )
        failures = _run_in_workers(workers, restorer, jobs)
    else:
        if len(jobs) > 1 and not args.quiet:
            print(f"deepprior: {len(jobs)} images, one at a time", file=sys.stderr)
        for source, output in jobs:
            try:
                _restore_one(restorer, restorer.inputs(source), output)
            except DeepPriorError as exc:
                if len(jobs) == 1:
                    raise
                _skip_image(failures, source.name, exc)
    if getattr(args, "report", False) and not args.no_json and args.input.is_dir() and jobs:
        from .report import write_index

        print(f"wrote {write_index(jobs[0][1].parent, failures, build=False)}")  # each run wrote its own
    if failures:
        print(f"deepprior: {len(failures)} of {len(jobs)} image(s) failed:", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return EXIT_SOME_FAILED
    return 0


def _workers(args: argparse.Namespace, images: int) -> int:
    """Processes for a folder: on the CPU, several images at once with one thread each when cores are free.

    Two fits with one thread each finish sooner than the same two one after the other with two threads each:
    DIP's steps do not scale to every core (benchmarks/results/load_cpu.md, benchmarks/results/speed_cpu.md).
    On a GPU, one image at a time: fits in several processes time-share it and did fewer images per hour
    (benchmarks/results/gpu/README.md, "Many fits on one GPU"). A given ``--threads`` keeps one image at a time.
    """
    if images < 2 or getattr(args, "threads", None) or getattr(args, "save_every", None):
        return 1
    if _fits_a_network(args) and getattr(args, "device", "cpu") != "cpu":  # a classical solver runs on the CPU
        from .device import resolve_device

        if resolve_device(args.device).type != "cpu":
            return 1
    from .device import free_cores

    return min(free_cores(), images)


def _worker_start(fits_a_network: bool) -> None:
    """One thread per worker process (torch's, loaded only when its jobs fit networks)."""
    import warnings

    _use_threads(1, fits_a_network)
    warnings.showwarning = _warn_in_one_line


def _worker_job(restorer: Restorer, images: dict[str, Path], output: Path) -> list[Warned]:
    """Restore one image of a folder away from the main process; returns the warnings it raised, which
    :func:`_relay_warnings` shows there (each worker would print its own copy; a Ray node's output is not shown)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        _restore_one(dataclasses.replace(restorer, quiet_bar=True), images, output)
    return [(str(warning.message), warning.category) for warning in caught]


def _relay_warnings(warned: list[Warned]) -> None:
    """Raise a worker's warnings again in this process, through its filters: the same warning from many images
    of a folder is shown once (the default filter's once per message and place)."""
    for message, category in warned:
        warn(message, category)


def _run_in_workers(workers: int, restorer: Restorer, jobs: list[tuple[Path, Path]]) -> list[str]:
    """Restore the jobs in ``workers`` processes; returns the failures (one line each)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    failures: list[str] = []
    context = multiprocessing.get_context("spawn")  # no inherited torch threads or locks
    initargs = (_fits_a_network(restorer.args),)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start, initargs=initargs) as pool:
        futures = {
            pool.submit(_worker_job, restorer, restorer.inputs(source), output): source for source, output in jobs
        }
        try:
            for future, source in futures.items():
                try:
                    _relay_warnings(future.result())
                except DeepPriorError as exc:
                    _skip_image(failures, source.name, exc)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return failures


def _task_options(args: argparse.Namespace, spec: TaskSpec) -> tuple[dict[str, Any], dict[str, Path]]:
    """The task function's keyword arguments, and the files read with every image (a mask, a PSF)."""
    options = {**_fit_options(args), "preset": args.preset, "seed": args.seed, "device": args.device}
    files: dict[str, Path] = {}
    if spec.read_arguments is not None:
        spec.read_arguments(args, options, files)
    if spec.row_option is not None and getattr(args, spec.row_option, None) is not None:
        options[spec.row_option] = getattr(args, spec.row_option)
    return options, files


def _cmd_task(args: argparse.Namespace) -> int:
    spec = _spec(args.command)
    options, files = _task_options(args, spec)
    return _run_jobs(args, spec.function, options, files)


def _cmd_l0(args: argparse.Namespace) -> int:
    from .tasks import smooth

    options = {"method": args.solver, **_given(args, "lam", "passes", "kappa", "beta_max")}
    return _run_jobs(args, smooth, options, {})


def _cmd_images(args: argparse.Namespace) -> int:
    """A task of several images (a flash / no-flash pair): one run, written beside the last."""
    spec = _spec(args.command)
    options, files = _task_options(args, spec)
    paths = {name: getattr(args, name) for name in spec.images}
    for path in paths.values():
        if not path.exists():
            raise InputError(f"'{path}' does not exist")
    main = paths[spec.images[-1]]
    output = args.output or _default_output(main, args.command)
    if not output.parent.exists():
        raise InputError(f"output folder '{output.parent}' does not exist")
    _check_suffix(output)
    if not _existing_outputs(args, [(path, output) for path in reversed(paths.values())]):
        return 0
    from .io import check_writable, read_image

    check_writable(output)
    reference = read_image(args.reference) if args.reference else None
    _restore_one(Restorer(args, spec.function, options, files, reference), {**paths, **files}, output)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import write_index, write_report

    target = args.run
    if not target.exists():
        raise InputError(f"'{target}' does not exist")
    if target.is_dir():
        print(f"wrote {write_index(target)}")
        return 0
    record = target if target.suffix.lower() == ".json" else target.with_suffix(".json")
    if not record.exists():  # an output image given: its record is beside it, unless --no-json left it out
        raise InputError(f"'{target}' has no run record beside it ('{record.name}'; written unless --no-json)")
    print(f"wrote {write_report(record)}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.output, iterations=args.iterations, device=args.device, quiet=args.quiet, seed=args.seed)
    return 0


def _add_task_options(sub: argparse.ArgumentParser, name: str) -> None:
    """The options of one sub-command (the registries' names are read only when needed: see RegistryChoices)."""
    task = commands()[name][0]

    def method_help(choices: list[str]) -> str:
        return "; ".join(f"{m}: {presets.get_preset(task, m).summary}" for m in choices)

    if name == L0_COMMAND[0]:
        sub.add_argument("input", type=Path, help="image file, or a folder of images")
        _add_output_file(sub)
        classical = presets.methods("smooth", kind="classical")
        sub.add_argument("--solver", choices=classical, default=classical[0], help=method_help(classical))
        sub.add_argument("--lam", type=non_negative, help="λ (default: the solver's preset)")
        sub.add_argument("--passes", type=positive_int, help="Region Fusion passes K")
        sub.add_argument("--kappa", type=positive, help="L0 smoothing β growth κ > 1")
        sub.add_argument("--beta-max", type=positive, help="L0 smoothing β_max")
        _add_output_options(sub)
        sub.set_defaults(handler=_cmd_l0)
        return
    spec = _spec(name)
    single = spec.images == ("image",)
    if single:
        sub.add_argument("input", type=Path, help="image file, or a folder of images")
    _add_output_file(sub, folder=single)
    if spec.add_arguments is not None:
        spec.add_arguments(sub)
    choices = presets.methods(task)
    if spec.row_option is not None and len(choices) > 1:
        sub.add_argument(f"--{spec.row_option}", choices=choices, default=choices[0], help=method_help(choices))
    _add_fit_options(sub)
    _add_output_options(sub, batch=spec.batched)
    sub.set_defaults(handler=_cmd_task if single else _cmd_images)


def _add_output_file(sub: argparse.ArgumentParser, folder: bool = True) -> None:
    more = " (or folder for a folder input); default: INPUT_<task>.png beside it" if folder else ""
    sub.add_argument("-o", "--output", type=Path, help=f"output file{more}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``deepprior`` argument parser.

    Parameters
    ----------
    command
        The sub-command whose options to add; None: every sub-command's; ``""``: none (enough for ``--help`` and
        ``--version``). The registries' names in the options are listed only when needed (``RegistryChoices``).
    """
    from . import __version__

    parser = _Parser(
        prog="deepprior",
        description="Single-image restoration with no training data: Deep Image "
        "Prior and its explicit regularisers. Masks: non-zero (255 or 1) marks a KNOWN pixel.",
    )
    parser.add_argument("--version", action="version", version=f"deepprior {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name, (_, summary) in commands().items():
        sub = subparsers.add_parser(name, help=summary, description=summary)
        if command is None or command == name:
            _add_task_options(sub, name)

    report = subparsers.add_parser(
        "report",
        help="an HTML report of a run (or an index of a folder of runs)",
        description="Writes a self-contained HTML page beside a run's record: input and "
        "result with a before/after slider and a zoomed detail, the curves, the settings.",
    )
    report.add_argument(
        "run", type=Path, metavar="RUN_OR_FOLDER", help="a run's JSON record or its output image, or a folder of runs"
    )
    report.set_defaults(handler=_cmd_report)

    demo = subparsers.add_parser(
        "demo",
        help="denoise the bundled sample image and write a report",
        description="Adds σ=25 noise to the bundled sample, restores it, and writes the "
        "noisy input, the result and a loss/PSNR curve.",
    )
    demo.add_argument("-o", "--output", type=Path, default=Path("deepprior-demo"), help="output folder")
    demo.add_argument("--iterations", type=positive_int, help="steps (default: fits in ~1 minute on 2 cores)")
    demo.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", "-q", action="store_true")
    demo.set_defaults(handler=_cmd_demo)
    return parser


def _warn_in_one_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"deepprior: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``deepprior`` console script; returns the exit status."""
    import warnings

    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), "")
    previous = warnings.showwarning
    warnings.showwarning = _warn_in_one_line
    _CREATED.clear()
    _CHECKPOINTS.clear()
    status = EXIT_USER_ERROR
    try:
        parser = build_parser(command if command in commands() else "")
        args = parser.parse_args(argv)
        _set_threads(args)
        status = int(args.handler(args) or 0)
    except DeepPriorError as exc:
        print(f"deepprior: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        kept = [each for path in _CHECKPOINTS for each in _checkpoints_on_disk(path)]
        resume = f"; {kept[0]} keeps the fit: the same command with --resume goes on" if kept else ""
        print(f"deepprior: interrupted (no partial output was written){resume}", file=sys.stderr)
        status = EXIT_INTERRUPTED
    except Exception as exc:  # pragma: no cover - a bug of ours: one line, details on request
        if os.environ.get("DEEPPRIOR_DEBUG"):
            raise
        print(
            f"deepprior: internal error: {type(exc).__name__}: {exc} (set DEEPPRIOR_DEBUG=1 for details)",
            file=sys.stderr,
        )
        status = 1
    finally:
        warnings.showwarning = previous
        for folder in reversed(_CREATED):  # a folder we made and left empty goes again
            try:
                folder.rmdir()
            except OSError:
                pass
    return status


def _set_threads(args: argparse.Namespace) -> None:
    """A given ``--threads`` applies to every command (fits get ``threads="auto"`` otherwise, see FitSettings):
    torch's threads where the command fits a network, the classical solvers' alone (torch not loaded) elsewhere."""
    requested = getattr(args, "threads", None)
    if requested:
        _use_threads(requested, _fits_a_network(args))


def _use_threads(threads: int, fits_a_network: bool) -> None:
    """Give this process ``threads`` CPU threads; torch is loaded first only where a network will be fitted."""
    from .device import set_cpu_threads

    if fits_a_network:
        import torch  # noqa: F401  (loaded now, so that set_cpu_threads sets its threads too)
    set_cpu_threads(threads)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
