"""Every Python block of the README runs, against small files made here.

The blocks are run as written except that step counts are cut to a few (``iterations=N`` in the text, and the
preset rows' own counts), so that they finish in seconds: what is checked is that the code a reader copies works.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from deepprior.io import write_image
from deepprior.presets import get_preset
from deepprior.psf import gaussian_psf
from deepprior.registry import TASKS
from helpers import add_noise, smooth_image

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def _short(task: str, method: str | None = None, profile: str = "paper"):
    row = get_preset(task, method, profile)
    settings = dataclasses.replace(row.settings, iterations=3)
    return dataclasses.replace(row, settings=settings, scale_schedule=())  # the schedule would set its own steps


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for spec in TASKS.values():  # each task module looks its rows up itself (base: the identity tasks')
        for module in (sys.modules[spec.function.__module__], sys.modules["deepprior.tasks.base"]):
            if hasattr(module, "get_preset"):
                monkeypatch.setattr(module, "get_preset", _short)
    clean = smooth_image(64)
    write_image("noisy.png", add_noise(clean))
    write_image("damaged.png", clean)
    known = np.ones((64, 64), np.uint8) * 255
    known[20:30, 20:40] = 0
    write_image("mask.png", known)
    write_image("small.png", clean[::4, ::4])
    write_image("blurred.png", clean)
    write_image("psf.tif", gaussian_psf(1.0)[0].astype(np.float32))  # a measured PSF's usual file: float TIFF
    counts = np.random.default_rng(0).poisson(clean[..., 1] * 0.9 * 1000).astype(np.uint16)
    write_image("cells.tif", counts)  # a camera's photon counts
    code = re.sub(r"iterations=\d+", "iterations=3", BLOCKS[index])
    code = re.sub(r"rand\(1, 3, 512, 512\)", "rand(1, 3, 64, 64)", code)
    code = re.sub(r'"noise", 32, 512, 512', '"noise", 32, 64, 64', code)
    exec(compile(code, f"README.md python block {index + 1}", "exec"), {"__name__": "readme"})
