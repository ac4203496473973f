"""Command line: ``deepprior TASK INPUT -o OUTPUT [options]``.

Every user error ends in one line on stderr and exit status 2; a folder run continues past failing images and
exits 1 if any failed. Outputs are written atomically, so an interrupted or failed run leaves no partial file.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .argtypes import non_negative, positive, positive_int, scale_factor
from .errors import DeepPriorError, InputError

EXIT_USER_ERROR = 2
EXIT_SOME_FAILED = 1


class _Parser(argparse.ArgumentParser):
    """argparse that exits with our user-error status and one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"deepprior: error: {message}\n")


def _add_fit_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fit options (default: the paper's preset for the task)")
    group.add_argument("--iterations", type=positive_int, help="Adam steps (disables the default early stop)")
    group.add_argument("--lr", type=positive, help="learning rate")
    group.add_argument("--reg-noise-std", type=non_negative, metavar="SIGMA", help="input jitter σ_reg")
    group.add_argument("--average", type=non_negative, metavar="A",
                       help="output average weight (0.99 in the paper; 0 disables)")
    group.add_argument("--backtrack", action=argparse.BooleanOptionalAction, default=None,
                       help="restore the last good state when the fit diverges")
    group.add_argument("--stop", choices=["fixed", "es-wmv", "es-emv"],
                       help="early stopping without ground truth (default: es-wmv for denoise/deblock when "
                            "--iterations is not given)")
    group.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    group.add_argument("--generator", choices=["skip", "unet", "resnet", "decoder"], help="network")
    group.add_argument("--channels", type=positive_int,
                       help="channels per scale of the skip network (128 in the paper; 32-64 is faster)")
    group.add_argument("--regularizer", choices=["tv", "two-stage-tv"], help="explicit regulariser")
    group.add_argument("--lam", type=non_negative, help="regulariser weight λ")
    group.add_argument("--tv-kind", choices=["anisotropic", "isotropic"], help="TV flavour")
    group.add_argument("--fp32", action="store_true",
                       help="full float32 (default: bf16 autocast on CUDA and on CPUs with native bf16)")
    group.add_argument("--reference", type=Path, help="ground truth, for the PSNR in the progress bar and history")
    group.add_argument("--save-every", type=positive_int, metavar="N", help="write a snapshot every N steps")
    group.add_argument("--no-json", action="store_true", help="do not write the JSON sidecar")
    group.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")


def _fit_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "iterations": args.iterations, "lr": args.lr, "reg_noise_std": args.reg_noise_std,
        "backtrack": args.backtrack, "stop": args.stop, "seed": args.seed, "device": args.device,
        "generator": args.generator,
    }
    if args.fp32:
        options["amp"] = False
    if args.average is not None:
        options["average"] = args.average
        if args.average >= 1:
            raise InputError(f"--average must be below 1, got {args.average}")
    if args.channels is not None:
        options["generator_options"] = {"channels_down": args.channels, "channels_up": args.channels}
    if args.regularizer is not None:
        options["regularizer"] = args.regularizer
        options["lam"] = args.lam
        if args.tv_kind:
            options["regularizer_options"] = {"kind": args.tv_kind}
    elif args.command == "smooth":  # there --lam is the smoothing method's own λ
        options["lam"] = args.lam
        if args.tv_kind:
            options["regularizer_options"] = {"kind": args.tv_kind}
    elif args.lam is not None or args.tv_kind is not None:
        raise InputError("--lam and --tv-kind need --regularizer")
    return options


def _output_suffix(source: Path) -> str:
    """Keep lossless 16-bit-capable formats; everything else (JPEG, BMP) is written as PNG."""
    return source.suffix.lower() if source.suffix.lower() in (".png", ".tif", ".tiff") else ".png"


def _default_output(source: Path, task: str) -> Path:
    return source.with_name(f"{source.stem}_{task}{_output_suffix(source)}")


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


def _check_suffix(path: Path) -> None:
    if path.suffix.lower() not in (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"):
        raise InputError(f"cannot write '{path}': use a .png, .tif, .jpg or .bmp output name")


def _snapshot_callback(every: int, output: Path, bit_depth: int) -> Callable[[Any], None]:
    from .fit import as_numpy_image
    from .io import write_image

    folder = output.with_name(f"{output.stem}_snapshots")
    folder.mkdir(exist_ok=True)

    def save(state: Any) -> None:
        if (state.step + 1) % every == 0:
            image = state.average if state.average is not None else state.output
            write_image(folder / f"step_{state.step + 1:06d}.png", as_numpy_image(image), bit_depth=min(bit_depth, 16))

    return save


def _write_result(restoration: Any, output: Path, bit_depth: int, args: argparse.Namespace, inputs: dict[str, str],
                  wall: float) -> None:
    from .io import write_image, write_json

    write_image(output, restoration.image, alpha=restoration.alpha, bit_depth=bit_depth)
    if not args.no_json:
        record = {"inputs": inputs, "output": str(output), "wall_seconds": wall, "settings": restoration.settings,
                  "history": restoration.history.to_dict(), "command": sys.argv}
        write_json(output.with_suffix(".json"), record)


def _summary(restoration: Any, output: Path, wall: float, reference: np.ndarray | None) -> str:
    settings = restoration.settings
    text = (f"wrote {output} ({settings['iterations_run']} iterations in {wall:.1f} s on {settings['device']}, "
            f"output: {settings['output']}")
    if settings.get("selected_step") is not None:
        text += f" at step {settings['selected_step']}"
    if reference is not None and reference.shape[:2] == restoration.image.shape[:2]:
        from .metrics import psnr

        image = restoration.image if restoration.image.ndim == 3 else restoration.image[..., None]
        if image.shape == reference.shape:
            text += f", PSNR vs reference {psnr(image, reference):.2f} dB"
    return text + ")"


def _run_jobs(args: argparse.Namespace, task: str, restore: Callable[..., Any], extra_inputs: dict[str, Path],
              options: dict[str, Any]) -> int:
    """Read each input, restore it, write the result; a folder run continues past failures."""
    from .io import read_image, read_mask

    jobs = _resolve_jobs(args.input, args.output, task)
    reference = read_image(args.reference).pixels if getattr(args, "reference", None) else None
    save_every = getattr(args, "save_every", None)
    failures: list[str] = []
    for source, output in jobs:
        try:
            image = read_image(source)
            kwargs = dict(options)
            if reference is not None:
                kwargs["reference"] = reference
            if "mask" in extra_inputs:
                kwargs["mask"] = read_mask(extra_inputs["mask"], image.pixels.shape[:2])
            if save_every:
                kwargs.setdefault("callbacks", []).append(_snapshot_callback(save_every, output, image.bit_depth))
            kwargs["progress"] = False if args.quiet else source.name
            pixels = image.pixels if image.alpha is None else np.concatenate([image.pixels, image.alpha[..., None]], 2)
            start = time.perf_counter()
            restoration = restore(pixels, **kwargs)
            wall = time.perf_counter() - start
            inputs = {"image": str(source), **{k: str(v) for k, v in extra_inputs.items()}}
            _write_result(restoration, output, image.bit_depth, args, inputs, wall)
            if not args.quiet:
                print(_summary(restoration, output, wall, reference))
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

    options = _fit_options(args)
    extra: dict[str, Path] = {}
    task = args.command
    restore = tasks.TASKS[task]
    if task == "super-resolve":
        options["scale"] = args.scale
    if task == "inpaint":
        extra["mask"] = args.mask
        options["kind"] = args.kind
    if task in ("deblock", "smooth"):
        options["method"] = args.method
    if task == "smooth" and args.method in ("region-fusion", "l0-smooth"):
        options = {"method": args.method, "lam": args.lam}  # fit options do not apply to the classical solvers
    return _run_jobs(args, task, restore, extra, options)


def _cmd_l0(args: argparse.Namespace) -> int:
    from .tasks import smooth

    options = {"method": args.solver, "lam": args.lam, "passes": args.passes, "kappa": args.kappa,
               "beta_max": args.beta_max}
    return _run_jobs(args, f"l0-{args.solver}", smooth, {}, options)


def _cmd_flash(args: argparse.Namespace) -> int:
    from .io import read_image
    from .tasks import flash_noflash

    options = _fit_options(args)
    flash = read_image(args.flash)
    noflash = read_image(args.noflash)
    output = args.output or _default_output(args.noflash, "flash-noflash")
    if not output.parent.exists():
        raise InputError(f"output folder '{output.parent}' does not exist")
    _check_suffix(output)
    if args.reference:
        options["reference"] = read_image(args.reference).pixels
    options["progress"] = False if args.quiet else "flash-noflash"
    start = time.perf_counter()
    restoration = flash_noflash(flash.pixels, noflash.pixels, **options)
    wall = time.perf_counter() - start
    restoration.alpha = noflash.alpha
    _write_result(restoration, output, noflash.bit_depth, args, {"flash": str(args.flash),
                                                                 "noflash": str(args.noflash)}, wall)
    if not args.quiet:
        print(_summary(restoration, output, wall, options.get("reference")))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.output, iterations=args.iterations, device=args.device, quiet=args.quiet, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``deepprior`` argument parser (one sub-command per task)."""
    from . import __version__

    parser = _Parser(prog="deepprior", description="Single-image restoration with no training data: Deep Image "
                     "Prior and its explicit regularisers. Masks: non-zero (255 or 1) marks a KNOWN pixel.")
    parser.add_argument("--version", action="version", version=f"deepprior {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def task_parser(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("input", type=Path, help="image file, or a folder of images")
        sub.add_argument("-o", "--output", type=Path,
                         help="output file (or folder for a folder input); default: INPUT_<task>.png beside it")
        _add_fit_options(sub)
        sub.set_defaults(handler=_cmd_task)
        return sub

    task_parser("denoise", "blind Gaussian-noise removal")
    deblock = task_parser("deblock", "blind JPEG artifact removal")
    deblock.add_argument("--method", choices=["dip", "dip-l0"], default="dip",
                         help="dip: the DIP paper (default); dip-l0: DIP with the l0 gradient prior (clip art)")
    sr = task_parser("super-resolve", "super-resolution by an integer factor")
    sr.add_argument("--scale", type=scale_factor, default=4, help="integer factor >= 2 (default 4)")
    inpaint = task_parser("inpaint", "fill in missing pixels")
    inpaint.add_argument("--mask", type=Path, required=True,
                         help="mask image of the same size: white/non-zero = known pixel, black/0 = missing")
    inpaint.add_argument("--kind", choices=["text", "hole", "region", "pixels"], default="text",
                         help="preset: thin text/scribbles (default), a large hole, a removed region, "
                              "scattered pixels")

    smooth = task_parser("smooth", "edge-preserving smoothing (texture removal)")
    smooth.add_argument("--method", choices=["dip-l0", "dip-tv", "region-fusion", "l0-smooth"], default="dip-l0",
                        help="dip-l0 (default, the paper's best), dip-tv, or a classical l0 solver (fast)")

    l0 = commands.add_parser("l0", help="classical l0 gradient smoothing (Region Fusion or L0 smoothing)",
                             description="l0 gradient minimisation: Region Fusion (Nguyen & Brown 2015) or L0 "
                                         "smoothing (Xu et al. 2011). Seconds, no network.")
    l0.add_argument("input", type=Path, help="image file, or a folder of images")
    l0.add_argument("-o", "--output", type=Path, help="output file (or folder)")
    l0.add_argument("--solver", choices=["region-fusion", "l0-smooth"], default="region-fusion")
    l0.add_argument("--lam", type=non_negative, help="λ (default 0.03 for region-fusion, 0.02 for l0-smooth)")
    l0.add_argument("--passes", type=positive_int, help="Region Fusion passes K (default 50)")
    l0.add_argument("--kappa", type=positive, help="L0 smoothing β growth κ > 1 (default 2)")
    l0.add_argument("--beta-max", type=positive, help="L0 smoothing β_max (default 1e5)")
    l0.add_argument("--no-json", action="store_true", help="do not write the JSON sidecar")
    l0.add_argument("--quiet", "-q", action="store_true")
    l0.set_defaults(handler=_cmd_l0)

    flash = commands.add_parser("flash-noflash", help="fuse a flash / no-flash pair",
                                description="flash/no-flash fusion: the flash image drives the network")
    flash.add_argument("--flash", type=Path, required=True, help="flash image")
    flash.add_argument("--noflash", type=Path, required=True, help="no-flash image (the target)")
    flash.add_argument("-o", "--output", type=Path, help="output file")
    _add_fit_options(flash)
    flash.set_defaults(handler=_cmd_flash)

    demo = commands.add_parser("demo", help="denoise the bundled sample image and write a report",
                               description="Adds σ=25 noise to the bundled sample, restores it, and writes the "
                                           "noisy input, the result and a loss/PSNR curve.")
    demo.add_argument("-o", "--output", type=Path, default=Path("deepprior-demo"), help="output folder")
    demo.add_argument("--iterations", type=positive_int, help="steps (default: fits in ~1 minute on 2 cores)")
    demo.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", "-q", action="store_true")
    demo.set_defaults(handler=_cmd_demo)

    from .bench.cli import add_bench_parser

    add_bench_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``deepprior`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
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
        print(f"deepprior: internal error: {type(exc).__name__}: {exc} (set DEEPPRIOR_DEBUG=1 for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
