"""The storage rules, on a real PostgreSQL database."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from tests.factories import profile
from trustq.db import models as models_db
from trustq.db import submissions as submissions_db
from trustq.db import verdicts as verdicts_db
from trustq.db import workers as workers_db
from trustq.db.session import session_scope
from trustq.db.tables import ModelVersion, Submission, Verdict, WorkerHeartbeat, utcnow
from trustq.schemas import Profile

pytestmark = pytest.mark.db


def _add(session, key: str | None = None) -> tuple[Submission, bool]:
    p = Profile.model_validate(profile(idempotency_key=key))
    return submissions_db.add_submission(
        session,
        external_id=p.external_id,
        idempotency_key=p.idempotency_key,
        payload=p.model_dump(mode="json"),
        resume_sha256="0" * 64,
        submitted_by="tests",
        request_id=None,
    )


def _model(session, version: str) -> None:
    models_db.add_model_version(
        session,
        ModelVersion(
            version=version,
            training_data_sha256="0" * 64,
            encoder_name="enc",
            encoder_revision="rev",
            metrics={},
            artifact=b"x",
            artifact_sha256="0" * 64,
            created_by="tests",
        ),
    )


def _verdict(submission_id, version: str) -> dict:
    return {
        "submission_id": submission_id,
        "p_risk": 0.2,
        "trust_score": 80.0,
        "risk_level": "LOW",
        "label": "trustworthy",
        "model_version": version,
        "encoder_name": "enc",
        "encoder_revision": "rev",
        "input_sha256": "1" * 64,
        "indicators": {},
        "latency_ms": 1.0,
        "worker_host": "h",
    }


def test_concurrent_inserts_with_one_idempotency_key_make_one_row(clean_tables) -> None:  # noqa: ARG001
    ids, barrier = [], threading.Barrier(4)

    def insert() -> None:
        barrier.wait()
        with session_scope() as session:
            row, _ = _add(session, key="race-1")
            ids.append(row.id)

    threads = [threading.Thread(target=insert) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 1


def test_a_second_verdict_from_the_same_model_is_not_written(rolled_back) -> None:  # noqa: ARG001
    with session_scope() as session:
        row, _ = _add(session)
        _model(session, "t-same")
    with session_scope() as session:
        assert verdicts_db.write_verdict(session, _verdict(row.id, "t-same")) is True
    with session_scope() as session:
        assert verdicts_db.write_verdict(session, _verdict(row.id, "t-same")) is False
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Verdict)) == 1
        assert submissions_db.get_submission(session, row.id).status == "done"


def test_only_one_model_serves(rolled_back) -> None:  # noqa: ARG001
    with session_scope() as session:
        _model(session, "t-a")
        _model(session, "t-b")
    with session_scope() as session:
        models_db.promote_model(session, "t-a")
    with session_scope() as session:
        models_db.promote_model(session, "t-b")
        assert models_db.serving_model_version(session)[0] == "t-b"
        assert models_db.get_model_version(session, "t-a").status == "retired"
    with pytest.raises(IntegrityError), session_scope() as session:
        session.get(ModelVersion, "t-a").status = "serving"
    with pytest.raises(LookupError), session_scope() as session:
        models_db.promote_model(session, "no-such-version")


def test_only_claims_of_silent_workers_are_taken_back_and_only_once(rolled_back) -> None:  # noqa: ARG001
    now = utcnow()
    long_ago, silent_since = now - dt.timedelta(minutes=5), now - dt.timedelta(seconds=30)
    with session_scope() as session:
        workers_db.record_heartbeat(session, "dead@a", long_ago)
        workers_db.record_heartbeat(session, "alive@b", now)
        rows = {}
        for name, claimed_by in [
            ("dead", "dead@a"),
            ("alive", "alive@b"),
            ("never-beat", "gone@c"),
            ("unclaimed", None),
        ]:
            row, _ = _add(session)
            row.status = "processing" if claimed_by or name == "unclaimed" else "queued"
            row.claimed_by = claimed_by
            rows[name] = row
        session.flush()
        # Claimed long ago, but for one just claimed by the dead worker before it died.
        session.execute(update(Submission).values(updated_at=long_ago))
        fresh, _ = _add(session)
        fresh.status, fresh.claimed_by = "processing", "dead@a"
        session.flush()
        ids = {name: row.id for name, row in rows.items()}

    with session_scope() as session:
        lost = submissions_db.claimed_by_lost_workers(session, silent_since, 100)
        assert {r.id for r in lost} == {ids["dead"], ids["never-beat"]}
        assert all(submissions_db.requeue_stale(session, r) for r in lost)
        again = submissions_db.claimed_by_lost_workers(session, silent_since, 100)
        assert again == [] and not submissions_db.requeue_stale(session, lost[0])
        back = session.get(Submission, ids["dead"])
        assert (back.status, back.claimed_by, back.attempts) == ("queued", None, 1)
        assert session.get(WorkerHeartbeat, "alive@b").beat_at == now
