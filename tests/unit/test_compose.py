"""docker-compose.yml cannot be run here (no Docker engine), so it is checked by reading it."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from trustq.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _command(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_the_stack_has_every_part() -> None:
    assert {"postgres", "redis", "migrate", "worker", "beat"} <= set(SERVICES)


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
    for name in ("migrate", "worker", "beat"):
        env = SERVICES[name]["environment"]
        assert env["TRUSTQ_DATABASE_URL"].startswith("postgresql+psycopg2://")
        assert "@postgres:5432/" in env["TRUSTQ_DATABASE_URL"]
        assert env["TRUSTQ_BROKER_URL"] == "redis://redis:6379/0"


def test_redis_never_evicts_messages() -> None:
    command = _command(SERVICES["redis"])
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_the_dockerfile_ships_the_migrations_the_migrate_service_runs() -> None:
    copied = " ".join(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY")
    )
    for needed in ("alembic.ini", "migrations", "trustq", "pyproject.toml"):
        assert needed in copied, needed
