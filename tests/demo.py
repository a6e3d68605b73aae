"""``trustq demo`` as a new user runs it: no server configured, so the embedded default
(SQLite and a local broker in its own folder) trains a model, starts a worker and scores
samples.

The demo shares nothing with the rest of a run (its folder, database and broker are its
own), so the run starts it as soon as the tests are collected and lets it work beside them
at a low priority, on the cores the other tests leave idle; its test waits for it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.factories import public
from trustq.data.synthetic import generate

TEST_NAME = "test_the_embedded_default_runs_the_demo"
SAMPLES_SEED = 5
TRAIN_SIZE = 200  # the smallest the command takes


@dataclass
class DemoRun:
    folder: Path
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls) -> DemoRun:
        folder = Path(tempfile.mkdtemp(prefix="trustq-demo-"))
        samples = folder / "samples.jsonl"
        records = generate(4, seed=SAMPLES_SEED)
        samples.write_text("\n".join(json.dumps(public(r)) for r in records) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTQ_")}
        # One thread: a low-priority process that spins OpenMP threads only slows itself.
        env.update(TRUSTQ_DATA_DIR=str(folder / "embedded"), TRUSTQ_TORCH_THREADS="1")
        command = [sys.executable, "-m", "trustq", "demo", "--train-size", str(TRAIN_SIZE)]
        with (folder / "stdout").open("wb") as out, (folder / "stderr").open("wb") as err:
            proc = subprocess.Popen(
                [*command, "--profiles", str(samples)],
                cwd=ROOT,
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
