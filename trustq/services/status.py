"""How the system stands: broker, database, workers, backlog. Read by ``trustq status``,
``/readyz`` and the metrics collector; nothing here writes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import text

from trustq.db import repo
from trustq.db.session import session_scope
from trustq.db.tables import SubmissionStatus, utcnow
from trustq.tasks import names

QUEUES = (names.SCORING_QUEUE, names.TRAINING_QUEUE, names.MAINTENANCE_QUEUE)


@dataclass(frozen=True)
class DatabaseSnapshot:
    by_status: dict[str, int]
    oldest_queued_at: dt.datetime | None
    serving_model: str | None
    taken_at: dt.datetime = field(default_factory=utcnow)

    @property
    def oldest_queued_age_seconds(self) -> float | None:
        if self.oldest_queued_at is None:
            return None
        return max((self.taken_at - self.oldest_queued_at).total_seconds(), 0.0)


def database_snapshot() -> DatabaseSnapshot:
    """Submissions by status (every status listed, failed = dead letters), the oldest one
    still queued, and the model the database marks serving."""
    with session_scope() as session:
        counts = repo.count_submissions_by_status(session)
        oldest = repo.oldest_submission_in(session, SubmissionStatus.queued)
        serving = repo.serving_model_version(session)
    by_status = {s.value: counts.get(s.value, 0) for s in SubmissionStatus}
    return DatabaseSnapshot(by_status, oldest, serving[0] if serving else None)


def _broker_connection():  # type: ignore[no-untyped-def]
    from trustq.worker.app import app

    return app.connection_for_read()


def queue_depths() -> dict[str, int]:
    """Messages waiting in each trustq queue (taken but unacknowledged ones not counted)."""
    depths: dict[str, int] = {}
    with _broker_connection() as conn:
        conn.ensure_connection(max_retries=0)
        channel = conn.default_channel
        for queue in QUEUES:
            try:
                depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
            except conn.channel_errors:
                # Redis drops an empty list; the transport then reports the queue unknown.
                depths[queue] = 0
                channel = conn.channel()
    return depths


def check_broker() -> None:
    """Raise if the broker cannot be reached right now."""
    with _broker_connection() as conn:
        conn.ensure_connection(max_retries=0)
        conn.default_channel  # noqa: B018 - opening a channel is what proves the broker answers


def check_database() -> str | None:
    """Raise if the database cannot be reached; returns the serving model version (or None)."""
    with session_scope() as session:
        session.execute(text("SELECT 1"))
        serving = repo.serving_model_version(session)
    return serving[0] if serving else None


def workers_seen(timeout: float = 1.0) -> list[str]:
    """Names of the workers that answered a ping within ``timeout`` seconds."""
    from trustq.worker.app import app

    replies = app.control.ping(timeout=timeout) or []
    return sorted(name for reply in replies for name in reply)
