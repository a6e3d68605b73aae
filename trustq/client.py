"""The Python interface: enqueue profiles and read verdicts, as the CLI does.

>>> from trustq import client
>>> sid = client.enqueue(profile_dict, submitted_by="onboarding-service")
>>> client.wait_for_verdict(sid).risk_level
'LOW'
"""

from __future__ import annotations

import datetime as dt
import getpass
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from trustq.db import repo
from trustq.db.repo import VerdictRow
from trustq.db.session import session_scope
from trustq.db.tables import LabelSource, LabelValue, SubmissionStatus
from trustq.rules.flags import RiskLevel
from trustq.schemas import LabelOut, Profile, VerdictOut, check_name
from trustq.services import submissions
from trustq.services.labels import label_out
from trustq.services.submissions import Enqueued


class SubmissionFailed(RuntimeError):
    """The submission could not be scored; the message says why."""


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


def _as_uuid(submission_id: uuid.UUID | str) -> uuid.UUID:
    try:
        return submission_id if isinstance(submission_id, uuid.UUID) else uuid.UUID(submission_id)
    except ValueError as exc:
        raise ValueError(f"not a submission id: {submission_id!r}") from exc


def enqueue(
    profile: Profile | Mapping[str, Any],
    *,
    submitted_by: str | None = None,
    request_id: str | None = None,
    resume_file: tuple[str, bytes] | None = None,
) -> uuid.UUID:
    """Validate, store and queue one profile; returns its submission id.

    ``resume_file`` is (file name, bytes) of a PDF or DOCX sent instead of resume_text.
    Raises pydantic.ValidationError for an invalid profile and ResumeFileError for an
    unacceptable file (nothing stored), DatabaseUnavailable when the database is
    unreachable (nothing stored or queued). When only the queue is unreachable the
    submission is stored and a warning logged; the sweeper queues it once the broker is
    back (``enqueue_many`` says which ones, in ``Enqueued.queued``).
    """
    if not isinstance(profile, Profile):
        profile = submissions.parse_profile(profile, with_resume_file=resume_file is not None)
    [result] = submissions.enqueue(
        [profile],
        submitted_by=submitted_by or default_actor(),
        request_id=request_id,
        resume_file=resume_file,
    )
    return result.id


def enqueue_many(
    profiles: Iterable[Profile | Mapping[str, Any]],
    *,
    submitted_by: str | None = None,
    request_id: str | None = None,
) -> list[Enqueued]:
    """Validate every profile first, then store and queue them all; ``queued`` is False
    for those stored while the broker was unreachable (the sweeper queues them later)."""
    validated = [p if isinstance(p, Profile) else submissions.parse_profile(p) for p in profiles]
    return submissions.enqueue(
        validated, submitted_by=submitted_by or default_actor(), request_id=request_id
    )


def to_out(row: VerdictRow) -> VerdictOut:
    v, s = row.verdict, row.submission
    return VerdictOut(
        submission_id=str(s.id),
        external_id=s.external_id,
        status=s.status,
        p_risk=v.p_risk,
        trust_score=v.trust_score,
        risk_level=v.risk_level,
        model_risk_level=v.model_risk_level,
        recommendation=v.recommendation,
        label=v.label,
        flags=v.flags,
        rule_hits=v.rule_hits,
        reasons=v.reasons,
        breakdown=v.breakdown,
        history=v.history,
        notices=v.notices,
        summary=v.summary,
        base_rate=v.base_rate,
        indicators=v.indicators,
        model_version=v.model_version,
        encoder_name=v.encoder_name,
        encoder_revision=v.encoder_revision,
        input_sha256=v.input_sha256,
        latency_ms=v.latency_ms,
        worker_host=v.worker_host,
        submitted_by=s.submitted_by,
        request_id=s.request_id,
        submitted_at=s.created_at,
        scored_at=v.created_at,
    )


def submission_status(submission_id: uuid.UUID | str) -> tuple[str, str | None]:
    """(status, last error) of a submission; LookupError if unknown."""
    sid = _as_uuid(submission_id)
    with session_scope() as session:
        row = repo.get_submission(session, sid)
        if row is None:
            raise LookupError(f"no submission {sid}")
        return row.status, row.last_error


def get_verdict(submission_id: uuid.UUID | str) -> VerdictOut | None:
    """The newest verdict, or None while the submission waits; raises if it failed."""
    sid = _as_uuid(submission_id)
    with session_scope() as session:
        found = repo.latest_verdict(session, sid)
        if found is not None:
            return to_out(found)
        row = repo.get_submission(session, sid)
        if row is None:
            raise LookupError(f"no submission {sid}")
        if row.status == SubmissionStatus.failed:
            raise SubmissionFailed(f"submission {sid} failed: {row.last_error}")
        return None


def wait_for_verdict(
    submission_id: uuid.UUID | str, *, timeout: float = 120.0, poll: float = 0.25
) -> VerdictOut:
    """Poll until the verdict is stored; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = get_verdict(submission_id)
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            status, _ = submission_status(submission_id)
            raise TimeoutError(
                f"no verdict for {submission_id} after {timeout:.0f} s (status: {status}); "
                "is a worker running?"
            )
        time.sleep(poll)


def list_verdicts(
    *,
    external_id: str | None = None,
    risk_level: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
) -> list[VerdictOut]:
    """Verdicts newest first, filtered by freelancer, risk level and time window."""
    if risk_level is not None and risk_level.upper() not in set(RiskLevel):
        raise ValueError(f"risk level must be {', '.join(RiskLevel)}, not {risk_level!r}")
    with session_scope() as session:
        rows = repo.find_verdicts(
            session,
            external_id=external_id,
            risk_level=risk_level.upper() if risk_level else None,
            since=since,
            until=until,
            limit=limit,
        )
        return [to_out(r) for r in rows]


def label(
    submission_id: uuid.UUID | str,
    value: str,
    *,
    source: str = "manual",
    by: str,
    note: str | None = None,
) -> LabelOut:
    """Record what is known about a submission (append-only; the newest label counts)."""
    if value not in {v.value for v in LabelValue}:
        raise ValueError(f"label must be risky or trustworthy, not {value!r}")
    if source not in {v.value for v in LabelSource}:
        raise ValueError(
            f"source must be one of {', '.join(v.value for v in LabelSource)}, not {source!r}"
        )
    if not by.strip():
        raise ValueError("a label needs the name of who gives it")
    check_name(by, "who gives the label")
    with session_scope() as session:
        row = repo.add_label(
            session,
            submission_id=_as_uuid(submission_id),
            label=value,
            source=source,
            actor=by,
            note=note,
        )
        return label_out(row)


def label_many(rows: Iterable[Mapping[str, Any]], *, by: str | None = None) -> int:
    """Record many labels at once, each a mapping with submission_id, label, source, by and
    note (``by`` gives a default actor). All are stored, or none: ValueError lists every bad
    row, LookupError the unknown submissions."""
    from trustq.services.labels import add_labels, check_row

    checked, bad = [], []
    for number, row in enumerate(rows, start=1):
        try:
            checked.append(check_row(dict(row), default_by=by))
        except ValueError as exc:
            bad.append(f"row {number}: {exc}")
    if bad:
        raise ValueError(f"{len(bad)} bad label row(s), nothing stored\n" + "\n".join(bad))
    if not checked:
        raise ValueError("no labels given")
    return add_labels(checked)


def decide(
    submission_id: uuid.UUID | str, value: str, *, by: str, note: str | None = None
) -> LabelOut:
    """A reviewer's decision on a submission: a label with source ``review``."""
    return label(submission_id, value, source="review", by=by, note=note)


def labels(submission_id: uuid.UUID | str) -> list[LabelOut]:
    """Every label of a submission, newest (the current one) first."""
    with session_scope() as session:
        return [label_out(r) for r in repo.labels_of(session, _as_uuid(submission_id))]


def review_queue(*, limit: int = 100) -> list[VerdictOut]:
    """MEDIUM verdicts awaiting a reviewer's decision, oldest first."""
    with session_scope() as session:
        return [to_out(r) for r in repo.review_queue(session, limit=limit)]
