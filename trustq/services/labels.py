"""Labels: a reviewer's decision or an outcome learned later, one at a time or in bulk (a
CSV or JSONL file). Every label is checked by :func:`check_row`, whichever door it came
through."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from trustq.db import labels as labels_db
from trustq.db.session import session_scope
from trustq.db.tables import Label, LabelSource, LabelValue, utcnow
from trustq.schemas import LabelOut, check_name
from trustq.services.apikeys import KeyInfo

FIELDS = ("submission_id", "label", "source", "by", "note")


class LabelCapReached(RuntimeError):
    """The API key added as many labels in the last 24 hours as its cap allows."""


class LabelFileError(ValueError):
    """A label file with bad rows; every bad row is listed and nothing is stored."""


@dataclass(frozen=True)
class LabelIn:
    submission_id: uuid.UUID
    label: str
    source: str
    by: str
    note: str | None


def check_row(row: Any, *, default_by: str | None = None) -> LabelIn:
    """One label from a mapping; ValueError naming every problem."""
    if not isinstance(row, dict):
        raise ValueError(f"expected an object with {', '.join(FIELDS)}")
    problems = []
    unknown = sorted(set(row) - set(FIELDS) - {"actor"})
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)}")
    try:
        sid = uuid.UUID(str(row.get("submission_id", "")).strip())
    except ValueError:
        problems.append(f"submission_id {row.get('submission_id')!r} is not a UUID")
        sid = None
    label = str(row.get("label", "")).strip()
    if label not in {v.value for v in LabelValue}:
        problems.append(f"label must be risky or trustworthy, not {label!r}")
    source = str(row.get("source") or "manual").strip()
    if source not in {v.value for v in LabelSource}:
        problems.append(
            f"source must be one of {', '.join(v.value for v in LabelSource)}, not {source!r}"
        )
    by = str(row.get("by") or row.get("actor") or default_by or "").strip()
    if not by:
        problems.append("by (who gives the label) is missing")
    else:
        try:
            check_name(by, "by")
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    note = row.get("note")
    assert sid is not None
    return LabelIn(sid, label, source, by, str(note) if note not in (None, "") else None)


def read_label_file(path: Path, *, default_by: str | None = None) -> list[LabelIn]:
    """Labels from a ``.csv`` (a header row naming the fields) or ``.jsonl`` file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        rows = [(n, dict(r)) for n, r in enumerate(csv.DictReader(io.StringIO(text)), start=2)]
    elif path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                rows.append((n, f"not valid JSON: {exc.msg}"))
    else:
        raise LabelFileError(
            f"{path}: give a .csv or .jsonl file, not {path.suffix or 'no suffix'}"
        )
    labels, bad = [], []
    for number, row in rows:
        try:
            if isinstance(row, str):
                raise ValueError(row)
            labels.append(check_row(row, default_by=default_by))
        except ValueError as exc:
            bad.append(f"line {number}: {exc}")
    if bad:
        raise LabelFileError(f"{path}: {len(bad)} bad row(s), nothing stored\n" + "\n".join(bad))
    if not labels:
        raise LabelFileError(f"{path}: no labels found")
    return labels


def add_labels(labels: Sequence[LabelIn]) -> int:
    """Store every label in one transaction; LookupError (nothing stored) when a submission
    is unknown."""
    with session_scope() as session:
        missing = labels_db.missing_submissions(session, {x.submission_id for x in labels})
        if missing:
            shown = ", ".join(sorted(str(m) for m in missing)[:10])
            raise LookupError(f"{len(missing)} unknown submission(s), nothing stored: {shown}")
        for x in labels:
            labels_db.add_label(
                session,
                submission_id=x.submission_id,
                label=x.label,
                source=x.source,
                actor=x.by,
                note=x.note,
                checked=True,
            )
    return len(labels)


def add_label(
    submission_id: uuid.UUID | str,
    label: str,
    *,
    by: str,
    source: str = "manual",
    note: str | None = None,
    key: KeyInfo | None = None,
) -> LabelOut:
    """Record what is known about a submission (append-only; the newest label counts).
    ValueError names what is wrong with it, LookupError an unknown submission. Sent with an
    API ``key``: recorded with the key's name, LabelCapReached past its daily cap."""
    with session_scope() as session:
        return record_label(session, submission_id, label, by=by, source=source, note=note, key=key)


def record_label(
    session: Session,
    submission_id: uuid.UUID | str,
    label: str,
    *,
    by: str,
    source: str = "manual",
    note: str | None = None,
    key: KeyInfo | None = None,
) -> LabelOut:
    """``add_label`` inside the caller's transaction (a use case that checks more in the
    same transaction, such as the console's claim)."""
    checked = check_row(
        {"submission_id": str(submission_id), "label": label, "source": source, "by": by}
    )
    if key is not None and key.labels_per_day is not None:
        since = utcnow() - dt.timedelta(days=1)
        if labels_db.count_key_labels_since(session, key.name, since) >= key.labels_per_day:
            raise LabelCapReached(
                f"key {key.name!r} added {key.labels_per_day} label(s) in the last 24 hours, "
                "its cap (trustq apikey labels NAME --per-day N)"
            )
    row = labels_db.add_label(
        session,
        submission_id=checked.submission_id,
        label=checked.label,
        source=checked.source,
        actor=checked.by,
        note=note,
        api_key=key.name if key is not None else None,
    )
    return label_out(row)


def add_label_rows(rows: Sequence[Any], *, by: str | None = None) -> int:
    """Record many labels at once, each a mapping with submission_id, label, source, by and
    note (``by`` gives a default actor). All are stored, or none: ValueError lists every bad
    row, LookupError the unknown submissions."""
    checked, bad = [], []
    for number, row in enumerate(rows, start=1):
        try:
            checked.append(check_row(dict(row), default_by=by))
        except (ValueError, TypeError) as exc:
            bad.append(f"row {number}: {exc}")
    if bad:
        raise ValueError(f"{len(bad)} bad label row(s), nothing stored\n" + "\n".join(bad))
    if not checked:
        raise ValueError("no labels given")
    return add_labels(checked)


def label_out(row: Label) -> LabelOut:
    """A stored label as the API and the Python client show it."""
    return LabelOut(
        id=row.id,
        submission_id=str(row.submission_id),
        label=row.label,
        source=row.source,
        actor=row.actor,
        note=row.note,
        created_at=row.created_at,
    )
