"""Webhook endpoints, their outbox of deliveries, and the log of attempts.

An event is queued in the transaction that makes it true (the verdict's insert, the
submission's failure), so a verdict is never committed without its event, nor an event
sent for a verdict that was rolled back. ``trustq webhooks run`` sends what is due.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from trustq.db.tables import (
    ApiKey,
    DeliveryStatus,
    Submission,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)


def lock_key(session: Session, api_key_id: int) -> None:
    """Serialise changes to one key's endpoints (two registrations at once cannot both pass
    the count); SQLite serialises every write anyway."""
    session.execute(select(ApiKey.id).where(ApiKey.id == api_key_id).with_for_update())


def add_endpoint(
    session: Session,
    *,
    api_key_id: int,
    owner: str,
    url: str,
    secret: str,
    events: Sequence[str],
    description: str | None,
    created_by: str,
) -> WebhookEndpoint:
    row = WebhookEndpoint(
        api_key_id=api_key_id,
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


def _live() -> tuple[object, ...]:
    return (WebhookEndpoint.removed_at.is_(None),)


def count_endpoints(session: Session, api_key_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(WebhookEndpoint.api_key_id == api_key_id, *_live())
        )
        or 0
    )


def endpoints(session: Session, api_key_id: int | None = None) -> list[WebhookEndpoint]:
    """Every endpoint not removed (of one key when given), oldest first."""
    stmt = (
        select(WebhookEndpoint)
        .where(*_live())
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    if api_key_id is not None:
        stmt = stmt.where(WebhookEndpoint.api_key_id == api_key_id)
    return list(session.scalars(stmt))


def get_endpoint(
    session: Session, endpoint_id: uuid.UUID, api_key_id: int | None = None
) -> WebhookEndpoint | None:
    row = session.get(WebhookEndpoint, endpoint_id)
    if row is None or row.removed_at is not None:
        return None
    if api_key_id is not None and row.api_key_id != api_key_id:
        return None
    return row


def remove_endpoint(
    session: Session, endpoint_id: uuid.UUID, now: dt.datetime, api_key_id: int | None = None
) -> bool:
    """Remove an endpoint: no new events, its pending deliveries failed; the rows stay."""
    stmt = update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, *_live())
    if api_key_id is not None:
        stmt = stmt.where(WebhookEndpoint.api_key_id == api_key_id)
    if session.execute(stmt.values(removed_at=now)).rowcount != 1:
        return False
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.pending,
        )
        .values(status=DeliveryStatus.failed, last_error="its endpoint was removed")
    )
    return True


def queue_events(session: Session, event: str, submission_ids: Collection[uuid.UUID]) -> int:
    """Queue ``event`` for each of ``submission_ids`` to every endpoint of the API key that
    sent it that takes it; returns how many deliveries were queued. One indexed read when
    nobody listens."""
    if not submission_ids:
        return 0
    rows = session.execute(
        select(Submission.id, WebhookEndpoint.id, WebhookEndpoint.events)
        .join(WebhookEndpoint, WebhookEndpoint.api_key_id == Submission.api_key_id)
        .where(Submission.id.in_(list(submission_ids)), *_live())
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
    busy: Collection[uuid.UUID] = (),
) -> list[Claimed]:
    """Take up to ``limit`` due deliveries, at most ``per_endpoint`` of one endpoint, none
    of a paused or removed endpoint or of those in ``busy`` (the caller's endpoints with
    deliveries in flight), the endpoints whose oldest due delivery is oldest first. Each is
    leased until ``lease_until``: a dispatcher that dies with it leaves it due again then.
    Locked rows are skipped, so dispatchers running side by side never take the same one.
    Each endpoint is an index probe: a paused endpoint's backlog is never read."""
    due = (
        WebhookDelivery.status == DeliveryStatus.pending,
        WebhookDelivery.next_attempt_at <= now,
    )
    oldest_due = (
        select(func.min(WebhookDelivery.next_attempt_at))
        .where(WebhookDelivery.endpoint_id == WebhookEndpoint.id, *due)
        .correlate(WebhookEndpoint)
        .scalar_subquery()
    )
    eligible = select(WebhookEndpoint.id, oldest_due.label("oldest")).where(
        *_live(),
        or_(WebhookEndpoint.paused_until.is_(None), WebhookEndpoint.paused_until <= now),
    )
    if busy:
        eligible = eligible.where(WebhookEndpoint.id.not_in(list(busy)))
    ranked = eligible.subquery()
    endpoint_ids = session.scalars(
        select(ranked.c.id).where(ranked.c.oldest.is_not(None)).order_by(ranked.c.oldest)
    ).all()
    rows: list[WebhookDelivery] = []
    for endpoint_id in endpoint_ids:
        if len(rows) >= limit:
            break
        rows += session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id, *due)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(min(per_endpoint, limit - len(rows)))
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
            # Still this attempt's: not settled, not claimed again after its lease ran out,
            # not replayed since (a replay opens a new window this attempt must not close).
            WebhookDelivery.status == DeliveryStatus.pending,
            WebhookDelivery.attempts == claimed.attempt,
            WebhookDelivery.retry_from == claimed.retry_from,
        )
        .values(**values)
    )


def endpoint_result(
    session: Session,
    endpoint_id: uuid.UUID,
    *,
    ok: bool,
    started: dt.datetime,
    pause: Callable[[int], dt.datetime],
) -> None:
    """An endpoint answered an attempt started at ``started`` (its failures reset) or
    failed it. A failure counts once per back-off step: attempts that were already under
    way when another one paused the endpoint do not pause it again; otherwise it waits
    until ``pause(failures)``."""
    if ok:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(failures=0, paused_until=None)
        )
        return
    row = session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update()
    )
    if row is None or (row.paused_until is not None and row.paused_until > started):
        return
    row.failures += 1
    row.paused_until = pause(row.failures)


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
    api_key_id: int | None = None,
    endpoint_id: uuid.UUID | None = None,
    status: str | None = None,
    submission_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[WebhookDelivery]:
    """Deliveries, newest first."""
    stmt = select(WebhookDelivery).order_by(
        WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()
    )
    if api_key_id is not None:
        stmt = stmt.join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id).where(
            WebhookEndpoint.api_key_id == api_key_id
        )
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if submission_id is not None:
        stmt = stmt.where(WebhookDelivery.submission_id == submission_id)
    return list(session.scalars(stmt.limit(limit)))


def get_delivery(
    session: Session, delivery_id: uuid.UUID, api_key_id: int | None = None
) -> WebhookDelivery | None:
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        return None
    if api_key_id is not None and get_endpoint(session, row.endpoint_id, api_key_id) is None:
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
    api_key_id: int | None = None,
    endpoint_id: uuid.UUID | None = None,
    failed_only: bool = False,
    now: dt.datetime,
) -> list[uuid.UUID]:
    """Make delivered or failed deliveries due now with a new retry window (the given ones,
    or every failed one of the key or endpoint; removed endpoints' never); their
    endpoints' pauses are lifted.
    Returns the ids replayed."""
    live = select(WebhookEndpoint.id).where(*_live())
    if api_key_id is not None:
        live = live.where(WebhookEndpoint.api_key_id == api_key_id)
    stmt = update(WebhookDelivery).where(
        WebhookDelivery.endpoint_id.in_(live),
        WebhookDelivery.status.in_(
            [DeliveryStatus.failed]
            if failed_only
            else [DeliveryStatus.failed, DeliveryStatus.delivered]
        ),
    )
    if delivery_ids is not None:
        stmt = stmt.where(WebhookDelivery.id.in_(list(delivery_ids)))
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
