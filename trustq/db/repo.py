"""Every SQL statement trustq runs. Callers own the transaction (see ``session``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Select, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, load_only

from trustq.db.tables import (
    ApiKey,
    AuditEvent,
    Embedding,
    Label,
    ModelDecision,
    ModelStatus,
    ModelVersion,
    ResumeBand,
    Submission,
    SubmissionStatus,
    TrainingRun,
    TrainingRunStatus,
    Verdict,
    utcnow,
)


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


# --- submissions -------------------------------------------------------------------------


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


def claim_submissions(
    session: Session, submission_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Submission]:
    """``claim_submission`` for a batch, in one statement. Rows are locked in id order, so
    two workers claiming overlapping batches wait for each other instead of deadlocking."""
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


def mark_failed(session: Session, submission_id: uuid.UUID, error: str) -> None:
    session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.status != SubmissionStatus.done)
        .values(status=SubmissionStatus.failed, last_error=error[:4000], updated_at=utcnow())
    )


# --- sweeping and retrying ---------------------------------------------------------------


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
            updated_at=utcnow(),
        )
    )
    return result.rowcount == 1


def fail_stale(session: Session, row: Unfinished, reason: str) -> bool:
    """Mark ``row`` failed with ``reason``; False if someone touched it since the read."""
    result = session.execute(
        update(Submission)
        .where(*_unchanged(row))
        .values(status=SubmissionStatus.failed, last_error=reason[:4000], updated_at=utcnow())
    )
    return result.rowcount == 1


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
        stmt = _insert(session, ResumeBand).values(
            [{"band": b, "submission_id": submission_id} for b in set(bands)]
        )
        session.execute(stmt.on_conflict_do_nothing())


# --- verdicts ----------------------------------------------------------------------------


def write_verdict(session: Session, values: Mapping[str, Any]) -> bool:
    """Store a verdict and mark its submission done; False if this model already judged it."""
    stmt = (
        _insert(session, Verdict)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["submission_id", "model_version"])
    )
    inserted = session.execute(stmt).rowcount == 1
    session.execute(
        update(Submission)
        .where(Submission.id == values["submission_id"])
        .values(status=SubmissionStatus.done, last_error=None, updated_at=utcnow())
    )
    return inserted


def write_verdicts(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[uuid.UUID]:
    """``write_verdict`` for a batch: one insert, one update. Returns the submissions whose
    verdict was inserted (the others had one from this model version already)."""
    if not rows:
        return set()
    stmt = (
        _insert(session, Verdict)
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
    return inserted


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
        stmt = _insert(session, ResumeBand).values(bands[start : start + 1000])
        session.execute(stmt.on_conflict_do_nothing())


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


# --- labels ------------------------------------------------------------------------------


def add_label(
    session: Session,
    *,
    submission_id: uuid.UUID,
    label: str,
    source: str,
    actor: str,
    note: str | None,
    checked: bool = False,
    api_key: str | None = None,
) -> Label:
    """Append a label; LookupError for an unknown submission (unless the caller ``checked``
    it already). Earlier labels stay. ``api_key``: the key that recorded it, if any."""
    if not checked and session.get(Submission, submission_id) is None:
        raise LookupError(f"no submission {submission_id}")
    row = Label(
        submission_id=submission_id,
        label=label,
        source=source,
        actor=actor,
        note=note,
        api_key=api_key,
    )
    session.add(row)
    session.flush()
    return row


def missing_submissions(session: Session, ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``ids`` that name no submission."""
    found: set[uuid.UUID] = set()
    ordered = list(ids)
    for start in range(0, len(ordered), 1000):
        chunk = ordered[start : start + 1000]
        found.update(session.scalars(select(Submission.id).where(Submission.id.in_(chunk))))
    return ids - found


def labels_of(session: Session, submission_id: uuid.UUID) -> list[Label]:
    """Every label of a submission, newest (the current one) first."""
    return list(
        session.scalars(
            select(Label)
            .where(Label.submission_id == submission_id)
            .order_by(Label.created_at.desc(), Label.id.desc())
        )
    )


# --- model versions ----------------------------------------------------------------------


def next_model_version(session: Session) -> str:
    count = session.scalar(select(func.count()).select_from(ModelVersion)) or 0
    return f"v{count + 1}"


def add_model_version(session: Session, row: ModelVersion) -> ModelVersion:
    session.add(row)
    session.flush()
    return row


def serving_model_version(session: Session) -> tuple[str, str] | None:
    """(version, artifact sha256) of the serving model, without loading its bytes."""
    row = session.execute(
        select(ModelVersion.version, ModelVersion.artifact_sha256).where(
            ModelVersion.status == ModelStatus.serving
        )
    ).first()
    return (row[0], row[1]) if row else None


def get_model_version(session: Session, version: str) -> ModelVersion | None:
    return session.get(ModelVersion, version)


def promote_model(session: Session, version: str) -> None:
    """Make ``version`` the serving model and retire the one serving before."""
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.status == ModelStatus.serving)
        .values(status=ModelStatus.retired)
    )
    session.flush()
    result = session.execute(
        update(ModelVersion)
        .where(ModelVersion.version == version)
        .values(status=ModelStatus.serving)
    )
    if result.rowcount != 1:
        raise LookupError(f"no model version {version!r}")


# --- embedding cache ---------------------------------------------------------------------


def cached_embeddings(
    session: Session, encoder_name: str, encoder_revision: str, hashes: Iterable[str]
) -> dict[str, np.ndarray]:
    wanted = list(set(hashes))
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(
            select(Embedding.text_sha256, Embedding.vector).where(
                Embedding.encoder_name == encoder_name,
                Embedding.encoder_revision == encoder_revision,
                Embedding.text_sha256.in_(chunk),
            )
        )
        for text_hash, blob in rows:
            found[text_hash] = np.frombuffer(blob, dtype=np.float32).copy()
    return found


def store_embeddings(
    session: Session,
    encoder_name: str,
    encoder_revision: str,
    vectors: Mapping[str, np.ndarray],
) -> None:
    if not vectors:
        return
    rows: Sequence[dict[str, Any]] = [
        {
            "encoder_name": encoder_name,
            "encoder_revision": encoder_revision,
            "text_sha256": text_hash,
            "dim": int(vec.shape[0]),
            "vector": np.asarray(vec, dtype=np.float32).tobytes(),
            "created_at": utcnow(),
        }
        for text_hash, vec in vectors.items()
    ]
    for start in range(0, len(rows), 500):
        stmt = _insert(session, Embedding).values(list(rows[start : start + 500]))
        session.execute(stmt.on_conflict_do_nothing())


# --- API keys ----------------------------------------------------------------------------


def add_api_key(session: Session, *, name: str, key_sha256: str, prefix: str, scope: str) -> ApiKey:
    """Insert a key; ValueError if the name is taken."""
    row = ApiKey(name=name, key_sha256=key_sha256, prefix=prefix, scope=scope)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise ValueError(f"an API key named {name!r} exists already") from exc
    return row


def api_key_by_hash(session: Session, key_sha256: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_sha256 == key_sha256))


def api_key_by_name(session: Session, name: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.name == name))


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def revoke_api_key(session: Session, name: str) -> bool:
    """Revoke the key called ``name``; False if there is no such unrevoked key."""
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount == 1


def set_key_label_policy(session: Session, name: str, **policy: int | bool | None) -> bool:
    """Set ``labels_per_day`` (None: no cap) and/or ``labels_excluded`` of key ``name``;
    False if there is no such key."""
    unknown = set(policy) - {"labels_per_day", "labels_excluded"}
    if unknown:
        raise ValueError(f"not a label policy: {sorted(unknown)}")
    if not policy:
        return session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None
    return session.execute(update(ApiKey).where(ApiKey.name == name).values(**policy)).rowcount == 1


def touch_api_key(session: Session, key_id: int, when: dt.datetime) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when))


# --- evaluations (a submission with its newest verdict) --------------------------------

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


def _newest_verdict_id() -> Any:
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
        .outerjoin(Verdict, Verdict.id == _newest_verdict_id())
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


def count_submissions_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Submission.status, func.count()).group_by(Submission.status))
    return {status: count for status, count in rows}


def oldest_submission_in(session: Session, status: str) -> dt.datetime | None:
    """When the oldest submission with ``status`` arrived (uses the status index)."""
    return session.scalar(
        select(func.min(Submission.created_at)).where(Submission.status == status)
    )


def model_version_summaries(session: Session) -> list[ModelVersion]:
    """Model versions newest first, without their artifact bytes."""
    return list(
        session.scalars(
            select(ModelVersion)
            .options(
                load_only(
                    ModelVersion.version,
                    ModelVersion.created_at,
                    ModelVersion.status,
                    ModelVersion.training_data_sha256,
                    ModelVersion.encoder_name,
                    ModelVersion.encoder_revision,
                    ModelVersion.metrics,
                    ModelVersion.artifact_sha256,
                    ModelVersion.created_by,
                    ModelVersion.labels_used,
                )
            )
            .order_by(ModelVersion.created_at.desc())
        )
    )


# --- retention and audit ---------------------------------------------------------------


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


# --- retraining ----------------------------------------------------------------------------

# The key of the PostgreSQL advisory lock taken while a retraining run is being started.
RETRAIN_LOCK_KEY = 7_402_118_355
ACTIVE_RUN = "retrain"


def _counted_labels() -> Any:
    """The labels retraining uses: all but those of keys an operator excluded."""
    excluded = select(ApiKey.name).where(ApiKey.labels_excluded.is_(True))
    return or_(Label.api_key.is_(None), Label.api_key.not_in(excluded))


def count_labels_since(session: Session, since: dt.datetime | None) -> int:
    """Submissions labelled after ``since`` (all for None), each counted once however many
    labels it got, not counting labels of excluded keys."""
    query = select(func.count(func.distinct(Label.submission_id))).where(_counted_labels())
    if since is not None:
        query = query.where(Label.created_at > since)
    return int(session.scalar(query) or 0)


def count_key_labels_since(session: Session, api_key: str, since: dt.datetime) -> int:
    """Labels API key ``api_key`` recorded after ``since``."""
    query = select(func.count()).where(Label.api_key == api_key, Label.created_at > since)
    return int(session.scalar(query) or 0)


@dataclass
class LabelledSubmission:
    submission_id: uuid.UUID
    payload: dict[str, Any]
    label: str
    labelled_at: dt.datetime
    submitted_at: dt.datetime
    erased: bool
    # Who the current label came from: its API key, or "operator" for the CLI and Python.
    origin: str = "operator"


def current_labels(session: Session) -> list[LabelledSubmission]:
    """Every labelled submission with its newest counted label (excluded keys' labels are
    passed over), oldest label first."""
    newest = (
        select(func.max(Label.id).label("id"))
        .where(_counted_labels())
        .group_by(Label.submission_id)
        .subquery("newest")
    )
    rows = session.execute(
        select(
            Submission.id,
            Submission.payload,
            Submission.created_at,
            Submission.erased_at,
            Label.label,
            Label.created_at,
            Label.api_key,
        )
        .join(Label, Label.submission_id == Submission.id)
        .join(newest, newest.c.id == Label.id)
        .order_by(Label.created_at, Label.id)
    )
    return [
        LabelledSubmission(
            submission_id=sid,
            payload=payload,
            label=label,
            labelled_at=labelled_at,
            submitted_at=submitted_at,
            erased=erased_at is not None,
            origin=api_key or "operator",
        )
        for sid, payload, submitted_at, erased_at, label, labelled_at, api_key in rows
    ]


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


def newest_labels_until(session: Session) -> dt.datetime | None:
    """The newest label cut-off of any model version (without loading artifacts)."""
    value = session.scalar(select(func.max(ModelVersion.labels_until)))
    if value is not None and value.tzinfo is None:  # SQLite returns the aggregate naive
        value = value.replace(tzinfo=dt.UTC)
    return value


def serving_model(session: Session) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.status == ModelStatus.serving))


def add_model_decision(session: Session, row: ModelDecision) -> ModelDecision:
    session.add(row)
    session.flush()
    return row


def list_model_decisions(
    session: Session, *, version: str | None = None, limit: int = 50
) -> list[ModelDecision]:
    query = select(ModelDecision).order_by(ModelDecision.id.desc()).limit(limit)
    if version is not None:
        query = query.where(ModelDecision.version == version)
    return list(session.scalars(query))
