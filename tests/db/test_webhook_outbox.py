"""The webhook outbox on a real PostgreSQL database: events queued with what makes them true
and only for the submitter's endpoints, claims that two dispatchers never share, a paused
endpoint's deliveries left waiting, windows that close, and replays."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.db.test_repo import _add, _model, _verdict
from trustq.db import apikeys as apikeys_db
from trustq.db import submissions as submissions_db
from trustq.db import verdicts as verdicts_db
from trustq.db import webhooks as webhooks_db
from trustq.db.session import get_engine, session_scope
from trustq.db.tables import ApiKey, Submission, WebhookDelivery, WebhookEndpoint, utcnow

pytestmark = pytest.mark.db

LEASE = dt.timedelta(seconds=60)
PAUSE = dt.timedelta(minutes=5)


def _key(session, name: str = "tests") -> int:
    return apikeys_db.add_api_key(
        session,
        name=f"{name}-{uuid.uuid4().hex[:8]}",
        key_sha256=uuid.uuid4().hex * 2,
        prefix="tq_x",
        scope="submit",
    ).id


def _endpoint(session, key_id: int, events=("verdict.ready", "submission.failed")) -> uuid.UUID:
    return webhooks_db.add_endpoint(
        session,
        api_key_id=key_id,
        owner="tests",
        url="https://hooks.example.com/x",
        secret="whsec_x",
        events=list(events),
        description=None,
        created_by="tests",
    ).id


def _submission(session, key_id: int | None) -> uuid.UUID:
    row, _ = _add(session)
    row.api_key_id = key_id
    session.flush()
    return row.id


def _deliveries(session) -> list[WebhookDelivery]:
    return webhooks_db.deliveries(session, limit=1000)


def test_events_go_to_the_endpoints_of_the_key_that_sent_the_submission(rolled_back) -> None:  # noqa: ARG001
    with session_scope() as session:
        _model(session, "t-hook")
        key, other = _key(session), _key(session, "other")
        both = _endpoint(session, key)
        failures_only = _endpoint(session, key, events=["submission.failed"])
        _endpoint(session, other)
        scored, failed = _submission(session, key), _submission(session, key)
        session.get(Submission, failed).status = "processing"
        # An operator's submission under the key's name (CLI --by): not the key's.
        posing = _submission(session, None)
        session.get(Submission, posing).submitted_by = session.get(ApiKey, key).name
    with session_scope() as session:
        verdicts_db.write_verdicts(
            session, [_verdict(scored, "t-hook"), _verdict(posing, "t-hook")]
        )
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
        key = _key(session)
        _endpoint(session, key)
        sid = _submission(session, key)
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
        key_a, key_b = _key(session), _key(session, "b")
        first, second = _endpoint(session, key_a), _endpoint(session, key_b)
        for key in [key_a] * 6 + [key_b] * 2:
            sid = _submission(session, key)
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
        endpoint = _endpoint(session, _key(session))
        sid = _submission(session, session.get(WebhookEndpoint, endpoint).api_key_id)
        webhooks_db.queue_events(session, "verdict.ready", [sid])
    now = utcnow()
    with session_scope() as session:
        webhooks_db.endpoint_result(
            session, endpoint, ok=False, started=now, pause=lambda n: now + n * PAUSE
        )
        # A second failure of an attempt started before that pause counts no further.
        webhooks_db.endpoint_result(
            session, endpoint, ok=False, started=now, pause=lambda n: now + n * PAUSE
        )
        row = session.get(WebhookEndpoint, endpoint)
        assert (row.failures, row.paused_until) == (1, now + PAUSE)
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


def test_busy_endpoints_wait_removed_ones_stop_and_stale_results_change_nothing(
    clean_tables,  # noqa: ARG001
) -> None:
    with session_scope() as session:
        key = _key(session)
        endpoint = _endpoint(session, key)
        sids = [_submission(session, key)]
        webhooks_db.queue_events(session, "verdict.ready", sids)
    now = utcnow()
    with session_scope() as session:
        assert (
            webhooks_db.claim_due(
                session, now, limit=5, per_endpoint=5, lease_until=now + LEASE, busy={endpoint}
            )
            == []
        )
        (first,) = webhooks_db.claim_due(
            session, now, limit=1, per_endpoint=5, lease_until=now + LEASE
        )
    # The attempt's result comes after its lease ran out and another took it: ignored.
    later = now + LEASE + dt.timedelta(seconds=1)
    with session_scope() as session:
        (again,) = webhooks_db.claim_due(
            session, later, limit=1, per_endpoint=5, lease_until=later + LEASE
        )
        assert again.id == first.id and again.attempt == 2
        webhooks_db.record_attempt(
            session, first, at=later, body="{}", status_code=500, error="answered 500",
            duration_ms=1.0, next_attempt_at=None,
        )  # fmt: skip
        assert session.get(WebhookDelivery, first.id).status == "pending"
    with session_scope() as session:
        assert webhooks_db.remove_endpoint(session, endpoint, later)
        assert not webhooks_db.remove_endpoint(session, endpoint, later)
        assert webhooks_db.get_endpoint(session, endpoint) is None
        assert {d.status for d in _deliveries(session)} == {"failed"}
        assert webhooks_db.replay(session, failed_only=True, now=later) == []
        assert webhooks_db.queue_events(session, "verdict.ready", sids) == 0
        assert (
            webhooks_db.claim_due(
                session, later, limit=5, per_endpoint=5, lease_until=later + LEASE
            )
            == []
        )
