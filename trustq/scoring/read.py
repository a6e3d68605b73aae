"""The read step: claim submissions, turn what each one stores into a profile, and gather
what the compute step needs from the database (cached embeddings, stored near-duplicate
candidates) before the model runs."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from trustq.config import Settings
from trustq.db import submissions as submissions_db
from trustq.db.tables import SubmissionStatus
from trustq.metrics import FailureReason
from trustq.models.encoder import Encoder
from trustq.schemas import Profile, describe_errors
from trustq.scoring.compute import Inputs
from trustq.scoring.embeddings import read_cached
from trustq.scoring.resume_files import FileLimits, ResumeFileError, extract_text


@dataclass(frozen=True)
class Failure:
    """Why a submission is to be failed, to commit with its batch."""

    reason: str
    kind: FailureReason


@dataclass
class Claimed:
    """A submission as a worker claimed it. ``settled``: nothing is left to do (unknown, or
    done or failed before)."""

    sid: uuid.UUID
    settled: str | None = None
    attempts: int = 0
    payload: dict[str, Any] | None = None
    submitted_at: dt.datetime | None = None
    resume_file: tuple[str, bytes] | None = None  # (file name, bytes) when no text is stored


@dataclass
class Item:
    """A claimed submission ready to be scored."""

    sid: uuid.UUID
    profile: Profile
    payload: dict[str, Any]  # as stored, with the text extracted from a resume file
    tokens: int  # the resume's length in encoder tokens
    extracted: bool = False  # the payload's resume text was read from its file just now


def claim(
    session: Session, sids: list[uuid.UUID], worker: str | None = None
) -> dict[uuid.UUID, Claimed]:
    """Mark ``sids`` processing (one more attempt each, claimed by ``worker``) and read what
    they store."""
    rows = submissions_db.claim_submissions(session, sids, worker)
    out: dict[uuid.UUID, Claimed] = {}
    for sid in sids:
        row = rows.get(sid)
        if row is None:
            out[sid] = Claimed(sid, settled="missing")
        elif row.status in (SubmissionStatus.done, SubmissionStatus.failed):
            out[sid] = Claimed(sid, settled=f"already {row.status}")
        else:
            claimed = Claimed(sid, None, row.attempts, row.payload, row.created_at)
            if not row.payload.get("resume_text"):
                claimed.resume_file = submissions_db.resume_file_of(session, sid)
            out[sid] = claimed
    return out


def to_item(claimed: Claimed, settings: Settings, encoder: Encoder) -> Item | Failure:
    """The profile a claimed submission holds, or why it cannot be scored: too many
    attempts, a resume file that cannot be read, a payload that no longer validates."""
    assert claimed.payload is not None
    if claimed.attempts > settings.max_attempts:
        return Failure(
            f"gave up after {settings.max_attempts} attempts", FailureReason.attempts_exhausted
        )
    payload, extracted = claimed.payload, False
    if claimed.resume_file is not None:
        name, data = claimed.resume_file
        try:
            text = extract_text(data, name, FileLimits.from_settings(settings))
        except ResumeFileError as exc:
            return Failure(f"resume file unusable: {exc}", FailureReason.resume_file)
        payload, extracted = {**payload, "resume_text": text}, True
    try:
        profile = Profile.model_validate(payload)
    except ValidationError as exc:
        return Failure(
            "stored payload is not a valid profile: " + "; ".join(describe_errors(exc)),
            FailureReason.invalid_payload,
        )
    tokens = encoder.count_tokens([profile.text])[1]
    return Item(claimed.sid, profile, payload, tokens, extracted)


def read_inputs(
    session: Session,
    inputs: Inputs,
    items: list[Item],
    encoder: Encoder,
    *,
    cache: bool = True,
) -> None:
    """Fill ``inputs`` (made by ``compute.prepare`` for ``items``) with the embeddings the
    cache holds and, where it has signatures, other freelancers' stored submissions that
    share each resume or one of its bands."""
    if cache:
        inputs.cached = read_cached(session, encoder, inputs.hashes)
    inputs.submission_ids = [item.sid for item in items]
    if inputs.bands is None:
        return
    inputs.stored_matches = [
        submissions_db.resume_matches(
            session,
            submission_id=item.sid,
            external_id=item.profile.external_id,
            resume_sha256=inputs.hashes[i],
            bands=inputs.bands[i],
        )
        for i, item in enumerate(items)
    ]
