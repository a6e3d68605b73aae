"""docker-compose.yml cannot be run here (no Docker engine), so it is checked by reading it."""

from __future__ import annotations

import importlib
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from trustq.cli import app

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(TEXT)
SERVICES = COMPOSE["services"]


def _command(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_the_stack_has_every_part() -> None:
    assert {"postgres", "redis", "migrate", "worker", "beat", "api", "flower", "webhooks"} <= set(
        SERVICES
    )


TRUSTQ_SERVICES = [n for n, s in SERVICES.items() if "command" in s and _command(s)[0] == "trustq"]


def test_trustq_runs_migrate_worker_and_beat() -> None:
    assert {"migrate", "worker", "beat"} <= set(TRUSTQ_SERVICES)


@pytest.mark.parametrize("name", TRUSTQ_SERVICES)
def test_every_trustq_command_exists(name: str) -> None:
    command = _command(SERVICES[name])
    # Each option the file passes must be accepted: --help after them parses the whole line.
    result = CliRunner().invoke(app, [*command[1:], "--help"])
    assert result.exit_code == 0, f"{name}: {' '.join(command)} → {result.output}"


def test_health_checks_and_start_order() -> None:
    for name in ("postgres", "redis"):
        assert "healthcheck" in SERVICES[name], name
    for name in ("worker", "beat"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert _command(SERVICES["migrate"]) == ["trustq", "db", "upgrade"]


def test_services_point_at_the_servers_not_the_embedded_default() -> None:
    for name in ("migrate", "worker", "beat", "api"):
        env = SERVICES[name]["environment"]
        assert env["TRUSTQ_DATABASE_URL"].startswith("postgresql+psycopg2://")
        assert "@postgres:5432/" in env["TRUSTQ_DATABASE_URL"]
        assert env["TRUSTQ_BROKER_URL"].startswith("redis://:${REDIS_PASSWORD:?")
        assert env["TRUSTQ_BROKER_URL"].endswith("@redis:6379/0")


def test_redis_never_evicts_messages() -> None:
    command = _command(SERVICES["redis"])
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    # Without a cap the policy never acts: Redis would grow until the machine kills it.
    assert "--maxmemory" in command


def test_some_worker_runs_what_beat_sends() -> None:
    """Beat's tasks (the sweeper among them) go to queues a compose worker consumes."""
    from trustq.broker import names
    from trustq.config import Settings
    from trustq.tasks.schedule import beat_schedule

    consumed = set()
    for service in SERVICES.values():
        command = _command(service) if "command" in service else []
        if command[:2] == ["trustq", "worker"]:
            consumed.update(command[command.index("--queues") + 1].split(","))
    for entry in beat_schedule(Settings(retrain_schedule="0 3 * * 0")).values():
        assert names.ROUTES[entry["task"]]["queue"] in consumed, entry["task"]
        assert entry["options"]["expires"] > 0, entry["task"]


def test_training_runs_apart_from_scoring() -> None:
    """A model being trained must not hold a scoring process: separate services."""

    def queues(name: str) -> set[str]:
        command = _command(SERVICES[name])
        return set(command[command.index("--queues") + 1].split(","))

    assert "scoring" in queues("worker") and "training" not in queues("worker")
    assert queues("trainer") == {"training"}


def test_the_dockerfile_ships_the_migrations_the_migrate_service_runs() -> None:
    copied = " ".join(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY")
    )
    for needed in ("alembic.ini", "migrations", "trustq", "pyproject.toml"):
        assert needed in copied, needed


def test_the_api_serves_on_the_port_it_publishes_and_checks() -> None:
    api = SERVICES["api"]
    command = _command(api)
    assert command[:2] == ["trustq", "api"]
    port = command[command.index("--port") + 1]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert f"{port}:{port}" in api["ports"]
    assert f"127.0.0.1:{port}/healthz" in " ".join(api["healthcheck"]["test"])
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"


def test_workers_expose_their_metrics_port() -> None:
    worker = SERVICES["worker"]
    port = worker["environment"]["TRUSTQ_WORKER_METRICS_PORT"]
    assert int(port) > 0
    assert str(port) in [str(p) for p in worker["expose"]]


def test_flower_watches_the_workers_broker() -> None:
    flower = SERVICES["flower"]
    command = _command(flower)
    assert "flower" in command
    assert f"--broker={SERVICES['worker']['environment']['TRUSTQ_BROKER_URL']}" in command
    assert flower["depends_on"]["redis"]["condition"] == "service_healthy"


def test_no_secret_has_a_default_and_env_example_names_each() -> None:
    """Each password comes from .env; compose stops (``:?``) while one is unset."""
    secrets = set(re.findall(r"\$\{([A-Z_]*(?:PASSWORD|AUTH)[A-Z_]*)", TEXT))
    assert secrets == {
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "FLOWER_BASIC_AUTH",
        "GRAFANA_ADMIN_PASSWORD",
    }
    for name in secrets:
        assert f"${{{name}:-" not in TEXT and f"${{{name}:?" in TEXT, name
    example = (ROOT / ".env.example").read_text()
    assert {
        line.split("=")[0] for line in example.splitlines() if "=" in line and line[0] != "#"
    } == secrets
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_redis_asks_for_the_password_every_url_carries() -> None:
    redis = SERVICES["redis"]
    command = _command(redis)
    assert command[command.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    assert redis["environment"]["REDISCLI_AUTH"] == "${REDIS_PASSWORD}"
    for name, service in SERVICES.items():
        urls = re.findall(r"redis://[^\s\"']*", yaml.safe_dump(service, width=10_000))
        assert all(u.startswith("redis://:${REDIS_PASSWORD") for u in urls), (name, urls)


def test_flower_is_off_by_default_and_behind_basic_auth() -> None:
    flower = SERVICES["flower"]
    assert flower["profiles"] == ["flower"]
    assert any(a.startswith("--basic-auth=${FLOWER_BASIC_AUTH:?") for a in _command(flower))


def test_every_long_running_container_checks_itself() -> None:
    for name in (
        "postgres",
        "redis",
        "worker",
        "trainer",
        "beat",
        "webhooks",
        "api",
        "flower",
        "prometheus",
        "grafana",
    ):
        assert "healthcheck" in SERVICES[name], name
    worker_name = next(p for p in _worker_command().params if p.name == "name").default
    for name in ("worker", "trainer"):
        check = " ".join(SERVICES[name]["healthcheck"]["test"])
        # Its own node only: one live worker must not mark the others healthy.
        assert f"--destination {worker_name.replace('%h', '$$HOSTNAME')}" in check, name
        app_path = check.split("-A ")[1].split()[0]
        module, attr = app_path.split(":")
        assert type(getattr(importlib.import_module(module), attr)).__name__ == "Celery"
    assert "celerybeat-schedule" in " ".join(SERVICES["beat"]["healthcheck"]["test"])
    # The dispatcher touches the file its health check reads.
    command = _command(SERVICES["webhooks"])
    alive = command[command.index("--alive-file") + 1]
    assert alive in " ".join(SERVICES["webhooks"]["healthcheck"]["test"])


def _worker_command() -> Any:
    import typer.main

    group = typer.main.get_command(app)
    return group.commands["worker"]  # type: ignore[attr-defined]


def _gib(limit: str) -> float:
    number, unit = float(limit[:-1]), limit[-1].lower()
    return number / {"g": 1, "m": 1024}[unit]


def test_every_container_has_a_memory_limit_sized_for_its_work() -> None:
    for name, service in SERVICES.items():
        assert "mem_limit" in service, name
    command = _command(SERVICES["worker"])
    processes = int(command[command.index("--concurrency") + 1])
    # A scoring process peaks at 1.23 GiB (docs/benchmarks.md), plus the main process.
    assert _gib(SERVICES["worker"]["mem_limit"]) >= processes * 1.23 + 0.42
    assert _gib(SERVICES["redis"]["mem_limit"]) > 1.0  # above its own 1 GB maxmemory


def test_the_data_volume_belongs_to_the_user_the_image_runs_as() -> None:
    lines = (ROOT / "Dockerfile").read_text()
    user = lines.index("USER trustq")
    assert "chown trustq:trustq /data" in lines[:user]


def _known_metrics(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Every metric trustq exports (names as Prometheus stores them) with its labels."""
    import datetime as dt

    from prometheus_client import Counter, Gauge, Histogram

    from trustq import metrics
    from trustq.services import status

    known: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if isinstance(value, Counter | Gauge | Histogram):
            name, labels = value._name, set(value._labelnames)  # noqa: SLF001
            suffixes = {
                Counter: ["_total"],
                Gauge: [""],
                Histogram: ["_bucket", "_count", "_sum"],
            }[type(value)]
            for suffix in suffixes:
                known[name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    # The cluster gauges, read from a broker and database made up for the occasion.
    snapshot = status.DatabaseSnapshot({"queued": 1}, dt.datetime.now(dt.UTC), "v1")
    monkeypatch.setattr(status, "queue_depths", lambda: {"scoring": 3})
    monkeypatch.setattr(status, "database_snapshot", lambda: snapshot)
    for family in status.BacklogCollector().collect():
        known[family.name] = {k for sample in family.samples for k in sample.labels}
    return known


def test_the_dashboard_asks_for_metrics_trustq_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    known = _known_metrics(monkeypatch)
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/trustq.json").read_text())
    titles = [panel["title"] for panel in dashboard["panels"]]
    for needed in ("scored", "latency", "Queue depth", "Oldest", "Failures", "Band", "Serving"):
        assert any(needed in title for title in titles), needed
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            names = set(re.findall(r"\btrustq_[a-z_]+", expr))
            assert names, (panel["title"], expr)
            for name in names:
                assert name in known, (panel["title"], name)
            grouped = set()
            for clause in re.findall(r"\b(?:by|ignoring|without) \(([^)]*)\)", expr):
                grouped |= {label.strip() for label in clause.split(",") if label.strip()}
            labels = set().union(*(known[n] for n in names))
            assert grouped <= labels, (panel["title"], grouped - labels)


def test_prometheus_scrapes_the_api_the_workers_and_the_one_cluster_exporter() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    port = SERVICES["worker"]["environment"]["TRUSTQ_WORKER_METRICS_PORT"]
    assert jobs["api"]["dns_sd_configs"][0]["port"] == 8000
    for name in ("worker", "trainer"):
        assert jobs[name]["dns_sd_configs"][0]["names"] == [name]
        assert str(jobs[name]["dns_sd_configs"][0]["port"]) == port
    exporters = [
        name
        for name, service in SERVICES.items()
        if str(service.get("environment", {}).get("TRUSTQ_CLUSTER_METRICS", "")).lower() == "true"
    ]
    assert exporters == ["trainer"]  # one process: the cluster's gauges are never summed
    for name in ("api", "worker", "beat"):
        assert SERVICES[name]["environment"]["TRUSTQ_CLUSTER_METRICS"] == "false"
    mounts = " ".join(SERVICES["prometheus"]["volumes"] + SERVICES["grafana"]["volumes"])
    for path in (
        "deploy/prometheus.yml",
        "deploy/grafana/provisioning",
        "deploy/grafana/dashboards",
    ):
        assert f"./{path}" in mounts and (ROOT / path).exists(), path
    for name in ("prometheus", "grafana"):
        assert SERVICES[name]["profiles"] == ["observability"]
