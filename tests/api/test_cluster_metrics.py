"""The cluster-wide gauges (queue depth, backlog, submissions by status, the serving model)
come from the processes with TRUSTQ_CLUSTER_METRICS on, and from no other: summed over
every target they would count the same queue several times."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import api_process

pytestmark = pytest.mark.api

CLUSTER_GAUGES = ("trustq_queue_depth", "trustq_submissions", "trustq_backlog_up")


def test_only_the_designated_process_exports_the_cluster_gauges(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    exporter = make_client(cluster_metrics=True).get("/metrics").text
    for gauge in CLUSTER_GAUGES:
        assert f"\n{gauge}{{" in exporter, gauge
    with api_process(tmp_path / "api.log", {"TRUSTQ_CLUSTER_METRICS": "false"}) as base:
        other = httpx.get(f"{base}/metrics", timeout=10).raise_for_status().text
    assert "trustq_http_requests_total" in other or "# HELP trustq_" in other
    for gauge in CLUSTER_GAUGES:
        assert f"\n{gauge}{{" not in other and f"# TYPE {gauge} " not in other, gauge
