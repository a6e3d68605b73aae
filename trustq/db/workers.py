"""Workers' heartbeats."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from trustq.db.tables import WorkerHeartbeat


def record_heartbeat(
    session: Session, worker: str, now: dt.datetime, encoder: str | None = None
) -> None:
    """``worker`` is alive at ``now``, serving with ``encoder`` (each worker writes only its
    own row)."""
    row = session.get(WorkerHeartbeat, worker)
    if row is None:
        session.add(WorkerHeartbeat(worker=worker, started_at=now, beat_at=now, encoder=encoder))
    else:
        row.beat_at = now
        row.encoder = encoder


def encoders_of(session: Session, workers: Sequence[str]) -> dict[str, str | None]:
    """The encoder each of ``workers`` said it serves with in its last heartbeat."""
    if not workers:
        return {}
    rows = session.execute(
        select(WorkerHeartbeat.worker, WorkerHeartbeat.encoder).where(
            WorkerHeartbeat.worker.in_(list(workers))
        )
    )
    return {worker: encoder for worker, encoder in rows}
