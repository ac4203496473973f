"""A folder restored on a local Ray instance (2 CPUs, started here): the same outputs as the serial run, the
corrupt file reported, and a worker killed mid-run loses no result."""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest

from deepprior.cli import main
from deepprior.io import read_image, write_image
from helpers import add_noise, smooth_image

FAST = ["--iterations", "40", "--channels", "8", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    psutil = pytest.importorskip("psutil")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=200 * 2**20)
    yield ray, psutil
    ray.shutdown()


def _folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(4):
        write_image(folder / f"img{index}.png", add_noise(smooth_image(40), seed=index))
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    return folder


@pytest.mark.slow
def test_a_ray_run_equals_the_serial_run_and_survives_a_killed_worker(tmp_path, ray_instance, capsys):
    ray, psutil = ray_instance
    folder = _folder(tmp_path)
    assert main(["denoise", str(folder), "-o", str(tmp_path / "serial"), *FAST]) == 1
    killed: list[int] = []

    def kill_one_worker() -> None:  # SIGKILL the first worker seen running a restoration
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for process in psutil.process_iter(["pid", "cmdline"]):
                if any("_restore_remote" in part for part in process.info["cmdline"] or []):
                    os.kill(process.info["pid"], signal.SIGKILL)
                    killed.append(process.info["pid"])
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # the command line's filter, not the test suite's "ignore"
        status = main(["denoise", str(folder), "-o", str(tmp_path / "ray"), "--ray", *FAST])
    killer.join()
    assert killed, "no Ray worker was seen running a restoration"
    assert status == 1  # the corrupt file
    err = capsys.readouterr().err
    assert "corrupt.png" in err and "1 of 5 image(s) failed" in err
    assert err.count("iterations=40 is far below") == 1, err  # the nodes' warnings, shown here once
    for index in range(4):
        serial = read_image(tmp_path / "serial" / f"img{index}.png").pixels
        distributed = read_image(tmp_path / "ray" / f"img{index}.png").pixels
        assert np.array_equal(serial, distributed)  # one thread each: the same bits on both paths
    assert not (tmp_path / "ray" / "corrupt.png").exists()
    assert main(["denoise", str(folder), "-o", str(tmp_path / "ray"), "--ray", "--skip-existing", *FAST]) == 1


@pytest.mark.slow
def test_the_benchmark_runner_on_ray_gives_the_serial_numbers(tmp_path, ray_instance, shared_data):
    from benchmarks.suite.results import load_results
    from benchmarks.suite.runner import BenchRequest, run_suite

    common = dict(
        suite="denoise-color25",
        profile="quick",
        methods=["dip", "input"],
        limit=2,
        crop=32,
        iterations=3,
        channels=8,
        threads=1,
        data_dir=shared_data,
        progress=False,
    )
    serial = run_suite(BenchRequest(**common, results_dir=tmp_path / "serial"))
    distributed = run_suite(BenchRequest(**common, results_dir=tmp_path / "ray", ray="auto"))
    assert serial.computed == distributed.computed == 4 and not distributed.failures
    psnr = {
        path: {(e["image"], e["method"]): e["psnr"] for e in load_results(path)["entries"]}
        for path in (serial.results_path, distributed.results_path)
    }
    assert psnr[serial.results_path] == psnr[distributed.results_path]
