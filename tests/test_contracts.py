"""Every registered plug-in keeps its contract, every preset row runs, and the command line offers exactly what the
registries hold. A new generator, operator, data term, regulariser, stopping rule or preset row is tested here
without a new test."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from contextlib import nullcontext

import numpy as np
import pytest
import torch

import deepprior
from deepprior.cli import build_parser, commands
from deepprior.errors import InputError
from deepprior.inputs import make_input
from deepprior.io import write_image
from deepprior.loop import fit
from deepprior.nets import build_generator
from deepprior.operators import Operator
from deepprior.presets import PRESETS, get_preset, methods, regularizer_defaults
from deepprior.registry import (
    DATA_TERMS,
    GENERATORS,
    NOISE_MODELS,
    OPERATORS,
    PLUG_INS,
    REFINERS,
    REGULARIZERS,
    STOPPERS,
    TASKS,
    Registry,
)
from deepprior.regularizers import BuildContext, Regularizer, build_regularizer
from deepprior.settings import FitSettings
from deepprior.stopping import make_stopper
from helpers import smooth_image

# Constructor arguments of each operator; a new operator must add its example (checked below).
OPERATOR_EXAMPLES = {
    "identity": {},
    "mask": {"mask": np.random.default_rng(0).random((64, 64)) > 0.3},
    "lanczos": {"factor": 2},
    "blur": {"psf": "gaussian:1"},
    # a mask of the known pixels of a downsampled image: the scales, reaches and crops of two operators combined
    "composed": {
        "outer": OPERATORS.get("mask")(np.random.default_rng(1).random((32, 32)) > 0.3),
        "inner": OPERATORS.get("lanczos")(factor=2),
    },
}


def _y(size: int = 64) -> torch.Tensor:
    return torch.from_numpy(smooth_image(size)).permute(2, 0, 1)[None].contiguous()


def _tiny_fit(device: str, **kw) -> object:
    settings = kw.pop("settings", FitSettings(iterations=3))
    y = kw.pop("observation", _y())
    net = build_generator("skip", 4, 3, width=8)
    return fit(
        net,
        make_input("noise", 4, 64, 64),
        y,
        kw.pop("operator", OPERATORS.get("identity")()),
        settings,
        device=torch.device(device),
        **kw,
    )


def test_the_registry_finds_plug_ins_and_names_the_choices():
    registry = Registry("widget")
    registry.register("a")(int)
    with pytest.raises(ValueError, match="twice"):
        registry.register("a")(float)
    with pytest.raises(InputError, match="unknown widget 'b'; choose one of a"):
        registry.get("b")
    assert "a" in registry and registry.names() == ["a"] and len(registry) == 1
    for loaded in PLUG_INS:
        assert len(loaded) >= 1  # found by scanning the package, no hand-kept list


@pytest.mark.parametrize("name", OPERATORS.names())
def test_every_operator_keeps_its_contract(name, device):
    assert name in OPERATOR_EXAMPLES, f"add an example of the operator {name!r} to OPERATOR_EXAMPLES"
    operator = OPERATORS.get(name)(**OPERATOR_EXAMPLES[name])
    assert isinstance(operator, Operator)
    x = torch.rand(1, 3, 64, 64, device=device)
    out = operator.to(device)(x)
    assert tuple(out.shape[-2:]) == operator.observation_shape(64, 64)
    assert operator.image_shape(*operator.observation_shape(64, 64)) == (64, 64)
    torch.testing.assert_close(operator(2 * x), 2 * out)  # linear forward models
    result = _tiny_fit(device, operator=operator, observation=out.cpu())
    assert result.image.shape == (1, 3, 64, 64)


@pytest.mark.parametrize("name", OPERATORS.names())
def test_every_operator_crops_to_what_it_does_on_the_tile(name):
    """A tile's operator, applied to the tile, gives the tile's box of y, up to the operator's declared reach (the
    band its own border handling changes, which the tiles' blend hides)."""
    operator = OPERATORS.get(name)(**OPERATOR_EXAMPLES[name])
    x = torch.rand(1, 3, 64, 64)
    box = (16, 8, 32, 48)
    cropped, (top, left, height, width) = operator.crop(box)
    assert (height, width) == operator.observation_shape(*box[2:])
    whole = operator(x)[..., top : top + height, left : left + width]
    tile = cropped(x[..., 16:48, 8:56])
    reach = -(-operator.reach // operator.scale) + 1  # observation pixels a tile's own borders can change
    torch.testing.assert_close(tile[..., reach:-reach, reach:-reach], whole[..., reach:-reach, reach:-reach])
    with pytest.raises(InputError, match="multiples of the scale") if operator.scale > 1 else nullcontext():
        operator.crop((1, 0, 32, 32))


@pytest.mark.parametrize("name", DATA_TERMS.names())
def test_every_data_term_keeps_its_contract(name, device):
    term = DATA_TERMS.get(name)()
    x = torch.rand(1, 3, 8, 8, device=device, requires_grad=True)
    assert float(term(x, x.detach()).detach()) == 0.0
    loss = term(x, x.detach() + 0.05)
    loss.backward()
    assert float(loss.detach()) > 0 and x.grad is not None and term.reduction in ("mean", "sum")
    assert _tiny_fit(device, settings=FitSettings(iterations=2, data_term=name)).iterations_run == 2


@pytest.mark.parametrize("name", STOPPERS.names())
def test_every_stopping_rule_keeps_its_contract(name, device):
    rule = make_stopper(name, patience=5, check_every=1)
    if rule is not None:
        state = rule.state_dict()
        rule.update(0, torch.rand(1, 3, 4, 4))
        rule.load_state_dict(state)
        assert rule.last_step is None  # the state dict holds the whole state
    result = _tiny_fit(device, settings=FitSettings(iterations=3, stop=name))
    assert result.iterations_run <= 3


@pytest.mark.parametrize("name", REGULARIZERS.names())
def test_every_regularizer_keeps_its_contract(name, device):
    y = _y()
    context = BuildContext(observation=y, image_size=(64, 64), iterations=4, device=torch.device(device))
    options = regularizer_defaults("denoise", name)
    if "inner_steps" in options:
        options["inner_steps"] = 2  # reach after_step within the tiny fit
    regularizer = build_regularizer(name, context, **options).to(torch.device(device))
    assert isinstance(regularizer, Regularizer)
    storage = {key: buffer.data_ptr() for key, buffer in regularizer.named_buffers()}
    settings = FitSettings(iterations=4, data_term=type(regularizer).data_term or "mse")
    result = _tiny_fit(device, settings=settings, regularizer=regularizer, observation=y)
    assert torch.isfinite(result.image).all()
    if regularizer.graph_safe:  # a recorded step reads its buffers where they were: updated in place, never replaced
        assert {key: buffer.data_ptr() for key, buffer in regularizer.named_buffers()} == storage
    state = regularizer.state_dict()
    copy = build_regularizer(name, context, **options)
    copy.load_state_dict(state)  # everything it holds round-trips
    assert regularizer.describe() == copy.describe()


@pytest.mark.parametrize("key", PRESETS.names())
def test_every_preset_row_runs_through_its_task(key):
    preset = PRESETS.get(key)
    tiny = {"iterations": 2, "width": 4, "seeds": 1}
    result = TASKS.get(preset.task).try_row(preset, smooth_image(32), **tiny)
    if preset.kind == "classical":
        assert result.record.output_source == preset.method and result.image.shape == (32, 32, 3)
        return
    assert (result.record.task, result.record.method, result.record.preset) == (
        preset.task,
        preset.method,
        preset.profile,
    )
    assert result.record.settings["lr"] == preset.settings.lr and np.isfinite(result.image).all()


@pytest.mark.parametrize("name", TASKS.names())
def test_every_task_is_exported_runs_its_default_row_and_names_itself_in_the_record(name):
    """A registered task is a public function of the package root, its rows are in the preset table, and its
    example call runs (the task's default row, a few steps) and records the task."""
    spec = TASKS.get(name)
    function = spec.function.__name__
    assert function == name.replace("-", "_") and function in deepprior.__all__
    assert getattr(deepprior, function) is spec.function
    rows = methods(spec.preset_task)
    assert rows, f"no row of {spec.preset_task!r} in the preset table"
    preset = get_preset(spec.preset_task)
    result = spec.try_row(preset, smooth_image(32), iterations=2, width=4, seeds=1)
    assert result.record.task == name and np.isfinite(result.image).all()


def test_every_task_of_the_preset_table_is_registered():
    assert {preset.task for preset in PRESETS.values()} <= set(TASKS.names())


def _choices(parser: argparse.ArgumentParser, option: str) -> list[str] | None:
    for action in parser._actions:
        if option in action.option_strings:
            return list(action.choices) if action.choices is not None else None
    raise AssertionError(f"no option {option}")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_the_command_lines_choices_are_the_registries():
    subs = _subparsers(build_parser())
    for name, (task, _) in commands().items():
        sub = subs[name]
        if name == "l0":
            assert _choices(sub, "--solver") == methods("smooth", kind="classical")
            continue
        assert _choices(sub, "--generator") == GENERATORS.names()
        assert _choices(sub, "--regularizer") == REGULARIZERS.names()
        assert _choices(sub, "--stop") == STOPPERS.names()
        assert _choices(sub, "--data-term") == DATA_TERMS.names()
        assert _choices(sub, "--refine") == ["none", *REFINERS.names()]
        if name == "denoise":
            assert _choices(sub, "--noise") == sorted(NOISE_MODELS.names())
        flag = "--kind" if name == "inpaint" else "--method"
        if len(methods(task)) > 1:
            assert _choices(sub, flag) == methods(task)


def test_the_readme_names_the_run_records_schema_version_and_what_still_reads():
    from pathlib import Path

    from deepprior.record import READABLE_VERSIONS, SCHEMA, SCHEMA_VERSION

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    prose = " ".join(readme.split())  # the README's line breaks fall anywhere
    assert f"schema `{SCHEMA}` version {SCHEMA_VERSION}:" in prose
    older = [v for v in READABLE_VERSIONS if v != SCHEMA_VERSION]
    assert f"versions {older[0]} to {older[-1]} still read" in prose


def test_every_registry_declares_in_its_source_the_names_it_registers():
    """``--help`` lists the names read from the plug-ins' source; importing them registers exactly those (a
    registration the source scan cannot see, made in a loop say, would fail here)."""
    for registry in PLUG_INS:
        unloaded = Registry(registry.kind, registry.package)
        assert unloaded.declared_names() == sorted(registry.names()), registry.kind
        assert not unloaded._loaded
    outside = Registry("widget", "deepprior.stopping")
    outside.register("mine")(int)  # registered from outside the package, before any lookup
    assert outside.declared_names() == ["es-emv", "es-wmv", "fixed", "mine"] and not outside._loaded


def test_the_readme_lists_every_registry_entry_and_preset_row():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for registry in (TASKS, *PLUG_INS):
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{_name(registry)}`"))
        assert [n for n in registry.names() if f"`{n}`" not in row] == [], row
    for preset in PRESETS.values():
        rows = [line for line in readme.splitlines() if line.startswith(f"| {preset.task} / ")]
        assert any(preset.method in line.split("|")[1] for line in rows), preset.key


def _name(registry: Registry) -> str:
    return next(k for k, v in vars(__import__("deepprior.registry").registry).items() if v is registry)


def test_help_and_version_import_neither_numpy_nor_torch_nor_scipy():
    """Nor does any sub-command's help, which lists the registries' names (read from their modules' source)."""
    code = (
        "import sys; from deepprior.cli import main, commands\n"
        "for argv in (['--version'], ['--help'], *([name, '--help'] for name in commands())):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "import deepprior\n"
        "print(sorted(m for m in ('numpy', 'torch', 'scipy', 'skimage', 'numba') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"')) == []


def test_the_classical_commands_run_without_torch(tmp_path):
    """``deepprior l0`` (one image, with --threads; a folder in two worker processes), smooth, enhance and sketch
    with a classical ``--method`` (their parsers list the registries' names only when asked) and a classical row
    through the Python API never import torch: it would be most of their time. The records then name no torch
    version (the workers' too), and --threads reaches the solvers' FFTs without torch."""
    source = str(tmp_path / "in.png")
    write_image(source, smooth_image(40))
    folder = tmp_path / "folder"
    folder.mkdir()
    for name in ("a", "b"):
        write_image(folder / f"{name}.png", smooth_image(40))
    runs = [["l0", source, "-o", str(tmp_path / "out.png"), "--threads", "1"]]
    runs += [["l0", str(folder), "-o", str(tmp_path / "done")]]
    runs += [[name, source, "--method", "region-fusion", "-o", str(tmp_path / f"{name}.png")] for name in _EFFECTS]
    code = (
        "import sys, numpy as np, deepprior, deepprior.device\n"
        "from deepprior.cli import main\n"
        "from deepprior.regularizers.l0.l0_smooth import _fft_workers\n"
        "deepprior.device.free_cores = lambda: 2  # the folder in two workers, however busy the machine\n"
        f"assert [main([*argv, '--quiet']) for argv in {runs!r}] == {[0] * len(runs)!r}\n"
        "result = deepprior.smooth(np.full((24, 24, 3), 0.5), 'region-fusion')\n"
        "print(_fft_workers(1 << 20), sorted(result.record.versions), 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    fft_workers, rest = done.stdout.strip().split(" ", 1)
    names, torch_loaded = rest.rsplit(" ", 1)
    assert torch_loaded == "False" and "torch" not in names and "numpy" in names and fft_workers == "1"
    done_dir = tmp_path / "done"
    for path in [tmp_path / f"{name}.json" for name in ("out", *_EFFECTS)] + sorted(done_dir.glob("*.json")):
        record = json.loads(path.read_text())
        assert "torch" not in record["versions"] and record["output_source"] == "region-fusion", path.name
    assert sorted(p.name for p in done_dir.glob("*.png")) == ["a.png", "b.png"]


_EFFECTS = ("smooth", "enhance", "sketch")


def test_a_task_registered_from_its_own_file_is_a_sub_command_with_its_options(tmp_path, monkeypatch, capsys):
    """One registration and nothing else: the command line lists the task, parses its own option through its
    hooks, offers the rows of its preset task, and runs it on a file."""
    from deepprior.cli import main
    from deepprior.tasks.base import TaskSpec, register

    monkeypatch.setattr(TASKS, "_entries", dict(zip(TASKS.names(), TASKS.values())))  # dropped again after

    def add_arguments(parser):
        parser.add_argument("--step-size", type=float, required=True)

    def read_arguments(args, options, files):
        options["lr"] = args.step_size

    register(
        TaskSpec(
            "denoise-twin",
            deepprior.denoise,
            "a twin of denoise",
            rows="denoise",
            add_arguments=add_arguments,
            read_arguments=read_arguments,
        )
    )
    assert commands()["denoise-twin"] == ("denoise", "a twin of denoise")
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "denoise-twin" in capsys.readouterr().out
    source = tmp_path / "in.png"
    write_image(source, smooth_image(32))
    argv = ["denoise-twin", str(source), "--step-size", "0.02", "--method", "dip-tv", "--iterations", "2", "--quiet"]
    assert main([*argv, "--channels", "4", "-o", str(tmp_path / "out.png")]) == 0
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["settings"]["lr"] == 0.02 and record["method"] == "dip-tv"


@pytest.mark.parametrize("command", list(commands()))
def test_every_commands_help_lists_the_registries_names(command, capsys, monkeypatch):
    """The registry options' names come from the registries when --help is formatted (RegistryChoices)."""
    from deepprior.cli import main

    monkeypatch.setenv("COLUMNS", "10000")  # no wrapping: argparse would break a line at a name's hyphen
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    if command != "l0":  # the classical command takes no fit options
        for registry in (GENERATORS, DATA_TERMS, REGULARIZERS, STOPPERS):
            assert ", ".join(registry.names()) in text, registry.kind
        assert f"({', '.join(['none', *REFINERS.names()])})" in text
    if command == "denoise":
        assert f"one of {', '.join(sorted(NOISE_MODELS.names()))}" in text


def test_a_registry_option_refuses_an_unknown_name_with_the_list(capsys):
    from deepprior.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["smooth", "x.png", "--generator", "resnet50"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'resnet50'" in err
    assert all(repr(name) in err for name in GENERATORS.names())


def test_the_package_root_is_lazy_and_complete():
    for name in deepprior.__all__:
        assert getattr(deepprior, name) is not None
    assert deepprior.fit is fit
    with pytest.raises(AttributeError):
        deepprior.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda tmp: deepprior.denoise(np.full((40, 40), 0.5), iterations=2, width=8), "is far below"),
        (lambda tmp: deepprior.inpaint(np.full((40, 40), 0.5), np.eye(40) > 0, iterations=2, width=8), "inverted"),
        (lambda tmp: write_image(tmp / "a.jpg", np.full((8, 8, 4), 0.5)), "cannot store an alpha channel"),
    ],
)
def test_a_warning_points_at_the_users_line_not_ours(call, message, tmp_path):
    """Python shows a warning's file and line, and its default filter counts it once per line: the caller's
    line, wherever in the package it was raised (deepprior.errors.warn)."""
    with pytest.warns(UserWarning, match=message) as caught:
        call(tmp_path)
    assert {warning.filename for warning in caught if message in str(warning.message)} == {__file__}


def _misspelt_option(taker, given=()):
    """A taker's first keyword option, and that name with its last letter dropped."""
    import inspect

    skip = {"self", "cls", "context", *given}
    names = [p.name for p in inspect.signature(taker).parameters.values() if p.default is not p.empty]
    option = next(name for name in names if name not in skip)
    return option, option[:-1]


@pytest.mark.parametrize("name", GENERATORS.names())
def test_a_misspelt_generator_option_is_refused_with_the_one_meant(name):
    option, typo = _misspelt_option(GENERATORS.get(name), ("in_channels", "out_channels"))
    with pytest.raises(InputError, match=rf"takes no option '{typo}' \(did you mean {option}\?\); its options: "):
        build_generator(name, 8, 3, **{typo: 1})


@pytest.mark.parametrize("name", [name for name in STOPPERS.names() if name != "fixed"])  # fixed ignores them
def test_a_misspelt_stopping_option_is_refused_with_the_one_meant(name):
    option, typo = _misspelt_option(STOPPERS.get(name))
    with pytest.raises(InputError, match=rf"takes no option '{typo}' \(did you mean {option}\?\)"):
        make_stopper(name, **{typo: 1})


@pytest.mark.parametrize("name", REGULARIZERS.names())
def test_a_misspelt_regulariser_option_is_refused_with_the_one_meant(name):
    cls = REGULARIZERS.get(name)
    option, typo = _misspelt_option(cls, ("observation", "seed"))
    context = BuildContext(observation=torch.rand(1, 3, 8, 8), image_size=(8, 8), iterations=30)
    with pytest.raises(InputError, match=rf"takes no option '{typo}' \(did you mean {option}\?\)"):
        build_regularizer(name, context, **{typo: 1})


def test_an_unknown_name_is_refused_with_the_one_meant():
    with pytest.raises(InputError, match=r"unknown generator 'skipp' \(did you mean skip\?\); choose one of"):
        GENERATORS.get("skipp")
