import math

import numpy as np
import pytest
import torch

import deepprior
from deepprior.errors import InputError
from deepprior.metrics import noise_sigma
from deepprior.settings import FitSettings
from deepprior.stopping import ESEMV, ESWMV, STOPPERS, EarlyStopping, make_stopper
from helpers import TINY, add_noise, smooth_image

SHAPE = (1, 3, 16, 16)


def v_sequence(T=200, t0=80, seed=0, shape=SHAPE):
    """x_t = clean + s_t * noise_t with s_t = 0.01 + 0.004 |t - t0|: the spread of outputs is lowest at t0."""
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(shape, generator=g)
    return [clean + (0.01 + 0.004 * abs(t - t0)) * torch.randn(shape, generator=g) for t in range(T)]


def brute_wmv(outputs, window):
    """VAR_t of the window ending at each t (float64 numpy), for t >= window - 1."""
    arr = np.stack([o.double().numpy().ravel() for o in outputs])
    out = []
    for t in range(window - 1, len(arr)):
        win = arr[t - window + 1 : t + 1]
        out.append(np.mean(np.sum((win - win.mean(0)) ** 2, axis=1) / win.shape[1]))
    return np.array(out)


def brute_emv(outputs, alpha):
    arr = [o.double().numpy() for o in outputs]
    mean, var, scores = arr[0].copy(), np.zeros_like(arr[0]), [0.0]
    for x in arr[1:]:
        delta = x - mean
        mean = mean + alpha * delta
        var = (1 - alpha) * (var + alpha * delta**2)
        scores.append(var.mean())
    return np.array(scores)


def run(stopper, outputs, check_every=1):
    stop_at = None
    for t, x in enumerate(outputs):
        stopper.update(t, x)
        if stop_at is None and t % check_every == 0 and stopper.should_stop():
            stop_at = t
    return stop_at


# ----------------------------------------------------------------------------- ES-WMV


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wmv_detects_minimum_and_stops_patience_later(seed):
    outputs = v_sequence(seed=seed)
    s = ESWMV(window=10, patience=30, check_every=1)
    stop_at = run(s, outputs)
    # The window of 10 with the least spread is centred on t0 = 80, so it ends at t = 84.5.
    assert abs(s.best_step - 84.5) <= 3
    assert stop_at == s.best_step + 30
    assert s.best_score == pytest.approx(s.scores().min())
    assert s.score_steps()[np.argmin(s.scores())] == s.best_step
    torch.testing.assert_close(s.best_output, outputs[s.best_step], rtol=0, atol=0)


def test_wmv_should_stop_false_before_window_full_and_until_patience():
    outputs = v_sequence(T=40)
    s = ESWMV(window=10, patience=30, check_every=1)
    for t in range(9):
        s.update(t, outputs[t])
        assert not s.should_stop()
        assert s.best_step is None and s.best_output is None and s.best_score is None
    assert s.scores().shape == (0,)
    s.update(9, outputs[9])
    assert s.best_step == 9 and len(s.scores()) == 1
    # Variance only grows from here on (t > t0 region not reached, but s_t decreases toward t0=80):
    # feed constant outputs so VAR falls to 0 once, then stays 0 (no strict improvement).
    for t in range(10, 60):
        s.update(t, outputs[9])
    assert s.best_step == 18  # first window made only of the constant output
    assert s.best_score == 0.0
    assert s.should_stop()  # 59 - 18 >= 30


def test_wmv_running_variance_matches_brute_force():
    outputs = v_sequence(T=150, seed=3)
    s = ESWMV(window=10, patience=1000, resync_every=0)  # running update only, no exact resync
    run(s, outputs)
    expected = brute_wmv(outputs, 10)
    np.testing.assert_allclose(s.scores(), expected, rtol=1e-5)
    np.testing.assert_array_equal(s.score_steps(), np.arange(9, 150))


def test_wmv_running_variance_accurate_with_tiny_variance_and_resync():
    # Late in DIP consecutive outputs differ by ~1e-3 on values ~0.5: a naive sum of squares cancels.
    g = torch.Generator().manual_seed(4)
    base = 0.25 + 0.5 * torch.rand(SHAPE, generator=g)
    outputs = [base + 1e-4 * torch.randn(SHAPE, generator=g) for _ in range(120)]
    for resync in (0, 7):
        s = ESWMV(window=10, patience=1000, resync_every=resync)
        run(s, outputs)
        np.testing.assert_allclose(s.scores(), brute_wmv(outputs, 10), rtol=1e-5)


def test_wmv_no_drift_over_long_runs():
    # 2000 steps of the running update alone (float64) stay on the brute-force values.
    g = torch.Generator().manual_seed(11)
    base = 0.25 + 0.5 * torch.rand(1, 1, 8, 8, generator=g)
    outputs = [base + 1e-3 * torch.randn(base.shape, generator=g) for _ in range(2000)]
    s = ESWMV(window=10, patience=10**6, resync_every=0)
    run(s, outputs)
    np.testing.assert_allclose(s.scores()[-100:], brute_wmv(outputs[-109:], 10), rtol=1e-9)


def test_wmv_float32_accumulators_resync_by_default(monkeypatch):
    # The MPS path (no float64): float32 running sums, exact resync every W steps by default.
    monkeypatch.setattr(ESWMV, "_score_dtype", lambda self, device: torch.float32)
    g = torch.Generator().manual_seed(12)
    base = 0.25 + 0.5 * torch.rand(SHAPE, generator=g)
    outputs = [base + 1e-3 * torch.randn(SHAPE, generator=g) for _ in range(300)]
    s = ESWMV(window=10, patience=10**6)
    run(s, outputs)
    assert s.resync_every == 10 and s._m2.dtype == torch.float32
    np.testing.assert_allclose(s.scores(), brute_wmv(outputs, 10), rtol=1e-3)


def test_wmv_resync_is_exact_and_cheap_chunks():
    outputs = v_sequence(T=40, seed=5)
    s = ESWMV(window=10, patience=1000, resync_every=1)
    run(s, outputs)
    np.testing.assert_allclose(s.scores(), brute_wmv(outputs, 10), rtol=1e-12)
    window = torch.stack(outputs[-10:]).double()
    torch.testing.assert_close(s._mean, window.mean(0), rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, "bfloat16", "float64"])
def test_wmv_buffer_dtype_variance_of_stored_values(dtype):
    outputs = v_sequence(T=60, seed=6)
    s = ESWMV(window=10, patience=1000, buffer_dtype=dtype, resync_every=0)
    run(s, outputs)
    torch_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    assert s._buffer.dtype == torch_dtype
    rounded = [o.to(torch_dtype) for o in outputs]
    np.testing.assert_allclose(s.scores(), brute_wmv(rounded, 10), rtol=1e-5)
    # The best output is the full-precision iterate, not the rounded one.
    torch.testing.assert_close(s.best_output, outputs[s.best_step], rtol=0, atol=0)


def test_wmv_select_mean_returns_window_mean():
    outputs = v_sequence(seed=7)
    s = ESWMV(window=10, patience=1000, select="mean")
    run(s, outputs)
    b = s.best_step
    expected = torch.stack(outputs[b - 9 : b + 1]).mean(0)
    torch.testing.assert_close(s.best_output, expected, rtol=1e-6, atol=1e-6)
    assert s.best_output.dtype == torch.float32


def test_wmv_does_not_modify_inputs_and_float64_outputs():
    outputs = [o.double() for o in v_sequence(T=30, seed=8)]
    copies = [o.clone() for o in outputs]
    s = ESWMV(window=5, patience=100, buffer_dtype="float64")
    run(s, outputs)
    for a, b in zip(outputs, copies):
        assert torch.equal(a, b)
    np.testing.assert_allclose(s.scores(), brute_wmv(copies, 5), rtol=1e-10)


def test_wmv_detaches_and_keeps_history_growing():
    s = ESWMV(window=2, patience=5000)
    x = torch.rand(1, 1, 4, 4, requires_grad=True)
    for t in range(1100):  # more than the initial history capacity (1024)
        s.update(t, x * (1 + 0.001 * (t % 3)))
    assert len(s.scores()) == 1099
    assert not s.best_output.requires_grad
    assert s.variance().dim() == 0


def test_wmv_update_errors():
    s = ESWMV(window=3, patience=5)
    s.update(0, torch.zeros(SHAPE))
    with pytest.raises(InputError, match="increase"):
        s.update(0, torch.zeros(SHAPE))
    with pytest.raises(InputError, match="shape"):
        s.update(1, torch.zeros(1, 3, 8, 8))
    with pytest.raises(InputError):
        s.update(2, torch.zeros(SHAPE, dtype=torch.int64))
    with pytest.raises(InputError):
        s.update(-1, torch.zeros(SHAPE))


@pytest.mark.parametrize(
    "kw",
    [
        {"window": 1},
        {"patience": 0},
        {"buffer_dtype": "int8"},
        {"select": "best"},
        {"check_every": 0},
        {"resync_every": -1},
    ],
)
def test_wmv_bad_arguments(kw):
    with pytest.raises(InputError):
        ESWMV(**kw)


# ----------------------------------------------------------------------------- ES-EMV


def test_emv_scores_match_recurrence():
    outputs = v_sequence(T=80, seed=9)
    s = ESEMV(alpha=0.1, patience=1000)
    run(s, outputs)
    assert s.warmup == 30
    expected = brute_emv(outputs, 0.1)
    np.testing.assert_allclose(s.scores(), expected[30:], rtol=1e-10)
    np.testing.assert_array_equal(s.score_steps(), np.arange(30, 80))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_emv_detects_minimum_and_stops_patience_later(seed):
    outputs = v_sequence(seed=seed)
    s = ESEMV(alpha=0.1, patience=30, check_every=1)
    stop_at = run(s, outputs)
    # The exponential weights lag behind: the minimum comes a few steps after t0 = 80.
    assert 80 <= s.best_step <= 95
    assert stop_at == s.best_step + 30
    torch.testing.assert_close(s.best_output, outputs[s.best_step], rtol=0, atol=0)


def test_emv_select_mean_and_check_every():
    outputs = v_sequence(seed=10)
    s = ESEMV(alpha=0.2, patience=30, warmup=10, select="mean", check_every=25)
    stop_at = run(s, outputs, check_every=25)
    b = s.best_step
    assert stop_at is not None and stop_at % 25 == 0
    assert b + 30 <= stop_at < b + 30 + 25
    mean = outputs[0].double()
    for x in outputs[1 : b + 1]:
        mean = mean + 0.2 * (x.double() - mean)
    torch.testing.assert_close(s.best_output, mean.float(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kw", [{"alpha": 0}, {"alpha": 1.5}, {"alpha": "x"}, {"warmup": 0}, {"select": "x"}])
def test_emv_bad_arguments(kw):
    with pytest.raises(InputError):
        ESEMV(**kw)


# ----------------------------------------------------------------------------- make_stopper


def test_make_stopper():
    assert make_stopper("fixed") is None
    assert make_stopper("fixed", patience=10) is None
    s = make_stopper("es-wmv", window=7, patience=12)
    assert isinstance(s, ESWMV) and isinstance(s, EarlyStopping)
    assert (s.window, s.patience) == (7, 12)
    assert isinstance(make_stopper("ES_EMV", alpha=0.2), ESEMV)


def test_make_stopper_errors():
    with pytest.raises(InputError, match="unknown stopping rule 'es-foo'") as error:
        make_stopper("es-foo")
    assert all(name in str(error.value) for name in STOPPERS.names())
    with pytest.raises(InputError, match="es-wmv"):
        make_stopper("es-wmv", alpha=0.1)
    with pytest.raises(InputError):
        make_stopper("es-emv", window=0)


# ----------------------------------------------------------------------------- device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cls", [ESWMV, ESEMV])
def test_update_does_not_sync_on_cuda(cls):
    stopper = cls(patience=1000) if cls is ESEMV else cls(window=10, patience=1000, resync_every=5)
    outputs = [o.cuda() for o in v_sequence(T=60)]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for t, x in enumerate(outputs):
            stopper.update(t, x)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert stopper.best_output.is_cuda
    expected = (
        brute_wmv([o.cpu() for o in outputs], 10) if cls is ESWMV else brute_emv([o.cpu() for o in outputs], 0.1)[30:]
    )
    np.testing.assert_allclose(stopper.scores(), expected, rtol=1e-5)
    assert not math.isnan(stopper.best_score)


# ---------------------------------------------------------------- the discrepancy principle (FitSettings.discrepancy)


@pytest.mark.parametrize("sigma", [5 / 255, 25 / 255, 50 / 255])
def test_noise_sigma_recovers_white_noise_on_a_smooth_image(sigma):
    noisy = smooth_image(256) + np.random.default_rng(1).normal(0, sigma, (256, 256, 3))  # unclipped
    assert noise_sigma(noisy) == pytest.approx(sigma, rel=0.06)
    assert noise_sigma(smooth_image(256)) < 0.2 / 255  # no noise: next to nothing
    with pytest.raises(InputError, match="2×2"):
        noise_sigma(np.zeros((1, 5)))


def _gated_denoise(discrepancy):
    result = deepprior.denoise(
        add_noise(smooth_image(48)),
        generator_options=TINY,
        input_channels=8,
        iterations=400,
        stop="es-wmv",
        stop_options={"window": 10, "patience": 30},
        check_every=10,
        discrepancy=discrepancy,
    )
    (event,) = [e for e in result.history.events if e["event"] == "early-stopping"]
    return event


def test_the_discrepancy_principle_holds_a_stop_back_until_the_residual_reaches_the_noise():
    free = _gated_denoise(None)
    assert free["stopped"] and "noise_sigma" not in free
    loose = _gated_denoise(100.0)  # any residual is small enough: the rule stops where it would anyway
    assert loose["step"] == free["step"] and loose["explained_at"] == free["step"]
    assert loose["noise_sigma"] == pytest.approx(25 / 255, rel=0.15)
    strict = _gated_denoise(0.01)  # no fit of a noisy image gets there: it runs every step
    assert not strict["stopped"] and strict["step"] == 399 and strict["explained_at"] is None


@pytest.mark.parametrize("tau", [0, -1.0, float("nan"), float("inf")])
def test_a_discrepancy_must_be_a_positive_number(tau):
    with pytest.raises(InputError, match="discrepancy"):
        FitSettings(discrepancy=tau).validate()
