"""``trustq demo`` as a new user runs it (``make demo``): no server configured and no
option, so the embedded default (SQLite and a local broker in its own folder) trains a
model, starts a worker and scores the samples the package ships.

The demo shares nothing with the rest of a run (its folder, database and broker are its
own), so the run starts it as soon as the tests are collected and lets it work beside them
at a low priority, on the cores the other tests leave idle; its test waits for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

TEST_NAME = "test_the_embedded_default_runs_the_demo"
# What the demo scores when no --profiles is given.
SAMPLES = resources.files("trustq.data") / "samples.jsonl"
TRAIN_SIZE = 200  # the smallest the command takes


@dataclass
class DemoRun:
    folder: Path
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls) -> DemoRun:
        folder = Path(tempfile.mkdtemp(prefix="trustq-demo-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTQ_")}
        # One thread: a low-priority process that spins OpenMP threads only slows itself.
        env.update(TRUSTQ_DATA_DIR=str(folder / "embedded"), TRUSTQ_TORCH_THREADS="1")
        command = [sys.executable, "-m", "trustq", "demo", "--train-size", str(TRAIN_SIZE)]
        # From a folder outside the checkout, as an installed trustq would find its samples.
        with (folder / "stdout").open("wb") as out, (folder / "stderr").open("wb") as err:
            proc = subprocess.Popen(
                command,
                cwd=folder,
                env=env,
                stdout=out,
                stderr=err,
                preexec_fn=lambda: os.nice(10),  # before the tests start threads
                start_new_session=True,
            )
        return cls(folder, proc)

    def wait(self, timeout: float) -> tuple[int, str, str]:
        """The exit status, standard output and standard error once the demo has ended."""
        code = self.proc.wait(timeout=timeout)
        return code, (self.folder / "stdout").read_text(), (self.folder / "stderr").read_text()

    def stop(self) -> None:
        """End a demo the run no longer waits for (its test failed or was not reached)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=60)


DEMO = pytest.StashKey[DemoRun]()
