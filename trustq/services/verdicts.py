"""Reading submissions and verdicts back: by id, by freelancer, by risk, by time, and the
review queue. The CLI, the API and the in-cluster Python client all read through here."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from trustq.db import labels as labels_db
from trustq.db import submissions as submissions_db
from trustq.db import verdicts as verdicts_db
from trustq.db.session import session_scope
from trustq.db.tables import Submission, SubmissionStatus, Verdict
from trustq.db.verdicts import VerdictRow
from trustq.rules.flags import RiskLevel
from trustq.schemas import EvaluationOut, LabelOut, VerdictOut
from trustq.services.labels import label_out


class SubmissionFailed(RuntimeError):
    """The submission could not be scored; the message says why."""


def as_submission_id(submission_id: uuid.UUID | str) -> uuid.UUID:
    """``submission_id`` as a UUID; ValueError naming it when it is not one."""
    try:
        return submission_id if isinstance(submission_id, uuid.UUID) else uuid.UUID(submission_id)
    except ValueError as exc:
        raise ValueError(f"not a submission id: {submission_id!r}") from exc


def verdict_out(row: VerdictRow) -> VerdictOut:
    """A stored verdict with its submission's audit fields."""
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


def evaluation_out(
    submission: Submission, verdict: Verdict | None, labels: list[LabelOut] | None = None
) -> EvaluationOut:
    """A submission's state and, once scored, its verdict."""
    return EvaluationOut(
        id=str(submission.id),
        external_id=submission.external_id,
        status=submission.status,  # type: ignore[arg-type]
        attempts=submission.attempts,
        error=submission.last_error if submission.status == "failed" else None,
        submitted_by=submission.submitted_by,
        request_id=submission.request_id,
        client_request_id=submission.client_request_id,
        submitted_at=submission.created_at,
        updated_at=submission.updated_at,
        resume_erased_at=submission.erased_at,
        verdict=verdict_out(VerdictRow(verdict, submission)) if verdict is not None else None,
        labels=labels,
    )


def get_evaluation(submission_id: uuid.UUID | str) -> EvaluationOut:
    """A submission's state, its newest verdict and every label; LookupError if unknown."""
    sid = as_submission_id(submission_id)
    with session_scope() as session:
        found = verdicts_db.get_evaluation(session, sid)
        if found is None:
            raise LookupError(f"no submission {sid}")
        labels = [label_out(r) for r in labels_db.labels_of(session, sid)]
        return evaluation_out(found[0], found[1], labels)


@dataclass(frozen=True)
class EvaluationPage:
    items: list[EvaluationOut]
    # (submitted at, id) of the last item when older ones follow: the next page's start.
    next_before: tuple[dt.datetime, uuid.UUID] | None


def page_evaluations(
    *,
    external_id: str | None = None,
    risk_level: str | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before: tuple[dt.datetime, uuid.UUID] | None = None,
    limit: int = 50,
) -> EvaluationPage:
    """Submissions newest first with their newest verdict; ``before`` continues a page."""
    with session_scope() as session:
        rows = verdicts_db.page_evaluations(
            session,
            external_id=external_id,
            risk_level=risk_level,
            status=status,
            since=since,
            until=until,
            before=before,
            limit=limit + 1,
        )
        items = [evaluation_out(s, v) for s, v in rows[:limit]]
        last = rows[limit - 1][0] if len(rows) > limit else None
        return EvaluationPage(items, (last.created_at, last.id) if last is not None else None)


def submission_status(submission_id: uuid.UUID | str) -> tuple[str, str | None]:
    """(status, last error) of a submission; LookupError if unknown."""
    sid = as_submission_id(submission_id)
    with session_scope() as session:
        row = submissions_db.get_submission(session, sid)
        if row is None:
            raise LookupError(f"no submission {sid}")
        return row.status, row.last_error


def get_verdict(submission_id: uuid.UUID | str) -> VerdictOut | None:
    """The newest verdict, or None while the submission waits; SubmissionFailed if it
    failed, LookupError if unknown."""
    sid = as_submission_id(submission_id)
    with session_scope() as session:
        found = verdicts_db.latest_verdict(session, sid)
        if found is not None:
            return verdict_out(found)
        row = submissions_db.get_submission(session, sid)
        if row is None:
            raise LookupError(f"no submission {sid}")
        if row.status == SubmissionStatus.failed:
            raise SubmissionFailed(f"submission {sid} failed: {row.last_error}")
        return None


def check_risk_level(risk_level: str | None) -> str | None:
    """``risk_level`` in capitals; ValueError naming the levels when it is none of them."""
    if risk_level is None:
        return None
    if risk_level.upper() not in set(RiskLevel):
        raise ValueError(f"risk level must be {', '.join(RiskLevel)}, not {risk_level!r}")
    return risk_level.upper()


def list_verdicts(
    *,
    external_id: str | None = None,
    risk_level: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
) -> list[VerdictOut]:
    """Verdicts newest first, filtered by freelancer, risk level and time window."""
    level = check_risk_level(risk_level)
    with session_scope() as session:
        rows = verdicts_db.find_verdicts(
            session, external_id=external_id, risk_level=level, since=since, until=until,
            limit=limit,
        )  # fmt: skip
        return [verdict_out(r) for r in rows]


def review_queue(*, limit: int = 100) -> list[VerdictOut]:
    """Verdicts that ask for a person (review or risky) awaiting a decision, oldest first."""
    with session_scope() as session:
        return [verdict_out(r) for r in verdicts_db.review_queue(session, limit=limit)]


def labels_of(submission_id: uuid.UUID | str) -> list[LabelOut]:
    """Every label of a submission, newest (the current one) first."""
    with session_scope() as session:
        return [label_out(r) for r in labels_db.labels_of(session, as_submission_id(submission_id))]
