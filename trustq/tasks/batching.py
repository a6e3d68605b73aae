"""Micro-batching: a pool process that got a scoring message takes the ones waiting behind it.

Celery hands each pool process one message at a time (prefetch 1, late acknowledgement).
The scoring task then reads further messages straight from the queue with the broker's
own "get" (``basic_get``): each one is taken unacknowledged, exactly like a message Celery
reserved, so it sits in the broker's unacked table (Redis) until the task acknowledges it
after its verdict is committed. If the process dies first, the broker puts it back after
the visibility timeout, like any message a dead worker held.

Only the messages already waiting are taken (plus whatever arrives within a short wait):
a profile that arrives alone is scored at once, and under a burst the batches grow up to
the token budget by themselves. Messages that are not plain scoring messages for now are
left to Celery: another task's message or one due later (a retry's countdown) goes back on
the queue untouched; one that cannot be read at all is dropped, as Celery would drop it.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Queue
from kombu.message import Message

from trustq.broker import names

log = logging.getLogger(__name__)


@dataclass
class Taken:
    """A scoring message this process took from the queue itself."""

    message: Message
    argument: Any  # what the message names as its submission id (checked by the task)
    retries: int
    valid: bool  # False: not a well-formed score_submission call; the task drops it
    alone: bool = False  # sent to be scored outside any batch (see the scoring task)

    def ack(self) -> None:
        """Acknowledge: the verdict or the failure is committed (or the message dropped)."""
        try:
            self.message.ack()
        except Exception:  # the broker went away: it redelivers; the verdict stays unique
            log.warning("could not acknowledge a scoring message; it will be redelivered")

    def requeue(self) -> None:
        """Give the message back to the queue, for another delivery."""
        try:
            self.message.reject(requeue=True)
        except Exception:
            log.warning(
                "could not give back a scoring message; it comes back after the visibility timeout"
            )


class Taker:
    """This process's own connection to the scoring queue (one per pool process)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._conn: Connection | None = None
        self._queue: Queue | None = None

    def _bound(self) -> Queue:
        if self._queue is None:
            self._conn = self.app.connection_for_read()
            self._queue = Queue(names.SCORING_QUEUE).bind(self._conn.default_channel)
        return self._queue

    def close(self) -> None:
        """Drop the connection (after an error, or when the process ends)."""
        conn, self._conn, self._queue = self._conn, None, None
        if conn is not None:
            try:
                conn.release()
            except Exception:
                log.debug("closing the batching connection failed", exc_info=True)

    def take(self, n: int) -> tuple[list[Taken], bool]:
        """Up to ``n`` waiting scoring messages, without waiting. The flag is True when the
        queue had nothing more to give this time (empty, or a message left for Celery)."""
        taken: list[Taken] = []
        while len(taken) < n:
            try:
                message = self._bound().get(no_ack=False, accept=["json"])
            except Exception as exc:
                if _unreadable(exc):
                    # Popped and undecodable: it is gone, as Celery would drop it.
                    log.warning("dropped an unreadable message from the scoring queue")
                    continue
                log.warning("batching stopped: the broker read failed (%s)", type(exc).__name__)
                self.close()
                return taken, True
            if message is None:
                return taken, True
            item = _parse(message)
            if item is None:
                Taken(message, None, 0, valid=False).requeue()
                return taken, True
            taken.append(item)
        return taken, False


def _unreadable(exc: Exception) -> bool:
    # A raw entry that is not JSON, or JSON that is not a kombu message.
    return isinstance(exc, ValueError | KeyError | TypeError | AttributeError)


def _parse(message: Message) -> Taken | None:
    """The scoring call a message carries; None for one Celery must handle itself."""
    headers = message.headers or {}
    if headers.get("task") != names.SCORE_SUBMISSION:
        return None  # another task (or an unknown one): Celery's consumer deals with it
    eta = headers.get("eta")
    if eta:
        try:
            due = dt.datetime.fromisoformat(str(eta))
        except ValueError:
            due = None
        if due is not None:
            if due.tzinfo is None:
                due = due.replace(tzinfo=dt.UTC)
            if due > dt.datetime.now(dt.UTC):
                return None  # a retry's countdown: Celery holds it until it is due
    retries = headers.get("retries") or 0
    retries = retries if isinstance(retries, int) else 0
    try:
        body = message.decode()
    except Exception:  # not JSON, or a content type that is not accepted (pickle)
        log.warning("a scoring message's body cannot be read")
        return Taken(message, None, retries, valid=False)
    args = body[0] if isinstance(body, list | tuple) and len(body) >= 2 else None
    kwargs = body[1] if isinstance(body, list | tuple) and len(body) >= 2 else None
    valid = (
        isinstance(args, list | tuple)
        and len(args) == 1
        and isinstance(kwargs, dict)
        and set(kwargs) <= {"alone"}
    )
    if not valid:
        return Taken(message, None, retries, valid=False)
    assert isinstance(kwargs, dict) and isinstance(args, list | tuple)
    return Taken(message, args[0], retries, valid=True, alone=bool(kwargs.get("alone")))


def submission_id(argument: Any) -> uuid.UUID | None:
    """The submission id a message names, or None when it names none."""
    if not isinstance(argument, str):
        return None
    try:
        return uuid.UUID(argument)
    except ValueError:
        return None


_taker: Taker | None = None


def taker(app: Any) -> Taker:
    """This process's taker on ``app``'s broker (made on first use, so after the pool
    forked)."""
    global _taker
    if _taker is None:
        _taker = Taker(app)
    return _taker
