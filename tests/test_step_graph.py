"""The recorded step (FitSettings.cuda_graph): on CUDA a CUDA graph; here a double that records by binding the step's
index, as a graph freezes what it closed over, and replays by calling it. The fit around it must not tell the two
apart, and it must record again whenever the closure changes (a restore, a regulariser's phase)."""

from __future__ import annotations

import warnings

import pytest
import torch

import deepprior.loop as loop
from deepprior.callbacks import Callback
from deepprior.errors import InputError
from deepprior.inputs import make_input
from deepprior.nets import build_generator
from deepprior.operators import Identity, Mask
from deepprior.regularizers import BuildContext, Regularizer, build_regularizer
from deepprior.settings import FitSettings
from helpers import ReplayedHere, add_noise, smooth_image


class Unrecordable(ReplayedHere):
    def _record(self, step):
        raise RuntimeError("operation not permitted when stream is capturing")


class RewindOnce(Callback):
    """Snapshot the fit at step 6 and return to it at step 12, once (as backtracking does)."""

    restorable = False

    def __init__(self) -> None:
        self._snapshot = None
        self._done = False

    def on_step(self, state):
        if state.step == 6:
            self._snapshot = state.snapshot()
        elif state.step == 12 and not self._done:
            state.restore(self._snapshot)
            self._done = True


def _fit(recorded: bool, monkeypatch, graph_type=ReplayedHere, regularizer=None, operator=None):
    torch.manual_seed(0)
    y = torch.from_numpy(add_noise(smooth_image(32))).permute(2, 0, 1)[None]
    if recorded:
        monkeypatch.setattr(loop, "_records_the_step", lambda settings, device, reg: settings.cuda_graph)
        monkeypatch.setattr(loop, "StepGraph", graph_type)
    settings = FitSettings(
        iterations=30, lr=0.01, reg_noise_std=1 / 30, average=0.9, check_every=5, seed=1, threads=1, cuda_graph=recorded
    )
    net = build_generator("skip", 4, 3, seed=0, channels_down=[8, 8, 8], channels_up=[8, 8, 8], channels_skip=[4, 4, 4])
    z = make_input("noise", 4, 32, 32, seed=0)
    return loop.fit(
        net, z, y, operator or Identity(), settings, regularizer=regularizer, callbacks=[RewindOnce()], device=None
    )


def _two_stage_tv():
    context = BuildContext(observation=torch.zeros(1, 3, 32, 32), image_size=(32, 32), iterations=30)
    return build_regularizer("two-stage-tv", context, lam=0.05, fraction=0.5)  # TV for steps < 15


def _dip_l0():
    y = torch.from_numpy(add_noise(smooth_image(32))).permute(2, 0, 1)[None]
    context = BuildContext(observation=y, image_size=(32, 32), iterations=30)
    return build_regularizer("l0", context, lam=0.025, beta=2.0, inner_steps=4)  # a v-step every 4 steps


@pytest.mark.parametrize("case", ["plain", "two-stage TV", "DIP-l0", "mask"])
def test_a_recorded_step_fits_bit_for_bit_as_the_eager_one_and_is_recorded_again_when_its_closure_changes(
    case, monkeypatch
):
    ReplayedHere.instances.clear()
    regularizer = {"two-stage TV": _two_stage_tv, "DIP-l0": _dip_l0}.get(case, lambda: None)
    mask = (torch.rand(32, 32, generator=torch.Generator().manual_seed(2)) > 0.3).float()
    operator = (lambda: Mask(mask)) if case == "mask" else (lambda: None)
    eager = _fit(False, monkeypatch, regularizer=regularizer(), operator=operator())
    assert ReplayedHere.instances == []
    recorded = _fit(True, monkeypatch, regularizer=regularizer(), operator=operator())
    assert torch.equal(recorded.image, eager.image)
    assert recorded.history.loss == eager.history.loss
    assert recorded.cuda_graph and not eager.cuda_graph
    if case == "DIP-l0":  # the recorded penalty read every v-step's v and w
        assert recorded.source == eager.source == "regularizer"
    (graph,) = ReplayedHere.instances
    # recorded after the warm-up, again after the restore at step 12, and (two-stage) when TV stops at step 15
    assert graph.recordings == (3 if case == "two-stage TV" else 2)


def test_a_step_that_cannot_be_recorded_warns_once_and_goes_on_eagerly(monkeypatch):
    eager = _fit(False, monkeypatch)
    with pytest.warns(UserWarning, match="could not be recorded as a CUDA graph"):
        fallen_back = _fit(True, monkeypatch, graph_type=Unrecordable)
    assert torch.equal(fallen_back.image, eager.image)
    assert not fallen_back.cuda_graph  # never recorded


class Replacing(Regularizer):
    """A plug-in that replaces its tensor between steps: a recording would go on reading the old one."""


def test_only_cuda_records_the_step_and_a_regulariser_not_graph_safe_is_stepped_eagerly_with_a_warning():
    asked = FitSettings(cuda_graph=True)
    cuda = torch.device("cuda")
    assert loop._records_the_step(asked, cuda, None) is True
    assert loop._records_the_step(asked, cuda, _two_stage_tv()) is True
    assert loop._records_the_step(asked, cuda, _dip_l0()) is True
    assert loop._records_the_step(FitSettings(), cuda, None) is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert loop._records_the_step(asked, torch.device("cpu"), None) is False  # ignored off CUDA, silently
    with pytest.warns(UserWarning, match="not recorded as a CUDA graph"):
        assert loop._records_the_step(asked, cuda, Replacing()) is False


def test_cuda_graph_is_a_yes_or_no_and_not_with_compile():
    with pytest.raises(InputError, match="one of them"):
        FitSettings(cuda_graph=True, compile="reduce-overhead").validate()
    with pytest.raises(InputError, match="True or False"):
        FitSettings(cuda_graph="yes").validate()


def test_fits_stepped_together_take_the_setting_and_step_eagerly():
    import numpy as np

    import deepprior

    noisy = add_noise(smooth_image(32))
    options = {"iterations": 5, "seeds": 2, "batch_seeds": True, "threads": 1, "width": 8}
    asked = deepprior.denoise(noisy, cuda_graph=True, **options)
    plain = deepprior.denoise(noisy, **options)
    assert np.array_equal(asked.image, plain.image) and not asked.record.cuda_graph
