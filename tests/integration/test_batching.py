"""Micro-batching on the real stack: messages waiting in Redis are scored together by one
worker process, each acknowledged after its verdict is committed; a poison message fails
alone; batching off scores one at a time; a resume seen before skips the encoder."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from tests.conftest import empty_queues
from tests.factories import profile, public
from tests.servers import wait_for
from trustq import client
from trustq.data.synthetic import generate
from trustq.db import submissions as submissions_db
from trustq.db.session import session_scope
from trustq.db.tables import Embedding, Submission
from trustq.services.submissions import publish

pytestmark = pytest.mark.integration

BATCH = re.compile(
    r"scored a batch of (\d+) in \d+ ms: (\d+) resume\(s\) encoded, (\d+) from the cache"
)


@pytest.fixture(autouse=True)
def _services(clean_tables, redis_client, serving_model) -> None:  # noqa: ARG001
    empty_queues(redis_client)


def batches(log: str) -> list[tuple[int, int, int]]:
    """(size, encoded, from cache) of every batch a worker logged."""
    return [(int(a), int(b), int(c)) for a, b, c in BATCH.findall(log)]


def drained(redis_client) -> bool:
    """Nothing queued and nothing taken but unacknowledged."""
    return redis_client.llen("scoring") == 0 and redis_client.hlen("unacked") == 0


def stored_unscorable(external_id: str) -> uuid.UUID:
    """A submission whose stored payload no longer validates, queued like any other."""
    with session_scope() as session:
        row, _ = submissions_db.add_submission(
            session,
            external_id=external_id,
            idempotency_key=None,
            payload={**profile(external_id=external_id), "experience_level": "wizard"},
            resume_sha256="0" * 64,
            submitted_by="tests",
            request_id=None,
        )
    publish([row.id])
    return row.id


def test_waiting_messages_are_scored_together_each_with_its_full_verdict(
    start_worker, redis_client
) -> None:
    records = [public(r) for r in generate(12, seed=31)]
    ids = [e.id for e in client.enqueue_many(records, submitted_by="batch-tests")]
    worker = start_worker(TRUSTQ_BATCH_MAX_WAIT_MS="300")
    verdicts = [client.wait_for_verdict(i, timeout=240) for i in ids]
    wait_for(lambda: drained(redis_client), 30, "every message to be acknowledged")

    seen = batches(worker.output())
    assert sum(size for size, _, _ in seen) == len(ids)
    assert max(size for size, _, _ in seen) > 1, seen
    for v in verdicts:
        assert v.status == "done" and v.risk_level in ("LOW", "MEDIUM", "HIGH")
        parts = v.breakdown["parts"]
        assert sum(p["points"] for p in parts.values()) == pytest.approx(v.trust_score, abs=0.01)
        assert {r["kind"] for r in v.reasons} <= {"project", "sentence"}
        assert v.trust_score == pytest.approx(100 * (1 - v.p_risk), abs=0.051)
    assert any(v.reasons for v in verdicts)
    texts = {v.submission_id: r["resume_text"] for v, r in zip(verdicts, records, strict=True)}
    for v in verdicts:
        for reason in v.reasons:
            if reason["kind"] == "sentence":
                assert v.risk_level != "LOW"  # REASON_SENTENCES=non_low
                assert reason["evidence"]["sentence"] in texts[v.submission_id]


def test_a_poison_message_fails_alone_and_the_rest_of_its_batch_is_scored(
    start_worker, redis_client
) -> None:
    good = [client.enqueue(profile()) for _ in range(3)]
    poison = stored_unscorable("fl-poison")
    good += [client.enqueue(profile()) for _ in range(3)]
    # Messages a batch must drop without harm: an unknown id and a malformed one.
    publish([uuid.uuid4()])
    from trustq.broker import names
    from trustq.worker.app import app

    app.send_task(names.SCORE_SUBMISSION, args=["not-an-id"], queue=names.SCORING_QUEUE)
    good += [client.enqueue(profile()) for _ in range(2)]

    worker = start_worker(TRUSTQ_BATCH_MAX_WAIT_MS="300")
    for sid in good:
        assert client.wait_for_verdict(sid, timeout=180).status == "done"
    wait_for(lambda: client.submission_status(poison)[0] == "failed", 60, "the poison to fail")
    wait_for(lambda: drained(redis_client), 30, "every message to be acknowledged")

    status, reason = client.submission_status(poison)
    assert status == "failed" and "experience_level" in reason
    log = worker.output()
    assert max(size for size, _, _ in batches(log)) > 1
    assert "dropped a message for unknown submission" in log
    assert "dropped a message with a malformed submission id" in log
    with session_scope() as session:
        done = session.scalar(
            select(func.count()).where(Submission.id.in_(good), Submission.status == "done")
        )
    assert done == len(good)


def test_with_batching_off_each_message_is_scored_on_its_own(start_worker, redis_client) -> None:
    ids = [e.id for e in client.enqueue_many([public(r) for r in generate(5, seed=32)])]
    worker = start_worker(TRUSTQ_BATCHING="false")
    for sid in ids:
        assert client.wait_for_verdict(sid, timeout=180).status == "done"
    wait_for(lambda: drained(redis_client), 30, "every message to be acknowledged")
    seen = batches(worker.output())
    assert [size for size, _, _ in seen] == [1] * len(ids)


def test_a_resume_embedded_before_skips_the_encoder(start_worker) -> None:
    text = (
        "Data engineer. Moved a retailer's nightly Spark jobs to incremental Delta tables in "
        f"2022 and cut the warehouse bill by a third. Reference {uuid.uuid4().hex}."
    )
    worker = start_worker(TRUSTQ_REASON_SENTENCES="never")
    first = client.wait_for_verdict(
        client.enqueue(profile(external_id="fl-first", resume_text=text)), timeout=120
    )
    second = client.wait_for_verdict(
        client.enqueue(profile(external_id="fl-second", resume_text=text)), timeout=120
    )
    seen = batches(worker.output())
    assert seen[0][1:] == (1, 0)  # the first: encoded
    assert seen[-1][1:] == (0, 1)  # the second: from the cache, no encoder pass
    # Same text and same history: the cached embedding gives the same score.
    assert second.p_risk == pytest.approx(first.p_risk, abs=1e-6)
    with session_scope() as session:
        rows = session.scalar(select(func.count()).select_from(Embedding))
    assert rows >= 1
