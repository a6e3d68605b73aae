"""``trustq worker`` and ``trustq beat`` as child processes, for ``trustq demo``, the tests and
the benchmarks: each in its own session (stopping it stops its pool too), its output in a
log file, ready when the log says so."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path


class Launched:
    """A ``python -m trustq …`` child process writing to ``log_path``."""

    ready_marker = b""

    def __init__(
        self, args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.log_path = log_path
        self.log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "trustq", *args],
            env={**os.environ, **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, marker: bytes, timeout: float, count: int = 1) -> None:
        """Until the log holds ``marker`` ``count`` times; RuntimeError with the log if the
        process exits first, TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.log_path.read_bytes().count(marker) < count:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.proc.args[3]} exited with {self.proc.returncode}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{marker!r} not in the log after {timeout} s:\n{self.output()}")
            time.sleep(0.05)

    def wait_ready(self, timeout: float = 120.0) -> None:
        self.wait_for(self.ready_marker, timeout)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group and wait for the main process."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=60)

    def stop(self, timeout: float = 30.0, *, cold: bool = False) -> None:
        """SIGTERM (a warm shutdown: running tasks finish), or with ``cold`` SIGQUIT (they
        are dropped, their messages redelivered); SIGKILL after ``timeout`` seconds."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGQUIT if cold else signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.log.close()


class WorkerProcess(Launched):
    """``trustq worker``; ready once it consumes (``wait_ready``) or once every pool process
    has loaded the encoder (``wait_loaded``)."""

    ready_marker = b" ready."

    def __init__(
        self,
        log_path: Path,
        concurrency: int = 1,
        env: Mapping[str, str] | None = None,
        *,
        name: str = "worker",
        queues: str | None = None,
        loglevel: str | None = None,
    ) -> None:
        node = f"{name}-{uuid.uuid4().hex[:6]}"
        args = ["worker", "--concurrency", str(concurrency), "--name", f"{node}@%h"]
        if queues is not None:
            args += ["--queues", queues]
        if loglevel is not None:
            args += ["--loglevel", loglevel]
        self.concurrency = concurrency
        self.nodename = f"{node}@{socket.gethostname()}"  # what Celery's control commands name
        super().__init__(args, log_path, env)

    def wait_loaded(self, timeout: float = 300.0) -> None:
        self.wait_for(b"loaded the encoder", timeout, count=self.concurrency)


class BeatProcess(Launched):
    """``trustq beat``; ready once it sent its first sweep."""

    ready_marker = b"Sending due task sweep-stale-submissions"

    def __init__(self, log_path: Path, env: Mapping[str, str] | None = None) -> None:
        super().__init__(["beat"], log_path, env)
