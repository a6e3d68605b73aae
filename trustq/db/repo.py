"""Every SQL statement trustq runs. Callers own the transaction (see ``session``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trustq.db.tables import (
    Embedding,
    Label,
    ModelStatus,
    ModelVersion,
    ResumeBand,
    Submission,
    SubmissionStatus,
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
) -> tuple[Submission, bool]:
    """Insert a queued submission; with a known idempotency key return the existing one.

    The boolean is True when a new row was inserted.
    """
    if idempotency_key is not None:
        existing = session.scalar(
            select(Submission).where(Submission.idempotency_key == idempotency_key)
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
            select(Submission).where(Submission.idempotency_key == idempotency_key)
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
    """MEDIUM verdicts whose submission has no label yet, oldest first."""
    undecided = ~select(Label.id).where(Label.submission_id == Verdict.submission_id).exists()
    stmt = (
        _verdict_query()
        .where(Verdict.risk_level == "MEDIUM", undecided)
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
) -> Label:
    """Append a label; LookupError for an unknown submission. Earlier labels stay."""
    if session.get(Submission, submission_id) is None:
        raise LookupError(f"no submission {submission_id}")
    row = Label(submission_id=submission_id, label=label, source=source, actor=actor, note=note)
    session.add(row)
    session.flush()
    return row


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


def list_model_versions(session: Session) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc())))


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
