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
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import presets
from .argtypes import non_negative, positive, positive_int, scale_factor
from .errors import DeepPriorError, InputError

if TYPE_CHECKING:
    from .image import Image
    from .restore import Restoration

EXIT_USER_ERROR = 2
EXIT_SOME_FAILED = 1

# sub-command → (task of the preset table, help); "l0" runs the classical rows of "smooth"
COMMANDS: dict[str, tuple[str, str]] = {
    "denoise": ("denoise", "blind Gaussian-noise removal"),
    "deblock": ("deblock", "blind JPEG artifact removal"),
    "super-resolve": ("super-resolve", "super-resolution by an integer factor"),
    "inpaint": ("inpaint", "fill in missing pixels"),
    "smooth": ("smooth", "edge-preserving smoothing (texture removal)"),
    "flash-noflash": ("flash-noflash", "fuse a flash / no-flash pair"),
    "l0": ("smooth", "classical l0 gradient smoothing (Region Fusion or L0 smoothing), seconds"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that exits with our user-error status and one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"deepprior: error: {message}\n")


def _add_fit_options(parser: argparse.ArgumentParser) -> None:
    from .registry import DATA_TERMS, GENERATORS, REGULARIZERS, STOPPERS
    from .settings import OUTPUT_POLICIES

    group = parser.add_argument_group("fit options (default: the preset row of the task and method)")
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
        choices=STOPPERS.names(),
        help="stopping rule; es-* stop without ground truth (default: es-wmv for denoise/deblock "
        "when --iterations is not given)",
    )
    group.add_argument(
        "--result",
        choices=OUTPUT_POLICIES,
        help="which image to return (default auto: the early-stop pick, the regulariser's output, "
        "the average, or the last output, the first that exists)",
    )
    group.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    group.add_argument("--generator", choices=GENERATORS.names(), help="network")
    group.add_argument(
        "--channels",
        type=positive_int,
        metavar="C",
        help="network width: channels per scale (128 in the paper; 32-64 is faster)",
    )
    group.add_argument("--data-term", choices=DATA_TERMS.names(), help="data term E(A·x, y)")
    group.add_argument("--regularizer", choices=REGULARIZERS.names(), help="explicit regulariser")
    group.add_argument("--lam", type=non_negative, help="regulariser weight λ (default: the method's)")
    group.add_argument("--tv-kind", choices=["anisotropic", "isotropic"], help="TV flavour")
    group.add_argument(
        "--fp32", action="store_true", help="full float32 (default: bf16 autocast on CUDA and on CPUs with native bf16)"
    )
    group.add_argument("--reference", type=Path, help="ground truth, for the PSNR in the progress bar and history")
    group.add_argument("--save-every", type=positive_int, metavar="N", help="write a snapshot every N steps")


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-json", action="store_true", help="do not write the JSON run record")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")


def _given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _fit_options(args: argparse.Namespace) -> dict[str, Any]:
    """The overrides the user gave (only those: the preset row fills the rest)."""
    options = _given(
        args, "iterations", "lr", "reg_noise_std", "backtrack", "stop", "generator", "data_term", "regularizer", "lam"
    )
    if args.average is not None:
        if args.average >= 1:
            raise InputError(f"--average must be below 1, got {args.average}")
        options["average"] = args.average
    if args.result is not None:
        options["output"] = args.result
    if args.fp32:
        options["amp"] = False
    if args.channels is not None:
        options["width"] = args.channels
    if args.tv_kind is not None:
        options["regularizer_options"] = {"kind": args.tv_kind}
    method = getattr(args, "method", None) or getattr(args, "kind", None)
    row = presets.get_preset(COMMANDS[args.command][0], method)
    if row.kind == "classical":
        fit_flags = sorted(f"--{k.replace('_', '-')}" for k in options if k != "lam")
        if fit_flags:
            raise InputError(f"{', '.join(fit_flags)} do not apply to {row.method} (a classical solver)")
    elif (args.lam is not None or args.tv_kind is not None) and not (args.regularizer or row.regularizer):
        raise InputError("--lam and --tv-kind need --regularizer (or a --method with a regulariser)")
    return options


def _output_suffix(source: Path) -> str:
    """Keep lossless 16-bit-capable formats; everything else (JPEG, BMP) is written as PNG."""
    return source.suffix.lower() if source.suffix.lower() in (".png", ".tif", ".tiff") else ".png"


def _default_output(source: Path, task: str) -> Path:
    return source.with_name(f"{source.stem}_{task}{_output_suffix(source)}")


def _check_suffix(path: Path) -> None:
    from .io import IMAGE_SUFFIXES

    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"cannot write '{path}': use a .png, .tif, .jpg or .bmp output name")


def _resolve_jobs(source: Path, output: Path | None, task: str) -> list[tuple[Path, Path]]:
    """(input, output) pairs: one for a file, one per image for a folder (into an output folder)."""
    from .io import list_images

    if not source.exists():
        raise InputError(f"'{source}' does not exist")
    if source.is_dir():
        images = list_images(source)
        if not images:
            raise InputError(f"the folder '{source}' holds no image")
        target = output if output is not None else source.with_name(f"{source.name}_{task}")
        if target.exists() and not target.is_dir():
            raise InputError(f"the input is a folder, so the output '{target}' must be a folder too")
        if not target.parent.exists():
            raise InputError(f"output folder '{target.parent}' does not exist")
        target.mkdir(exist_ok=True)
        return [(image, target / f"{image.stem}{_output_suffix(image)}") for image in images]
    target = output if output is not None else _default_output(source, task)
    if target.is_dir():
        target = target / _default_output(source, task).name
    if not target.parent.exists():
        raise InputError(f"output folder '{target.parent}' does not exist")
    _check_suffix(target)
    return [(source, target)]


def _snapshots(every: int, output: Path, bit_depth: int) -> Any:
    from .callbacks import Snapshots
    from .io import write_image
    from .loop import as_numpy_image

    folder = output.with_name(f"{output.stem}_snapshots")
    folder.mkdir(exist_ok=True)
    return Snapshots(
        every,
        lambda step, image: write_image(
            folder / f"step_{step:06d}.png", as_numpy_image(image), bit_depth=min(bit_depth, 16)
        ),
    )


def _write_result(
    restoration: Restoration, output: Path, args: argparse.Namespace, inputs: dict[str, str], wall: float
) -> None:
    from .io import write_image
    from .record import write_record

    write_image(output, restoration.output)
    if not args.no_json:
        record = dataclasses.replace(
            restoration.record, inputs=inputs, output_path=str(output), command=list(sys.argv), wall_seconds=wall
        )
        write_record(output.with_suffix(".json"), record, restoration.history)


def _summary(restoration: Restoration, output: Path, wall: float, reference: Image | None) -> str:
    record = restoration.record
    text = (
        f"wrote {output} ({record.iterations_run} iterations in {wall:.1f} s on {record.device}, "
        f"output: {record.output_source}"
    )
    if record.selected_step is not None:
        text += f" at step {record.selected_step}"
    if reference is not None and reference.pixels.shape == restoration.output.pixels.shape:
        from .metrics import psnr

        text += f", PSNR vs reference {psnr(restoration.output.pixels, reference.pixels):.2f} dB"
    return text + ")"


def _restore_one(
    args: argparse.Namespace,
    run: Callable[..., Restoration],
    images: dict[str, Path],
    output: Path,
    options: dict[str, Any],
    reference: Image | None,
) -> None:
    """Read the inputs of one job, restore, write the image and its record, print the summary."""
    from .io import read_image, read_mask

    task = COMMANDS[args.command][0]
    read = {name: read_image(path) for name, path in images.items() if name != "mask"}
    kwargs = dict(options)
    if reference is not None:
        kwargs["reference"] = reference
    if "mask" in images:
        kwargs["mask"] = read_mask(images["mask"], read["image"].shape)
    main = read.get("image") or read["noflash"]
    if getattr(args, "save_every", None):
        kwargs["callbacks"] = [_snapshots(args.save_every, output, main.bit_depth)]
    kwargs["progress"] = False if args.quiet else f"{task} {main.path.name if main.path else ''}".strip()
    start = time.perf_counter()
    restoration = run(*read.values(), **kwargs)
    wall = time.perf_counter() - start
    _write_result(restoration, output, args, {k: str(v) for k, v in images.items()}, wall)
    if not args.quiet:
        print(_summary(restoration, output, wall, reference))


def _run_jobs(
    args: argparse.Namespace, run: Callable[..., Restoration], options: dict[str, Any], extra_inputs: dict[str, Path]
) -> int:
    """Restore a file, or every image of a folder (continuing past failures)."""
    from .io import read_image

    task = COMMANDS[args.command][0] if args.command != "l0" else f"l0-{args.solver}"
    jobs = _resolve_jobs(args.input, args.output, task)
    reference = read_image(args.reference) if getattr(args, "reference", None) else None
    failures: list[str] = []
    for source, output in jobs:
        try:
            _restore_one(args, run, {"image": source, **extra_inputs}, output, options, reference)
        except DeepPriorError as exc:
            if len(jobs) == 1:
                raise
            failures.append(f"{source.name}: {exc}")
            print(f"deepprior: skipped {source.name}: {exc}", file=sys.stderr)
    if failures:
        print(f"deepprior: {len(failures)} of {len(jobs)} image(s) failed:", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return EXIT_SOME_FAILED
    return 0


def _cmd_task(args: argparse.Namespace) -> int:
    from . import tasks

    options = {**_fit_options(args), "seed": args.seed, "device": args.device}
    extra: dict[str, Path] = {}
    if args.command == "super-resolve":
        options["scale"] = args.scale
    if args.command == "inpaint":
        extra["mask"] = args.mask
        options["kind"] = args.kind
    if args.command in ("denoise", "deblock", "smooth"):
        options["method"] = args.method
    run = getattr(tasks, args.command.replace("-", "_"))
    return _run_jobs(args, run, options, extra)


def _cmd_l0(args: argparse.Namespace) -> int:
    from .tasks import smooth

    options = {"method": args.solver, **_given(args, "lam", "passes", "kappa", "beta_max")}
    return _run_jobs(args, smooth, options, {})


def _cmd_flash(args: argparse.Namespace) -> int:
    from .tasks import flash_noflash

    options = {**_fit_options(args), "seed": args.seed, "device": args.device}
    output = args.output or _default_output(args.noflash, "flash-noflash")
    if not output.parent.exists():
        raise InputError(f"output folder '{output.parent}' does not exist")
    _check_suffix(output)
    from .io import read_image

    reference = read_image(args.reference) if args.reference else None
    _restore_one(args, flash_noflash, {"flash": args.flash, "noflash": args.noflash}, output, options, reference)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.output, iterations=args.iterations, device=args.device, quiet=args.quiet, seed=args.seed)
    return 0


def _task_parser(commands: Any, name: str) -> argparse.ArgumentParser:
    help_text = COMMANDS[name][1]
    sub = commands.add_parser(name, help=help_text, description=help_text)
    return sub


def _add_task_options(sub: argparse.ArgumentParser, name: str) -> None:
    """The options of one sub-command (imports the registries, hence torch)."""
    task = COMMANDS[name][0]

    def method_help(choices: list[str]) -> str:
        return "; ".join(f"{m}: {presets.get_preset(task, m).summary}" for m in choices)

    if name == "flash-noflash":
        sub.add_argument("--flash", type=Path, required=True, help="flash image (the network input)")
        sub.add_argument("--noflash", type=Path, required=True, help="no-flash image (the target)")
        sub.add_argument("-o", "--output", type=Path, help="output file")
    else:
        sub.add_argument("input", type=Path, help="image file, or a folder of images")
        sub.add_argument(
            "-o",
            "--output",
            type=Path,
            help="output file (or folder for a folder input); default: INPUT_<task>.png beside it",
        )
    if name == "l0":
        classical = presets.methods("smooth", kind="classical")
        sub.add_argument("--solver", choices=classical, default=classical[0], help=method_help(classical))
        sub.add_argument("--lam", type=non_negative, help="λ (default: the solver's preset)")
        sub.add_argument("--passes", type=positive_int, help="Region Fusion passes K")
        sub.add_argument("--kappa", type=positive, help="L0 smoothing β growth κ > 1")
        sub.add_argument("--beta-max", type=positive, help="L0 smoothing β_max")
        _add_output_options(sub)
        sub.set_defaults(handler=_cmd_l0)
        return
    choices = presets.methods(task)
    if name == "inpaint":
        sub.add_argument(
            "--mask",
            type=Path,
            required=True,
            help="mask image of the same size: white/non-zero = known pixel, black/0 = missing",
        )
        sub.add_argument("--kind", choices=choices, default=choices[0], help=method_help(choices))
    elif name == "super-resolve":
        sub.add_argument("--scale", type=scale_factor, default=4, help="integer factor >= 2 (default 4)")
    elif len(choices) > 1:
        sub.add_argument("--method", choices=choices, default=choices[0], help=method_help(choices))
    _add_fit_options(sub)
    _add_output_options(sub)
    sub.set_defaults(handler=_cmd_flash if name == "flash-noflash" else _cmd_task)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``deepprior`` argument parser.

    Parameters
    ----------
    command
        The sub-command whose options to add (they come from the registries, which import torch); None: every
        sub-command's; ``""``: none (enough for ``--help`` and ``--version``).
    """
    from . import __version__

    parser = _Parser(
        prog="deepprior",
        description="Single-image restoration with no training data: Deep Image "
        "Prior and its explicit regularisers. Masks: non-zero (255 or 1) marks a KNOWN pixel.",
    )
    parser.add_argument("--version", action="version", version=f"deepprior {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for name in COMMANDS:
        sub = _task_parser(commands, name)
        if command is None or command == name:
            _add_task_options(sub, name)

    demo = commands.add_parser(
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``deepprior`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), "")
    try:
        parser = build_parser(command if command in COMMANDS else "")
        args = parser.parse_args(argv)
        return int(args.handler(args) or 0)
    except DeepPriorError as exc:
        print(f"deepprior: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("deepprior: interrupted (no partial output was written)", file=sys.stderr)
        return 130
    except Exception as exc:  # pragma: no cover - a bug of ours: one line, details on request
        if os.environ.get("DEEPPRIOR_DEBUG"):
            raise
        print(
            f"deepprior: internal error: {type(exc).__name__}: {exc} (set DEEPPRIOR_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
