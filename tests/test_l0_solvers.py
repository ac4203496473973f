"""Region Fusion and L0 smoothing: behaviour, energies, parameters, and a
slow pure-Python Region Fusion that the compiled layout must match exactly."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from skimage.filters import gaussian
from skimage.measure import label

from deepprior.errors import InputError
from deepprior.regularizers.l0 import (
    l0_smooth,
    l0_smooth_energy,
    l0_smooth_reference,
    region_fusion,
    region_fusion_energy,
)

COLOURS_RGB = np.array([[0.1, 0.2, 0.8], [0.9, 0.5, 0.1], [0.4, 0.9, 0.4], [0.7, 0.1, 0.6]])
COLOURS_GRAY = np.array([[0.1], [0.9], [0.4], [0.65]])


def piecewise(rgb: bool, seed: int = 0, H: int = 40, W: int = 48, sigma: float = 0.03):
    """Four flat rectangles plus Gaussian noise; returns (noisy, clean)."""
    cols = COLOURS_RGB if rgb else COLOURS_GRAY
    clean = np.empty((H, W, cols.shape[1]))
    clean[: H // 2, : W // 3] = cols[0]
    clean[: H // 2, W // 3 :] = cols[1]
    clean[H // 2 :, : 2 * W // 3] = cols[2]
    clean[H // 2 :, 2 * W // 3 :] = cols[3]
    noisy = clean + sigma * np.random.default_rng(seed).standard_normal(clean.shape)
    if not rgb:
        return noisy[:, :, 0], clean[:, :, 0]
    return noisy, clean


def interiors(H: int = 40, W: int = 48, m: int = 3):
    """Slices of the four rectangles, m pixels away from every edge (periodic ones too)."""
    return [
        (slice(m, H // 2 - m), slice(m, W // 3 - m)),
        (slice(m, H // 2 - m), slice(W // 3 + m, W - m)),
        (slice(H // 2 + m, H - m), slice(m, 2 * W // 3 - m)),
        (slice(H // 2 + m, H - m), slice(2 * W // 3 + m, W - m)),
    ]


def n_regions(S: np.ndarray) -> int:
    """Connected components (4-connectivity) of exactly equal value."""
    S3 = S if S.ndim == 3 else S[:, :, None]
    _, ids = np.unique(S3.reshape(-1, S3.shape[2]), axis=0, return_inverse=True)
    return int(label(ids.reshape(S3.shape[:2]), connectivity=1, background=-1).max())


def n_nonzero_gradients(S: np.ndarray, tol: float) -> int:
    S3 = S if S.ndim == 3 else S[:, :, None]
    g = np.abs(np.roll(S3, -1, 1) - S3) + np.abs(np.roll(S3, -1, 0) - S3)
    return int(np.count_nonzero(g.sum(axis=2) > tol))


def blur(img: np.ndarray) -> np.ndarray:
    return gaussian(img, sigma=1.0, channel_axis=-1 if img.ndim == 3 else None)


# ---------------------------------------------------------------------------
# slow reference Region Fusion (same visiting order, plain Python containers)
# ---------------------------------------------------------------------------


def reference_region_fusion(img, lam, K=50, power=1.0):
    img = np.asarray(img, dtype=np.float64)
    H, W = img.shape[:2]
    X = img.reshape(H * W, -1)
    N, C = X.shape
    Y = [[float(v) for v in X[p]] for p in range(N)]
    w = [1] * N
    nb = []  # ordered neighbour lists
    for p in range(N):
        y, x = divmod(p, W)
        nb.append([q for ok, q in ((y > 0, p - W), (x > 0, p - 1), (x < W - 1, p + 1), (y < H - 1, p + W)) if ok])
    cnt = [{q: 1 for q in nb[p]} for p in range(N)]
    members = [[p] for p in range(N)]
    alive = [True] * N
    n_alive = N
    for k in range(K + 1):
        if n_alive <= 1:
            break
        t = k / K
        beta = lam * t if power == 1.0 else lam * t**power
        for i in range(N):
            if not alive[i]:
                continue
            pos = 0
            while pos < len(nb[i]):
                j = nb[i][pos]
                wi, wj = w[i], w[j]
                d = 0.0
                for c in range(C):
                    diff = Y[i][c] - Y[j][c]
                    d += diff * diff
                if float(wi * wj) * d > beta * cnt[i][j] * (wi + wj):
                    pos += 1
                    continue
                f = wj / (wi + wj)
                Y[i] = [Y[i][c] + (Y[j][c] - Y[i][c]) * f for c in range(C)]
                w[i] = wi + wj
                del nb[i][pos]
                del cnt[i][j]
                for q in nb[j]:
                    if q == i:
                        continue
                    cq = cnt[j][q]
                    if q in cnt[i]:
                        cnt[i][q] += cq
                    else:
                        nb[i].append(q)
                        cnt[i][q] = cq
                    # in q's list: rename j -> i, or drop j if q already lists i
                    cqj = cnt[q].pop(j)
                    if i in cnt[q]:
                        cnt[q][i] += cqj
                        nb[q].remove(j)
                    else:
                        nb[q][nb[q].index(j)] = i
                        cnt[q][i] = cqj
                nb[j], cnt[j] = [], {}
                members[i] += members[j]
                members[j] = []
                alive[j] = False
                n_alive -= 1
                if n_alive <= 1:
                    break
            if n_alive <= 1:
                break
    out = np.empty((N, C))
    for i in range(N):
        for p in members[i]:
            out[p] = Y[i]
    return out.reshape(img.shape)


def _reference_cases():
    rng = np.random.default_rng(1234)
    cases = [
        (rng.random((6, 7, 3)), 0.2, 50, "linear"),
        (rng.random((6, 7)), 0.05, 50, "linear"),
        (rng.random((6, 7, 3)), 0.5, 10, "power"),
        (rng.integers(0, 3, (7, 6, 3)) / 2.0, 0.3, 5, "linear"),  # many ties and equal colours
        (rng.integers(0, 4, (9, 8)) / 3.0, 1.0, 3, "linear"),
        (rng.random((1, 9, 2)), 0.3, 4, "linear"),
        (rng.random((11, 13, 3)), 0.1, 20, "power"),
    ]
    noisy, _ = piecewise(True, seed=3, H=12, W=14, sigma=0.05)
    cases.append((noisy, 0.05, 50, "linear"))
    return cases


@pytest.mark.parametrize("case", range(len(_reference_cases())))
def test_region_fusion_matches_reference(case):
    img, lam, K, schedule = _reference_cases()[case]
    expected = reference_region_fusion(img, lam, K, 2.2 if schedule == "power" else 1.0)
    np.testing.assert_array_equal(region_fusion(img, lam, K, schedule), expected)


@pytest.mark.parametrize("ratio", [0.5, 1.01])
def test_region_fusion_matches_reference_with_compaction(monkeypatch, ratio):
    # compaction only starts above 256 live groups; force it on a small image
    # (ratio 1.01: compact before every pass)
    # (the package attribute `region_fusion` is the function, not the module)
    rf_mod = importlib.import_module("deepprior.regularizers.l0.region_fusion")
    monkeypatch.setattr(rf_mod, "_COMPACT_MIN", 2)
    monkeypatch.setattr(rf_mod, "_COMPACT_RATIO", ratio)
    for seed, lam in ((0, 0.1), (1, 0.02)):
        img = np.random.default_rng(seed).random((12, 14, 3))
        np.testing.assert_array_equal(region_fusion(img, lam), reference_region_fusion(img, lam))


# ---------------------------------------------------------------------------
# Region Fusion behaviour
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("rgb", [False, True])
def test_region_fusion_recovers_piecewise_constant(rgb):
    noisy, clean = piecewise(rgb)
    S = region_fusion(noisy, lam=0.05)
    assert n_regions(S) == 4
    assert np.abs(S - clean).max() < 0.02
    e_out = region_fusion_energy(S, noisy, 0.05)
    assert e_out < region_fusion_energy(noisy, noisy, 0.05)
    assert e_out < region_fusion_energy(blur(noisy), noisy, 0.05)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_region_fusion_lam_zero_is_identity(dtype):
    rng = np.random.default_rng(5)
    img = (rng.integers(0, 3, (10, 12, 3)) / 3.0).astype(dtype)  # equal neighbours get merged
    S = region_fusion(img, 0.0)
    assert S.dtype == dtype
    np.testing.assert_array_equal(S, img)


def test_region_fusion_regions_non_increasing_in_lam():
    noisy, _ = piecewise(False, seed=1)
    counts = [n_regions(region_fusion(noisy, lam)) for lam in (0.0, 0.001, 0.01, 0.1, 0.5, 2.0, 5.0)]
    assert all(a >= b for a, b in zip(counts, counts[1:])), counts
    assert counts[0] > 1000 and counts[-1] == 1


def test_region_fusion_energy_non_increasing_in_K():
    # a short schedule merges too greedily; more passes give lower energy here
    # (not a theorem: on this image K=100 is slightly above K=50 for seed 0)
    noisy, _ = piecewise(False, seed=0)
    energies = [region_fusion_energy(region_fusion(noisy, 0.1, K), noisy, 0.1) for K in (1, 2, 5, 50)]
    assert all(a >= b for a, b in zip(energies, energies[1:])), energies
    assert energies[0] > 2 * energies[-1]


def test_region_fusion_power_schedule_runs():
    noisy, _ = piecewise(True)
    S = region_fusion(noisy, 0.05, K=50, schedule="power", power=2.2)
    assert n_regions(S) == 4


def test_region_fusion_of_float32_is_the_float64_result_rounded_once():
    """A float32 image is read into float64 means without a float64 copy, and the result written in float32:
    the same values as fusing its float64 copy and rounding the result."""
    noisy, _ = piecewise(True, seed=4)
    x32 = noisy.astype(np.float32)
    out = region_fusion(x32, 0.03, 20)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, region_fusion(x32.astype(np.float64), 0.03, 20).astype(np.float32))


def test_region_fusion_deterministic():
    img = np.random.default_rng(7).random((30, 31, 3))
    np.testing.assert_array_equal(region_fusion(img, 0.05), region_fusion(img, 0.05))


def test_region_fusion_energy_exact_value():
    S = np.array([[0.0, 0.0], [0.0, 1.0]])
    I = np.zeros((2, 2))
    assert region_fusion_energy(S, I, 0.5) == 1.0 + 0.5 * 2
    # colour: a pair differs when any channel differs
    S3 = np.zeros((1, 3, 3))
    S3[0, 2, 1] = 1e-12
    assert region_fusion_energy(S3, S3, 2.0) == 2.0


# ---------------------------------------------------------------------------
# L0 smoothing behaviour
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fft", ["serial", "threaded"])
@pytest.mark.parametrize("rgb", [False, True])
def test_l0_smooth_matches_float64_reference(monkeypatch, rgb, fft):
    # small images run the FFTs on one thread; force the threaded path of large ones
    l0_mod = importlib.import_module("deepprior.regularizers.l0.l0_smooth")
    monkeypatch.setattr(l0_mod, "_THREADED_MIN_SIZE", 0 if fft == "threaded" else 1 << 62)
    noisy, _ = piecewise(rgb, seed=2)
    np.testing.assert_allclose(l0_smooth(noisy, 0.02), l0_smooth_reference(noisy, 0.02), atol=1e-3)


@pytest.mark.parametrize("rgb", [False, True])
def test_l0_smooth_near_piecewise_constant(rgb):
    noisy, clean = piecewise(rgb)
    S = l0_smooth(noisy, lam=0.02)
    S3 = S if S.ndim == 3 else S[:, :, None]
    for ys, xs in interiors():
        block = S3[ys, xs].reshape(-1, S3.shape[2])
        assert np.ptp(block, axis=0).max() < 0.03  # the noise alone spans ~0.2
    assert np.abs(S - clean).mean() < 0.01
    assert n_nonzero_gradients(S, 1e-3) < 0.3 * S.shape[0] * S.shape[1]
    e_out = l0_smooth_energy(S, noisy, 0.02, tol=1e-3)
    assert e_out < l0_smooth_energy(noisy, noisy, 0.02, tol=1e-3)
    assert e_out < l0_smooth_energy(blur(noisy), noisy, 0.02, tol=1e-3)


def test_l0_smooth_nonzero_gradients_non_increasing_in_lam():
    # holds on this RGB image for lam <= 0.03; for larger lam the splitting's
    # first steps flatten edges into ramps and the count grows again
    noisy, _ = piecewise(True)
    counts = [n_nonzero_gradients(l0_smooth(noisy, lam), 1e-3) for lam in (0.001, 0.002, 0.005, 0.01, 0.02, 0.03)]
    assert all(a >= b for a, b in zip(counts, counts[1:])), counts


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_l0_smooth_lam_zero_is_identity(dtype):
    img = np.random.default_rng(3).random((9, 11, 3)).astype(dtype)
    S = l0_smooth(img, 0.0)
    assert S.dtype == dtype
    np.testing.assert_array_equal(S, img)


def test_l0_smooth_energy_exact_value():
    S = np.array([[0.0, 1.0]])  # circular: both pixels see a step of 1 in x
    assert l0_smooth_energy(S, S, 0.5) == 0.5 * 2
    assert l0_smooth_energy(S, np.zeros_like(S), 0.5, tol=2.0) == 1.0


# ---------------------------------------------------------------------------
# shapes, dtypes, parameters (both solvers)
# ---------------------------------------------------------------------------

SOLVERS = [
    pytest.param(lambda x: region_fusion(x, 0.05), id="region_fusion"),
    pytest.param(lambda x: l0_smooth(x, 0.02), id="l0_smooth"),
]


@pytest.mark.parametrize("solve", SOLVERS)
@pytest.mark.parametrize("shape", [(13, 17), (13, 17, 3), (13, 17, 1), (1, 5), (1, 1, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_and_dtype_preserved(solve, shape, dtype):
    img = np.random.default_rng(0).random(shape).astype(dtype)
    S = solve(img)
    assert S.shape == shape and S.dtype == dtype
    assert S.flags.c_contiguous and np.isfinite(S).all()


@pytest.mark.parametrize("solve", SOLVERS)
def test_integer_input_returns_float32(solve):
    img = np.random.default_rng(0).integers(0, 2, (8, 9, 3)).astype(np.uint8)
    S = solve(img)
    assert S.dtype == np.float32 and S.shape == img.shape


BAD_CALLS = [
    (region_fusion, (np.zeros((4, 4)), -0.1), {}),
    (region_fusion, (np.zeros((4, 4)), float("nan")), {}),
    (region_fusion, (np.zeros((4, 4)), 0.1), {"K": 0}),
    (region_fusion, (np.zeros((4, 4)), 0.1), {"K": 2.5}),
    (region_fusion, (np.zeros((4, 4)), 0.1), {"schedule": "cubic"}),
    (region_fusion, (np.zeros((4, 4)), 0.1), {"schedule": "power", "power": 0.0}),
    (region_fusion, (np.zeros(5), 0.1), {}),
    (region_fusion, (np.zeros((2, 2, 2, 2)), 0.1), {}),
    (region_fusion, (np.zeros((0, 4)), 0.1), {}),
    (region_fusion, (np.full((3, 3), np.nan), 0.1), {}),
    (region_fusion, (np.zeros((3, 3), complex), 0.1), {}),
    (l0_smooth, (np.zeros((4, 4)), -1.0), {}),
    (l0_smooth, (np.zeros((4, 4)), 0.02), {"kappa": 1.0}),
    (l0_smooth, (np.zeros((4, 4)), 0.02), {"kappa": 0.5}),
    (l0_smooth, (np.zeros((4, 4)), 0.02), {"beta_max": 0.0}),
    (l0_smooth, (np.zeros(4), 0.02), {}),
    (l0_smooth, (np.zeros((4, 0, 3)), 0.02), {}),
    (region_fusion_energy, (np.zeros((4, 4)), np.zeros((4, 5)), 0.1), {}),
    (region_fusion_energy, (np.zeros((4, 4)), np.zeros((4, 4)), -0.1), {}),
    (l0_smooth_energy, (np.zeros((4, 4)), np.zeros((4, 4, 1)), 0.1), {}),
    (l0_smooth_energy, (np.zeros((4, 4)), np.zeros((4, 4)), 0.1), {"tol": -1.0}),
]


@pytest.mark.parametrize("func,args,kwargs", BAD_CALLS)
def test_bad_parameters_raise_input_error(func, args, kwargs):
    with pytest.raises(InputError):
        func(*args, **kwargs)
