"""Submissions: taking them in, claiming them for scoring, failing, sweeping and retrying them,
and the resume signatures near-duplicates are found by. Callers own the transaction (see
``session``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trustq.db import webhooks as webhooks_db
from trustq.db.common import insert_for
from trustq.db.tables import (
    ResumeBand,
    Submission,
    SubmissionStatus,
    WebhookEvent,
    WorkerHeartbeat,
    utcnow,
)


def add_submission(
    session: Session,
    *,
    external_id: str,
    idempotency_key: str | None,
    payload: dict[str, Any],
    resume_sha256: str,
    submitted_by: str,
    request_id: str | None,
    resume_file: tuple[str, bytes] | None = None,
    client_request_id: str | None = None,
    api_key_id: int | None = None,
) -> tuple[Submission, bool]:
    """Insert a queued submission; with an idempotency key this submitter used before,
    return the existing one (another submitter's keys are theirs alone).

    The boolean is True when a new row was inserted.
    """
    if idempotency_key is not None:
        existing = session.scalar(
            select(Submission).where(
                Submission.submitted_by == submitted_by,
                Submission.idempotency_key == idempotency_key,
            )
        )
        if existing is not None:
            return existing, False
    row = Submission(
        id=uuid.uuid4(),
        external_id=external_id,
        idempotency_key=idempotency_key,
        payload=payload,
        resume_sha256=resume_sha256,
        status=SubmissionStatus.queued,
        attempts=0,
        submitted_by=submitted_by,
        request_id=request_id,
        client_request_id=client_request_id,
        resume_filename=resume_file[0] if resume_file else None,
        resume_file=resume_file[1] if resume_file else None,
        api_key_id=api_key_id,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another caller inserted the same idempotency key between our read and write.
        if idempotency_key is None:
            raise
        existing = session.scalar(
            select(Submission).where(
                Submission.submitted_by == submitted_by,
                Submission.idempotency_key == idempotency_key,
            )
        )
        if existing is None:
            raise
        return existing, False
    return row, True


def delete_submission(session: Session, submission_id: uuid.UUID) -> None:
    session.execute(Submission.__table__.delete().where(Submission.id == submission_id))


def get_submission(session: Session, submission_id: uuid.UUID) -> Submission | None:
    return session.get(Submission, submission_id)


def claim_submission(session: Session, submission_id: uuid.UUID) -> Submission | None:
    """Lock a submission for scoring: count the attempt and mark it processing."""
    stmt = select(Submission).where(Submission.id == submission_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        return None
    if row.status in (SubmissionStatus.queued, SubmissionStatus.processing):
        row.status = SubmissionStatus.processing
        row.attempts += 1
    return row


def submissions_by_key(
    session: Session, submitted_by: str, keys: Iterable[str]
) -> dict[str, Submission]:
    """This submitter's submissions that carry these idempotency keys, by key."""
    wanted = sorted(set(keys))
    found: dict[str, Submission] = {}
    for start in range(0, len(wanted), 500):
        rows = session.scalars(
            select(Submission).where(
                Submission.submitted_by == submitted_by,
                Submission.idempotency_key.in_(wanted[start : start + 500]),
            )
        )
        found.update({row.idempotency_key: row for row in rows if row.idempotency_key})
    return found


def claim_submissions(
    session: Session, submission_ids: Iterable[uuid.UUID], worker: str | None = None
) -> dict[uuid.UUID, Submission]:
    """``claim_submission`` for a batch, in one statement, recording ``worker`` (its Celery
    node name) as the claimant. Rows are locked in id order, so two workers claiming
    overlapping batches wait for each other instead of deadlocking."""
    wanted = sorted(set(submission_ids))
    if not wanted:
        return {}
    stmt = select(Submission).where(Submission.id.in_(wanted)).order_by(Submission.id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    rows = list(session.scalars(stmt))
    for row in rows:
        if row.status in (SubmissionStatus.queued, SubmissionStatus.processing):
            row.status = SubmissionStatus.processing
            row.attempts += 1
            row.claimed_by = worker
    return {row.id: row for row in rows}


def resume_file_of(session: Session, submission_id: uuid.UUID) -> tuple[str, bytes] | None:
    row = session.execute(
        select(Submission.resume_filename, Submission.resume_file).where(
            Submission.id == submission_id
        )
    ).first()
    if row is None or row[1] is None:
        return None
    return row[0] or "resume", row[1]


def set_extracted_resume(
    session: Session, submission_id: uuid.UUID, payload: dict[str, Any], resume_sha256: str
) -> None:
    """Keep the text a worker extracted from the resume file with the submission."""
    session.execute(
        update(Submission)
        .where(Submission.id == submission_id)
        .values(payload=payload, resume_sha256=resume_sha256)
    )


def mark_failed(session: Session, submission_id: uuid.UUID, error: str) -> bool:
    """Fail a submission that has no verdict; its submitter's webhooks are told."""
    result = session.execute(
        update(Submission)
        .where(
            Submission.id == submission_id,
            Submission.status.not_in([SubmissionStatus.done, SubmissionStatus.failed]),
        )
        .values(status=SubmissionStatus.failed, last_error=error[:4000], updated_at=utcnow())
    )
    if result.rowcount != 1:
        return False
    webhooks_db.queue_events(session, WebhookEvent.submission_failed, [submission_id])
    return True


@dataclass(frozen=True)
class Unfinished:
    """A submission without a verdict, as the sweeper read it."""

    id: uuid.UUID
    status: str
    attempts: int
    updated_at: dt.datetime


def unfinished_before(session: Session, before: dt.datetime, limit: int) -> list[Unfinished]:
    """Queued or processing submissions last touched before ``before``, oldest first."""
    rows = session.execute(
        select(Submission.id, Submission.status, Submission.attempts, Submission.updated_at)
        .where(
            Submission.status.in_([SubmissionStatus.queued, SubmissionStatus.processing]),
            Submission.updated_at < before,
        )
        .order_by(Submission.updated_at)
        .limit(limit)
    )
    return [Unfinished(*row) for row in rows]


def claimed_by_lost_workers(
    session: Session, silent_since: dt.datetime, limit: int
) -> list[Unfinished]:
    """Processing submissions claimed before ``silent_since`` by a worker whose last
    heartbeat is older than that (or that never wrote one), oldest claim first."""
    beat = select(WorkerHeartbeat.beat_at).where(WorkerHeartbeat.worker == Submission.claimed_by)
    rows = session.execute(
        select(Submission.id, Submission.status, Submission.attempts, Submission.updated_at)
        .where(
            Submission.status == SubmissionStatus.processing,
            Submission.claimed_by.is_not(None),
            Submission.updated_at < silent_since,
            ~beat.where(WorkerHeartbeat.beat_at >= silent_since).exists(),
        )
        .order_by(Submission.updated_at)
        .limit(limit)
    )
    return [Unfinished(*row) for row in rows]


def _unchanged(row: Unfinished) -> tuple[Any, ...]:
    # Compare-and-set: a worker's claim or another sweep since the read changes updated_at.
    return (
        Submission.id == row.id,
        Submission.status == row.status,
        Submission.updated_at == row.updated_at,
    )


def requeue_stale(session: Session, row: Unfinished) -> bool:
    """Mark ``row`` queued with one more attempt; False if someone touched it since the read."""
    result = session.execute(
        update(Submission)
        .where(*_unchanged(row))
        .values(
            status=SubmissionStatus.queued,
            attempts=Submission.attempts + 1,
            claimed_by=None,
            updated_at=utcnow(),
        )
    )
    return result.rowcount == 1


def fail_stale(session: Session, row: Unfinished, reason: str) -> bool:
    """Mark ``row`` failed with ``reason`` (its submitter's webhooks are told); False if
    someone touched it since the read."""
    result = session.execute(
        update(Submission)
        .where(*_unchanged(row))
        .values(status=SubmissionStatus.failed, last_error=reason[:4000], updated_at=utcnow())
    )
    if result.rowcount != 1:
        return False
    webhooks_db.queue_events(session, WebhookEvent.submission_failed, [row.id])
    return True


def requeue_failed(session: Session, submission_ids: Sequence[uuid.UUID] | None) -> list[uuid.UUID]:
    """Failed submissions (all of them if ``submission_ids`` is None) back to queued with a
    fresh attempt count; returns the ids that were failed."""
    stmt = update(Submission).where(Submission.status == SubmissionStatus.failed)
    if submission_ids is not None:
        stmt = stmt.where(Submission.id.in_(list(submission_ids)))
    result = session.execute(
        stmt.values(
            status=SubmissionStatus.queued, attempts=0, last_error=None, updated_at=utcnow()
        ).returning(Submission.id)
    )
    return list(result.scalars())


def statuses_of(session: Session, submission_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The status of each known submission among ``submission_ids``."""
    rows = session.execute(
        select(Submission.id, Submission.status).where(Submission.id.in_(list(submission_ids)))
    )
    return {sid: status for sid, status in rows}


@dataclass(frozen=True)
class ResumeMatch:
    submission_id: uuid.UUID
    external_id: str
    minhash: bytes | None
    exact: bool


def resume_matches(
    session: Session,
    *,
    submission_id: uuid.UUID,
    external_id: str,
    resume_sha256: str,
    bands: Sequence[str],
    limit: int = 50,
) -> list[ResumeMatch]:
    """Other freelancers' submissions with the same resume text or a shared MinHash band."""
    others = (Submission.id != submission_id, Submission.external_id != external_id)
    found: dict[uuid.UUID, ResumeMatch] = {}
    for sid, ext in session.execute(
        select(Submission.id, Submission.external_id)
        .where(Submission.resume_sha256 == resume_sha256, *others)
        .limit(limit)
    ):
        found[sid] = ResumeMatch(sid, ext, None, True)
    if bands:
        rows = session.execute(
            select(Submission.id, Submission.external_id, Submission.resume_minhash)
            .join(ResumeBand, ResumeBand.submission_id == Submission.id)
            .where(ResumeBand.band.in_(list(bands)), *others)
            .distinct()
            .limit(limit)
        )
        for sid, ext, minhash in rows:
            found.setdefault(sid, ResumeMatch(sid, ext, minhash, False))
    return list(found.values())


def store_resume_signature(
    session: Session, submission_id: uuid.UUID, minhash: bytes, bands: Sequence[str]
) -> None:
    session.execute(
        update(Submission).where(Submission.id == submission_id).values(resume_minhash=minhash)
    )
    if bands:
        stmt = insert_for(session, ResumeBand).values(
            [{"band": b, "submission_id": submission_id} for b in set(bands)]
        )
        session.execute(stmt.on_conflict_do_nothing())


def store_resume_signatures(
    session: Session, signatures: Sequence[tuple[uuid.UUID, bytes, Sequence[str]]]
) -> None:
    """``store_resume_signature`` for a batch: one update and one insert."""
    if not signatures:
        return
    session.execute(
        update(Submission),
        [{"id": sid, "resume_minhash": minhash} for sid, minhash, _ in signatures],
    )
    bands = [
        {"band": b, "submission_id": sid} for sid, _, keys in signatures for b in sorted(set(keys))
    ]
    for start in range(0, len(bands), 1000):
        stmt = insert_for(session, ResumeBand).values(bands[start : start + 1000])
        session.execute(stmt.on_conflict_do_nothing())


def count_submissions_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Submission.status, func.count()).group_by(Submission.status))
    return {status: count for status, count in rows}


def oldest_submission_in(session: Session, status: str) -> dt.datetime | None:
    """When the oldest submission with ``status`` arrived (uses the status index)."""
    return session.scalar(
        select(func.min(Submission.created_at)).where(Submission.status == status)
    )
