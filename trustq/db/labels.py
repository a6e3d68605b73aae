"""Labels: appending them, and the current label of each submission that retraining counts.
Callers own the transaction (see ``session``)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from trustq.db.tables import (
    ApiKey,
    Label,
    ModelVersion,
    Submission,
)


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


def newest_labels_until(session: Session) -> dt.datetime | None:
    """The newest label cut-off of any model version (without loading artifacts)."""
    value = session.scalar(select(func.max(ModelVersion.labels_until)))
    if value is not None and value.tzinfo is None:  # SQLite returns the aggregate naive
        value = value.replace(tzinfo=dt.UTC)
    return value
