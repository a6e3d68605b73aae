"""The webhook outbox on a real PostgreSQL database: events queued with what makes them true
and only for the submitter's endpoints, claims that two dispatchers never share, a paused
endpoint's deliveries left waiting, windows that close, and replays."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.db.test_repo import _add, _model, _verdict
from trustq.db import submissions as submissions_db
from trustq.db import verdicts as verdicts_db
from trustq.db import webhooks as webhooks_db
from trustq.db.session import get_engine, session_scope
from trustq.db.tables import Submission, WebhookDelivery, utcnow

pytestmark = pytest.mark.db

LEASE = dt.timedelta(seconds=60)


def _endpoint(session, owner: str, events=("verdict.ready", "submission.failed")) -> uuid.UUID:
    return webhooks_db.add_endpoint(
        session,
        owner=owner,
        url="https://hooks.example.com/x",
        secret="whsec_x",
        events=list(events),
        description=None,
        created_by="tests",
    ).id


def _submission(session, owner: str = "tests") -> uuid.UUID:
    row, _ = _add(session)
    row.submitted_by = owner
    session.flush()
    return row.id


def _deliveries(session) -> list[WebhookDelivery]:
    return webhooks_db.deliveries(session, limit=1000)


def test_events_go_to_the_submitters_endpoints_that_take_them(rolled_back) -> None:  # noqa: ARG001
    with session_scope() as session:
        _model(session, "t-hook")
        both = _endpoint(session, "tests")
        failures_only = _endpoint(session, "tests", events=["submission.failed"])
        _endpoint(session, "someone-else")
        scored, failed = _submission(session), _submission(session)
        session.get(Submission, failed).status = "processing"
    with session_scope() as session:
        verdicts_db.write_verdicts(session, [_verdict(scored, "t-hook")])
        assert submissions_db.mark_failed(session, failed, "unreadable")
        # A verdict written again, a failure marked again: no second event.
        verdicts_db.write_verdicts(session, [_verdict(scored, "t-hook")])
        assert not submissions_db.mark_failed(session, failed, "unreadable")
    with session_scope() as session:
        got = {(d.endpoint_id, d.submission_id, d.event) for d in _deliveries(session)}
    assert got == {
        (both, scored, "verdict.ready"),
        (both, failed, "submission.failed"),
        (failures_only, failed, "submission.failed"),
    }


def test_a_rolled_back_verdict_queues_no_event(rolled_back) -> None:  # noqa: ARG001
    with session_scope() as session:
        _model(session, "t-hook")
        _endpoint(session, "tests")
        sid = _submission(session)
    with pytest.raises(RuntimeError), session_scope() as session:
        verdicts_db.write_verdicts(session, [_verdict(sid, "t-hook")])
        raise RuntimeError("the batch failed after the insert")
    with session_scope() as session:
        assert _deliveries(session) == []


def test_two_dispatchers_never_claim_the_same_delivery(clean_tables) -> None:  # noqa: ARG001
    """Two claims in open transactions at once (as two dispatchers make them) are disjoint;
    each takes at most per_endpoint of one endpoint; claimed ones are leased, so the next
    claim takes the rest, and every due delivery is taken exactly once."""
    from sqlalchemy.orm import Session

    with session_scope() as session:
        first, second = _endpoint(session, "tests"), _endpoint(session, "tests-b")
        for owner in ["tests"] * 6 + ["tests-b"] * 2:
            sid = _submission(session, owner)
            webhooks_db.queue_events(session, "verdict.ready", [sid])
    now = utcnow()

    def claim(session: Session) -> list[webhooks_db.Claimed]:
        return webhooks_db.claim_due(
            session, now, limit=10, per_endpoint=3, lease_until=now + LEASE
        )

    engine = get_engine()
    with engine.connect() as a, engine.connect() as b:
        sa, sb = Session(bind=a), Session(bind=b)
        one, two = claim(sa), claim(sb)
        sa.commit()
        sb.commit()
    with session_scope() as session:
        three = claim(session)
    with session_scope() as session:
        assert claim(session) == []
    taken = [c.id for c in one + two + three]
    assert len(taken) == len(set(taken)) == 8
    for claimed in (one, two, three):
        for endpoint in (first, second):
            assert sum(c.endpoint_id == endpoint for c in claimed) <= 3
    assert all(c.attempt == 1 for c in one + two + three)


def test_paused_endpoints_wait_windows_close_and_replays_reopen_them(clean_tables) -> None:  # noqa: ARG001
    with session_scope() as session:
        endpoint = _endpoint(session, "tests")
        sid = _submission(session)
        webhooks_db.queue_events(session, "verdict.ready", [sid])
    now = utcnow()
    with session_scope() as session:
        webhooks_db.endpoint_result(
            session, endpoint, ok=False, paused_until=now + dt.timedelta(minutes=5)
        )
        assert webhooks_db.claim_due(session, now, limit=5, per_endpoint=5, lease_until=now) == []
        # A day later, never attempted: failed, with the reason.
        later = now + dt.timedelta(days=1, seconds=1)
        assert webhooks_db.expire(session, later, dt.timedelta(days=1)) == 1
        (row,) = _deliveries(session)
        assert row.status == "failed" and "kept failing" in row.last_error
        assert webhooks_db.replay(session, failed_only=True, now=later) == [row.id]
        session.refresh(row)
        assert row.status == "pending" and row.replays == 1 and row.retry_from == later
        # The replay lifted the endpoint's pause: it is due at once.
        (claimed,) = webhooks_db.claim_due(
            session, later, limit=5, per_endpoint=5, lease_until=later + LEASE
        )
        assert claimed.id == row.id
