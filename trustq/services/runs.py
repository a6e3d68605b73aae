"""Reading retraining runs back: the recent ones, and how one ended."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from trustq.db import models as models_db
from trustq.db import runs as runs_db
from trustq.db.session import session_scope
from trustq.db.tables import TrainingRun


@dataclass(frozen=True)
class RunOut:
    id: int
    status: str
    trigger: str
    requested_by: str
    new_labels: int
    candidate_version: str | None
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    reason: str | None = None  # the gate's or the operator's decision on its candidate

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def list_runs(limit: int = 20) -> list[RunOut]:
    """Recent retraining runs, newest first."""
    with session_scope() as session:
        return [_out(run) for run in runs_db.list_training_runs(session, limit)]


def get_run(run_id: int) -> RunOut:
    """One run with the decision on its candidate; LookupError if unknown."""
    with session_scope() as session:
        run = runs_db.get_training_run(session, run_id)
        if run is None:
            raise LookupError(f"no training run {run_id}")
        version = run.candidate_version
        decisions = models_db.list_model_decisions(session, version=version) if version else []
        return _out(run, decisions[0].reason if decisions else None)


def _out(run: TrainingRun, reason: str | None = None) -> RunOut:
    return RunOut(
        id=run.id,
        status=run.status,
        trigger=run.trigger,
        requested_by=run.requested_by,
        new_labels=run.new_labels,
        candidate_version=run.candidate_version,
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        reason=reason,
    )
