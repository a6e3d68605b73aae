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
from typing import Any

import pytest

from tests.factories import MODEL_RESUME_WORDS
from tests.servers import free_port
from trustq.worker.processes import WorkerProcess

__all__ = ["ROOT", "WorkerProcess"]

PG_ADMIN_URL = os.environ.get(
    "TRUSTQ_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# In a parallel run (pytest-xdist) each worker process counts down from the run's number.
_XDIST_INDEX = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
_REDIS_BASE, _REDIS_DB = os.environ.get("TRUSTQ_TEST_REDIS", "redis://127.0.0.1:6379/13").rsplit(
    "/", 1
)
REDIS_URL = f"{_REDIS_BASE}/{int(_REDIS_DB) - _XDIST_INDEX}"
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
}
os.environ.update(TEST_ENV)


def seed_encoder_choice(data_dir: Path) -> None:
    """Give a worker with its own data folder the encoder variant this run measured (in
    DATA_DIR, once per test process), so it does not spend seconds of two busy cores
    measuring again. A worker whose settings change the choice's key still measures."""
    import shutil

    from trustq.config import get_settings
    from trustq.scoring.variant_choice import CHOICE_FILE, cpu_choice

    cpu_choice(get_settings())
    target = data_dir / "encoders"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DATA_DIR / "encoders" / CHOICE_FILE, target / CHOICE_FILE)


# Each folder is a tier; its marker says what its tests need (declared in pyproject.toml).
TIERS = ("unit", "db", "integration", "api", "hostile", "faults")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with the tier of its folder, so that ``-m unit`` selects the tests
    that need no server, ``-m "not faults"`` leaves the fault trials out, and so on."""
    for item in items:
        folder = item.path.relative_to(ROOT / "tests").parts[0]
        if folder in TIERS:
            item.add_marker(getattr(pytest.mark, folder))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start ``trustq demo`` beside the run when its test is selected (``tests/demo.py``);
    in a parallel run its controller does (below)."""
    from tests.demo import DEMO, TEST_NAME, DemoRun

    parallel = hasattr(session.config, "workerinput")
    if not parallel and any(item.name == TEST_NAME for item in session.items):
        session.config.stash[DEMO] = DemoRun.start()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """The controller of a parallel run starts the demo once, where its workers find it."""
    from tests.demo import DEMO, TEST_NAME, DemoRun, shared_folder

    config = node.config
    if DEMO not in config.stash and any(i.endswith("::" + TEST_NAME) for i in ids):
        config.stash[DEMO] = DemoRun.start(shared_folder(node.workerinput["testrunuid"]))


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.demo import DEMO

    demo = session.config.stash.get(DEMO, None)
    if demo is not None:
        demo.stop()


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
    """Empty submissions, verdicts and webhooks (models and embeddings stay: they are
    costly)."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from trustq.db.session import session_scope

    # Processes another test left running (an API server, a worker's metrics scrape) may
    # read these tables while TRUNCATE locks them one by one; PostgreSQL then breaks the
    # deadlock by cancelling the TRUNCATE, which is safe to try again.
    for attempt in range(5):
        try:
            with session_scope() as session:
                session.execute(
                    text(
                        "TRUNCATE verdicts, labels, resume_bands, webhook_attempts, "
                        "webhook_deliveries, webhook_endpoints, review_claims, submissions"
                    )
                )
            break
        except OperationalError as exc:
            if "deadlock detected" not in str(exc) or attempt == 4:
                raise
            time.sleep(0.5)
    yield


@pytest.fixture
def rolled_back(database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:  # noqa: ARG001
    """Every ``session_scope()`` of the test joins one transaction that is rolled back at
    the end (SQLAlchemy's "join an external transaction" recipe): the test's rows vanish
    without a TRUNCATE. Only for tests whose rows no other process needs to see."""
    from sqlalchemy.orm import sessionmaker

    from trustq.db import session as db_session

    connection = db_session.get_engine().connect()
    outer = connection.begin()
    factory = sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    monkeypatch.setattr(db_session, "_session_factory", lambda: factory)
    try:
        yield
    finally:
        outer.rollback()
        connection.close()


@pytest.fixture(scope="session")
def serving_model(database: str) -> str:  # noqa: ARG001
    """A small model trained on synthetic data and registered as serving. Its resumes are
    short (one encoder window each, so it trains in seconds) but for ten of 2,000 words, so
    that the length range it records (1st to 99th percentile of tokens) spans real resumes:
    scoring tests send those and would otherwise all get a length notice."""
    from trustq.config import get_settings
    from trustq.data.synthetic import REFERENCE_DATE
    from trustq.models.training import TrainConfig
    from trustq.services.training import synthetic_profiles, train_and_register

    report = train_and_register(
        get_settings(),
        synthetic_profiles(300, seed=1, resume_words=MODEL_RESUME_WORDS)
        + synthetic_profiles(10, seed=2, resume_words=(1900, 2000)),
        as_of=REFERENCE_DATE,
        created_by="tests",
        config=TrainConfig(max_epochs=4, seed=1, progress=False),
    )
    return report.version


def empty_queues(client: Any) -> None:
    """Drop every message, queued or taken and unacknowledged, but keep kombu's bindings:
    FLUSHDB would also drop the shared worker's control channel and the queues' routes."""
    keys = [k for k in client.scan_iter() if not k.startswith(b"_kombu.binding.")]
    if keys:
        client.delete(*keys)


BRPOP_TIMEOUT = 1.0  # kombu's Redis transport default


class SharedWorker:
    """One ``trustq worker`` for the whole run, with the run's settings, for the tests that
    need a worker but not one of their own (``worker``). It consumes only once a test has
    called ``consume()``: before every test its consumers are cancelled (Celery's remote
    control), so each test starts with the queues to itself, and a test with workers of its
    own, or with none, keeps them so."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.process: WorkerProcess | None = None
        self.consuming = False
        self.metrics_port = free_port()

    def consume(self) -> WorkerProcess:
        """The worker, started if it is not running, consuming every queue."""
        if self.process is None or self.process.proc.poll() is not None:
            self.process = WorkerProcess(
                self.folder / f"shared-worker-{uuid.uuid4().hex[:6]}.log",
                1,
                {
                    "TRUSTQ_WORKER_METRICS_PORT": str(self.metrics_port),
                    "TRUSTQ_RETENTION_DAYS": "30",
                },
            )
            self.process.metrics_port = self.metrics_port  # type: ignore[attr-defined]
            self.process.wait_ready()
        elif not self.consuming:
            self._control("add_consumer")
        self.consuming = True
        return self.process

    def pause(self) -> None:
        if self.consuming and self.process is not None and self.process.proc.poll() is None:
            self._control("cancel_consumer")
            # A BRPOP the worker issued before the cancel can still take a message for up
            # to kombu's brpop_timeout (1 s); the test starts once that one has returned.
            time.sleep(BRPOP_TIMEOUT + 0.2)
        self.consuming = False

    def _control(self, command: str) -> None:
        from trustq.broker import names
        from trustq.broker.app import producer

        assert self.process is not None
        node = self.process.nodename
        for queue in names.QUEUES:
            replies = getattr(producer.control, command)(
                queue, destination=[node], reply=True, timeout=10
            )
            assert any(node in r for r in replies), f"{command} {queue}: {replies}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(cold=True)


_SHARED: list[SharedWorker] = []  # the run's shared worker, once a test asked for it


@pytest.fixture(scope="session")
def shared_worker(
    serving_model: str,  # noqa: ARG001
    redis_client: Any,  # noqa: ARG001
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SharedWorker]:
    """The run's shared worker (``SharedWorker``); ``worker`` is the fixture tests use."""
    shared = SharedWorker(tmp_path_factory.mktemp("shared-worker"))
    _SHARED.append(shared)
    yield shared
    _SHARED.remove(shared)
    shared.stop()


@pytest.fixture(autouse=True)
def _shared_worker_paused() -> None:
    for shared in _SHARED:
        shared.pause()


@pytest.fixture
def worker(shared_worker: SharedWorker) -> SharedWorker:
    """The shared worker, for this test: ``worker.consume()`` starts it consuming (a test
    may first look at the queue untouched) and returns its process."""
    return shared_worker


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[object]:
    """Start workers of the test's own (other settings, or to kill); all are stopped at the
    end of the test."""
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
