"""Retention: erasing old resumes, and the audit events that record it. Callers own the
transaction (see ``session``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from trustq.db.tables import (
    AuditEvent,
    Submission,
    SubmissionStatus,
)


def erasable_submissions(session: Session, *, before: dt.datetime, limit: int) -> list[uuid.UUID]:
    """Finished submissions older than ``before`` whose resume is not erased yet, oldest
    first; the rows are locked so two retention runs never erase the same ones twice."""
    stmt = (
        select(Submission.id)
        .where(
            Submission.created_at < before,
            Submission.erased_at.is_(None),
            Submission.status.in_([SubmissionStatus.done, SubmissionStatus.failed]),
        )
        .order_by(Submission.created_at, Submission.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def erase_resumes(
    session: Session, submission_ids: Sequence[uuid.UUID], when: dt.datetime
) -> dict[str, int]:
    """Drop the resume text (from the payload), the file and its name; hashes, embeddings,
    verdicts and labels stay. Returns how many texts and files were erased."""
    if not submission_ids:
        return {"texts": 0, "files": 0}
    files = (
        session.scalar(
            select(func.count()).where(
                Submission.id.in_(submission_ids), Submission.resume_file.is_not(None)
            )
        )
        or 0
    )
    texts = 0
    rows = session.execute(
        select(Submission.id, Submission.payload).where(Submission.id.in_(submission_ids))
    )
    for submission_id, payload in rows:
        had_text = bool(payload.get("resume_text"))
        texts += had_text
        session.execute(
            update(Submission)
            .where(Submission.id == submission_id)
            .values(
                payload={**payload, "resume_text": None},
                resume_file=None,
                resume_filename=None,
                erased_at=when,
            )
        )
    return {"texts": texts, "files": int(files)}


def add_audit_event(
    session: Session, *, kind: str, actor: str, detail: dict[str, Any]
) -> AuditEvent:
    row = AuditEvent(kind=kind, actor=actor, detail=detail)
    session.add(row)
    session.flush()
    return row


def audit_events(
    session: Session, *, kind: str | None = None, limit: int = 100
) -> list[AuditEvent]:
    """Audit events newest first."""
    stmt = select(AuditEvent)
    if kind is not None:
        stmt = stmt.where(AuditEvent.kind == kind)
    stmt = stmt.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)
    return list(session.scalars(stmt))
