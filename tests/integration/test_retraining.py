"""Retraining end to end: labels in, beat, one run, the gate, the workers' switch.

Real PostgreSQL, Redis, worker and beat processes. The base set is the 300 synthetic
profiles (seed 1) the serving model was trained on, so its test split is a true holdout
and its embeddings are cached. The labelled submissions are those same profiles again
(``LABELLED``): what is tested is the trigger, the gate and the switch, and the encoder,
the slowest part of a run on two cores, has nothing new to embed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from tests.cli import trustq
from tests.conftest import REDIS_URL, ROOT
from tests.factories import MODEL_RESUME_WORDS, copy_model_version, public
from tests.factories import profile as make_profile
from trustq import client
from trustq.config import Settings
from trustq.data.synthetic import generate
from trustq.db import models as models_db
from trustq.db import runs as runs_db
from trustq.db import submissions as submissions_db
from trustq.db.session import session_scope
from trustq.db.tables import (
    Label,
    ModelDecision,
    ModelStatus,
    ModelVersion,
    TrainingRun,
)
from trustq.models.artifact import deserialise, serialise, sha256_hex
from trustq.schemas import sha256_text
from trustq.services import retraining
from trustq.services.submissions import parse_profile
from trustq.worker.processes import BeatProcess

# The serving model's base set, labelled again; a run embeds none of it anew.
LABELLED = generate(300, seed=1, resume_words=MODEL_RESUME_WORDS)

# Every run trains on the serving model's own base set (see the module docstring).
RETRAIN_ENV = {
    "TRUSTQ_RETRAIN_BASE_SIZE": "300",
    "TRUSTQ_RETRAIN_BASE_SEED": "1",
    "TRUSTQ_RETRAIN_BASE_RESUME_WORDS": json.dumps(MODEL_RESUME_WORDS),
    "TRUSTQ_RETRAIN_MAX_EPOCHS": "6",
    "TRUSTQ_RETRAIN_CHECK_SECONDS": "2",
    "TRUSTQ_REASON_SENTENCES": "never",
    # Training takes longer than the short test limits of scoring.
    "TRUSTQ_VISIBILITY_TIMEOUT": "600",
}
# The holdout here holds about 85 profiles: two equally good models differ by a few
# hundredths of ROC-AUC on it, so the test's margins are wider than production's.
LENIENT_GATE = {
    "TRUSTQ_PROMOTE_MAX_AUC_DROP": "0.05",
    "TRUSTQ_PROMOTE_MAX_LOG_LOSS_RISE": "0.05",
    "TRUSTQ_PROMOTE_MIN_AUC": "0.55",
    "TRUSTQ_PROMOTE_MAX_LOG_LOSS": "0.80",
}


@pytest.fixture
def retraining_state(clean_tables, serving_model: str) -> Iterator[str]:  # noqa: ARG001
    """No runs, decisions or other versions before; the fixture's model serving after."""
    _clear_runs(keep=serving_model)
    yield serving_model
    with session_scope() as session:
        if models_db.serving_model(session).version != serving_model:
            models_db.promote_model(session, serving_model)
    _clear_runs(keep=serving_model, versions=False)


def _clear_runs(keep: str, versions: bool = True) -> None:
    with session_scope() as session:
        session.execute(delete(TrainingRun))
        session.execute(delete(ModelDecision))
        if versions:  # verdicts (emptied by clean_tables) refer to versions
            session.execute(delete(ModelVersion).where(ModelVersion.version != keep))
    import redis

    redis.Redis.from_url(REDIS_URL).delete("training", "scoring")


def _labelled_submissions(records: list[dict], labels: list[str], source: str) -> list[str]:
    """Scored-looking submissions with one label each, the labels in list order."""
    ids = []
    with session_scope() as session:
        for record in records:
            payload = public(record)
            parse_profile(payload)
            row, _ = submissions_db.add_submission(
                session,
                external_id=payload["external_id"],
                idempotency_key=None,
                payload=payload,
                resume_sha256=sha256_text(payload["resume_text"]),
                submitted_by="tests",
                request_id=None,
            )
            row.status = "done"
            ids.append(str(row.id))
    client.label_many(
        [
            {"submission_id": sid, "label": label, "source": source}
            for sid, label in zip(ids, labels, strict=True)
        ],
        by="billing",
    )
    return ids


def _truth(records: list[dict]) -> list[str]:
    return ["risky" if r["label"] == 1 else "trustworthy" for r in records]


def _flip(labels: list[str]) -> list[str]:
    return ["trustworthy" if x == "risky" else "risky" for x in labels]


def _wait_for_finished_run(timeout: float) -> TrainingRun:
    """The one training run, once it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope() as session:
            runs = list(session.scalars(select(TrainingRun)))
            session.expunge_all()
        assert len(runs) <= 1, f"{len(runs)} training runs"
        if runs and runs[0].status in ("done", "failed"):
            return runs[0]
        time.sleep(1)
    pytest.fail(f"no training run finished within {timeout:.0f} s")


def test_enough_labels_make_beat_train_promote_and_workers_switch(
    retraining_state: str, start_worker, tmp_path: Path
) -> None:
    old = retraining_state
    env = {**RETRAIN_ENV, **LENIENT_GATE, "TRUSTQ_RETRAIN_MIN_NEW_LABELS": "200"}
    worker = start_worker(**env)
    # The worker serves the old model before the run.
    first = client.enqueue(make_profile(), submitted_by="tests")
    assert client.wait_for_verdict(first, timeout=120).model_version == old

    records = LABELLED[:199]
    _labelled_submissions(records, _truth(records), "chargeback")
    beat = BeatProcess(tmp_path / "beat.log", env)
    try:
        # 199 labels: the beat checks every 2 s and starts nothing.
        time.sleep(6)
        with session_scope() as session:
            assert session.scalar(select(TrainingRun.id)) is None
        more = LABELLED[199:200]
        _labelled_submissions(more, _truth(more), "review")
        run = _wait_for_finished_run(timeout=400)
    finally:
        beat.stop()

    assert run.status == "done", run.error
    assert run.trigger == "beat" and run.new_labels == 200
    with session_scope() as session:
        decision = models_db.list_model_decisions(session)[0]
        new = models_db.get_model_version(session, run.candidate_version)
        assert decision.version == new.version and decision.previous_version == old
        assert decision.decision == "promoted", decision.reason
        assert decision.reason.startswith("promoted on ")
        assert decision.candidate_metrics["holdout"]["labelled_recent"] == 40
        assert decision.serving_metrics["roc_auc"] is not None
        assert new.status == "serving" and new.labels_used == 160
        promoted_at = decision.created_at

    # The running worker switches without a restart; the next verdict carries the new version.
    nxt = client.enqueue(make_profile(), submitted_by="tests")
    verdict = client.wait_for_verdict(nxt, timeout=120)
    assert verdict.model_version == run.candidate_version
    assert (verdict.scored_at - promoted_at).total_seconds() < 60
    assert worker.proc.poll() is None

    shown = trustq("models", "history", "--json")
    assert run.candidate_version in shown.stdout and "promoted" in shown.stdout
    listed = trustq("models")
    assert listed.returncode == 0, listed.stderr
    assert run.candidate_version in listed.stdout and "serving" in listed.stdout
    versions = [
        json.loads(line) for line in trustq("models", "list", "--json").stdout.split("\n") if line
    ]
    assert {v["version"]: v["status"] for v in versions}[run.candidate_version] == "serving"
    assert "done" in trustq("runs").stdout
    [shown] = [json.loads(line) for line in trustq("runs", "--json").stdout.splitlines()]
    assert shown["id"] == run.id and shown["status"] == "done" and shown["trigger"] == "beat"


def test_a_candidate_trained_on_flipped_labels_is_rejected_with_its_reason(
    retraining_state: str, start_worker
) -> None:
    old = retraining_state
    # Older labels flipped (a broken label feed); the newest fifth, the holdout, honest.
    records = LABELLED
    truth = _truth(records)
    _labelled_submissions(records, _flip(truth[:240]) + truth[240:], "dispute")
    start_worker(**RETRAIN_ENV)
    request = retraining.request_run(Settings(), trigger="manual", requested_by="tests", force=True)
    assert request.started
    run = _wait_for_finished_run(timeout=400)

    assert run.status == "done", run.error
    with session_scope() as session:
        decision = models_db.list_model_decisions(session)[0]
        assert decision.decision == "rejected"
        assert decision.version == run.candidate_version and decision.previous_version == old
        assert "ROC-AUC" in decision.reason and "serving" in decision.reason
        assert decision.candidate_metrics["roc_auc"] < decision.serving_metrics["roc_auc"]
        assert models_db.serving_model(session).version == old
        assert models_db.get_model_version(session, run.candidate_version).status == "candidate"


def test_simultaneous_triggers_start_one_run(retraining_state: str) -> None:  # noqa: ARG001
    settings = Settings()
    results: list[retraining.RunRequest] = []
    barrier = threading.Barrier(4)

    def trigger() -> None:
        barrier.wait()
        results.append(
            retraining.request_run(settings, trigger="manual", requested_by="t", force=True)
        )

    threads = [threading.Thread(target=trigger) for _ in range(4)]
    clis = []
    for t in threads:
        t.start()
    # And two command lines at the same moment.
    for _ in range(2):
        clis.append(
            subprocess.Popen(
                [sys.executable, "-m", "trustq", "retrain", "--now", "--by", "cli"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for t in threads:
        t.join()
    outputs = [p.communicate(timeout=60) for p in clis]

    with session_scope() as session:
        runs = list(session.scalars(select(TrainingRun)))
    assert len(runs) == 1 and runs[0].status == "queued"
    started_here = [r for r in results if r.started]
    started_cli = [out for out, _ in outputs if out.strip()]
    assert len(started_here) + len(started_cli) == 1
    assert all(
        "already" in r.message or "at this moment" in r.message for r in results if not r.started
    )
    # Once that run has ended, the next trigger may start another.
    with session_scope() as session:
        runs_db.finish_training_run(session, runs[0].id, status="failed", error="test")
    again = retraining.request_run(settings, trigger="manual", requested_by="t", force=True)
    assert again.started and again.run_id != runs[0].id


def test_without_enough_new_labels_only_a_scheduled_run_starts(
    retraining_state: str,  # noqa: ARG001
) -> None:
    settings = Settings(retrain_min_new_labels=6, retrain_schedule="0 3 * * 0")
    scheduled = retraining.request_run(
        settings, trigger="schedule", requested_by="beat (schedule)", min_new_labels=1
    )
    assert not scheduled.started and scheduled.message.startswith("0 newly labelled")

    records = generate(5, seed=24)
    _labelled_submissions(records, _truth(records), "manual")
    request = retraining.request_run(settings, trigger="beat", requested_by="beat")
    assert not request.started and request.message.startswith("5 newly labelled submission(s)")
    with session_scope() as session:
        assert session.scalar(select(TrainingRun.id)) is None

    scheduled = retraining.request_run(
        settings, trigger="schedule", requested_by="beat (schedule)", min_new_labels=1
    )
    assert scheduled.started
    with session_scope() as session:
        run = session.get(TrainingRun, scheduled.run_id)
        assert (run.trigger, run.new_labels, run.status) == ("schedule", 5, "queued")


def test_a_corrupted_artifact_is_refused_and_the_old_model_keeps_serving(
    retraining_state: str, start_worker
) -> None:
    old = retraining_state
    worker = start_worker()
    with session_scope() as session:
        serving = models_db.get_model_version(session, old)
        # Another model (same weights, other metadata) whose stored bytes then rotted.
        model, meta = deserialise(serving.artifact, serving.artifact_sha256)
        good = serialise(model, {**meta, "note": "a copy"})
        broken = bytearray(good)
        broken[len(broken) // 2] ^= 0xFF
        session.add(
            ModelVersion(
                version="v-broken",
                status=ModelStatus.candidate,
                training_data_sha256=serving.training_data_sha256,
                encoder_name=serving.encoder_name,
                encoder_revision=serving.encoder_revision,
                metrics={},
                artifact=bytes(broken),
                artifact_sha256=sha256_hex(good),
                created_by="tests",
            )
        )
    first = client.enqueue(make_profile(), submitted_by="tests")
    assert client.wait_for_verdict(first, timeout=120).model_version == old
    # A person cannot promote it: it is checked first.
    refused = trustq("models", "promote", "v-broken", "--by", "alice")
    assert refused.returncode != 0 and "refused" in refused.stderr
    # Storage corrupted after promotion: the worker refuses it and keeps the old model.
    with session_scope() as session:
        models_db.promote_model(session, "v-broken")
    sid = client.enqueue(make_profile(), submitted_by="tests")
    assert client.wait_for_verdict(sid, timeout=120).model_version == old
    assert "model v-broken refused, still serving" in worker.output()


def test_a_rollback_is_a_promotion_recorded_with_its_actor(retraining_state: str) -> None:
    old = retraining_state
    copy_model_version(old, "v-copy")
    assert trustq("models", "promote", "v-copy", "--by", "alice").returncode == 0
    back = trustq("models", "promote", old, "--by", "bob", "--note", "rollback")
    assert back.returncode == 0, back.stderr
    with session_scope() as session:
        decisions = models_db.list_model_decisions(session)
        assert [(d.version, d.actor, d.previous_version) for d in decisions[:2]] == [
            (old, "bob", "v-copy"),
            ("v-copy", "alice", old),
        ]
        assert decisions[0].reason == "promoted by hand by bob: rollback"
        assert models_db.serving_model(session).version == old
    assert "already serving" in trustq("models", "promote", old, "--by", "bob").stderr


def test_bulk_labels_are_all_stored_or_none(retraining_state: str, tmp_path: Path) -> None:  # noqa: ARG001
    records = generate(3, seed=25)
    ids = _labelled_submissions(records, _truth(records), "manual")
    good = tmp_path / "labels.csv"
    good.write_text(
        "submission_id,label,source,note\n"
        + "".join(f"{sid},risky,chargeback,refund {i}\n" for i, sid in enumerate(ids))
    )
    done = trustq("label", "--file", str(good), "--by", "billing")
    assert done.returncode == 0, done.stderr
    assert "recorded 3 label(s)" in done.stderr
    entries = client.labels(ids[0])
    assert entries[0].label == "risky" and entries[0].source == "chargeback"
    assert entries[0].actor == "billing" and len(entries) == 2

    bad = tmp_path / "labels.jsonl"
    bad.write_text(
        f'{{"submission_id": "{ids[1]}", "label": "trustworthy", "by": "x"}}\n'
        f'{{"submission_id": "{ids[2]}", "label": "maybe", "by": "x"}}\n'
        "not json\n"
    )
    refused = trustq("label", "--file", str(bad))
    assert refused.returncode != 0
    assert "line 2: label must be risky or trustworthy" in refused.stderr
    assert "line 3: not valid JSON" in refused.stderr
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text(
        f'{{"submission_id": "{ids[1]}", "label": "trustworthy", "by": "x"}}\n'
        f'{{"submission_id": "{uuid.uuid4()}", "label": "risky", "by": "x"}}\n'
    )
    missing = trustq("label", "--file", str(unknown))
    assert missing.returncode == 1 and "1 unknown submission(s), nothing stored" in missing.stderr
    with session_scope() as session:
        assert session.scalar(select(Label.id).where(Label.actor == "x")) is None
    # Nothing was half-written: the refused files added no label (the first and the CSV one).
    assert len(client.labels(ids[1])) == 2
