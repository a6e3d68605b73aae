"""``trustq demo`` as a new user runs it (``make demo``): no server configured and no
option, so the embedded default (SQLite and a local broker in its own folder) trains a
model, starts a worker and scores the samples the package ships.

The demo shares nothing with the rest of a run (its folder, database and broker are its
own), so the run starts it as soon as the tests are collected and lets it work beside them
at a low priority, on the cores the other tests leave idle; its test waits for it. In a
parallel run (``pytest -n``, as ``make test`` runs) the controller starts it once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

TEST_NAME = "test_the_embedded_default_runs_the_demo"
# What the demo scores when no --profiles is given.
SAMPLES = resources.files("trustq.data") / "samples.jsonl"
TRAIN_SIZE = 200  # the smallest the command takes


def shared_folder(testrunuid: str) -> Path:
    """Where the demo of a parallel run (pytest-xdist) works: its controller starts it
    there, and whichever worker process runs its test reads it from there."""
    return Path(tempfile.gettempdir()) / f"trustq-demo-{testrunuid}"


@dataclass
class DemoRun:
    """The demo's folder holds its standard output and error and, once it has ended, its
    exit status (``exit``), so that a process other than the one that started it can wait
    for it."""

    folder: Path
    proc: subprocess.Popen[bytes] | None = None  # None where another process started it

    @classmethod
    def start(cls, folder: Path | None = None) -> DemoRun:
        if folder is None:
            folder = Path(tempfile.mkdtemp(prefix="trustq-demo-"))
        folder.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTQ_")}
        # One thread: a low-priority process that spins OpenMP threads only slows itself.
        env.update(TRUSTQ_DATA_DIR=str(folder / "embedded"), TRUSTQ_TORCH_THREADS="1")
        command = [sys.executable, "-m", "trustq", "demo", "--train-size", str(TRAIN_SIZE)]
        # From a folder outside the checkout, as an installed trustq would find its samples.
        proc = subprocess.Popen(
            ["sh", "-c", '"$@" >stdout 2>stderr; echo $? >exit.part && mv exit.part exit', "sh"]
            + command,
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=lambda: os.nice(10),  # before the tests start threads
            start_new_session=True,
        )
        return cls(folder, proc)

    def wait(self, timeout: float) -> tuple[int, str, str]:
        """The exit status, standard output and standard error once the demo has ended."""
        deadline = time.monotonic() + timeout
        status = self.folder / "exit"
        while not status.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the demo in {self.folder} did not end in {timeout:.0f} s")
            if self.proc is not None and self.proc.poll() is not None and not status.exists():
                raise RuntimeError(f"the demo's shell ended with {self.proc.returncode}")
            time.sleep(1)
        code = int(status.read_text())
        return code, (self.folder / "stdout").read_text(), (self.folder / "stderr").read_text()

    def stop(self) -> None:
        """End a demo the run no longer waits for (its test failed or was not reached)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=60)


DEMO = pytest.StashKey[DemoRun]()


def started_for(config: pytest.Config) -> DemoRun | None:
    """The demo this process's run started or, in a pytest-xdist worker, its controller."""
    demo = config.stash.get(DEMO, None)
    if demo is None and hasattr(config, "workerinput"):
        folder = shared_folder(config.workerinput["testrunuid"])
        if folder.exists():
            demo = DemoRun(folder)
    return demo
