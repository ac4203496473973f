import math

import numpy as np
import pytest
import torch

import deepprior
from deepprior.callbacks import Callback, Checkpointing, Progress, Snapshots, load_checkpoint
from deepprior.errors import InputError
from deepprior.inputs import make_input
from deepprior.loop import crop_to, fit, pad_to, padded_size
from deepprior.metrics import psnr
from deepprior.nets import build_generator
from deepprior.operators import Identity
from deepprior.regularizers import BuildContext, Regularizer, build_regularizer, total_variation
from deepprior.restore import run_together
from deepprior.settings import FitSettings
from helpers import TINY, OneSecondAStep, add_noise, smooth_image


@pytest.mark.slow
def test_short_denoising_run_raises_psnr_by_5_db():
    clean = smooth_image(48)
    noisy = add_noise(clean)
    result = deepprior.denoise(noisy, reference=clean, iterations=300, progress=False, generator_options=TINY)
    assert result.image.shape == clean.shape and result.image.dtype == np.float32
    assert psnr(result.image, clean) > psnr(noisy, clean) + 5.0
    # The history's PSNR of the average is the PSNR of the returned image.
    assert result.history.psnr_average[-1] == pytest.approx(psnr(result.image, clean), abs=0.01)
    assert len(result.history.loss) == 300 and result.record.output_source == "average"


def test_same_seed_is_bit_identical_and_another_seed_differs():
    noisy = add_noise(smooth_image(40))
    run = lambda seed: deepprior.denoise(noisy, iterations=15, seed=seed, progress=False, generator_options=TINY).image
    first, second, other = run(3), run(3), run(4)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other)


def test_history_and_callbacks_and_stop_request():
    noisy = add_noise(smooth_image(40))
    seen: list[int] = []

    def callback(state):
        seen.append(state.step)
        return state.step == 9  # ask to stop after 10 steps

    result = deepprior.denoise(noisy, iterations=50, callbacks=[callback], progress=False, generator_options=TINY)
    assert seen == list(range(10))
    assert result.history.step == list(range(10))
    assert result.record.iterations_run == 10 and result.record.stopped_at == 9
    assert all(math.isnan(v) for v in result.history.psnr)  # no reference given
    assert all(math.isfinite(v) for v in result.history.loss)
    assert math.isfinite(result.history.seconds[-1])


def _observation(size=64):
    return torch.from_numpy(add_noise(smooth_image(size))).permute(2, 0, 1)[None]


def _fit_small(settings, regularizer=None, callbacks=(), size=64, resume=None):
    net = build_generator("skip", 8, 3, seed=settings.seed, **TINY)
    z = make_input("noise", 8, size, size, seed=settings.seed)
    observation = _observation(size)
    return fit(
        net, z, observation, Identity(), settings, regularizer=regularizer, callbacks=callbacks, resume=resume
    ), net


def test_a_direct_call_of_the_loop_is_as_reproducible_as_a_task_call():
    """One place seeds z, the weights and the jitter: the same seed gives the task's exact result."""
    noisy = add_noise(smooth_image(64))
    task = deepprior.denoise(
        noisy, iterations=12, seed=5, generator_options=TINY, input_channels=8, backtrack=False, average=0
    )
    settings = FitSettings(iterations=12, lr=0.01, reg_noise_std=1 / 30, seed=5)
    direct, _ = _fit_small(settings)
    assert np.array_equal(task.image, direct.image[0].permute(1, 2, 0).numpy())


class _Kill(Callback):
    checkpointed = False  # the resumed fit has none

    def __init__(self, step):
        self.step = step

    def on_step(self, state):
        if state.step == self.step:
            raise KeyboardInterrupt


def test_a_killed_fit_resumes_to_the_same_bits_with_or_without_a_bar_or_snapshots(tmp_path):
    """What only shows or saves a fit (a progress bar, snapshots, the checkpointing itself) is no part of its
    checkpoint: a fit started with them resumes without them, and the other way round."""
    settings = FitSettings(iterations=20, lr=0.01, reg_noise_std=0.05, average=0.9, backtrack=True, check_every=5)
    whole, _ = _fit_small(settings)
    path, snapshots = tmp_path / "fit.pt", []
    showing = [Progress("fit"), Snapshots(3, lambda name, image: snapshots.append(name))]
    for first, then in ((showing, []), ([], showing)):
        with pytest.raises(KeyboardInterrupt):  # after the save at step 9
            _fit_small(settings, callbacks=[*first, Checkpointing(path, 0.0, "this fit"), _Kill(12)])
        saved = load_checkpoint(path, torch.device("cpu"), "this fit")
        assert saved["step"] == 9 and saved["kinds"] == ["Averaging", "HistoryRecorder", "Backtracking"]
        resumed, _ = _fit_small(settings, callbacks=then, resume=saved)
        assert torch.equal(resumed.image, whole.image) and resumed.history.loss == whole.history.loss
    steps = [3, 6, 9, 12, 12, 15, 18]  # the first run's until the kill, then the resumed one's
    assert snapshots == [f"step_{step:06d}" for step in steps]
    saved["kinds"].append("StopRule")
    with pytest.raises(InputError, match="other features"):
        _fit_small(settings, resume=saved)


def _one_second_a_step(monkeypatch):
    clock = OneSecondAStep()
    monkeypatch.setattr("time.perf_counter", clock)  # the one the callbacks and the seeds' shares read
    return clock


@pytest.mark.parametrize(
    "iterations, limit, stopped_at",
    [
        (100, 17.0, 16),  # step 16 ends at 17 s, and the next would end at 18
        (100, 0.5, 0),  # the first step always runs
        (17, 17.0, None),  # the last step ends at 17 s: no cut
    ],
)
def test_a_time_limit_ends_the_fit_at_the_last_step_before_it(monkeypatch, iterations, limit, stopped_at):
    settings = FitSettings(iterations=iterations, lr=0.01, average=0.9, check_every=5, time_limit=limit)
    result, _ = _fit_small(settings, callbacks=[_one_second_a_step(monkeypatch)])
    assert result.stopped_at == stopped_at and result.source == "average"
    events = [e for e in result.history.events if e["event"] == "time limit"]
    expected = [] if stopped_at is None else [{"step": stopped_at, "event": "time limit", "seconds": stopped_at + 1.0}]
    assert events == expected


def test_the_seeds_of_an_ensemble_share_its_time_limit(monkeypatch):
    noisy = add_noise(smooth_image(40))
    clock = _one_second_a_step(monkeypatch)
    options = dict(iterations=100, stop="fixed", check_every=5, generator_options=TINY, progress=False)
    result = deepprior.denoise(noisy, seeds=2, time_limit=20.0, callbacks=[clock], **options)
    # 10 s each: the first seed's share is half the limit, the second's what is left
    assert [fit["iterations_run"] for fit in result.record.seeds] == [10, 10]


def test_a_time_limit_leaves_the_refiner_its_measured_time(monkeypatch):
    noisy = add_noise(smooth_image(40))
    clock = _one_second_a_step(monkeypatch)
    monkeypatch.setattr("deepprior.dip._refiner_seconds", lambda plan: 5.0)
    options = dict(iterations=100, stop="fixed", check_every=5, generator_options=TINY, progress=False)
    result = deepprior.denoise(noisy, refine="wiener", time_limit=20.0, callbacks=[clock], **options)
    assert result.record.iterations_run == 15  # 15 s of fit, its last step ending at 15 s: 5 s left to refine
    assert result.record.refinement["reserved_seconds"] == 5.0 and result.record.settings["time_limit"] == 15.0
    with pytest.raises(InputError, match="refiner wiener alone takes about 5 s"):
        deepprior.denoise(noisy, refine="wiener", time_limit=4.0, **options)


def test_fits_stepped_together_leave_time_for_every_refiner_after_them(monkeypatch):
    monkeypatch.setattr("deepprior.dip._refiner_seconds", lambda plan: 3.0)
    rng = np.random.default_rng(0)
    options = dict(iterations=2, generator_options=TINY, refine="wiener", time_limit=20.0)
    plans = [deepprior.denoise.plan(rng.random((32, 32, 3)), **options) for _ in range(2)]
    for restoration in run_together(plans, at_once=2):  # the second image's refiner runs after the first's
        assert restoration.record.refinement["reserved_seconds"] == pytest.approx(6.0, abs=0.5)
        assert restoration.record.settings["time_limit"] == pytest.approx(14.0, abs=0.5)


@pytest.mark.parametrize("shape", [(200, 300, 3), (20, 50, 3)])
def test_a_refiners_time_is_read_off_the_line_through_its_times_on_two_crops(monkeypatch, shape):
    from deepprior import dip

    now, crops = [0.0], []

    def refiner(y, pilot, sigma, device="cpu"):  # 0.5 s + 1 ms a pixel, and 100 s to warm up
        crops.append(y.shape[:2])
        now[0] += (100.0 if len(crops) == 1 else 0.0) + 0.5 + 1e-3 * y.shape[0] * y.shape[1]
        return pilot

    monkeypatch.setattr("time.perf_counter", lambda: now[0])
    monkeypatch.setattr(dip.REFINERS, "get", lambda name: refiner)
    plan = deepprior.denoise.plan(np.random.default_rng(0).random(shape), refine="wiener")
    assert dip._refiner_seconds(plan) == pytest.approx(0.5 + 1e-3 * shape[0] * shape[1])
    small, large = (tuple(min(side, n) for n in shape[:2]) for side in dip.PROBE_SIDES)
    assert crops == [small, small, large]


class Wreck(Callback):
    """Adds large noise to the weights at the check of ``step`` (after backtracking has saved that check)."""

    def __init__(self, step):
        self.step = step

    def on_check(self, state):
        if state.step == self.step:
            with torch.no_grad():
                for p in state.net.parameters():
                    p.add_(torch.randn_like(p) * 5)


def test_backtracking_restores_weights_and_optimizer_state():
    """Wreck the weights after step 29's check: the check at step 34 sees a >5 dB drop and restores step 29."""
    settings = FitSettings(iterations=50, lr=0.01, backtrack=True, check_every=5, average=0.99)
    result, net = _fit_small(settings, callbacks=[Wreck(29)])
    events = [e for e in result.history.events if e["event"] == "backtrack"]
    assert [e["step"] for e in events] == [34]  # restored once, then the fit goes on from the good state
    # Without backtracking the wreck stays in the weights.
    result_plain, _ = _fit_small(FitSettings(iterations=50, lr=0.01, check_every=5), callbacks=[Wreck(29)])
    assert result.history.psnr_observation[-1] > result_plain.history.psnr_observation[-1] + 3


@pytest.mark.parametrize("rule, options", [("es-wmv", {"window": 10}), ("es-emv", {"alpha": 0.3})])
def test_early_stopping_stops_and_selects_an_earlier_output(rule, options):
    settings = FitSettings(iterations=400, lr=0.01, stop=rule, stop_options={"patience": 20, **options}, check_every=5)
    result, _ = _fit_small(settings, size=64)
    assert result.source == "early-stop"
    assert result.stopped_at is not None and result.iterations_run == result.stopped_at + 1 < 400
    assert result.selected_step is not None and result.selected_step + 20 <= result.stopped_at
    # the rule asks every check_every (5) steps, so it stops within 5 steps of its patience running out
    assert result.stopped_at < result.selected_step + 20 + 5


def test_the_stopping_rules_options_reach_it():
    seen = {}

    class Spy(Callback):
        def on_start(self, state):
            seen["rule"] = next(cb.rule for cb in state.callbacks if hasattr(cb, "rule"))

    _fit_small(
        FitSettings(iterations=2, stop="es-emv", stop_options={"alpha": 0.25}, check_every=7),
        callbacks=[Spy()],
        size=64,
    )
    assert (seen["rule"].alpha, seen["rule"].check_every) == (0.25, 7)
    with pytest.raises(InputError, match="stopping rule"):
        _fit_small(FitSettings(iterations=2, stop="es-emv", stop_options={"window": 3}), size=64)


def test_backtracking_restores_the_regularizer_and_the_stopper_too():
    """After a wreck, DIP-ℓ0's ADMM state and the ES window are those of the restored check, not the wreck's."""
    states = {}

    class Watch(Callback):
        def on_check(self, state):
            rule = next(cb.rule for cb in state.callbacks if hasattr(cb, "rule"))
            states[state.step] = (
                state.regularizer.v.clone(),
                state.regularizer.w.clone(),
                rule.last_step,
                len(state.regularizer.residuals),
            )

    y = _observation(64)
    context = BuildContext(observation=y, image_size=(64, 64), iterations=50)
    regularizer = build_regularizer("l0", context, lam=0.02, beta=2.0, inner_steps=5)
    settings = FitSettings(
        iterations=40,
        lr=0.01,
        backtrack=True,
        check_every=5,
        data_term="sse",
        stop="es-wmv",
        stop_options={"window": 4, "patience": 1000},
    )
    result = fit(
        build_generator("skip", 8, 3, **TINY),
        make_input("noise", 8, 64, 64),
        y,
        Identity(),
        settings,
        regularizer=regularizer,
        callbacks=[Watch(), Wreck(29)],
    )
    events = [e for e in result.history.events if e["event"] == "backtrack"]
    assert [e["step"] for e in events] == [34]
    v, w, last_step, residuals = states[29]  # seen before the wreck
    v_after, w_after, last_after, residuals_after = states[34]  # Watch runs after the restore at step 34
    assert torch.equal(v, v_after) and torch.equal(w, w_after)
    assert last_after == last_step == 29 and residuals_after == residuals


def test_a_regularizer_written_by_a_user_plugs_into_the_loop():
    plain, _ = _fit_small(FitSettings(iterations=60, lr=0.01))

    class TV(Regularizer):
        def penalty(self, x, step):
            return 0.5 * total_variation(x)

    regular, _ = _fit_small(FitSettings(iterations=60, lr=0.01), regularizer=TV())
    assert total_variation(regular.image) < 0.8 * total_variation(plain.image)


def test_padding_round_trip_and_sizes():
    assert padded_size(37, 53, 32, 64) == (64, 64)
    assert padded_size(100, 65, 32, 64) == (128, 96)
    x = torch.rand(1, 3, 37, 53)
    padded = pad_to(x, 64, 96)
    assert padded.shape[-2:] == (64, 96)
    assert torch.equal(crop_to(padded, 37, 53), x)


@pytest.mark.parametrize(
    "bad",
    [
        dict(iterations=0),
        dict(lr=-1.0),
        dict(lr=float("nan")),
        dict(average=1.0),
        dict(reg_noise_std=-0.1),
        dict(data_term="max"),
        dict(check_every=0),
        dict(stop="soon"),
        dict(output="best"),
        dict(seed=-1),
        dict(compile="fastest"),
        dict(time_limit=0),
        dict(time_limit=-5.0),
        dict(time_limit=float("inf")),
        dict(time_limit="5m"),
    ],
)
def test_nonsense_settings_are_input_errors(bad):
    with pytest.raises(InputError):
        FitSettings(**bad).validate()


@pytest.mark.parametrize(
    "y, message",
    [
        (torch.rand(1, 3, 32, 32), r"A·x has shape \(1, 3, 64, 64\) but y has \(1, 3, 32, 32\)"),
        (torch.rand(1, 3, 1, 64), "but y has"),  # mse_loss would broadcast it over A·x, with a warning only
        (torch.rand(3, 64, 64), r"observation must have shape \(1, C, h, w\)"),
        (np.random.rand(1, 3, 64, 64), "observation must be a torch.Tensor"),
    ],
)
def test_the_loop_refuses_a_y_that_does_not_fit_its_operator(y, message):
    net = build_generator("skip", 8, 3, seed=0, **TINY)
    with pytest.raises(InputError, match=message):
        fit(net, make_input("noise", 8, 64, 64, seed=0), y, Identity(), FitSettings(iterations=2))


def test_optimize_input_trains_z():
    seen = {}

    class Keep(Callback):
        def on_start(self, state):
            seen["before"] = state.z.detach().clone()

        def on_end(self, state):
            seen["after"] = state.z.detach().clone()

    _fit_small(FitSettings(iterations=5, lr=0.01, optimize_input=True), callbacks=[Keep()], size=64)
    assert not torch.equal(seen["before"], seen["after"])
    _fit_small(FitSettings(iterations=5, lr=0.01), callbacks=[Keep()], size=64)
    assert torch.equal(seen["before"], seen["after"])


def test_an_output_policy_that_cannot_be_met_is_refused_before_fitting():
    with pytest.raises(InputError, match="averaging"):
        _fit_small(FitSettings(iterations=2, output="average"), size=64)
    result, _ = _fit_small(FitSettings(iterations=3, average=0.9, output="last"), size=64)
    assert result.source == "last"


def test_out_of_memory_becomes_one_actionable_device_error():
    from deepprior.errors import DeviceError

    def exhaust(state):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 99 GB")

    with pytest.raises(DeviceError, match="narrower network"):
        _fit_small(FitSettings(iterations=3), callbacks=[exhaust])

    def too_large(state):  # what CUDA kernels raise for a layer of 2^31 values or more (H100, torch 2.11)
        raise RuntimeError("input tensor must fit into 32-bit index math")

    with pytest.raises(DeviceError, match=r"2\^31 values.*narrower network"):
        _fit_small(FitSettings(iterations=3), callbacks=[too_large])


def test_automatic_precision_is_recorded_and_can_be_forced_off():
    from deepprior.device import fast_defaults

    result, _ = _fit_small(FitSettings(iterations=2))
    assert (result.channels_last, result.amp) == fast_defaults(torch.device("cpu"))
    forced, _ = _fit_small(FitSettings(iterations=2, channels_last=False, amp=False))
    assert (forced.channels_last, forced.amp) == (False, False)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [("fpu avx2 avx512f avx512_bf16", (True, True)), ("fpu avx2 avx512f", (True, False)), ("fpu avx2", (False, False))],
)
def test_the_automatic_cpu_formats_follow_the_cpus_features(monkeypatch, flags, expected):
    """channels_last where the CPU has AVX-512 (measured faster there), contiguous on an AVX2-only CPU (measured
    1.3–1.5× faster there); bf16 only with it in hardware; on CUDA neither."""
    from deepprior import device

    monkeypatch.setattr(device, "_cpu_flags", lambda: flags)
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: "avx512_bf16" in flags)
    assert device.fast_defaults(torch.device("cpu")) == expected
    assert device.fast_defaults(torch.device("cuda")) == (False, False)


def test_automatic_threads_follow_the_free_cores_and_fixed_threads_stay(monkeypatch):
    import deepprior.device

    free = iter([2, 1, 1, 2, 2, 2, 2])
    monkeypatch.setattr(deepprior.device, "free_cores", lambda **sampling: next(free, 2))
    torch.set_num_threads(1)
    result, _ = _fit_small(FitSettings(iterations=15, check_every=5, threads="auto"), size=64)
    events = [(e["step"], e["threads"]) for e in result.history.events if e["event"] == "threads"]
    assert events == [(4, 1), (14, 2)]  # a neighbour came at the first check and left before the third
    _fit_small(FitSettings(iterations=2, threads=1), size=64)
    assert torch.get_num_threads() == 1
    with pytest.raises(InputError, match="threads"):
        FitSettings(threads=0).validate()
