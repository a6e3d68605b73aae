"""Webhook endpoints, their outbox of deliveries, and the log of attempts.

An event is queued in the transaction that makes it true (the verdict's insert, the
submission's failure), so a verdict is never committed without its event, nor an event
sent for a verdict that was rolled back. ``trustq webhooks run`` sends what is due.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from trustq.db.tables import (
    DeliveryStatus,
    Submission,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)


def add_endpoint(
    session: Session,
    *,
    owner: str,
    url: str,
    secret: str,
    events: Sequence[str],
    description: str | None,
    created_by: str,
) -> WebhookEndpoint:
    row = WebhookEndpoint(
        owner=owner,
        url=url,
        secret=secret,
        events=list(events),
        description=description,
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row


def count_endpoints(session: Session, owner: str) -> int:
    return int(session.scalar(select(func.count()).where(WebhookEndpoint.owner == owner)) or 0)


def endpoints(session: Session, owner: str | None = None) -> list[WebhookEndpoint]:
    """Every endpoint (of ``owner`` when given), oldest first."""
    stmt = select(WebhookEndpoint).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    if owner is not None:
        stmt = stmt.where(WebhookEndpoint.owner == owner)
    return list(session.scalars(stmt))


def get_endpoint(
    session: Session, endpoint_id: uuid.UUID, owner: str | None = None
) -> WebhookEndpoint | None:
    row = session.get(WebhookEndpoint, endpoint_id)
    if row is None or (owner is not None and row.owner != owner):
        return None
    return row


def remove_endpoint(session: Session, endpoint_id: uuid.UUID, owner: str | None = None) -> bool:
    """Remove an endpoint with its deliveries and their attempts."""
    stmt = delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if owner is not None:
        stmt = stmt.where(WebhookEndpoint.owner == owner)
    return session.execute(stmt).rowcount == 1


def queue_events(session: Session, event: str, submission_ids: Collection[uuid.UUID]) -> int:
    """Queue ``event`` for each of ``submission_ids`` to every endpoint of its submitter
    that takes it; returns how many deliveries were queued. One read when nobody listens."""
    if not submission_ids:
        return 0
    rows = session.execute(
        select(Submission.id, WebhookEndpoint.id, WebhookEndpoint.events)
        .join(WebhookEndpoint, WebhookEndpoint.owner == Submission.submitted_by)
        .where(Submission.id.in_(list(submission_ids)))
    ).all()
    now = utcnow()
    event_ids: dict[uuid.UUID, uuid.UUID] = {}
    values = []
    for sid, endpoint_id, wanted in rows:
        if event not in wanted:
            continue
        values.append(
            {
                "id": uuid.uuid4(),
                "event_id": event_ids.setdefault(sid, uuid.uuid4()),
                "event": event,
                "endpoint_id": endpoint_id,
                "submission_id": sid,
                "status": DeliveryStatus.pending,
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
                "retry_from": now,
                "replays": 0,
            }
        )
    if values:
        session.execute(WebhookDelivery.__table__.insert(), values)
    return len(values)


@dataclass(frozen=True)
class Claimed:
    """A delivery taken to be attempted, with what sending it needs."""

    id: uuid.UUID
    event_id: uuid.UUID
    event: str
    submission_id: uuid.UUID
    created_at: dt.datetime
    retry_from: dt.datetime
    attempt: int  # this attempt's number, from 1
    body: str | None
    endpoint_id: uuid.UUID
    url: str
    secret: str


def claim_due(
    session: Session,
    now: dt.datetime,
    *,
    limit: int,
    per_endpoint: int,
    lease_until: dt.datetime,
) -> list[Claimed]:
    """Take up to ``limit`` due deliveries (at most ``per_endpoint`` of one endpoint, none of
    a paused one), oldest due first. Each is leased until ``lease_until``: a dispatcher that
    dies with it leaves it due again then. Locked rows are skipped, so dispatchers running
    side by side never take the same delivery."""
    due = (
        WebhookDelivery.status == DeliveryStatus.pending,
        WebhookDelivery.next_attempt_at <= now,
    )
    ranked = (
        select(
            WebhookDelivery.id,
            WebhookDelivery.next_attempt_at,
            func.row_number()
            .over(
                partition_by=WebhookDelivery.endpoint_id, order_by=WebhookDelivery.next_attempt_at
            )
            .label("rank"),
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            *due,
            or_(WebhookEndpoint.paused_until.is_(None), WebhookEndpoint.paused_until <= now),
        )
        .subquery()
    )
    picked = (
        select(ranked.c.id)
        .where(ranked.c.rank <= per_endpoint)
        .order_by(ranked.c.next_attempt_at)
        .limit(limit)
    )
    rows = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.id.in_(picked), *due)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return []
    targets = {
        e.id: e
        for e in session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.id.in_({r.endpoint_id for r in rows}))
        )
    }
    claimed = [
        Claimed(
            id=row.id,
            event_id=row.event_id,
            event=row.event,
            submission_id=row.submission_id,
            created_at=row.created_at,
            retry_from=row.retry_from,
            attempt=row.attempts + 1,
            body=row.body,
            endpoint_id=row.endpoint_id,
            url=targets[row.endpoint_id].url,
            secret=targets[row.endpoint_id].secret,
        )
        for row in rows
    ]
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_([c.id for c in claimed]))
        .values(next_attempt_at=lease_until, attempts=WebhookDelivery.attempts + 1)
    )
    return claimed


def record_attempt(
    session: Session,
    claimed: Claimed,
    *,
    at: dt.datetime,
    body: str,
    status_code: int | None,
    error: str | None,
    duration_ms: float,
    next_attempt_at: dt.datetime | None,
) -> None:
    """Log an attempt and settle its delivery: delivered when ``error`` is None, else due
    again at ``next_attempt_at``, or failed when that is None (its window closed)."""
    session.add(
        WebhookAttempt(
            delivery_id=claimed.id,
            at=at,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )
    )
    values: dict[str, object] = {"body": body, "last_status_code": status_code, "last_error": error}
    if error is None:
        values.update(status=DeliveryStatus.delivered, delivered_at=at)
    elif next_attempt_at is None:
        values.update(status=DeliveryStatus.failed)
    else:
        values.update(next_attempt_at=next_attempt_at)
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == claimed.id,
            # A replay since the claim started a new window; this attempt does not close it.
            WebhookDelivery.retry_from == claimed.retry_from,
        )
        .values(**values)
    )


def endpoint_result(
    session: Session, endpoint_id: uuid.UUID, *, ok: bool, paused_until: dt.datetime | None
) -> None:
    """An endpoint answered (its failures reset) or failed (counted; it waits until
    ``paused_until``)."""
    if ok:
        values: dict[str, object] = {"failures": 0, "paused_until": None}
    else:
        values = {"failures": WebhookEndpoint.failures + 1, "paused_until": paused_until}
    session.execute(
        update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(**values)
    )


def endpoint_failures(session: Session, endpoint_id: uuid.UUID) -> int:
    return int(
        session.scalar(select(WebhookEndpoint.failures).where(WebhookEndpoint.id == endpoint_id))
        or 0
    )


def expire(session: Session, now: dt.datetime, window: dt.timedelta) -> int:
    """Fail the due deliveries whose retry window has closed (their endpoint was paused
    past it); returns how many."""
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.status == DeliveryStatus.pending,
            WebhookDelivery.next_attempt_at <= now,
            WebhookDelivery.retry_from < now - window,
        )
        .values(
            status=DeliveryStatus.failed,
            last_error=func.coalesce(
                WebhookDelivery.last_error, "not attempted: its endpoint kept failing"
            ),
        )
    )
    return result.rowcount


def deliveries(
    session: Session,
    *,
    owner: str | None = None,
    endpoint_id: uuid.UUID | None = None,
    status: str | None = None,
    submission_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[WebhookDelivery]:
    """Deliveries, newest first."""
    stmt = select(WebhookDelivery).order_by(
        WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()
    )
    if owner is not None:
        stmt = stmt.join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id).where(
            WebhookEndpoint.owner == owner
        )
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if submission_id is not None:
        stmt = stmt.where(WebhookDelivery.submission_id == submission_id)
    return list(session.scalars(stmt.limit(limit)))


def get_delivery(
    session: Session, delivery_id: uuid.UUID, owner: str | None = None
) -> WebhookDelivery | None:
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        return None
    if owner is not None and get_endpoint(session, row.endpoint_id, owner) is None:
        return None
    return row


def attempts(session: Session, delivery_id: uuid.UUID) -> list[WebhookAttempt]:
    """A delivery's attempts, oldest first."""
    return list(
        session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.at, WebhookAttempt.id)
        )
    )


def replay(
    session: Session,
    *,
    delivery_ids: Sequence[uuid.UUID] | None = None,
    owner: str | None = None,
    endpoint_id: uuid.UUID | None = None,
    failed_only: bool = False,
    now: dt.datetime,
) -> list[uuid.UUID]:
    """Make delivered or failed deliveries due now with a new retry window (the given ones,
    or every failed one of the owner or endpoint); their endpoints' pauses are lifted.
    Returns the ids replayed."""
    stmt = update(WebhookDelivery).where(
        WebhookDelivery.status.in_(
            [DeliveryStatus.failed]
            if failed_only
            else [DeliveryStatus.failed, DeliveryStatus.delivered]
        )
    )
    if delivery_ids is not None:
        stmt = stmt.where(WebhookDelivery.id.in_(list(delivery_ids)))
    if owner is not None:
        stmt = stmt.where(
            WebhookDelivery.endpoint_id.in_(
                select(WebhookEndpoint.id).where(WebhookEndpoint.owner == owner)
            )
        )
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    replayed = session.execute(
        stmt.values(
            status=DeliveryStatus.pending,
            next_attempt_at=now,
            retry_from=now,
            replays=WebhookDelivery.replays + 1,
        ).returning(WebhookDelivery.id, WebhookDelivery.endpoint_id)
    ).all()
    endpoint_ids = {e for _, e in replayed}
    if endpoint_ids:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id.in_(endpoint_ids))
            .values(failures=0, paused_until=None)
        )
    return [d for d, _ in replayed]
