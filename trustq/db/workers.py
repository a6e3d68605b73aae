"""Workers' heartbeats."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from trustq.db.tables import WorkerHeartbeat


def record_heartbeat(session: Session, worker: str, now: dt.datetime) -> None:
    """``worker`` is alive at ``now`` (each worker writes only its own row)."""
    row = session.get(WorkerHeartbeat, worker)
    if row is None:
        session.add(WorkerHeartbeat(worker=worker, started_at=now, beat_at=now))
    else:
        row.beat_at = now
