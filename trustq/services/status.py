"""How the system stands: broker, database, workers, backlog. Read by ``trustq status``,
``/readyz`` and the metrics collector; nothing here writes."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

from trustq.broker import names
from trustq.broker.app import producer
from trustq.db import models as models_db
from trustq.db import submissions as submissions_db
from trustq.db import workers as workers_db
from trustq.db.session import session_scope
from trustq.db.tables import SubmissionStatus, utcnow

log = logging.getLogger(__name__)


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
        counts = submissions_db.count_submissions_by_status(session)
        oldest = submissions_db.oldest_submission_in(session, SubmissionStatus.queued)
        serving = models_db.serving_model_version(session)
    by_status = {s.value: counts.get(s.value, 0) for s in SubmissionStatus}
    return DatabaseSnapshot(by_status, oldest, serving[0] if serving else None)


def queue_depths() -> dict[str, int]:
    """Messages waiting in each trustq queue (taken but unacknowledged ones not counted)."""
    depths: dict[str, int] = {}
    with producer.connection_for_read() as conn:
        conn.ensure_connection(max_retries=0)
        channel = conn.default_channel
        for queue in names.QUEUES:
            try:
                depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
            except conn.channel_errors:
                # Redis drops an empty list; the transport then reports the queue unknown.
                depths[queue] = 0
                channel = conn.channel()
    return depths


def check_broker() -> None:
    """Raise if the broker cannot be reached right now."""
    with producer.connection_for_read() as conn:
        conn.ensure_connection(max_retries=0)
        conn.default_channel  # noqa: B018 - opening a channel is what proves the broker answers


def check_database() -> str | None:
    """Raise if the database cannot be reached; returns the serving model version (or None)."""
    with session_scope() as session:
        session.execute(text("SELECT 1"))
        serving = models_db.serving_model_version(session)
    return serving[0] if serving else None


def workers_seen(timeout: float = 1.0) -> list[str]:
    """Names of the workers that answered a ping within ``timeout`` seconds."""
    replies = producer.control.ping(timeout=timeout) or []
    return sorted(name for reply in replies for name in reply)


def worker_encoders(workers: list[str]) -> dict[str, str | None]:
    """The encoder variant each worker's last heartbeat named (None: no heartbeat yet)."""
    with session_scope() as session:
        known = workers_db.encoders_of(session, workers)
    return {w: known.get(w) for w in workers}


class BacklogCollector(Collector):
    """Queue depth, oldest queued age, submissions by status, the serving model: read from
    the broker and the database when Prometheus scrapes. A part that cannot be read is
    left out of that scrape (and ``trustq_backlog_up`` says which)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "trustq_backlog_up", "1 if this part could be read at this scrape.", labels=["part"]
        )
        try:
            depths = queue_depths()
        except Exception as exc:
            log.warning("metrics: cannot read queue depths: %s", type(exc).__name__)
            up.add_metric(["broker"], 0)
        else:
            up.add_metric(["broker"], 1)
            depth = GaugeMetricFamily(
                "trustq_queue_depth", "Messages waiting in a broker queue.", labels=["queue"]
            )
            for queue, count in depths.items():
                depth.add_metric([queue], count)
            yield depth
        try:
            db = database_snapshot()
        except Exception as exc:
            log.warning("metrics: cannot read the database: %s", type(exc).__name__)
            up.add_metric(["database"], 0)
        else:
            up.add_metric(["database"], 1)
            by_status = GaugeMetricFamily(
                "trustq_submissions", "Submissions by status.", labels=["status"]
            )
            for name, count in db.by_status.items():
                by_status.add_metric([name], count)
            yield by_status
            yield GaugeMetricFamily(
                "trustq_oldest_queued_age_seconds",
                "Age of the oldest submission still queued (0 when none waits).",
                value=db.oldest_queued_age_seconds or 0.0,
            )
            serving = GaugeMetricFamily(
                "trustq_serving_model_info",
                "1 for the model version the database marks serving.",
                labels=["version"],
            )
            if db.serving_model is not None:
                serving.add_metric([db.serving_model], 1)
            yield serving
        yield up
