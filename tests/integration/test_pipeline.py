"""The whole path on real components: enqueue → Redis → worker process → verdict in PostgreSQL."""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.cli import trustq
from tests.conftest import empty_queues
from tests.factories import profile, public
from trustq import client
from trustq.data.synthetic import generate
from trustq.db.session import session_scope
from trustq.db.tables import Submission, Verdict

pytestmark = pytest.mark.integration

AUDIT_FIELDS = (
    "model_version",
    "encoder_name",
    "encoder_revision",
    "input_sha256",
    "latency_ms",
    "worker_host",
    "submitted_by",
    "submitted_at",
    "scored_at",
)


def verdict_counts() -> dict[uuid.UUID, int]:
    with session_scope() as session:
        rows = session.execute(
            select(Verdict.submission_id, func.count()).group_by(Verdict.submission_id)
        )
        return {sid: n for sid, n in rows}


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(autouse=True)
def _services(clean_tables, redis_client, serving_model) -> None:  # noqa: ARG001
    empty_queues(redis_client)


def test_fifty_profiles_get_fifty_verdicts_with_audit_fields(tmp_path: Path, worker) -> None:
    records = [public(r) for r in generate(50, seed=7)]
    path = tmp_path / "profiles.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")

    done = trustq("enqueue", str(path), "--by", "t&s-team")
    assert done.returncode == 0, done.stderr
    ids = done.stdout.split()
    assert len(ids) == 50 and len(set(ids)) == 50

    worker.consume()
    verdicts = [client.wait_for_verdict(i, timeout=240) for i in ids]

    assert {v.external_id for v in verdicts} == {r["external_id"] for r in records}
    for v in verdicts:
        assert v.status == "done"
        assert 0.0 <= v.p_risk <= 1.0
        assert v.trust_score == pytest.approx(100 * (1 - v.p_risk), abs=0.051)
        assert v.risk_level in ("LOW", "MEDIUM", "HIGH")
        assert v.submitted_by == "t&s-team"
        assert set(v.indicators) == {
            "num_projects",
            "total_years",
            "avg_project_duration",
            "overlap_count",
            "tech_consistency",
            "project_link_ratio",
        }
        for field in AUDIT_FIELDS:
            assert getattr(v, field) not in (None, ""), field
        assert v.scored_at >= v.submitted_at
        parts = v.breakdown["parts"]
        assert {n: p["of"] for n, p in parts.items()} == {
            "resume_quality": 25,
            "project_realism": 45,
            "profile_validation": 30,
        }
        assert sum(p["points"] for p in parts.values()) == pytest.approx(v.trust_score, abs=0.01)
    # The model is not a constant: fifty different profiles get more than a few scores.
    assert len({round(v.p_risk, 3) for v in verdicts}) > 10

    # Readable through the CLI as well as the client.
    shown = trustq("verdict", ids[0], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["submission_id"] == ids[0]
    human = trustq("verdict", ids[0])
    assert "trust score" in human.stdout and "input sha256" in human.stdout
    assert "project realism" in human.stdout
    listed = trustq("verdicts", "--json", "--limit", "100", "--since", "1h")
    assert {json.loads(line)["submission_id"] for line in listed.stdout.splitlines()} == set(ids)
    one = records[3]["external_id"]
    by_freelancer = client.list_verdicts(external_id=one)
    assert [v.external_id for v in by_freelancer] == [one]
    risky = trustq("verdicts", "--risk", "HIGH", "--json", "--limit", "100")
    high = [json.loads(line) for line in risky.stdout.splitlines()]
    assert all(v["risk_level"] == "HIGH" for v in high)
    assert len(high) == sum(v.risk_level == "HIGH" for v in verdicts)


def test_same_idempotency_key_twice_gives_one_submission_and_one_verdict(
    worker, redis_client
) -> None:
    data = profile(idempotency_key="signup-42")
    first = client.enqueue(data)
    second = client.enqueue(data)
    assert first == second
    assert redis_client.llen("scoring") == 1
    worker.consume()
    client.wait_for_verdict(first, timeout=120)
    time.sleep(2)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 1
        assert session.scalar(select(func.count()).select_from(Verdict)) == 1


def test_worker_killed_mid_scoring_loses_nothing_and_duplicates_nothing(start_worker) -> None:
    ids = [r.id for r in client.enqueue_many([public(r) for r in generate(30, seed=11)])]
    # Small batches, so that the kill lands mid-way (a batch commits all of its verdicts).
    first = start_worker(TRUSTQ_BATCH_MAX_MESSAGES="4")
    wait_for(lambda: len(verdict_counts()) >= 3, 120, "the first verdicts")
    first.kill(signal.SIGKILL)
    scored_before = len(verdict_counts())
    assert scored_before < len(ids), "the worker finished before it could be killed"

    start_worker()
    wait_for(lambda: len(verdict_counts()) == len(ids), 180, "every verdict after the restart")
    time.sleep(3)  # let any late redelivery finish
    counts = verdict_counts()
    assert set(counts) == set(ids)
    assert set(counts.values()) == {1}


def test_invalid_profiles_are_refused_with_nothing_stored_or_queued(
    tmp_path: Path, redis_client
) -> None:
    good = profile()
    bad_rating = profile(projects=[{**good["projects"][0], "client_rating": 9}])
    extra = {**profile(), "salary": 10}
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join([json.dumps(good), json.dumps(bad_rating), "{not json", json.dumps(extra)]) + "\n"
    )

    refused = trustq("enqueue", str(path))
    assert refused.returncode == 2
    assert (
        "line 2: projects.0.client_rating: Input should be less than or equal to 5"
        in refused.stderr
    )
    assert "line 3: not valid JSON" in refused.stderr
    assert "line 4: salary: Extra inputs are not permitted" in refused.stderr
    assert "nothing was stored" in refused.stderr
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 0
    assert redis_client.llen("scoring") == 0

    skipped = trustq("enqueue", str(path), "--skip-bad", "--json")
    assert skipped.returncode == 0, skipped.stderr
    [queued] = [json.loads(line) for line in skipped.stdout.splitlines()]
    assert queued["created"] is True and queued["queued"] is True
    assert client.submission_status(queued["submission_id"])[0] == "queued"
    assert redis_client.llen("scoring") == 1

    single = trustq("enqueue", "-", stdin=json.dumps(profile(experience_level="wizard")))
    assert single.returncode == 2
    assert "experience_level: Input should be 'entry', 'mid', 'senior' or 'expert'" in single.stderr


def test_a_stored_payload_that_cannot_be_scored_fails_once_with_its_reason(worker) -> None:
    sid = client.enqueue(profile())
    # Corrupt the stored payload behind the API's back, as a bad migration might.
    with session_scope() as session:
        row = session.get(Submission, sid)
        row.payload = {**row.payload, "experience_level": "wizard"}
    worker.consume()
    wait_for(lambda: client.submission_status(sid)[0] == "failed", 120, "the failure")
    status, reason = client.submission_status(sid)
    assert "experience_level" in reason
    with pytest.raises(client.SubmissionFailed):
        client.get_verdict(sid)
