"""A suite run's worker processes die with the run: one cut off by a time limit leaves nothing computing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_killed_run_takes_its_workers_with_it(tmp_path):
    pid_file = tmp_path / "worker.pid"
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import multiprocessing, os, time
            from concurrent.futures import ProcessPoolExecutor
            from benchmarks.suite.runner import _worker_init

            def work(path):
                open(path, "w").write(str(os.getpid()))
                time.sleep(120)

            if __name__ == "__main__":
                context = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(1, context, _worker_init, (1, os.getpid())) as pool:
                    pool.submit(work, {str(pid_file)!r}).result()
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    run = subprocess.Popen([sys.executable, str(script)], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = int(pid_file.read_text())
        run.send_signal(signal.SIGTERM)  # what `timeout` sends
        run.wait(10)
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker)
    finally:
        run.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False
