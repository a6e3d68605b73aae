"""The cluster-wide gauges (queue depth, backlog, submissions by status, the serving model)
come from the processes with TRUSTQ_CLUSTER_METRICS on, and from no other: summed over
every target they would count the same queue several times."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import ROOT
from tests.servers import free_port

pytestmark = pytest.mark.api

CLUSTER_GAUGES = ("trustq_queue_depth", "trustq_submissions", "trustq_backlog_up")


def _served_metrics(env: dict[str, str]) -> str:
    port = free_port()
    api = subprocess.Popen(
        [sys.executable, "-m", "trustq", "api", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert api.poll() is None, "`trustq api` exited"
            try:
                return httpx.get(f"{base}/metrics", timeout=5).raise_for_status().text
            except httpx.TransportError:
                assert time.monotonic() < deadline, "`trustq api` did not come up"
                time.sleep(0.2)
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        api.wait(timeout=30)


def test_only_the_designated_process_exports_the_cluster_gauges(
    make_client: Callable[..., TestClient],
) -> None:
    exporter = make_client(cluster_metrics=True).get("/metrics").text
    for gauge in CLUSTER_GAUGES:
        assert f"\n{gauge}{{" in exporter, gauge
    other = _served_metrics({"TRUSTQ_CLUSTER_METRICS": "false"})
    assert "trustq_http_requests_total" in other or "# HELP trustq_" in other
    for gauge in CLUSTER_GAUGES:
        assert f"\n{gauge}{{" not in other and f"# TYPE {gauge} " not in other, gauge
