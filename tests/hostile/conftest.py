"""Hostile input against the real stack: the run's PostgreSQL database, its Redis database
and one worker process shared by the package (its log is checked for crashes and leaks)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import func, select

from tests.conftest import WorkerProcess, empty_queues
from tests.servers import wait_for
from trustq.db.session import session_scope
from trustq.db.tables import Submission, Verdict

# Modest by default (the suite runs on two shared cores); raise it for a deeper search.
EXAMPLES = int(os.environ.get("TRUSTQ_TEST_HYPOTHESIS_EXAMPLES", "100"))
HOSTILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="package")
def hostile_worker(
    serving_model: str,  # noqa: ARG001
    redis_client: object,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    """One worker for the package, on the run's database and Redis database."""
    empty_queues(redis_client)  # type: ignore[attr-defined]
    worker = WorkerProcess(
        tmp_path_factory.mktemp("hostile") / "worker.log",
        # A batch of 100,000-character resumes takes tens of seconds on a shared CPU: the
        # limits are the production ordering, scaled for that, not the quick test ones.
        env={
            "TRUSTQ_REASON_SENTENCES": "never",
            "TRUSTQ_TASK_SOFT_TIME_LIMIT": "150",
            "TRUSTQ_TASK_TIME_LIMIT": "180",
            "TRUSTQ_VISIBILITY_TIMEOUT": "240",
        },
    )
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


def assert_alive(worker: WorkerProcess) -> None:
    """The worker process and its pool never died on what they were given."""
    assert worker.proc.poll() is None, "the worker exited"
    log = worker.output()
    assert "WorkerLostError" not in log, "a pool process died"


def settle(ids: list[uuid.UUID], timeout: float = 240.0) -> dict[str, int | list[str]]:
    """Wait until each submission is done or failed; count verdicts and failures."""

    def open_count() -> int:
        with session_scope() as session:
            return session.scalar(
                select(func.count()).where(
                    Submission.id.in_(ids), Submission.status.in_(["queued", "processing"])
                )
            )

    try:
        wait_for(lambda: open_count() == 0, timeout, "every hostile submission to settle", 0.5)
    except AssertionError:
        pass  # reported as lost below
    time.sleep(0.5)
    with session_scope() as session:
        verdicts = dict(
            session.execute(
                select(Verdict.submission_id, func.count())
                .where(Verdict.submission_id.in_(ids))
                .group_by(Verdict.submission_id)
            ).all()
        )
        rows = session.execute(
            select(Submission.id, Submission.status, Submission.last_error).where(
                Submission.id.in_(ids)
            )
        ).all()
    return {
        "scored": sum(verdicts.get(sid, 0) == 1 for sid, _, _ in rows),
        "duplicated": sum(max(0, n - 1) for n in verdicts.values()),
        "failed_with_reason": sum(s == "failed" and bool(e) for _, s, e in rows),
        "lost": [f"{sid} ({s})" for sid, s, _ in rows if s not in ("done", "failed")],
        "failed_reasons": sorted({e for _, s, e in rows if s == "failed" and e}),
    }
