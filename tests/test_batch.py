"""Several fits stepped together (deepprior.batch): each member's result is its own fit's."""

import json

import numpy as np
import pytest
import torch

import deepprior
from deepprior.batch import Member, _keep_rows, fit_batch
from deepprior.callbacks import Callback, Checkpointing, load_checkpoint
from deepprior.errors import InputError
from deepprior.inputs import make_input
from deepprior.loop import _make_optimizer, fit, padded_size
from deepprior.memory import check_fit_memory, fit_bytes
from deepprior.nets import build_generator
from deepprior.operators import Identity
from deepprior.registry import GENERATORS, REGULARIZERS
from deepprior.settings import FitSettings
from helpers import OneSecondAStep, add_noise, smooth_image

SIZE = 64


def _problem(name: str, seed: int, **settings):
    """A generator, its input and settings for a SIZE² image, contiguous fp32 so that only summation order differs
    between a batch and a fit alone. The learning rate is small because Adam's first steps move every weight by
    ±lr: a weight whose gradient is rounding noise moves by ±lr either way, and the outputs drift apart by about
    twenty times that."""
    net = build_generator(name, 4, 3, seed=seed, **GENERATORS.get(name).width_options(8))
    z = make_input("noise", 4, *net.input_shape(*padded_size(SIZE, SIZE, net.size_multiple, net.min_size)), seed=seed)
    options = {"iterations": 3, "lr": 1e-5, "channels_last": False, "amp": False, "threads": 1, **settings}
    return net, z, FitSettings(seed=seed, **options)


@pytest.mark.parametrize("name", GENERATORS.names())
def test_every_generator_fits_in_a_batch_as_it_fits_alone(name):
    targets = [torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(s)) for s in range(2)]
    members, alone, alone_nets = [], [], []
    for seed, y in enumerate(targets):
        net, z, settings = _problem(name, seed, reg_noise_std=0.05)
        members.append(Member(net, z, y, Identity(), settings, reference=y))
        net, z, settings = _problem(name, seed, reg_noise_std=0.05)
        alone.append(fit(net, z, y, Identity(), settings, output_size=(SIZE, SIZE), reference=y))
        alone_nets.append(net)
    batched = fit_batch(members, output_size=(SIZE, SIZE))
    for member, one, other, other_net in zip(members, batched, alone, alone_nets):
        np.testing.assert_allclose(one.history.loss, other.history.loss, rtol=1e-4)
        torch.testing.assert_close(one.image, other.image, atol=1e-3, rtol=0)
        assert (one.iterations_run, one.source) == (other.iterations_run, other.source) == (3, "last")
        # each member's network is trained in place, as fit trains it: the same BatchNorm statistics, and weights
        # that moved from their start the way fit moved them (Adam's first steps are ±lr wherever the gradient is
        # not ~0, so only the few weights whose gradient is rounding noise, biases before BatchNorm, may differ)
        start = _problem(name, int(member.settings.seed))[0]
        buffers = [k for k, _ in member.net.named_buffers()]
        statistics = [{k: n.state_dict()[k].float() for k in buffers} for n in (member.net, other_net)]
        torch.testing.assert_close(*statistics, atol=1e-3, rtol=1e-2)
        flat = [torch.cat([p.detach().flatten() for p in n.parameters()]) for n in (member.net, other_net, start)]
        assert (flat[0] - flat[1]).abs().mean() < 0.05 * (flat[0] - flat[2]).abs().mean()
    assert not torch.allclose(batched[0].image, batched[1].image)  # two different fits


def test_members_with_their_own_operators_fit_as_they_fit_alone():
    """Images, not seeds: each member its own observation through its own forward model (two masks, a 2×
    downsampler), as a batch of a folder's images would be."""
    from deepprior.operators import LanczosDownsampler, Mask

    rng = np.random.default_rng(0)
    truth = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    operators = [Mask(rng.random((SIZE, SIZE)) > 0.5), Mask(rng.random((SIZE, SIZE)) > 0.3), LanczosDownsampler(2)]
    members, alone = [], []
    for seed, operator in enumerate(operators):
        y = operator(truth).detach()
        net, z, settings = _problem("skip", seed, iterations=4)
        members.append(Member(net, z, y, operator, settings))
        net, z, settings = _problem("skip", seed, iterations=4)
        alone.append(fit(net, z, y, operator, settings, output_size=(SIZE, SIZE)))
    for one, other in zip(fit_batch(members, output_size=(SIZE, SIZE)), alone):
        np.testing.assert_allclose(one.history.loss, other.history.loss, rtol=1e-4)
        torch.testing.assert_close(one.image, other.image, atol=1e-3, rtol=0)


def test_a_member_that_stops_leaves_the_batch_and_the_others_go_on():
    y = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    members = []
    for seed in range(3):
        net, z, settings = _problem("skip", seed, iterations=6, average=0.9)
        stop_at = {0: 1, 2: 3}.get(seed)
        callbacks = [] if stop_at is None else [lambda state, s=stop_at: state.step == s]
        members.append(Member(net, z, y, Identity(), settings, callbacks=callbacks))
    first, middle, last = fit_batch(members, output_size=(SIZE, SIZE))
    assert [r.iterations_run for r in (first, middle, last)] == [2, 6, 4]
    assert [r.stopped_at for r in (first, middle, last)] == [1, None, 3]
    assert len(middle.history.loss) == 6 and first.seconds <= last.seconds <= middle.seconds
    net, z, settings = _problem("skip", 1, iterations=6, average=0.9)
    alone = fit(net, z, y, Identity(), settings, output_size=(SIZE, SIZE))
    np.testing.assert_allclose(middle.history.loss, alone.history.loss, rtol=1e-4)
    torch.testing.assert_close(middle.image, alone.image, atol=1e-3, rtol=0)


def test_leaving_the_stack_keeps_each_remaining_members_weights_statistics_and_adam_moments():
    nets = [build_generator("skip", 4, 3, seed=s, width=8) for s in range(3)]
    params, buffers = torch.func.stack_module_state(nets)
    z = torch.rand(3, 1, 4, 8, 8)
    optimizer = _make_optimizer(list(params.values()), 0.01, torch.device("cpu"))
    for value in params.values():
        value.grad = torch.randn_like(value)
    optimizer.step()
    kept, kept_buffers, kept_z, fresh = _keep_rows(params, buffers, z, optimizer, [0, 2], 0.01, torch.device("cpu"))
    for name, value in params.items():
        torch.testing.assert_close(kept[name], value.detach()[[0, 2]])
        assert kept[name].requires_grad and kept[name].is_leaf
        before, after = optimizer.state[value], fresh.state[kept[name]]
        torch.testing.assert_close(after["exp_avg"], before["exp_avg"][[0, 2]])
        torch.testing.assert_close(after["exp_avg_sq"], before["exp_avg_sq"][[0, 2]])
        assert float(after["step"]) == float(before["step"]) == 1
    for name, value in buffers.items():
        torch.testing.assert_close(kept_buffers[name], value[[0, 2]])
    torch.testing.assert_close(kept_z, z[[0, 2]])


class _Kill(Callback):
    """Interrupts the batch after ``step`` (a batch callback: it sees the first member still fitting)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step(self, state) -> None:
        if state.step == self.step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("regularized", [False, True], ids=["plain", "admm"])
def test_a_batch_killed_after_a_checkpoint_resumes_to_the_same_bits(tmp_path, regularized):
    from deepprior.regularizers.admm import L0ADMM

    y = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))

    def members():
        out = []
        for seed in range(3):
            options = {"iterations": 10, "lr": 0.01, "average": 0.9, "reg_noise_std": 0.05, "check_every": 2}
            net, z, settings = _problem("skip", seed, **options)
            callbacks = [lambda state: state.step == 3] if seed == 0 else []  # ends, and leaves the stack, first
            # DIP-ℓ0's splitting, its v-steps (every 2 steps) on both sides of the kill
            regularizer = L0ADMM(y, lam=0.025, beta=2.25, inner_steps=2) if regularized else None
            out.append(Member(net, z, y, Identity(), settings, callbacks=callbacks, regularizer=regularizer))
        return out

    whole = fit_batch(members(), output_size=(SIZE, SIZE))
    path = tmp_path / "batch.pt"
    with pytest.raises(KeyboardInterrupt):  # after the save at step 5
        fit_batch(members(), output_size=(SIZE, SIZE), callbacks=[Checkpointing(path, 0.0, "this batch"), _Kill(6)])
    saved = load_checkpoint(path, torch.device("cpu"), "this batch")
    assert saved["step"] == 5 and saved["batch"]["active"] == [1, 2]
    resumed = fit_batch(members(), output_size=(SIZE, SIZE), resume=saved)
    for one, other in zip(whole, resumed):
        assert torch.equal(one.image, other.image) and one.history.loss == other.history.loss
        assert (one.iterations_run, one.stopped_at, one.source) == (
            other.iterations_run,
            other.stopped_at,
            other.source,
        )
    assert [r.stopped_at for r in resumed] == [3, None, None]
    with pytest.raises(InputError, match="other members"):
        fit_batch(members()[:2], output_size=(SIZE, SIZE), resume=saved)


def test_backtracking_one_member_rewinds_its_rows_of_the_stack_and_nothing_else():
    y = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    seen = {}

    def probe(state):  # member 1: a snapshot at step 2, restored at step 5, as backtracking does
        stack = state.stack
        if state.step == 2:
            seen["snapshot"] = state.snapshot()
        if state.step == 5:
            before = {name: p.detach().clone() for name, p in stack.params.items()}
            state.restore(seen["snapshot"])
            row = stack.active.index(state.index)
            for name, p in stack.params.items():
                others = [r for r in range(len(stack.active)) if r != row]
                assert torch.equal(p[row], seen["snapshot"]["params"][name])
                assert torch.equal(p[others], before[name][others])
                for key, value in seen["snapshot"]["moments"][name].items():
                    assert torch.equal(stack.optimizer.state[p][key][row], value)
            seen["restored"] = True

    members = []
    for seed in range(3):
        net, z, settings = _problem("skip", seed, iterations=8, lr=0.01, average=0.9, backtrack=True)
        callbacks = [lambda state: state.step == 1] if seed == 0 else [probe] if seed == 1 else []
        members.append(Member(net, z, y, Identity(), settings, callbacks=callbacks))
    results = fit_batch(members, output_size=(SIZE, SIZE))  # member 0 leaves the stack first: rows shift
    assert seen.get("restored") and [r.iterations_run for r in results] == [2, 8, 8]


def test_a_batch_refuses_what_it_cannot_fit():
    y = torch.rand(1, 3, SIZE, SIZE)

    def member(seed=0, name="skip", **settings):
        net, z, fit_settings = _problem(name, seed, **settings)
        return Member(net, z, y, Identity(), fit_settings)

    cases = {
        "at least one member": [],
        "share their settings": [member(0), member(1, lr=0.1)],
        "one generator architecture": [member(0), member(1, name="unet")],
        "torch.compile": [member(0, compile=True)],
    }
    for message, members in cases.items():
        with pytest.raises(InputError, match=message):
            fit_batch(members)
    other_input = member(1)
    other_input.z = other_input.z[..., :-1]
    with pytest.raises(InputError, match="inputs of one shape"):
        fit_batch([member(0), other_input])
    from deepprior.regularizers.tv import TotalVariation

    regularized = member(1)
    regularized.regularizer = TotalVariation(lam=0.01)
    with pytest.raises(InputError, match="a regulariser of one kind, or none"):
        fit_batch([member(0), regularized])
    saving = member(0)
    saving.callbacks = [Checkpointing("unused.pt", 1.0, "fingerprint")]
    with pytest.raises(InputError, match="cannot save checkpoints"):
        fit_batch([saving])


def test_batch_seeds_gives_the_ensemble_of_one_fit_at_a_time_and_resumes_from_one_checkpoint(tmp_path):
    clean = smooth_image(32)
    noisy = add_noise(clean, 0.1)
    # the row backtracks; fp32, not a bf16 CPU's autocast: two ways of one sum agree to float32's rounding only
    options = {"iterations": 4, "width": 8, "threads": 1, "lr": 1e-4, "seeds": 2, "amp": False}
    apart = deepprior.denoise(noisy, reference=clean, **options)
    together = deepprior.denoise(noisy, reference=clean, batch_seeds=True, **options)
    np.testing.assert_allclose(together.image, apart.image, atol=1e-3)
    record = together.record
    assert [(m["seed"], m["at_once"]) for m in record.seeds] == [(0, 2), (1, 2)]
    assert [m["at_once"] for m in apart.record.seeds] == [1, 1]
    assert record.seconds == max(m["seconds"] for m in record.seeds)  # overlapping fits: the longest, not the sum
    assert record.seed_spread == pytest.approx(apart.record.seed_spread, rel=0.05)
    assert record.channels_last is False  # the stacked pass runs contiguous
    saved = dict(options, batch_seeds=True, checkpoint=tmp_path / "run.pt", checkpoint_every=0, resume=True)
    first = deepprior.denoise(noisy, **saved)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]  # one file for the batch, saved at each check
    again = deepprior.denoise(noisy, **saved)  # resumed at its last step: nothing is refitted
    np.testing.assert_array_equal(first.image, again.image)
    for wrong, message in (
        ({"compile": True}, "torch.compile"),
        ({"callbacks": [lambda state: None]}, "cannot take callbacks"),
    ):
        with pytest.raises(InputError, match=message):
            deepprior.denoise(noisy, **{**options, "batch_seeds": True, **wrong})


def test_the_memory_check_counts_every_fit_of_a_batch(monkeypatch):
    from deepprior import memory
    from deepprior.errors import DeviceError

    net = build_generator("skip", 4, 3, width=8)
    shape = (1, 4, 64, 64)
    assert check_fit_memory(net, shape, torch.device("cpu"), fits=3) == 3 * fit_bytes(net, shape)
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2 * fit_bytes(net, shape))
    with pytest.raises(DeviceError, match="3 fits at once .* step fewer fits at once"):
        check_fit_memory(net, shape, torch.device("cpu"), fits=3)


def test_the_command_line_steps_the_seeds_together(tmp_path):
    from deepprior.cli import main
    from deepprior.io import write_image

    source = write_image(tmp_path / "noisy.png", add_noise(smooth_image(32), 0.1))
    out = tmp_path / "clean.png"
    argv = ["denoise", str(source), "-o", str(out), "--seeds", "2", "--batch-seeds", "--no-backtrack"]
    assert main([*argv, "--preset", "fast", "--iterations", "4", "-q"]) == 0
    record = deepprior.RunRecord.from_dict(json.loads(out.with_suffix(".json").read_text()))
    assert [m["at_once"] for m in record.seeds] == [2, 2] and record.output_source == "mean of 2 seeds"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.json", "clean.png", "noisy.png"]  # no checkpoint


def _plans(**options):
    """Plans of three tasks' images, stepped together by run_together: two 32² denoisings and two 32² inpaintings
    with their own masks (each pair one batch), and a 40×32 denoising (a size of its own)."""
    rng = np.random.default_rng(0)
    options = {"iterations": 4, "width": 8, "threads": 1, "lr": 1e-4, "channels_last": False, "amp": False, **options}
    noisy = [add_noise(smooth_image(32), 0.1, seed=k) for k in range(2)]
    masks = [rng.random((32, 32)) > 0.3 for _ in range(2)]
    taller = add_noise(smooth_image(40)[:, :32], 0.1)
    return [
        deepprior.denoise.plan(noisy[0], **options),
        deepprior.inpaint.plan(noisy[0], masks[0], kind="pixels", **options),
        deepprior.denoise.plan(taller, **options),
        deepprior.inpaint.plan(noisy[1], masks[1], kind="pixels", **options),
        deepprior.denoise.plan(noisy[1], **options),
    ], masks


def test_images_of_one_size_are_stepped_together_and_each_is_its_fit_alone():
    from deepprior.restore import _batches, run_together

    plans, masks = _plans()
    assert _batches(plans, at_once=4) == [[0, 4], [1, 3], [2]]
    assert sorted(_batches(plans, at_once=1)) == [[0], [1], [2], [3], [4]]
    together = run_together(plans, at_once=4)
    alone = [plan.run() for plan in plans]
    assert [r.record.at_once for r in together] == [2, 2, 1, 2, 2]
    assert [r.record.task for r in together] == ["denoise", "inpaint", "denoise", "inpaint", "denoise"]
    for mine, own in zip(together, alone):
        np.testing.assert_allclose(mine.image, own.image, atol=2e-3)
        assert mine.record.iterations_run == own.record.iterations_run == 4
    for index, mask in ((1, masks[0]), (3, masks[1])):  # each inpainting kept its own known pixels
        given = plans[index].problem.source.pixels
        np.testing.assert_array_equal(together[index].image[mask], given[mask])
    assert together[2].image.shape == (40, 32, 3)


@pytest.mark.parametrize("name", REGULARIZERS.names())
def test_every_regulariser_steps_together_as_it_fits_alone(name):
    """Each member keeps its own regulariser (DIP-ℓ0's v-steps run in threads at once); small steps, so that only
    the order of sums differs and the ℓ0 step sees (nearly) the same images."""
    noisy = [add_noise(smooth_image(32), 0.1, seed=k) for k in range(2)]
    # 26 steps: DIP-ℓ0's splitting takes its first v-step after 25
    options = {"iterations": 26, "width": 8, "threads": 1, "channels_last": False, "amp": False, "lr": 1e-4}
    options["regularizer"] = name
    alone = [deepprior.denoise(image, **options) for image in noisy]
    together = deepprior.run_together([deepprior.denoise.plan(image, **options) for image in noisy], at_once=2)
    for mine, own in zip(together, alone):
        assert mine.record.at_once == 2 and mine.record.regularizer["name"] == name
        assert mine.record.output_source == own.record.output_source
        np.testing.assert_allclose(mine.image, own.image, atol=1e-3)


def test_running_together_refuses_what_cannot_be_stepped_together():
    from deepprior.restore import run_together

    noisy = add_noise(smooth_image(32), 0.1)
    options = {"iterations": 2, "width": 8, "threads": 1}
    cases = {
        "whole number >= 1": ([deepprior.denoise.plan(noisy, **options)], 0),
        "classical solver": ([deepprior.smooth.plan(noisy, "region-fusion")], 2),
    }
    for message, (plans, at_once) in cases.items():
        with pytest.raises(InputError, match=message):
            run_together(plans, at_once=at_once)


def test_a_batch_of_images_resumes_from_its_first_plans_checkpoint(tmp_path):
    from deepprior.restore import run_together

    saved = {"checkpoint": tmp_path / "first.pt", "checkpoint_every": 0, "resume": True}
    plans = [p for p in _plans(**saved)[0] if p.problem.image_size == (32, 32) and p.preset.task == "denoise"]
    first = run_together(plans, at_once=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.pt"]  # the batch's one file
    again = run_together(plans, at_once=2)  # resumed at its last step: nothing is refitted
    for one, other in zip(first, again):
        np.testing.assert_array_equal(one.image, other.image)


def test_the_command_line_steps_a_folders_images_together(tmp_path, capsys):
    from deepprior.cli import main
    from deepprior.io import write_image

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for k in range(3):
        write_image(folder / f"n{k}.png", add_noise(smooth_image(32), 0.1, seed=k))
    write_image(folder / "tall.png", add_noise(smooth_image(40)[:, :32], 0.1))
    (folder / "broken.png").write_bytes(b"not an image")
    argv = ["denoise", str(folder), "-o", str(out), "--iterations", "3", "--channels", "8", "--threads", "1", "-q"]
    assert main([*argv, "--batch-images", "2", "--report"]) == 1  # the broken image fails alone
    at_once = {p.stem: json.loads(p.read_text())["at_once"] for p in out.glob("*.json")}
    assert at_once == {"n0": 2, "n1": 2, "n2": 1, "tall": 1}
    images = sorted(p.name for p in out.iterdir() if p.suffix == ".png")
    assert images == ["n0.png", "n1.png", "n2.png", "tall.png"] and not list(out.glob("*.pt"))
    assert "at_once" in (out / "n0.html").read_text() and "at_once" not in (out / "tall.html").read_text()
    capsys.readouterr()
    for refused, message in ((["--method", "region-fusion"], "fits none"), (["--save-every", "2"], "save-every")):
        command = ["smooth", *argv[1:]] if refused[0] == "--method" else argv
        assert main([*command, "--batch-images", "2", "--overwrite", *refused]) == 2
        assert message in capsys.readouterr().err


def test_fits_stepped_together_end_at_their_time_limit(monkeypatch):
    clock = OneSecondAStep()  # the first member's steps: one second a step for the whole batch
    monkeypatch.setattr("time.perf_counter", clock)
    y = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    members = []
    for seed in range(2):
        net, z, settings = _problem("skip", seed, iterations=100, check_every=5, time_limit=17.0)
        members.append(Member(net, z, y, Identity(), settings, callbacks=[clock] if seed == 0 else []))
    results = fit_batch(members, output_size=(SIZE, SIZE))
    assert [r.stopped_at for r in results] == [16, 16]  # step 16 ends at 17 s, and the next would end at 18
    assert all(r.history.events[-1]["event"] == "time limit" for r in results)
