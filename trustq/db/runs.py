"""Retraining runs: the one active slot, claiming, finishing, listing. Callers own the
transaction (see ``session``)."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trustq.db.tables import (
    TrainingRun,
    TrainingRunStatus,
    utcnow,
)

# The key of the PostgreSQL advisory lock taken while a retraining run is being started.
RETRAIN_LOCK_KEY = 7_402_118_355


ACTIVE_RUN = "retrain"


def try_retrain_lock(session: Session) -> bool:
    """Take the retraining lock for this transaction; False if another holds it. SQLite
    serialises writers itself, so there it always succeeds."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(RETRAIN_LOCK_KEY))))


def active_training_run(session: Session) -> TrainingRun | None:
    return session.scalar(select(TrainingRun).where(TrainingRun.active_slot == ACTIVE_RUN))


def add_training_run(
    session: Session, *, trigger: str, requested_by: str, new_labels: int
) -> TrainingRun | None:
    """A queued run holding the active slot, or None when another run holds it."""
    row = TrainingRun(
        active_slot=ACTIVE_RUN,
        status=TrainingRunStatus.queued,
        trigger=trigger,
        requested_by=requested_by,
        new_labels=new_labels,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def claim_training_run(session: Session, run_id: int) -> TrainingRun | None:
    """Move a queued run to running; None if it is not queued (delivered twice, or gone)."""
    result = session.execute(
        update(TrainingRun)
        .where(TrainingRun.id == run_id, TrainingRun.status == TrainingRunStatus.queued)
        .values(status=TrainingRunStatus.running, started_at=utcnow())
    )
    if result.rowcount != 1:
        return None
    return session.get(TrainingRun, run_id)


def finish_training_run(
    session: Session,
    run_id: int,
    *,
    status: str,
    candidate_version: str | None = None,
    error: str | None = None,
) -> None:
    """Record how a run ended and free the active slot for the next one."""
    session.execute(
        update(TrainingRun)
        .where(TrainingRun.id == run_id)
        .values(
            status=status,
            active_slot=None,
            candidate_version=candidate_version,
            error=error,
            finished_at=utcnow(),
        )
    )


def get_training_run(session: Session, run_id: int) -> TrainingRun | None:
    return session.get(TrainingRun, run_id)


def list_training_runs(session: Session, limit: int = 20) -> list[TrainingRun]:
    return list(session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()).limit(limit)))
