import math

import numpy as np
import pytest
import torch

import deepprior
from deepprior.errors import InputError
from deepprior.fit import FitSettings, crop_to, fit, pad_to, padded_size
from deepprior.metrics import psnr
from deepprior.nets import build_generator
from deepprior.operators import Identity
from deepprior.regularizers import total_variation

from conftest import TINY, add_noise, smooth_image


def test_short_denoising_run_raises_psnr_by_5_db():
    clean = smooth_image(48)
    noisy = add_noise(clean)
    result = deepprior.denoise(noisy, reference=clean, iterations=300, progress=False, generator_options=TINY)
    assert result.image.shape == clean.shape and result.image.dtype == np.float32
    assert psnr(result.image, clean) > psnr(noisy, clean) + 5.0
    # The history's PSNR of the average is the PSNR of the returned image.
    assert result.history.psnr_average[-1] == pytest.approx(psnr(result.image, clean), abs=0.01)
    assert len(result.history.loss) == 300 and result.settings["output"] == "average"


def test_same_seed_is_bit_identical_and_another_seed_differs():
    noisy = add_noise(smooth_image(40))
    run = lambda seed: deepprior.denoise(noisy, iterations=15, seed=seed, progress=False,  # noqa: E731
                                         generator_options=TINY).image
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
    assert result.settings["iterations_run"] == 10 and result.settings["stopped_at"] == 9
    assert all(math.isnan(v) for v in result.history.psnr)  # no reference given
    assert all(math.isfinite(v) for v in result.history.loss)
    assert math.isfinite(result.history.seconds[-1])


def _fit_small(settings, regularizer=None, callbacks=(), size=64):
    torch.manual_seed(0)
    net = build_generator("skip", 8, 3, **TINY)
    z = torch.rand(1, 8, size, size) * 0.1
    y = torch.from_numpy(add_noise(smooth_image(size))).permute(2, 0, 1)[None]
    return fit(net, z, y, Identity(), settings, regularizer=regularizer, callbacks=callbacks, progress=False), net


def test_backtracking_restores_weights_and_optimizer_state():
    """Wreck the weights after step 29's check: the check at step 34 sees a >5 dB drop and restores step 29."""
    snapshot = {}

    def wreck(state):
        if state.step == 24:
            snapshot.update({k: v.clone() for k, v in state.net.state_dict().items()})
        if state.step == 29:
            with torch.no_grad():
                for p in state.net.parameters():
                    p.add_(torch.randn_like(p) * 5)

    settings = FitSettings(iterations=50, lr=0.01, backtrack=True, check_every=5, average=0.99)
    result, net = _fit_small(settings, callbacks=[wreck])
    events = [e for e in result.history.events if e["event"] == "backtrack"]
    assert [e["step"] for e in events] == [34]  # restored once, then the fit goes on from the good state
    # Without backtracking the wreck stays in the weights.
    result_plain, _ = _fit_small(FitSettings(iterations=50, lr=0.01, check_every=5), callbacks=[wreck])
    assert result.history.psnr_observation[-1] > result_plain.history.psnr_observation[-1] + 3


@pytest.mark.parametrize("rule", ["es-wmv", "es-emv"])
def test_early_stopping_selects_an_earlier_output(rule):
    settings = FitSettings(iterations=120, lr=0.01, stop=rule, stop_window=10, stop_patience=20, check_every=5)
    result, _ = _fit_small(settings)
    assert result.source == "early-stop"
    assert result.selected_step is not None and result.selected_step < result.iterations_run
    if result.stopped_at is not None:
        assert result.iterations_run == result.stopped_at + 1


def test_tv_regularizer_lowers_total_variation():
    plain, _ = _fit_small(FitSettings(iterations=60, lr=0.01))

    class TV:
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


@pytest.mark.parametrize("bad", [dict(iterations=0), dict(lr=-1.0), dict(lr=float("nan")), dict(average=1.0),
                                 dict(reg_noise_std=-0.1), dict(loss_reduction="max"), dict(check_every=0)])
def test_nonsense_settings_are_input_errors(bad):
    with pytest.raises(InputError):
        FitSettings(**bad).validate()


def test_optimize_input_trains_z():
    settings = FitSettings(iterations=5, lr=0.01, optimize_input=True)
    result, _ = _fit_small(settings)
    assert result.iterations_run == 5


def test_out_of_memory_becomes_one_actionable_device_error():
    from deepprior.errors import DeviceError

    def exhaust(state):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 99 GB")

    with pytest.raises(DeviceError, match="narrower network"):
        _fit_small(FitSettings(iterations=3), callbacks=[exhaust])


def test_automatic_precision_is_recorded_and_can_be_forced_off():
    from deepprior.device import fast_defaults

    result, _ = _fit_small(FitSettings(iterations=2))
    assert (result.channels_last, result.amp) == fast_defaults(torch.device("cpu"))
    forced, _ = _fit_small(FitSettings(iterations=2, channels_last=False, amp=False))
    assert (forced.channels_last, forced.amp) == (False, False)
