"""QUICK PROFILE (CPU, crops) of ground-truth-free early stopping -- not a paper reproduction.

On the 9-image σ=25 colour denoising set (``*_noisy.png`` with ``*_GT.png``), centre crops are denoised with the
``denoise`` preset (narrower skip network by default) for up to ``--iterations`` steps, and ES-WMV (W = 100) and
ES-EMV (α = 0.1) are judged against the best PSNR in hindsight (from the history computed with the reference).

How the runs are shared: the stoppers never influence the optimisation (same seed ⇒ the same trajectory whatever
``stop`` is), so each image is fitted ONCE for the full ``--iterations`` with ``deepprior.denoise(...,
stop="fixed", callbacks=[...])``, and every rule (ES-WMV and ES-EMV, each at the paper's P = 1000 and at the scaled
``--patience``) runs as a "shadow": the loop's own stopping callback (:class:`deepprior.callbacks.StopRule`, the
one ``fit(..., stop=rule)`` uses), made to record its decision instead of ending the shared fit. That gives the
full PSNR curve for the hindsight best at the cost of one fit. ``--verify K`` re-runs the first K images through
``deepprior.denoise(..., stop="es-wmv" / "es-emv", stop_options={"patience": P})`` itself and checks that
stopped_at / selected_step / iterations_run and the PSNR of the returned image agree.

Default invocation from the repository root (about 12-20 minutes on a 2-core CPU)::

    python -m benchmarks.bench_early_stopping

writes ``benchmarks/results/early_stopping_quick.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import deepprior
from benchmarks import common
from deepprior.callbacks import StopRule
from deepprior.metrics import psnr as psnr_np
from deepprior.presets import get_preset
from deepprior.stopping import make_stopper

DENOISE_DIR = "dip/project_page/Denoising/Color/25"  # inside the shared data folder (common.data_dir)
LABEL = "QUICK PROFILE (CPU, crops) — not a paper reproduction"
LAGS = (50, 100, 200)


def load_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


class ShadowStopper(StopRule):
    """The loop's own stopping callback (:class:`deepprior.callbacks.StopRule`) run beside a fixed-length fit:
    it takes the same decisions as ``fit(..., stop=rule)`` would (backtracking rewinds it as it rewinds the real
    one), records them, and never ends the shared fit."""

    def __init__(
        self, rule: str, window: int, patience: int, check_every: int, iterations: int, reference: torch.Tensor
    ) -> None:
        options = {"patience": patience, "check_every": check_every, **({"window": window} if rule == "es-wmv" else {})}
        super().__init__(make_stopper(rule, **options))
        self.iterations, self.reference = iterations, reference
        self.stopped_at: int | None = None
        self.selected_step: int | None = None
        self.selected_psnr: float | None = None

    def on_step(self, state: Any) -> bool:
        if self.stopped_at is None and super().on_step(state):
            self.stopped_at = state.step
            self._finish()
        return False

    def on_end(self, state: Any) -> None:
        if self.stopped_at is None:
            self._finish()

    def _finish(self) -> None:
        found = self.best()
        if found is not None:
            best, self.selected_step = found
            out = best.detach().float().clamp(0, 1)
            mse = torch.mean((out - self.reference) ** 2).item()
            self.selected_psnr = 10 * math.log10(1.0 / mse)

    @property
    def iterations_run(self) -> int:
        return (self.stopped_at + 1) if self.stopped_at is not None else self.iterations


def rule_key(rule: str, patience: int) -> str:
    return f"{rule} P={patience}"


def evaluate(
    name: str, noisy: np.ndarray, gt: np.ndarray, args: argparse.Namespace, check_every: int, log: Any
) -> dict[str, Any]:
    reference = torch.from_numpy(gt.transpose(2, 0, 1).copy())[None]
    patiences = sorted(set(args.patience_list))
    shadows = {
        rule_key(rule, p): ShadowStopper(rule, args.window, p, check_every, args.iterations, reference)
        for rule in ("es-wmv", "es-emv")
        for p in patiences
    }
    t0 = time.perf_counter()
    result = deepprior.denoise(
        noisy,
        reference=gt,
        iterations=args.iterations,
        stop="fixed",
        seed=args.seed,
        generator_options=generator_options(args),
        callbacks=list(shadows.values()),
        progress=False,
        **fit_options(args),
    )
    seconds = time.perf_counter() - t0
    raw = np.asarray(result.history.psnr, dtype=float)
    avg = np.asarray(result.history.psnr_average, dtype=float)
    best_raw_step = int(np.nanargmax(raw))
    best_avg_step = int(np.nanargmax(avg))
    row: dict[str, Any] = {
        "image": name,
        "seconds": seconds,
        "seconds_per_iteration": seconds / args.iterations,
        "noisy_psnr": psnr_np(noisy, gt),
        "best_raw_psnr": float(raw[best_raw_step]),
        "best_raw_step": best_raw_step,
        "best_average_psnr": float(avg[best_avg_step]),
        "best_average_step": best_avg_step,
        "final_average_psnr": float(avg[-1]),
        "final_raw_psnr": float(raw[-1]),
        "backtracks": sum(1 for e in result.history.events if e.get("event") == "backtrack"),
        "history": {"psnr": [round(v, 3) for v in raw.tolist()], "psnr_average": [round(v, 3) for v in avg.tolist()]},
        "rules": {},
    }
    for key, sh in shadows.items():
        sel = sh.selected_step
        row["rules"][key] = {
            "stopped": sh.stopped_at is not None,
            "stopped_at": sh.stopped_at,
            "iterations_run": sh.iterations_run,
            "selected_step": sel,
            "psnr_at_detection": float(raw[sel]) if sel is not None else None,
            "psnr_returned_image": sh.selected_psnr,
            "average_psnr_at_detection": float(avg[sel]) if sel is not None else None,
            "average_psnr_at_stop": float(avg[sh.iterations_run - 1]),
            "gap_to_best_raw_db": float(raw[best_raw_step] - raw[sel]) if sel is not None else None,
            "gap_returned_to_best_average_db": float(avg[best_avg_step] - sh.selected_psnr)
            if sh.selected_psnr is not None
            else None,
            "best_average_psnr_up_to_stop": float(np.nanmax(avg[: sh.iterations_run])),
            # What other choices of output would have given (PSNR from the history; no extra fit needed):
            # the EMA average LAG steps after the detected step (it lags the raw output by ~1/(1-0.99) = 100
            # steps); the run has gone on P >= LAG steps past the detection when it stops, so this is available.
            "alternatives": {
                f"average_at_detection+{lag}": float(avg[min(sel + lag, sh.iterations_run - 1)]) for lag in LAGS
            }
            if sel is not None
            else {},
        }
    summary = "  ".join(
        f"{k}: stop {v['stopped_at']} sel {v['selected_step']} raw "
        f"{_f(v['psnr_at_detection'])} (gap {_f(v['gap_to_best_raw_db'])}) returned "
        f"{_f(v['psnr_returned_image'])} (gap {_f(v['gap_returned_to_best_average_db'])})"
        for k, v in row["rules"].items()
    )
    log(
        f"  {name:8s} {seconds:6.1f}s noisy {row['noisy_psnr']:.2f} best raw {row['best_raw_psnr']:.2f}@"
        f"{best_raw_step} best avg {row['best_average_psnr']:.2f}@{best_avg_step} | {summary}"
    )
    return row


def verify(
    name: str, noisy: np.ndarray, gt: np.ndarray, row: dict[str, Any], args: argparse.Namespace, log: Any
) -> list[dict[str, Any]]:
    """Run deepprior.denoise with its own stop rule and compare with the shadow stopper's figures."""
    checks = []
    for rule in ("es-wmv", "es-emv"):
        shadow = row["rules"][rule_key(rule, args.patience)]
        t0 = time.perf_counter()
        try:
            window = {"window": args.window} if rule == "es-wmv" else {}
            res = deepprior.denoise(
                noisy,
                reference=gt,
                iterations=args.iterations,
                stop=rule,
                stop_options={"patience": args.patience, **window},
                seed=args.seed,
                generator_options=generator_options(args),
                progress=False,
                **fit_options(args),
            )
        except Exception as exc:  # a failure of the product is a finding, not a crash
            error = f"{type(exc).__name__}: {exc}"
            checks.append({"image": name, "rule": rule, "patience": args.patience, "error": error, "agree": False})
            log(f"  verify {name} {rule}: deepprior.denoise FAILED: {error}")
            continue
        record = res.record
        got = {
            "stopped_at": record.stopped_at,
            "selected_step": record.selected_step,
            "iterations_run": record.iterations_run,
            "psnr_returned_image": psnr_np(res.image, gt),
        }
        want = {k: shadow[k] for k in ("stopped_at", "selected_step", "iterations_run")}
        agree = (
            all(got[k] == want[k] for k in want)
            and abs(got["psnr_returned_image"] - (shadow["psnr_returned_image"] or float("nan"))) < 0.01
        )
        checks.append(
            {
                "image": name,
                "rule": rule,
                "patience": args.patience,
                "denoise": got,
                "shadow": want,
                "shadow_psnr_returned_image": shadow["psnr_returned_image"],
                "agree": agree,
                "seconds": time.perf_counter() - t0,
            }
        )
        log(f"  verify {name} {rule}: denoise {got} vs shadow {want} → {'AGREE' if agree else 'DIFFER'}")
    return checks


def fit_options(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in (("channels_last", args.channels_last), ("amp", args.amp)) if v is not None}


def effective_fit_options(args: argparse.Namespace) -> dict[str, Any]:
    """What the fit actually used: the forced values, else the package's defaults for the CPU."""
    try:
        from deepprior.device import fast_defaults

        default_cl, default_amp = fast_defaults(torch.device("cpu"))
    except ImportError:  # older package: contiguous fp32 on the CPU
        default_cl, default_amp = False, False
    return {
        "channels_last": default_cl if args.channels_last is None else args.channels_last,
        "amp": default_amp if args.amp is None else args.amp,
    }


def generator_options(args: argparse.Namespace) -> dict[str, Any]:
    c = args.channels
    return {"channels_down": [c] * 5, "channels_up": [c] * 5, "channels_skip": [4] * 5}


def _f(v: Any, nd: int = 2) -> str:
    return "–" if v is None else f"{v:.{nd}f}"


def write_markdown(path: Path, res: dict[str, Any]) -> None:
    m = res["meta"]
    lines = [
        f"# Early stopping — {LABEL}",
        "",
        (
            f"- {m['date']}; device {m['device']}; torch {m['versions']['torch']}, deepprior "
            f"{m['versions']['deepprior']}"
        ),
        f"- command: `{m['command']}`",
        (
            f"- data: {m['data']} — {m['images']} images, centre crop {m['size']}×{m['size']}, σ = 25 "
            "(given noisy files)"
        ),
        (
            f"- network: skip with {m['channels']} channels per scale (s = 4, 5 scales), denoise preset otherwise "
            f"(LR 0.01, σ_reg 1/30, EMA 0.99, backtracking), seed {m['seed']}, up to {m['iterations']} iterations; "
            f"check_every {m['check_every']}; channels_last {m.get('channels_last', False)}, "
            f"bf16 autocast {m.get('amp', False)}"
        ),
        (
            f"- rules: ES-WMV W = {m['window']}; ES-EMV α = 0.1; P = 1000 (paper) and P = {m['patience']} "
            "(scaled down for this quick profile, since runs are capped at "
            f"{m['iterations']} steps); the detected step is the lowest-variance step; as in `fit` (since commit "
            "5eb1927) the returned image is the EMA output average at that step (the raw output when averaging "
            "is off)"
        ),
        (
            "- how: one fixed-length fit per image; the rules run as shadow stoppers that mirror fit's own "
            "(see the script's docstring); `verify` rows re-run through `deepprior.denoise(stop=...)`"
        ),
        (
            "- hindsight (uses the GT): 'best raw' / 'best EMA' = best PSNR of the raw output / of the EMA average "
            "over all steps of the run; gap raw = best raw − raw PSNR at the detected step; gap EMA = best EMA − "
            "PSNR of the returned image"
        ),
        "",
    ]
    keys = list(res["images"][0]["rules"]) if res["images"] else []
    for key in keys:
        lines += [
            f"## {key}",
            "",
            (
                "| image | noisy | iterations run | stopped | detected step | raw PSNR at detection | "
                "best raw (step) | gap raw dB | returned image = EMA at detection | best EMA (step) | gap EMA dB |"
            ),
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in res["images"]:
            r = row["rules"][key]
            lines.append(
                f"| {row['image']} | {row['noisy_psnr']:.2f} | {r['iterations_run']} | "
                f"{'yes' if r['stopped'] else 'no (cap)'} | {r['selected_step']} | "
                f"{_f(r['psnr_at_detection'])} | {row['best_raw_psnr']:.2f} ({row['best_raw_step']}) | "
                f"{_f(r['gap_to_best_raw_db'])} | {_f(r['psnr_returned_image'])} | "
                f"{row['best_average_psnr']:.2f} ({row['best_average_step']}) | "
                f"{_f(r['gap_returned_to_best_average_db'])} |"
            )
        s = res["summary"][key]
        lines += [
            (
                f"| **mean** | | {s['mean_iterations_run']:.0f} | {s['stopped']}/{len(res['images'])} | | "
                f"{_f(s['mean_psnr_at_detection'])} | {_f(s['mean_best_raw_psnr'])} | "
                f"**{_f(s['mean_gap_db'])}** (median {_f(s['median_gap_db'])}) | "
                f"{_f(s['mean_psnr_returned_image'])} | {_f(s['mean_best_average_psnr'])} | "
                f"**{_f(s['mean_gap_returned_db'])}** (median {_f(s['median_gap_returned_db'])}) |"
            ),
            "",
        ]
    if keys:
        lines += [
            "## Which image to return at the detected step (mean PSNR over the images, dB)",
            "",
            (
                "From the PSNR histories, no extra fits. 'EMA average at detection + L': the running average "
                "L steps after the detected step (capped at the stop step; the run always continues P steps "
                "past the detection, so a stopper could keep it). The EMA (weight 0.99) lags the raw output by "
                "about 100 steps."
            ),
            "",
            "| choice | " + " | ".join(keys) + " |",
            "|---|" + "---|" * len(keys),
        ]
        choices = list(res["summary"][keys[0]]["mean_psnr_by_choice"])
        for c in choices:
            lines.append(f"| {c} | " + " | ".join(_f(res["summary"][k]["mean_psnr_by_choice"][c]) for k in keys) + " |")
        lines.append("")
    if res["images"]:
        final_average = statistics.fmean(r["final_average_psnr"] for r in res["images"])
        final_raw = statistics.fmean(r["final_raw_psnr"] for r in res["images"])
        lines += [
            (
                "For context, with no stopping: mean PSNR of the EMA average after all "
                f"{m['iterations']} steps {final_average:.2f} dB, of the raw last output {final_raw:.2f} dB."
            ),
            "",
        ]
    if res.get("verify"):
        lines += [
            "## Verification through deepprior.denoise(stop=...)",
            "",
            (
                "| image | rule | P | denoise: stopped_at / selected / run / PSNR | "
                "shadow: stopped_at / selected / run / PSNR | agree |"
            ),
            "|---|---|---|---|---|---|",
        ]
        for v in res["verify"]:
            if "error" in v:
                lines.append(f"| {v['image']} | {v['rule']} | {v['patience']} | FAILED: {v['error']} | | NO |")
                continue
            d, s = v["denoise"], v["shadow"]
            lines.append(
                f"| {v['image']} | {v['rule']} | {v['patience']} | {d['stopped_at']} / {d['selected_step']} / "
                f"{d['iterations_run']} / {d['psnr_returned_image']:.2f} | {s['stopped_at']} / "
                f"{s['selected_step']} / {s['iterations_run']} / {_f(v['shadow_psnr_returned_image'])} | "
                f"{'yes' if v['agree'] else 'NO'} |"
            )
        lines.append("")
    lines += [f"Wall time: {m['wall_s'] / 60:.1f} min; mean {res['mean_seconds_per_iteration']:.4f} s/iteration.", ""]
    common.write_text(path, "\n".join(lines))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=LABEL, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    common.add_data_dir_argument(ap, f"; the images are read from its {DENOISE_DIR}")
    ap.add_argument("--size", type=int, default=128, help="centre crop (square)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N images (alphabetical)")
    ap.add_argument("--images", nargs="*", default=None, help="image names (default: all *_noisy.png)")
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--channels", type=int, default=32, help="skip channels per scale (128 = the paper's skip128)")
    ap.add_argument("--window", type=int, default=100, help="ES-WMV window W")
    ap.add_argument("--patience", type=int, default=500, help="scaled-down P reported beside P = 1000")
    ap.add_argument("--verify", type=int, default=1, help="re-run the first K images through denoise(stop=...)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="channels_last memory format (off by default: contiguous, as on any machine)",
    )
    ap.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="bf16 autocast (off by default: fp32 results comparable across machines)",
    )
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: predictable on a shared machine; 0 = torch default)"
    )
    ap.add_argument("--out", type=Path, default=common.RESULTS_DIR)
    ap.add_argument("--name", default="early_stopping_quick")
    args = ap.parse_args(argv)
    args.patience_list = [1000, args.patience]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {msg}", flush=True)

    data = common.data_path(DENOISE_DIR, args.data_dir)
    names = args.images or sorted(p.name[: -len("_noisy.png")] for p in data.glob("*_noisy.png"))
    if args.limit:
        names = names[: args.limit]
    check_every = get_preset("denoise").settings.check_every
    prov = common.provenance()  # date, command, git commit, host, CPU, torch threads, load, versions
    meta = {
        "label": LABEL,
        **prov,
        "device": f"cpu: {prov['cpu']}, {prov['torch_threads']} torch threads",
        "data": str(data),
        "images": len(names),
        "size": args.size,
        "channels": args.channels,
        "iterations": args.iterations,
        "window": args.window,
        "patience": args.patience,
        **effective_fit_options(args),
        "patiences": sorted(set(args.patience_list)),
        "seed": args.seed,
        "check_every": check_every,
        "loadavg_start": prov["loadavg"],
    }
    res: dict[str, Any] = {"meta": meta, "images": [], "verify": []}
    args.out.mkdir(parents=True, exist_ok=True)
    log(f"{LABEL}: {len(names)} images, crop {args.size}, skip{args.channels}, N={args.iterations}")

    def save() -> None:
        meta["wall_s"] = time.perf_counter() - started
        meta["loadavg_end"] = common.loadavg()
        rows = res["images"]
        res["mean_seconds_per_iteration"] = statistics.fmean(r["seconds_per_iteration"] for r in rows) if rows else 0
        res["summary"] = {}
        for key in rows[0]["rules"] if rows else {}:
            rs = [r["rules"][key] for r in rows]
            gaps = [r["gap_to_best_raw_db"] for r in rs if r["gap_to_best_raw_db"] is not None]
            gaps_ret = [
                r["gap_returned_to_best_average_db"] for r in rs if r["gap_returned_to_best_average_db"] is not None
            ]
            ret = [r["psnr_returned_image"] for r in rs if r["psnr_returned_image"] is not None]
            det = [r["psnr_at_detection"] for r in rs if r["psnr_at_detection"] is not None]
            avgdet = [r["average_psnr_at_detection"] for r in rs if r["average_psnr_at_detection"] is not None]
            res["summary"][key] = {
                "mean_gap_db": statistics.fmean(gaps) if gaps else None,
                "mean_gap_returned_db": statistics.fmean(gaps_ret) if gaps_ret else None,
                "median_gap_returned_db": statistics.median(gaps_ret) if gaps_ret else None,
                "mean_psnr_returned_image": statistics.fmean(ret) if ret else None,
                "median_gap_db": statistics.median(gaps) if gaps else None,
                "max_gap_db": max(gaps) if gaps else None,
                "mean_psnr_at_detection": statistics.fmean(det) if det else None,
                "mean_average_psnr_at_detection": statistics.fmean(avgdet) if avgdet else None,
                "mean_best_raw_psnr": statistics.fmean(r["best_raw_psnr"] for r in rows),
                "mean_best_average_psnr": statistics.fmean(r["best_average_psnr"] for r in rows),
                "mean_iterations_run": statistics.fmean(r["iterations_run"] for r in rs),
                "stopped": sum(r["stopped"] for r in rs),
                "mean_psnr_by_choice": {
                    "raw output at detection (paper)": statistics.fmean(det) if det else None,
                    "EMA average at detection (fit today)": statistics.fmean(ret) if ret else None,
                    **{
                        f"EMA average at detection + {lag}": statistics.fmean(
                            r["alternatives"][f"average_at_detection+{lag}"] for r in rs if r["alternatives"]
                        )
                        for lag in LAGS
                    },
                    "EMA average at the stop step": statistics.fmean(r["average_psnr_at_stop"] for r in rs),
                    "hindsight best raw (oracle)": statistics.fmean(r["best_raw_psnr"] for r in rows),
                    "hindsight best EMA (oracle)": statistics.fmean(r["best_average_psnr"] for r in rows),
                },
            }
        common.write_json(args.out / f"{args.name}.json", res)
        write_markdown(args.out / f"{args.name}.md", res)

    for i, name in enumerate(names):
        noisy = common.centre_crop(load_rgb(data / f"{name}_noisy.png"), args.size)
        gt = common.centre_crop(load_rgb(data / f"{name}_GT.png"), args.size)
        row = evaluate(name, noisy, gt, args, check_every, log)
        res["images"].append(row)
        save()
        if i < args.verify:
            res["verify"].extend(verify(name, noisy, gt, row, args, log))
            save()
    save()
    for key, s in res["summary"].items():
        log(
            f"{key}: mean gap {_f(s['mean_gap_db'])} dB, mean PSNR at detection {_f(s['mean_psnr_at_detection'])}, "
            f"stopped {s['stopped']}/{len(names)}, mean iterations {s['mean_iterations_run']:.0f}"
        )
    log(f"wrote {args.out / (args.name + '.json')} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(common.run_script(main))
