"""The sweeper: no submission stays queued or processing for ever.

PostgreSQL is the record of every submission; the broker only carries ids and can lose them
(Redis restarted without its data, a message acknowledged by a task that died before its
verdict was committed, a publish that failed at enqueue). Beat sends
``trustq.sweep_submissions`` every ``TRUSTQ_SWEEP_INTERVAL`` seconds. It reads the
submissions queued or processing for longer than ``TRUSTQ_SWEEP_STALE_AFTER`` and, for each
one the broker holds no message for, either publishes it again with one more attempt
counted or, once ``TRUSTQ_MAX_ATTEMPTS`` is reached, marks it failed with the reason: the
dead letters that ``trustq status`` shows and ``trustq retry`` sends back.

A submission claimed by a worker that has gone silent (no heartbeat for
``TRUSTQ_LOST_WORKER_AFTER`` seconds: its machine or container was lost with its messages
taken and unacknowledged) is queued again at once with one more attempt counted
(``reclaim_from_lost_workers``): Redis would hand its message back only after the visibility
timeout. Every live worker does this after each of its heartbeats (a sweep runs on a worker
too, so it leaves this to them); if the silent worker comes back, its verdict and the new one
are the same row (a verdict is unique per submission and model version).

Otherwise a submission whose message is still in the queue, or taken by a worker and not yet
acknowledged, is left alone: a long backlog is not a loss, and publishing it twice would
only grow the queue (and count attempts that never happened). Every change is a
compare-and-set on (status, updated_at), so a worker's claim or a second sweep running at
the same time wins cleanly instead of doubling a message.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from celery import shared_task
from sqlalchemy.exc import InterfaceError, OperationalError

from trustq.broker import names
from trustq.broker.app import producer
from trustq.config import Settings, get_settings
from trustq.db import submissions as submissions_db
from trustq.db.session import session_scope
from trustq.db.tables import utcnow
from trustq.services.submissions import BrokerUnavailable, publish

log = logging.getLogger(__name__)

# Stale submissions handled per sweep (the next sweep takes the rest), and per transaction.
SWEEP_LIMIT = 2000
GROUP = 200


@dataclass
class SweepResult:
    """What one sweep found and did."""

    stale: int = 0  # queued or processing for longer than sweep_stale_after
    in_broker: int = 0  # of those, left alone: their message is queued or being worked on
    republished: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    raced: int = 0  # a worker or another sweep touched them between the read and the write
    broker_down: bool = False

    def summary(self) -> dict[str, int | bool]:
        return {
            "stale": self.stale,
            "in_broker": self.in_broker,
            "republished": len(self.republished),
            "failed": len(self.failed),
            "raced": self.raced,
            "broker_down": self.broker_down,
        }


def _ids_in(raw: bytes) -> Iterator[uuid.UUID]:
    """Submission ids a raw Redis entry (a queued message or an unacked record) carries."""
    try:
        data: Any = json.loads(raw)
        if isinstance(data, list):  # unacked records are [message, exchange, routing_key]
            data = data[0]
        body = data["body"]
        if data.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, binascii.Error):
        return  # not a message kombu wrote (hostile input): it names no submission
    for arg in args if isinstance(args, list) else [args]:
        for value in arg if isinstance(arg, list) else [arg]:
            try:
                yield uuid.UUID(str(value))
            except ValueError:
                continue


def ids_in_broker() -> set[uuid.UUID] | None:
    """Ids of every scoring message the broker holds, queued or taken and unacknowledged.

    One Redis transaction reads the queue (all its priority lists) and the unacked table, so
    a message moving from one to the other cannot slip between two reads. None when the
    broker is not Redis and cannot be read this way.
    """
    if not str(producer.conf.broker_url).startswith(("redis://", "rediss://")):
        return None
    with producer.connection_for_read() as conn:
        channel: Any = conn.default_channel
        pipe = channel.client.pipeline(transaction=True)
        for priority in channel.priority_steps:
            pipe.lrange(channel._q_for_pri(names.SCORING_QUEUE, priority), 0, -1)
        pipe.hvals(channel.unacked_key)
        replies = pipe.execute()
    found: set[uuid.UUID] = set()
    for reply in replies:
        for raw in reply:
            found.update(_ids_in(raw))
    return found


def _groups(rows: list[submissions_db.Unfinished]) -> Iterable[list[submissions_db.Unfinished]]:
    for start in range(0, len(rows), GROUP):
        yield rows[start : start + GROUP]


def _by_id(row: submissions_db.Unfinished) -> uuid.UUID:
    return row.id


def _dead_letter_reason(row: submissions_db.Unfinished, now: dt.datetime) -> str:
    waited = (now - row.updated_at).total_seconds()
    return (
        f"no verdict after {row.attempts} attempt(s): {row.status} for {waited:.0f} s with no "
        "message for it in the broker (lost by the broker or by a worker each time); "
        "`trustq retry` queues it again"
    )


def _requeue(
    rows: list[submissions_db.Unfinished],
) -> tuple[list[uuid.UUID], int, BrokerUnavailable | None]:
    """Mark ``rows`` queued with one more attempt and publish them, a group per transaction,
    in id order (the order workers lock a batch in, so this and a claim never deadlock).
    The ids published, the rows someone touched since they were read, and the broker's
    refusal that stopped it, if one did."""
    published: list[uuid.UUID] = []
    raced = 0
    for group in _groups(sorted(rows, key=_by_id)):
        try:
            with session_scope() as session:
                ids = [row.id for row in group if submissions_db.requeue_stale(session, row)]
                # Inside the transaction: if the broker refuses, no attempt is counted.
                publish(ids)
        except BrokerUnavailable as exc:
            return published, raced, exc
        raced += len(group) - len(ids)
        published.extend(ids)
    return published, raced, None


def reclaim_from_lost_workers(settings: Settings) -> list[uuid.UUID]:
    """Queue again, once, what workers silent for ``lost_worker_after`` seconds had claimed;
    the ids published. A compare-and-set per row: of several workers doing this at the same
    moment, one wins each row."""
    silent_since = utcnow() - dt.timedelta(seconds=settings.lost_worker_after)
    with session_scope() as session:
        lost = submissions_db.claimed_by_lost_workers(session, silent_since, SWEEP_LIMIT)
    reclaimed, _, refused = _requeue(lost)
    if refused is not None:
        log.warning("reclaim stopped: %s; the next heartbeat tries again", refused)
    if reclaimed:
        log.warning(
            "queued again %d submission(s) claimed by workers silent for %.0f s or more",
            len(reclaimed),
            settings.lost_worker_after,
        )
    return reclaimed


def sweep(settings: Settings | None = None) -> SweepResult:
    """Publish again what the broker lost; fail what reached the attempt limit."""
    settings = settings or get_settings()
    now = utcnow()
    with session_scope() as session:
        stale = submissions_db.unfinished_before(
            session, now - dt.timedelta(seconds=settings.sweep_stale_after), SWEEP_LIMIT
        )
    result = SweepResult(stale=len(stale))
    if not stale:
        return result
    try:
        present = ids_in_broker()
    except Exception as exc:  # the broker went away: nothing can be published either
        log.warning("sweep stopped: cannot read the broker (%s)", type(exc).__name__)
        result.broker_down = True
        return result
    if present is None:
        # The broker cannot be read: wait long enough for a taken message to be redelivered.
        cutoff = now - dt.timedelta(seconds=settings.visibility_timeout)
        stale = [row for row in stale if row.updated_at < cutoff]
        present = set()
    lost = []
    for row in stale:
        if row.id in present:
            result.in_broker += 1
        else:
            lost.append(row)

    exhausted = [row for row in lost if row.attempts >= settings.max_attempts]
    for row in exhausted:
        with session_scope() as session:
            if submissions_db.fail_stale(session, row, _dead_letter_reason(row, now)):
                result.failed.append(row.id)
            else:
                result.raced += 1
    again = [row for row in lost if row.attempts < settings.max_attempts]
    result.republished, raced, refused = _requeue(again)
    result.raced += raced
    if refused is not None:
        result.broker_down = True
        log.warning("sweep stopped: %s; the next sweep tries again", refused)
    return result


@shared_task(name=names.SWEEP_SUBMISSIONS, ignore_result=True)
def sweep_submissions() -> dict[str, int | bool]:
    """The beat task: one sweep, logged when it changed something."""
    try:
        result = sweep()
    except (OperationalError, InterfaceError) as exc:
        # The next sweep, one interval later, is the retry.
        log.warning("sweep skipped: the database failed (%s)", type(exc.orig).__name__)
        return {"database_down": True}
    summary = result.summary()
    if result.republished or result.failed or result.broker_down:
        log.warning(
            "sweep: %(republished)d republished, %(failed)d failed after the last attempt, "
            "%(in_broker)d of %(stale)d stale still in the broker",
            summary,
        )
    else:
        log.debug("sweep: nothing lost (%(stale)d stale, all still in the broker)", summary)
    return summary
