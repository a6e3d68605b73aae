"""Verdicts: writing a batch of them, and reading them back with their submissions. Callers own
the transaction (see ``session``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select, tuple_, update
from sqlalchemy.orm import Session, load_only

from trustq.db import webhooks as webhooks_db
from trustq.db.common import insert_for
from trustq.db.tables import (
    Label,
    Submission,
    SubmissionStatus,
    Verdict,
    WebhookEvent,
    utcnow,
)


def write_verdict(session: Session, values: Mapping[str, Any]) -> bool:
    """Store a verdict and mark its submission done; False if this model already judged it."""
    stmt = (
        insert_for(session, Verdict)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["submission_id", "model_version"])
    )
    inserted = session.execute(stmt).rowcount == 1
    session.execute(
        update(Submission)
        .where(Submission.id == values["submission_id"])
        .values(status=SubmissionStatus.done, last_error=None, updated_at=utcnow())
    )
    if inserted:
        webhooks_db.queue_events(session, WebhookEvent.verdict_ready, [values["submission_id"]])
    return inserted


def write_verdicts(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[uuid.UUID]:
    """``write_verdict`` for a batch: one insert, one update. Returns the submissions whose
    verdict was inserted (the others had one from this model version already)."""
    if not rows:
        return set()
    stmt = (
        insert_for(session, Verdict)
        .values([dict(r) for r in rows])
        .on_conflict_do_nothing(index_elements=["submission_id", "model_version"])
        .returning(Verdict.submission_id)
    )
    inserted = set(session.scalars(stmt))
    session.execute(
        update(Submission)
        .where(Submission.id.in_([r["submission_id"] for r in rows]))
        .values(status=SubmissionStatus.done, last_error=None, updated_at=utcnow())
    )
    webhooks_db.queue_events(session, WebhookEvent.verdict_ready, inserted)
    return inserted


@dataclass(frozen=True)
class VerdictRow:
    verdict: Verdict
    submission: Submission


def _verdict_query() -> Select[tuple[Verdict, Submission]]:
    return select(Verdict, Submission).join(Submission, Submission.id == Verdict.submission_id)


def latest_verdict(session: Session, submission_id: uuid.UUID) -> VerdictRow | None:
    row = session.execute(
        _verdict_query()
        .where(Verdict.submission_id == submission_id)
        .order_by(Verdict.created_at.desc(), Verdict.id.desc())
        .limit(1)
    ).first()
    return VerdictRow(row[0], row[1]) if row else None


def find_verdicts(
    session: Session,
    *,
    external_id: str | None = None,
    risk_level: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
) -> list[VerdictRow]:
    """Verdicts newest first, filtered by freelancer, risk level and time."""
    stmt = _verdict_query()
    if external_id is not None:
        stmt = stmt.where(Submission.external_id == external_id)
    if risk_level is not None:
        stmt = stmt.where(Verdict.risk_level == risk_level)
    if since is not None:
        stmt = stmt.where(Verdict.created_at >= since)
    if until is not None:
        stmt = stmt.where(Verdict.created_at < until)
    stmt = stmt.order_by(Verdict.created_at.desc(), Verdict.id.desc()).limit(limit)
    return [VerdictRow(v, s) for v, s in session.execute(stmt)]


def review_queue(session: Session, *, limit: int = 100) -> list[VerdictRow]:
    """Verdicts that ask for a person (recommendation review, or risky: hold and review)
    whose submission has no label yet, oldest first."""
    undecided = ~select(Label.id).where(Label.submission_id == Verdict.submission_id).exists()
    stmt = (
        _verdict_query()
        .where(Verdict.recommendation.in_(("review", "risky")), undecided)
        .order_by(Verdict.created_at.asc(), Verdict.id.asc())
        .limit(limit)
    )
    return [VerdictRow(v, s) for v, s in session.execute(stmt)]


# What an evaluation shows of a submission: never the payload or the resume file.
_SUBMISSION_SUMMARY = load_only(
    Submission.id,
    Submission.external_id,
    Submission.status,
    Submission.attempts,
    Submission.last_error,
    Submission.submitted_by,
    Submission.request_id,
    Submission.created_at,
    Submission.updated_at,
    Submission.resume_filename,
    Submission.erased_at,
)


def newest_verdict_id() -> Any:
    return (
        select(Verdict.id)
        .where(Verdict.submission_id == Submission.id)
        .order_by(Verdict.created_at.desc(), Verdict.id.desc())
        .limit(1)
        .correlate(Submission)
        .scalar_subquery()
    )


def _evaluation_query() -> Select[tuple[Submission, Verdict]]:
    return (
        select(Submission, Verdict)
        .options(_SUBMISSION_SUMMARY)
        .outerjoin(Verdict, Verdict.id == newest_verdict_id())
    )


def get_evaluation(
    session: Session, submission_id: uuid.UUID
) -> tuple[Submission, Verdict | None] | None:
    """A submission (without payload) and its newest verdict, if any."""
    row = session.execute(_evaluation_query().where(Submission.id == submission_id)).first()
    return (row[0], row[1]) if row else None


def page_evaluations(
    session: Session,
    *,
    external_id: str | None = None,
    risk_level: str | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before: tuple[dt.datetime, uuid.UUID] | None = None,
    limit: int = 50,
) -> list[tuple[Submission, Verdict | None]]:
    """Submissions newest first (by intake time, then id), each with its newest verdict.

    ``before`` is the (created_at, id) of the last row of the previous page: keyset
    pagination, stable while new submissions arrive. ``risk_level`` keeps only submissions
    whose newest verdict has that level.
    """
    stmt = _evaluation_query()
    if external_id is not None:
        stmt = stmt.where(Submission.external_id == external_id)
    if status is not None:
        stmt = stmt.where(Submission.status == status)
    if risk_level is not None:
        stmt = stmt.where(Verdict.risk_level == risk_level)
    if since is not None:
        stmt = stmt.where(Submission.created_at >= since)
    if until is not None:
        stmt = stmt.where(Submission.created_at < until)
    if before is not None:
        stmt = stmt.where(tuple_(Submission.created_at, Submission.id) < tuple_(*before))
    stmt = stmt.order_by(Submission.created_at.desc(), Submission.id.desc()).limit(limit)
    return [(s, v) for s, v in session.execute(stmt)]


def verdicts_of(session: Session, submission_ids: Sequence[uuid.UUID]) -> list[Verdict]:
    if not submission_ids:
        return []
    return list(session.scalars(select(Verdict).where(Verdict.submission_id.in_(submission_ids))))


def set_verdict_explanations(
    session: Session, verdict_id: int, *, flags: list[dict[str, Any]], reasons: list[dict[str, Any]]
) -> None:
    session.execute(
        update(Verdict).where(Verdict.id == verdict_id).values(flags=flags, reasons=reasons)
    )
