"""The HTTP API's fixtures: the app in this process (FastAPI's TestClient) and as `trustq api`
serves it, API keys of each scope, a JSON log capture, and the run's shared worker."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import ROOT, SharedWorker, WorkerProcess
from tests.servers import free_port


@dataclass(frozen=True)
class Key:
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(autouse=True)
def _fresh_rate_limits(redis_client: Any) -> None:
    """Every API process counts requests in the run's Redis (``limits``' keys): each test
    starts with no request counted."""
    keys = list(redis_client.scan_iter(match="LIMITS*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(scope="module")
def keys(database: str) -> dict[str, Key]:  # noqa: ARG001
    """One key per scope (read, submit, admin), named uniquely for the module."""
    from trustq.services import apikeys

    suffix = uuid.uuid4().hex[:6]
    made = {}
    for scope in ("read", "submit", "admin"):
        info, token = apikeys.create(f"tests-{scope}-{suffix}", scope)
        made[scope] = Key(info.name, token)
    return made


@pytest.fixture(scope="module")
def make_client(database: str) -> Iterator[Callable[..., TestClient]]:  # noqa: ARG001
    """Build the app with some settings changed and a client for it."""
    from trustq.api.app import create_app
    from trustq.config import get_settings

    clients: list[TestClient] = []

    def make(address: str = "testclient", **settings: Any) -> TestClient:
        app = create_app(get_settings().model_copy(update=settings))
        client = TestClient(app, client=(address, 50000))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="module")
def http(make_client: Callable[..., TestClient]) -> TestClient:
    """The app as `trustq api` serves it, without the rate limits (tested on their own)."""
    return make_client(api_rate_limit=0, api_auth_failure_limit=0)


@pytest.fixture(scope="module")
def api_log() -> Iterator[io.StringIO]:
    """Everything this process logs while the module runs, as `trustq api` writes it (JSON)."""
    from trustq import logs

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.formatter("json"))
    handler.addFilter(logs.ContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def live_worker(worker: SharedWorker) -> WorkerProcess:
    """The run's shared worker, consuming for this test: it serves its metrics on
    ``metrics_port`` and erases resumes older than 30 days when the retention task runs."""
    return worker.consume()


@contextmanager
def api_process(log_path: Path, env: dict[str, str]) -> Iterator[str]:
    """`trustq api` on a free port with ``env`` over this process's settings; its base URL."""
    port = free_port()
    with log_path.open("wb") as log:
        api = subprocess.Popen(
            [sys.executable, "-m", "trustq", "api", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert api.poll() is None, log_path.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "`trustq api` did not come up"
        time.sleep(0.2)
    try:
        yield base
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        api.wait(timeout=30)


@pytest.fixture(scope="module")
def served(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: ARG001
    """`trustq api` on a free port, on the run's database and Redis; its base URL."""
    log_path = tmp_path_factory.mktemp("hostile-api") / "api.log"
    with api_process(log_path, {"TRUSTQ_API_AUTH_FAILURE_LIMIT": "0"}) as base:
        yield base
