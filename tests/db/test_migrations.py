"""Migrations build the schema on an empty database and take it away again."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, inspect

from tests.conftest import PG_ADMIN_URL, _admin_execute
from trustq.db import migrate
from trustq.db.tables import Base

pytestmark = pytest.mark.db

TABLES = {
    "submissions",
    "worker_heartbeats",
    "verdicts",
    "model_versions",
    "embeddings",
    "labels",
    "resume_bands",
    "training_runs",
    "model_decisions",
    "api_keys",
    "audit_events",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    "console_sessions",
    "review_claims",
}


def test_exactly_one_head() -> None:
    assert len(migrate.heads()) == 1


@pytest.fixture
def empty_postgres() -> str:
    name = f"trustq_mig_{uuid.uuid4().hex[:8]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    yield (
        PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://")
        + "/"
        + name
    )
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_and_downgrade_on_empty_postgres(empty_postgres: str) -> None:
    migrate.upgrade(empty_postgres)
    assert _tables(empty_postgres) == TABLES
    migrate.downgrade(empty_postgres)
    assert _tables(empty_postgres) == set()
    migrate.upgrade(empty_postgres)
    assert _tables(empty_postgres) == TABLES


def test_upgrade_and_downgrade_on_sqlite(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    migrate.upgrade(url)
    assert _tables(url) == TABLES
    migrate.downgrade(url)
    assert _tables(url) == set()


def test_migrations_match_the_tables(empty_postgres: str) -> None:
    """The head revision builds exactly what the ORM declares (no forgotten migration)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    migrate.upgrade(empty_postgres)
    engine = create_engine(empty_postgres)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []
