"""Fault trials: a burst of submissions is in flight when the fault strikes; afterwards every
submission has exactly one verdict, or (the poison ones, whose stored payload cannot be
scored) a failed status with its reason. Nothing lost, nothing duplicated.

Here the faults that strike workers; those on the servers and beat are in
``test_server_trials.py`` (a file of their own, so a parallel run spreads them)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time

import pytest
from sqlalchemy import select

from tests.faults.conftest import Trial, check, pool_children
from tests.servers import wait_for
from trustq.config import Settings
from trustq.db.tables import Submission

pytestmark = [pytest.mark.faults, pytest.mark.integration]


SIGKILLED = "exited with 'signal 9 (SIGKILL)'"


def mid_batch(trial: Trial, since: dt.datetime) -> dt.datetime:
    """Wait until a live pool process has claimed a batch after ``since``; now is a good
    moment to strike. Returns the database's clock, the mark for the next strike."""
    wait_for(lambda: trial.claimed_since(since) > 0, 60, "a batch being scored", every=0.01)
    return trial.db_now()


def test_worker_processes_killed_mid_batch(trial: Trial) -> None:
    started = time.monotonic()
    [worker] = trial.start()
    poison = trial.add_poison(2)
    valid = trial.enqueue(60, seed=101)

    kills = 0
    mark = trial.db_now()
    for _ in range(3):
        mark = mid_batch(trial, mark)
        wait_for(lambda: pool_children(worker), 10, "a pool process")
        os.kill(pool_children(worker)[0], signal.SIGKILL)
        kills += 1
        # The next batch may come from the other pool process before the main process has
        # noticed this one die: wait for it to, or the last loss goes unlogged.
        wait_for(
            lambda n=kills: trial.worker_logs().count(SIGKILLED) >= n,
            30,
            "the worker to log its pool process's death",
        )
    mid_batch(trial, mark)
    worker.kill(signal.SIGKILL)  # the main process and its pool: unacked messages wait
    kills += 1
    assert trial.verdict_count() < len(valid), "the burst was over before the faults"
    trial.start_worker()

    outcome = trial.settle(valid + poison)
    pools_lost = trial.worker_logs().count(SIGKILLED)
    trial.report(
        "worker_sigkill",
        "a pool process SIGKILLed mid-batch (3 times), then a whole worker (once)",
        kills,
        outcome,
        started,
        invalid=len(poison),
        pool_processes_lost=pools_lost,
    )
    check(outcome, valid, poison)
    assert pools_lost >= 3, "the pool processes were not all killed"


def _claimed_by(trial: Trial, worker: str) -> int:
    with trial.stack.engine.connect() as conn:
        return len(
            conn.execute(
                select(Submission.id).where(
                    Submission.status == "processing", Submission.claimed_by == worker
                )
            ).all()
        )


def test_a_whole_worker_lost_with_production_settings(trial: Trial) -> None:
    """A machine lost with its worker: the main process and its pool die at once, holding a
    batch taken from Redis and not acknowledged. With the settings as shipped (a 30-minute
    visibility timeout, 30 s sweeps, batches of 32), the live worker sees its heartbeat stop
    and queues its submissions again within about a minute."""
    started = time.monotonic()
    # As shipped: the defaults of trustq/config.py, over the run's shortened ones.
    shipped = {
        name: Settings.model_fields[name].default
        for name in (
            "visibility_timeout",
            "unacked_restore_interval",
            "task_soft_time_limit",
            "task_time_limit",
            "sweep_interval",
            "sweep_stale_after",
            "max_attempts",
            "model_refresh_seconds",
            "batch_max_messages",
            "heartbeat_seconds",
            "lost_worker_after",
        )
    }
    trial.env |= {f"TRUSTQ_{name.upper()}": str(value) for name, value in shipped.items()}
    assert trial.env["TRUSTQ_VISIBILITY_TIMEOUT"] == "1800"
    lost, survivor = trial.start(workers=2)
    valid = trial.enqueue(60, seed=111)
    wait_for(lambda: _claimed_by(trial, lost.nodename) > 0, 60, "a batch claimed", every=0.01)
    held = _claimed_by(trial, lost.nodename)
    lost.kill(signal.SIGKILL)
    killed = time.monotonic()

    wait_for(lambda: trial._settled(set(valid)), 90, "every submission to settle after the kill")
    settled_in = time.monotonic() - killed
    outcome = trial.settle(valid)
    trial.report(
        "whole_worker_lost",
        "a whole worker SIGKILLed mid-batch, settings as shipped (visibility timeout 30 min)",
        1,
        outcome,
        started,
        held_by_the_lost_worker=held,
        settled_seconds_after_the_kill=round(settled_in, 1),
    )
    check(outcome, valid, [])
    assert settled_in <= 90
    # Taken back by the survivor (after a heartbeat, or in a sweep it ran for beat).
    assert "claimed by workers silent for" in survivor.log_path.read_text(errors="replace")


def test_two_workers_race_for_the_same_redelivered_message(trial: Trial) -> None:
    started = time.monotonic()
    # Batching off: each copy is a task of its own, so the two copies of a message are
    # scored at the same moment by the two workers (batches are covered by the trials above).
    trial.env["TRUSTQ_BATCHING"] = "false"
    trial.start(workers=2, beat=False)
    # Publish to another Redis database, then hand both workers two copies of each message
    # at once: the redelivery of a message whose first delivery is still being worked on.
    ids = trial.enqueue(20, seed=107, TRUSTQ_BROKER_URL=trial.stack.redis.url(1))
    messages = trial.stack.redis.client(1).lrange("scoring", 0, -1)
    assert len(messages) == len(ids)
    pipe = trial.stack.redis.client(0).pipeline(transaction=True)
    for message in messages:
        pipe.lpush("scoring", message, message)
    pipe.execute()

    outcome = trial.settle(ids)
    with trial.stack.engine.connect() as conn:
        # Each claim counts an attempt: two mean both workers were scoring it at once.
        attempts = conn.execute(select(Submission.attempts).where(Submission.id.in_(ids)))
        raced = sum(a >= 2 for a in attempts.scalars())
    trial.report(
        "two_workers_race",
        "two workers handed the same message twice at once",
        len(ids),
        outcome,
        started,
        claimed_by_both=raced,
    )
    check(outcome, ids, [])
    assert raced >= 1, "no message was claimed by both workers: the race never happened"
