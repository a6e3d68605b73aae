"""Fault trials on the servers and beat: Redis wiped, PostgreSQL crashed, beat killed, each
while a burst is in flight (what is counted: ``tests/faults/test_trials.py``)."""

from __future__ import annotations

import json
import signal
import time
import uuid

import pytest
from sqlalchemy import select

from tests.cli import trustq
from tests.faults.conftest import Outcome, Trial, check, progress
from trustq.db.tables import Submission

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def test_redis_restarted_with_its_data_wiped(trial: Trial) -> None:
    started = time.monotonic()
    trial.start()
    poison = trial.add_poison(2)
    valid = trial.enqueue(30, seed=102)
    progress(trial, 5, "the first verdicts")

    trial.stack.redis.kill()  # no persistence: every queued and unacked message is gone
    down_at = time.monotonic()
    # Enqueued while Redis is down: stored, and the caller is told the sweeper will queue it.
    during = trustq("enqueue", str(trial.profiles_file(10, seed=103)), env=trial.env)
    assert during.returncode == 0, during.stderr
    assert "the broker is unreachable" in during.stderr
    lines = during.stdout.splitlines()
    assert len(lines) == 10 and all("queued later by the sweeper" in line for line in lines)
    late = [uuid.UUID(line.split("\t")[0]) for line in lines]
    time.sleep(max(0.0, 2.0 - (time.monotonic() - down_at)))
    trial.stack.redis.start()

    outcome = trial.settle(valid + late + poison)
    trial.report(
        "redis_wiped",
        "Redis killed mid-burst and restarted empty",
        1,
        outcome,
        started,
        invalid=len(poison),
    )
    trial.report(
        "enqueue_redis_down",
        "trustq enqueue while Redis is down (stored, queued later by the sweeper)",
        1,
        trial.settle(late, timeout=5),
        started,
    )
    check(outcome, valid + late, poison)


def test_postgres_restarted_mid_burst(trial: Trial) -> None:
    started = time.monotonic()
    trial.start()
    poison = trial.add_poison(2)
    valid = trial.enqueue(30, seed=104)
    progress(trial, 5, "the first verdicts")

    trial.stack.pg.stop("immediate")  # a crash: open connections die, recovery from WAL
    refused_file = trial.profiles_file(5, seed=105)
    refused = trustq("enqueue", str(refused_file), env=trial.env)
    time.sleep(2)
    trial.stack.pg.start()
    assert refused.returncode == 3, refused.stderr
    assert "cannot reach the database" in refused.stderr

    outcome = trial.settle(valid + poison)
    with trial.stack.engine.connect() as conn:
        stored = set(conn.execute(select(Submission.external_id)).scalars())
    refused_ids = {
        json.loads(line)["external_id"] for line in refused_file.read_text().splitlines()
    }
    trial.report(
        "postgres_restarted",
        "PostgreSQL crashed (immediate stop) mid-burst, down 2 s, restarted",
        1,
        outcome,
        started,
        invalid=len(poison),
    )
    trial.report(
        "enqueue_postgres_down",
        "trustq enqueue while PostgreSQL is down (clear error, nothing stored or queued)",
        1,
        Outcome(in_flight=len(refused_ids)),
        started,
        refused=len(refused_ids),
        stored=len(refused_ids & stored),
    )
    check(outcome, valid, poison)
    assert not refused_ids & stored
    assert len(stored) == len(valid) + len(poison)
    # Nothing was queued for the refused profiles: no worker met an id it could not find.
    assert "unknown submission" not in trial.worker_logs()


def test_beat_killed_and_restarted(trial: Trial) -> None:
    started = time.monotonic()
    trial.start()
    beat = trial.beats[0]
    poison = trial.add_poison(2)
    valid = trial.enqueue(30, seed=106)
    progress(trial, 3, "the first verdicts")

    kills = 0
    for _ in range(2):
        beat.kill(signal.SIGKILL)
        kills += 1
        # While beat is down the broker loses what is still queued: only a sweep can find it.
        dropped = trial.stack.redis.client().delete("scoring")
        time.sleep(4)  # longer than TRUSTQ_SWEEP_STALE_AFTER: a live sweeper would have acted
        beat = trial.start_beat()
        if dropped:
            progress(trial, 1, "scoring to resume after beat's restart")

    outcome = trial.settle(valid + poison)
    trial.report(
        "beat_killed",
        "beat SIGKILLed (twice) while the queue lost its messages, then restarted",
        kills,
        outcome,
        started,
        invalid=len(poison),
    )
    check(outcome, valid, poison)
