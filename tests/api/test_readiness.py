"""`trustq api` as a real process: /readyz turns 503 naming the part that is down and 200
when it is back. Redis is a private server this test starts and stops; PostgreSQL is the
shared one reached through a TCP relay this test cuts and restores. The shared servers are
never stopped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url

from tests.api.conftest import Key
from tests.conftest import ROOT
from tests.factories import profile
from tests.servers import free_port
from trustq.db.session import session_scope
from trustq.db.tables import ModelStatus, ModelVersion

pytestmark = [pytest.mark.api, pytest.mark.integration]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Relay:
    """A TCP relay to ``target_port``. ``stop`` cuts every connection and refuses new ones,
    as a server that went away; ``start`` listens again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                _cut(sock)

    def stop(self) -> None:
        if self._listener is not None:
            _cut(self._listener)
            self._listener = None
        with self._lock:
            for sock in self._open:
                _cut(sock)
            self._open.clear()


def _cut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class Redis:
    """A private redis-server without persistence, on a free port."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._up, 30, f"redis-server on port {self.port}")

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def stack(
    serving_model: str,  # noqa: ARG001
    keys: dict[str, Key],  # noqa: ARG001
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """`trustq api` on a free port, its database behind a relay, its broker private."""
    folder = tmp_path_factory.mktemp("readiness")
    database = make_url(os.environ["TRUSTQ_DATABASE_URL"])
    relay = Relay(database.port or 5432)
    redis = Redis(folder)
    relay.start()
    redis.start()
    port = free_port()
    log_path = folder / "api.log"
    env = {
        **os.environ,
        "TRUSTQ_DATABASE_URL": database.set(port=relay.port).render_as_string(hide_password=False),
        "TRUSTQ_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0",
        "TRUSTQ_LOG_FORMAT": "json",
        "TRUSTQ_API_READINESS_CACHE_SECONDS": "0",  # each probe below must see the change
    }
    with log_path.open("wb") as log:
        api = subprocess.Popen(
            [sys.executable, "-m", "trustq", "api", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        assert api.poll() is None, log_path.read_text()
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(serving, 60, "`trustq api` to answer /healthz")
        yield {"base": base, "relay": relay, "redis": redis, "log": log_path, "proc": api}
    finally:
        if api.poll() is None:
            os.killpg(api.pid, signal.SIGTERM)
            api.wait(timeout=30)
        redis.stop()
        relay.stop()


def ready(base: str) -> httpx.Response:
    return httpx.get(f"{base}/readyz", timeout=30)


def failing(base: str) -> list[str]:
    r = ready(base)
    if r.status_code == 200:
        return []
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return r.json()["failing"]


def test_readiness_follows_the_broker_the_database_and_the_model(
    stack: dict[str, Any], keys: dict[str, Key], serving_model: str
) -> None:
    base = stack["base"]
    up = ready(base)
    assert up.status_code == 200, up.text
    assert up.json() == {
        "status": "ready",
        "checks": {"database": "ok", "model": serving_model, "broker": "ok"},
    }

    stack["redis"].stop()
    down = ready(base)
    assert down.status_code == 503
    assert down.json()["failing"] == ["broker"]
    assert down.json()["detail"].startswith("broker: unreachable")
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    # Intake goes on: the submission is stored, and the sweeper queues it once Redis is back.
    stored = httpx.post(
        f"{base}/v1/evaluations", json=profile(), headers=keys["submit"].headers, timeout=60
    )
    assert stored.status_code == 202, stored.text
    assert stored.json()["published"] is False
    stack["redis"].start()
    wait_for(lambda: failing(base) == [], 30, "readiness once Redis is back")

    stack["relay"].stop()
    assert failing(base) == ["database"]
    cut = httpx.get(f"{base}/v1/models", headers=keys["read"].headers, timeout=30)
    assert cut.status_code == 503, cut.text
    assert cut.json()["type"].endswith("/database-unavailable")
    stack["relay"].start()
    wait_for(lambda: failing(base) == [], 30, "readiness once PostgreSQL is reachable")
    assert httpx.get(f"{base}/v1/models", headers=keys["read"].headers).status_code == 200

    with session_scope() as session:
        session.execute(
            update(ModelVersion)
            .where(ModelVersion.version == serving_model)
            .values(status=ModelStatus.candidate)
        )
    try:
        no_model = ready(base)
        assert no_model.json()["failing"] == ["model"]
        assert "no model version is serving" in no_model.json()["detail"]
    finally:
        with session_scope() as session:
            session.execute(
                update(ModelVersion)
                .where(ModelVersion.version == serving_model)
                .values(status=ModelStatus.serving)
            )
    assert ready(base).status_code == 200


def test_the_process_logs_json_lines_without_personal_data(
    stack: dict[str, Any],
    keys: dict[str, Key],
    clean_tables: None,  # noqa: ARG001
) -> None:
    base = stack["base"]
    resume = "Ottilie Canarywood, ottilie@canary.example, writes Go services since 2019."
    r = httpx.post(
        f"{base}/v1/evaluations",
        json=profile(resume_text=resume),
        headers={**keys["submit"].headers, "X-Request-ID": "req-process-canary"},
        timeout=30,
    )
    assert r.status_code == 202, r.text
    sid = r.json()["id"]
    bad = httpx.post(
        f"{base}/v1/evaluations",
        json={**profile(resume_text=resume), "experience_level": "Ottilie Canarywood"},
        headers=keys["submit"].headers,
        timeout=30,
    )
    assert bad.status_code == 422
    os.killpg(stack["proc"].pid, signal.SIGTERM)
    stack["proc"].wait(timeout=30)

    text = stack["log"].read_text()
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(e["message"].startswith("Uvicorn running") for e in events)
    server_id = r.headers["x-request-id"]
    assert server_id != "req-process-canary"  # the caller's id is kept beside the server's
    mine = [e for e in events if e.get("request_id") == server_id]
    assert all(e.get("client_request_id") == "req-process-canary" for e in mine)
    assert {e.get("submission_id") for e in mine} >= {sid}
    assert any(e.get("route") == "/v1/evaluations" and e.get("status") == 202 for e in mine)
    for secret in ("Ottilie", "Canarywood", "ottilie@canary.example"):
        assert secret not in text, f"{secret!r} appears in the API's log"
