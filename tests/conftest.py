"""Shared fixtures. Tests that need services use the real ones: PostgreSQL, Redis, workers.

Each run creates its own PostgreSQL database and uses its own Redis database number, so
runs never see each other's rows or messages.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from trustq.worker.processes import WorkerProcess

__all__ = ["ROOT", "WorkerProcess"]

PG_ADMIN_URL = os.environ.get(
    "TRUSTQ_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TRUSTQ_TEST_REDIS", "redis://127.0.0.1:6379/13")
TEST_DB = f"trustq_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
DATA_DIR = Path(tempfile.mkdtemp(prefix="trustq-tests-"))
ROOT = Path(__file__).resolve().parents[1]

# Settings for this process and every worker it starts. Short redelivery and time limits
# keep the crash tests quick; they keep the production ordering (soft < hard < visibility).
TEST_ENV = {
    "TRUSTQ_DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0].replace(
        "postgresql://", "postgresql+psycopg2://"
    )
    + f"/{TEST_DB}",
    "TRUSTQ_BROKER_URL": REDIS_URL,
    "TRUSTQ_DATA_DIR": str(DATA_DIR),
    "TRUSTQ_VISIBILITY_TIMEOUT": "20",
    "TRUSTQ_UNACKED_RESTORE_INTERVAL": "1",
    "TRUSTQ_TASK_SOFT_TIME_LIMIT": "12",
    "TRUSTQ_TASK_TIME_LIMIT": "15",
    "TRUSTQ_MODEL_REFRESH_SECONDS": "1",
    "TRUSTQ_TORCH_THREADS": "1",
}
os.environ.update(TEST_ENV)


def _admin_execute(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def database() -> Iterator[str]:
    """A fresh PostgreSQL database migrated to head, dropped after the run."""
    from trustq.db import migrate

    _admin_execute(f'CREATE DATABASE "{TEST_DB}"')
    try:
        migrate.upgrade()
        yield TEST_ENV["TRUSTQ_DATABASE_URL"]
    finally:
        from trustq.db.session import reset_engine

        reset_engine()
        _admin_execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_client() -> Iterator[object]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def clean_tables(database: str) -> Iterator[None]:  # noqa: ARG001
    """Empty submissions and verdicts (models and embeddings stay: they are costly)."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from trustq.db.session import session_scope

    # Processes another test left running (an API server, a worker's metrics scrape) may
    # read these tables while TRUNCATE locks them one by one; PostgreSQL then breaks the
    # deadlock by cancelling the TRUNCATE, which is safe to try again.
    for attempt in range(5):
        try:
            with session_scope() as session:
                session.execute(text("TRUNCATE verdicts, labels, resume_bands, submissions"))
            break
        except OperationalError as exc:
            if "deadlock detected" not in str(exc) or attempt == 4:
                raise
            time.sleep(0.5)
    yield


@pytest.fixture(scope="session")
def serving_model(database: str) -> str:  # noqa: ARG001
    """A small model trained on synthetic data and registered as serving."""
    from trustq.config import get_settings
    from trustq.data.synthetic import REFERENCE_DATE
    from trustq.models.training import TrainConfig
    from trustq.services.training import synthetic_profiles, train_and_register

    report = train_and_register(
        get_settings(),
        synthetic_profiles(300, seed=1),
        as_of=REFERENCE_DATE,
        created_by="tests",
        config=TrainConfig(max_epochs=4, seed=1, progress=False, threads=1),
    )
    return report.version


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[object]:
    """Start workers on demand; all are stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(concurrency: int = 1, wait: bool = True, **env: str) -> WorkerProcess:
        w = WorkerProcess(tmp_path / f"worker-{len(started)}.log", concurrency, env)
        started.append(w)
        if wait:
            w.wait_ready()
        return w

    yield start
    for w in started:
        w.stop(cold=True)  # what a test left running is of no interest any more
