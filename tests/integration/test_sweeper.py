"""The sweeper, `trustq retry` and enqueue with a server down, on the real PostgreSQL and Redis
(no worker: the tests read the queue and the rows themselves)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from kombu import Queue
from sqlalchemy import update

from tests.cli import trustq
from tests.conftest import empty_queues
from tests.factories import profile
from tests.servers import free_port
from trustq import client
from trustq.config import get_settings
from trustq.db import submissions as submissions_db
from trustq.db.session import session_scope
from trustq.db.tables import Submission
from trustq.tasks.sweeper import ids_in_broker, sweep

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _services(clean_tables, redis_client, serving_model) -> None:  # noqa: ARG001
    empty_queues(redis_client)


def _stored(status: str = "queued", attempts: int = 0, age_s: float = 3600) -> uuid.UUID:
    """A submission with no message for it, last touched ``age_s`` ago."""
    with session_scope() as session:
        row, _ = submissions_db.add_submission(
            session,
            external_id=f"fl-{uuid.uuid4().hex[:6]}",
            idempotency_key=None,
            payload=profile(),
            resume_sha256="0" * 64,
            submitted_by="tests",
            request_id=None,
        )
        sid = row.id
    _touch(sid, status=status, attempts=attempts, age_s=age_s)
    return sid


def _touch(sid: uuid.UUID, age_s: float, **values: object) -> None:
    with session_scope() as session:
        session.execute(
            update(Submission)
            .where(Submission.id == sid)
            .values(updated_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age_s), **values)
        )


def _row(sid: uuid.UUID) -> Submission:
    with session_scope() as session:
        row = submissions_db.get_submission(session, sid)
        assert row is not None
        return row


def test_the_sweeper_republishes_only_what_the_broker_lost(redis_client) -> None:
    from trustq.worker.app import app

    waiting = client.enqueue(profile())  # its message is in the queue: a backlog, not a loss
    _touch(waiting, age_s=3600)
    lost = _stored("queued")
    lost_while_processing = _stored("processing", attempts=1)
    fresh = _stored("queued", age_s=1)  # younger than sweep_stale_after: left alone
    exhausted = _stored("processing", attempts=get_settings().max_attempts)
    held = client.enqueue(profile())
    _touch(held, age_s=3600, status="processing", attempts=1)

    with app.connection_for_read() as conn:
        queue = Queue("scoring").bind(conn.default_channel)
        # Take the messages off the queue unacknowledged, as a live worker holds them.
        taken = [queue.get(no_ack=False) for _ in range(2)]
        assert all(taken)
        ids_held = ids_in_broker()
        assert ids_held == {waiting, held}
        first = sweep()

    assert sorted(first.republished) == sorted([lost, lost_while_processing])
    assert first.failed == [exhausted]
    assert first.in_broker == 2 and first.stale == 5
    assert ids_in_broker() >= {lost, lost_while_processing}
    for sid in (lost, lost_while_processing):
        assert _row(sid).status == "queued"
    assert _row(lost).attempts == 1 and _row(lost_while_processing).attempts == 2
    assert _row(fresh).attempts == 0 and _row(waiting).attempts == 0
    dead = _row(exhausted)
    assert dead.status == "failed"
    assert dead.last_error.startswith(f"no verdict after {get_settings().max_attempts} attempt")

    # Republished just now: the next sweep has nothing to do, and publishes nothing twice.
    before = redis_client.llen("scoring")
    second = sweep()
    assert not second.republished and not second.failed
    assert redis_client.llen("scoring") == before


def test_retry_queues_failed_submissions_again(redis_client) -> None:
    first, second = _stored("failed", attempts=5), _stored("failed", attempts=2)
    done = trustq("retry", str(first))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(first)]
    assert (_row(first).status, _row(first).attempts) == ("queued", 0)
    assert _row(second).status == "failed"
    assert ids_in_broker() == {first}

    again = trustq("retry", str(first))
    assert again.returncode == 1
    assert f"only failed submissions are retried: {first} is queued" in again.stderr
    unknown = uuid.uuid4()
    missing = trustq("retry", str(unknown))
    assert missing.returncode == 1 and f"no submission {unknown}" in missing.stderr
    assert trustq("retry", "not-an-id").returncode == 2
    assert trustq("retry").returncode == 2
    assert trustq("retry", str(second), "--all-failed").returncode == 2

    everything = trustq("retry", "--all-failed")
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.split() == [str(second)]
    assert redis_client.llen("scoring") == 2


def test_retry_with_the_broker_down_leaves_them_queued_for_the_sweeper() -> None:
    failed = _stored("failed")
    down = trustq(
        "retry", str(failed), env={"TRUSTQ_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    )
    assert down.returncode == 0, down.stderr
    assert "the broker is unreachable" in down.stderr
    assert _row(failed).status == "queued"
    _touch(failed, age_s=3600)
    assert sweep().republished == [failed]


def test_enqueue_with_the_broker_down_stores_and_tells_the_caller(tmp_path: Path) -> None:
    path = tmp_path / "three.jsonl"
    path.write_text("\n".join(json.dumps(profile()) for _ in range(3)) + "\n")
    down = trustq(
        "enqueue", str(path), env={"TRUSTQ_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    )
    assert down.returncode == 0, down.stderr
    assert "the broker is unreachable: 3 submission(s) are stored but not queued" in down.stderr
    ids = [uuid.UUID(line.split("\t")[0]) for line in down.stdout.splitlines()]
    assert len(ids) == 3
    assert all("(stored; queued later by the sweeper)" in line for line in down.stdout.splitlines())
    assert all(_row(sid).status == "queued" for sid in ids)
    for sid in ids:
        _touch(sid, age_s=3600)
    assert sorted(sweep().republished) == sorted(ids)
    assert ids_in_broker() == set(ids)


def test_enqueue_with_the_database_down_stores_and_queues_nothing(
    tmp_path: Path, redis_client
) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(profile()))
    dead = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/trustq"
    refused = trustq("enqueue", str(path), env={"TRUSTQ_DATABASE_URL": dead})
    assert refused.returncode == 3
    assert "cannot reach the database" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert redis_client.llen("scoring") == 0
