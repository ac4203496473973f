"""Speed of the classical l0 solvers: Region Fusion and L0 smoothing.

Times ``region_fusion`` (K=50, lam=0.03, both schedules) and ``l0_smooth``
(lam=0.02) on one image, single-threaded and with the default thread count,
plus OpenCV contrib's ``cv2.ximgproc.l0Smooth`` when it is installed
(``pip install opencv-contrib-python-headless``; never needed by the
package).  The first call (numba compile or on-disk cache load) is reported
separately; then one full-size warm-up call and the median / min of
``--repeats`` timed calls.  Writes ``benchmarks/results/l0_solvers_speed.json``
and ``.md``.  From the repository root:

    python -m benchmarks.bench_l0_solvers [--image PATH] [--repeats 11]
"""

from __future__ import annotations

import os

# before numba/torch are imported: the solvers are serial, keep helpers serial too
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numba  # noqa: F401 - imported so that the recorded versions include it
import numpy as np
import torch
from skimage import io as skio

from benchmarks import common
from deepprior.regularizers.l0 import (
    l0_smooth,
    l0_smooth_energy,
    l0_smooth_reference,
    region_fusion,
    region_fusion_energy,
)

NKS_DIR = "nks/validation"  # inside the shared data folder (common.data_dir)


def default_image(data_dir: Path | None) -> Path | None:
    pngs = sorted(common.data_path(NKS_DIR, data_dir).glob("*.png"))
    return pngs[0] if pngs else None


def load_image(path: Path) -> np.ndarray:
    img = skio.imread(path)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float64) / 65535.0
    return img.astype(np.float64)


def time_calls(fn, repeats: int) -> dict:
    fn()  # full-size warm-up (first-touch page faults, caches)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "median_s": statistics.median(wall),
        "min_s": min(wall),
        "cpu_median_s": statistics.median(cpu),
        "repeats": repeats,
    }


def first_call_s(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--image",
        type=Path,
        default=None,
        help=f"RGB/gray image (default: the first png, sorted, of the data folder's {NKS_DIR})",
    )
    common.add_data_dir_argument(ap)
    ap.add_argument("--repeats", type=int, default=11, help="timed calls per case (median reported)")
    ap.add_argument("--rf-lam", type=float, default=0.03)
    ap.add_argument("--K", type=int, default=50)
    ap.add_argument("--l0-lam", type=float, default=0.02)
    ap.add_argument("--out-dir", type=Path, default=common.RESULTS_DIR)
    args = ap.parse_args(argv)

    path = args.image or default_image(args.data_dir)
    if path is None or not Path(path).exists():
        print(f"no image: pass --image (looked in {common.data_dir(args.data_dir) / NKS_DIR})", file=sys.stderr)
        return 2
    img = load_image(Path(path))
    tiny = np.ascontiguousarray(img[:8, :8])
    default_threads = torch.get_num_threads()
    prov = common.provenance()  # date, command, git commit, host, CPU, torch threads, load, versions
    load_before = prov["loadavg"]

    results: dict = {"cases": {}}
    print(f"image {path} shape {img.shape}; {prov['cpu']}, {prov['cpu_count']} CPUs, load {load_before}")

    # ---- first calls: numba compile, or load from the on-disk cache
    rf_mod = sys.modules["deepprior.regularizers.l0.region_fusion"]
    l0_mod = sys.modules["deepprior.regularizers.l0.l0_smooth"]
    first = {
        "region_fusion_s": first_call_s(lambda: region_fusion(tiny, args.rf_lam, args.K)),
        "l0_smooth_s": first_call_s(lambda: l0_smooth(tiny, args.l0_lam)),
    }
    kernels = (rf_mod._fuse, l0_mod._shrink_divergence, l0_mod._spectral_update)
    hits = sum(sum(f.stats.cache_hits.values()) for f in kernels)
    misses = sum(sum(f.stats.cache_misses.values()) for f in kernels)
    first["numba_cache"] = (
        "hit (loaded, not compiled)" if misses == 0 and hits else f"compiled ({misses} misses, {hits} hits)"
    )
    results["first_call"] = first
    print(
        f"first call (compile/cache load): region_fusion {first['region_fusion_s']:.2f} s, "
        f"l0_smooth {first['l0_smooth_s']:.2f} s [{first['numba_cache']}]"
    )

    def record(name: str, fn, threads: int, note: str = "") -> dict:
        r = time_calls(fn, args.repeats)
        r["threads"] = threads
        if note:
            r["note"] = note
        results["cases"][f"{name} [{threads} thread{'s' if threads > 1 else ''}]"] = r
        print(f"{name:<40s} threads={threads}  median {r['median_s'] * 1e3:7.1f} ms  min {r['min_s'] * 1e3:7.1f} ms")
        return r

    # ---- Region Fusion (serial numba code: thread settings do not matter)
    torch.set_num_threads(1)
    for schedule in ("linear", "power"):
        record(
            f"region_fusion K={args.K} lam={args.rf_lam} {schedule}",
            lambda s=schedule: region_fusion(img, args.rf_lam, args.K, s),
            1,
        )
    S_rf = region_fusion(img, args.rf_lam, args.K)
    results["region_fusion_quality"] = {
        "energy_input": region_fusion_energy(img, img, args.rf_lam),
        "energy_output": region_fusion_energy(S_rf, img, args.rf_lam),
        "n_colours": len(np.unique(S_rf.reshape(-1, S_rf.shape[-1] if S_rf.ndim == 3 else 1), axis=0)),
    }

    # ---- L0 smoothing: torch.fft threads
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        record(f"l0_smooth lam={args.l0_lam}", lambda: l0_smooth(img, args.l0_lam), threads)
    torch.set_num_threads(default_threads)
    S_l0 = l0_smooth(img, args.l0_lam)
    R = l0_smooth_reference(img, args.l0_lam)
    results["l0_smooth_quality"] = {
        "energy_input_tol1e-3": l0_smooth_energy(img, img, args.l0_lam, tol=1e-3),
        "energy_output_tol1e-3": l0_smooth_energy(S_l0, img, args.l0_lam, tol=1e-3),
        "vs_float64_reference_max_abs_diff": float(np.abs(S_l0 - R).max()),
        "vs_float64_reference_mean_abs_diff": float(np.abs(S_l0 - R).mean()),
    }

    # ---- OpenCV contrib, optional
    try:
        import cv2

        has_l0 = hasattr(cv2, "ximgproc") and hasattr(cv2.ximgproc, "l0Smooth")
    except ImportError:
        has_l0 = False
    if has_l0:
        img32 = img.astype(np.float32)
        # a fresh copy for every call (about 1 ms): OpenCV 5's l0Smooth overwrites a float32 input, so repeated
        # calls on one array would each smooth the last one's leftovers
        cv_default = cv2.getNumThreads()
        for threads in sorted({1, cv_default}):
            cv2.setNumThreads(threads)
            record(
                f"cv2.ximgproc.l0Smooth lam={args.l0_lam}",
                lambda: cv2.ximgproc.l0Smooth(img32.copy(), lambda_=args.l0_lam, kappa=2.0),
                threads,
                note=f"opencv {cv2.__version__}",
            )
        cv2.setNumThreads(cv_default)
        ref = cv2.ximgproc.l0Smooth(img32.copy(), lambda_=args.l0_lam, kappa=2.0)
        ref2 = cv2.ximgproc.l0Smooth(img32.copy(), lambda_=args.l0_lam, kappa=2.0)
        results["cv2_vs_l0_smooth_max_abs_diff"] = float(np.abs(ref - S_l0).max())
        results["cv2_vs_l0_smooth_mean_abs_diff"] = float(np.abs(ref - S_l0).mean())
        results["cv2_run_to_run_max_abs_diff"] = float(np.abs(ref - ref2).max())
        cv_version = cv2.__version__
    else:
        print("cv2.ximgproc.l0Smooth: not installed (pip install opencv-contrib-python-headless)")
        cv_version = "not installed"

    results["provenance"] = prov
    results["machine"] = {
        "cpu": prov["cpu"],
        "host": prov["host"],
        "platform": platform.platform(),
        "cpu_count": prov["cpu_count"],
        "loadavg_at_start": load_before,
        "loadavg_at_end": common.loadavg(),
        "torch_default_threads": default_threads,
        "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS"),
    }
    results["versions"] = {**prov["versions"], "opencv": cv_version}
    results["image"] = {"path": str(path), "shape": list(img.shape)}
    results["command"] = prov["command"]
    results["date_utc"] = prov["date"]

    common.write_json(args.out_dir / "l0_solvers_speed.json", results)
    common.write_text(args.out_dir / "l0_solvers_speed.md", markdown(results))
    print(f"wrote {args.out_dir / 'l0_solvers_speed.json'} and .md")
    return 0


def fmt_load(load) -> str:
    return "n/a" if load is None else "/".join(f"{x:.1f}" for x in load)


def markdown(r: dict) -> str:
    m, v = r["machine"], r["versions"]
    lines = [
        "# l0 solver speed",
        "",
        (
            f"Image `{Path(r['image']['path']).name}` {tuple(r['image']['shape'])}; "
            f"{m['cpu']}, {m['cpu_count']} CPUs (1/5/15-min load average {fmt_load(m['loadavg_at_start'])} at start, "
            f"{fmt_load(m['loadavg_at_end'])} at end: other jobs shared the machine when above ~0); "
            f"Python {v['python']}, numpy {v['numpy']}, numba {v['numba']}, torch {v['torch']}, OpenCV {v['opencv']}."
        ),
        "",
        f"Command: `{r['command']}` ({r['date_utc']}).",
        "",
        "| case | threads | median (ms) | min (ms) | process CPU median (ms) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, c in r["cases"].items():
        lines.append(
            f"| {name.rsplit(' [', 1)[0]} | {c['threads']} | {c['median_s'] * 1e3:.1f} | {c['min_s'] * 1e3:.1f} | "
            f"{c['cpu_median_s'] * 1e3:.1f} |"
        )
    f = r["first_call"]
    lines += [
        "",
        (
            f"First call on an 8x8 image (numba {f['numba_cache']}): region_fusion {f['region_fusion_s']:.2f} s, "
            f"l0_smooth {f['l0_smooth_s']:.2f} s; not included above.  Each case had one full-size warm-up call, "
            f"then {next(iter(r['cases'].values()))['repeats']} timed calls."
        ),
        "",
        (
            f"Region fusion energy: input {r['region_fusion_quality']['energy_input']:.1f}, "
            f"output {r['region_fusion_quality']['energy_output']:.1f} "
            f"({r['region_fusion_quality']['n_colours']} colours).  "
            "L0 smoothing energy (gradients > 1e-3 counted): "
            f"input {r['l0_smooth_quality']['energy_input_tol1e-3']:.1f}, "
            f"output {r['l0_smooth_quality']['energy_output_tol1e-3']:.1f}."
        ),
    ]
    if "cv2_vs_l0_smooth_max_abs_diff" in r:
        lines += [
            "",
            (
                f"OpenCV's l0Smooth output differs from ours (max |diff| {r['cv2_vs_l0_smooth_max_abs_diff']:.3f}, "
                f"mean {r['cv2_vs_l0_smooth_mean_abs_diff']:.4f}; two OpenCV calls on fresh copies of the input "
                f"differ by up to {r['cv2_run_to_run_max_abs_diff']:.3f}) while ours (float32) follows a float64 "
                "transcription of the paper's algorithm (max |diff| "
                f"{r['l0_smooth_quality']['vs_float64_reference_max_abs_diff']:.2g}, mean "
                f"{r['l0_smooth_quality']['vs_float64_reference_mean_abs_diff']:.2g}), so only the speed is comparable."
            ),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(common.run_script(main))
