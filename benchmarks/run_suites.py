"""``python -m benchmarks.run_suites SUITE | list | report | all``: the benchmark suites.

Run from the repository root. Only argparse and the light suite table are imported here; torch and friends load
when a suite runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from benchmarks.common import RESULTS_DIR, add_data_dir_argument, data_dir, run_script
from benchmarks.suite.suites import PROFILES, SUITES
from deepprior.argtypes import non_negative_int, positive, positive_int
from deepprior.errors import InputError

EXIT_SOME_FAILED = 1


def _crop(text: str) -> int:
    value = positive_int(text)
    if value < 16:
        raise argparse.ArgumentTypeError(f"the crop must be at least 16 pixels, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m benchmarks.run_suites``."""
    description = (
        "Benchmark suites that reproduce the papers' tables beside the papers' figures and classical "
        "baselines. SUITE is one of: " + ", ".join(SUITES) + "; or 'list' (suites, methods, data), "
        "'report' (rebuild every Markdown table from the results files) or 'all' (every suite in turn). "
        "Finished (image, method, seed) entries are appended to RESULTS/<suite>-<profile>.jsonl and "
        "never recomputed, so an interrupted run resumes."
    )
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_suites", description=description)
    parser.add_argument("suite", metavar="SUITE", help="suite name, 'list', 'report' or 'all'")
    parser.add_argument(
        "--profile",
        choices=list(PROFILES),
        default="quick",
        help="quick (default): small crops, narrow nets, few steps — a smoke test, never a "
        "reproduction; paper: the papers' settings on full images (needs a GPU)",
    )
    parser.add_argument(
        "--methods",
        metavar="LIST",
        help="comma-separated methods (default: the suite's defaults that can run here; 'all': "
        "every method of the suite)",
    )
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=1,
        metavar="N",
        help="run seeds 0..N-1 of the DIP methods; tables give mean, std and min-max (default 1)",
    )
    parser.add_argument(
        "--limit",
        type=non_negative_int,
        metavar="N",
        help="only N images, evenly spread over the suite (0: all; the quick profile has a default per suite)",
    )
    add_data_dir_argument(parser, "; smooth-nks also takes a folder of NKS-layout inputs")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        metavar="DIR",
        help="where the JSONL, Markdown and images go (default benchmarks/results)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="entries run at once in N worker processes (for an accelerator that one fit does not fill; default 1)",
    )
    parser.add_argument(
        "--at-once",
        type=positive_int,
        default=1,
        metavar="N",
        help="step up to N DIP fits of one method and image size together in this process (deepprior's "
        "run_together; rows with a regulariser and classical methods run one at a time; default 1)",
    )
    parser.add_argument(
        "--cuda-graph",
        action="store_true",
        help="deepprior's fits record their step as one CUDA graph and replay it (FitSettings.cuda_graph; "
        "ignored off CUDA and in fits stepped together)",
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="run the entries as tasks of a Ray cluster (default address: auto, the running one or a local one)",
    )
    parser.add_argument(
        "--gpus-per-fit", type=float, default=0.0, metavar="F", help="GPUs each Ray task reserves (default 0)"
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="torch CPU threads (default: torch's; 1 is much faster on an oversubscribed CPU)",
    )
    parser.add_argument(
        "--time-budget",
        type=positive,
        metavar="SECONDS",
        help="start only the entries expected to end within SECONDS of the start (estimated from the finished "
        "entries of their method; for a lease that ends at a fixed time), and leave the rest to the next run",
    )
    parser.add_argument("--fresh", action="store_true", help="discard the suite's previous results and start over")
    parser.add_argument(
        "--save-images",
        action="store_true",
        help="also write the outputs of suites with ground truth (always done without)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    quick = parser.add_argument_group("quick-profile overrides (stored with the results)")
    quick.add_argument("--crop", type=_crop, metavar="PX", help="centre-crop side (quick default 96)")
    quick.add_argument("--iterations", type=positive_int, metavar="N", help="DIP steps (quick default 200)")
    quick.add_argument("--channels", type=positive_int, metavar="C", help="skip-net width (quick default 32)")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _methods(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise InputError("--methods is empty")
    return names


def run(args: argparse.Namespace) -> int:
    """Run the parsed command; returns the exit status (1 if an entry failed). User errors raise InputError."""
    target = args.suite
    if target == "list":
        print(list_text(args.data_dir))
        return 0
    if target == "report":
        from benchmarks.suite.report import rebuild_reports

        for path in rebuild_reports(args.results_dir):
            print(f"wrote {path}")
        return 0
    names = list(SUITES) if target == "all" else [target]
    if target != "all" and target not in SUITES:
        raise InputError(
            f"unknown benchmark suite {target!r}; choose one of {', '.join(SUITES)} (or 'list', 'report', 'all')"
        )
    from benchmarks.suite.budget import TimeBudget
    from benchmarks.suite.runner import BenchRequest, run_suite, summary_line

    status = 0
    requested = _methods(args.methods)
    budget = TimeBudget(None if args.time_budget is None else time.monotonic() + args.time_budget)  # one for all
    for name in names:
        methods = requested
        if target == "all" and requested and requested != ["all"]:
            methods = [m for m in requested if m in SUITES.get(name).methods]
            if not methods:
                continue
        request = BenchRequest(
            suite=name,
            profile=args.profile,
            methods=methods,
            seeds=args.seeds,
            limit=args.limit,
            device=args.device,
            jobs=args.jobs,
            at_once=args.at_once,
            cuda_graph=args.cuda_graph,
            budget=budget,
            ray=args.ray,
            gpus_per_fit=args.gpus_per_fit,
            threads=args.threads,
            data_dir=args.data_dir,
            results_dir=args.results_dir,
            fresh=args.fresh,
            save_images=args.save_images,
            progress=not args.quiet,
            crop=args.crop,
            iterations=args.iterations,
            channels=args.channels,
        )
        summary = run_suite(request)
        for note in summary.notes:
            print(f"{name}: {note}", file=sys.stderr)
        print(summary_line(summary))
        if PROFILES[args.profile].label:
            print(f"{name}: {PROFILES[args.profile].label}")
        if summary.failures:
            status = EXIT_SOME_FAILED
    return status


def list_text(data_folder: Path | None = None) -> str:
    """The text of ``run_suites list``: suites, their images (if the data is found), methods, profiles."""
    from benchmarks.suite.methods import METHODS

    try:
        root: Path | None = data_dir(data_folder)
    except InputError as exc:
        root, missing = None, str(exc)
    lines = ["Suites:"]
    for suite in [SUITES.get(name) for name in SUITES]:
        count = "?"
        if root is not None:
            try:
                count = str(len(suite.items(root)))
            except InputError:
                count = "data missing"
        lines.append(f"  {suite.name:<16} {suite.title} [{count} image(s)]")
        lines.append(
            f"  {'':<16} methods: {', '.join(_mark(m) for m in suite.default_methods)}"
            + (
                f"; also: {', '.join(_mark(m) for m in suite.methods if m not in suite.default_methods)}"
                if set(suite.methods) - set(suite.default_methods)
                else ""
            )
        )
        if suite.paper_mean:
            figures = ", ".join(f"{m} {v:.2f}" for m, v in suite.paper_mean.items())
            lines.append(f"  {'':<16} paper{'' if suite.paper_comparable else ' (other images)'}: {figures}")
    lines += ["", "Methods (* = cannot run here):"]
    for method in [METHODS.get(name) for name in METHODS]:
        reason = method.unavailable()
        lines.append(f"  {method.name:<14} {method.description}" + (f"  [* {reason}]" if reason else ""))
    lines += ["", "Profiles:"]
    for profile in PROFILES.values():
        lines.append(f"  {profile.name:<8} {profile.description}" + (f"  [{profile.label}]" if profile.label else ""))
    lines += ["", f"Data: {root}" if root is not None else f"Data: not found: {missing}"]
    return "\n".join(lines)


def _mark(name: str) -> str:
    from benchmarks.suite.methods import METHODS

    return name + ("*" if METHODS.get(name).unavailable() else "")


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors are one line on stderr and exit status 2."""
    return run_script(lambda args: run(parse_args(args)), argv)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
