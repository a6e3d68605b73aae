"""The scoring task: what is Celery's in scoring. It claims a batch of messages, hands their
submissions to the pipeline (``trustq.scoring.pipeline``: read, compute, write) and
acknowledges each message once its verdict or its failure is committed; it retries what an
operator or time can fix.

One message starts the task (Celery delivers it and acknowledges it when the task returns);
with batching on, the task also takes the messages waiting behind it (see
``trustq.tasks.batching``) up to ``TRUSTQ_BATCH_TOKEN_BUDGET`` resume tokens or
``TRUSTQ_BATCH_MAX_MESSAGES`` messages, waiting at most ``TRUSTQ_BATCH_MAX_WAIT_MS`` for
more.

A message fails alone: a payload that cannot be read or validated is failed with its reason
before the model runs; a profile the model cannot score is failed while the rest of its
batch is scored; a verdict the database refuses is written on its own and only that one is
failed. A message delivered before (its attempt count is above one: its process may have
died on it) is scored on its own, after its batch is committed, so a message that kills its
process takes no batch with it.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from sqlalchemy.exc import OperationalError

from trustq import logs, metrics
from trustq.broker import names
from trustq.config import Settings, get_settings
from trustq.db.session import reset_engine, session_scope
from trustq.metrics import FailureReason
from trustq.scoring.encoders import variant_source
from trustq.scoring.pipeline import score_and_write
from trustq.scoring.read import Failure, Item, claim, to_item
from trustq.scoring.runtime import Runtime, get_runtime
from trustq.scoring.serving import EncoderMismatch, NoServingModel
from trustq.tasks import batching

log = logging.getLogger(__name__)

WORKER_HOST = f"{socket.gethostname()}/{os.getpid()}"


@worker_process_init.connect
def _load_in_child(**_: Any) -> None:
    # A forked pool process must not share the parent's database connections.
    global WORKER_HOST
    WORKER_HOST = f"{socket.gethostname()}/{os.getpid()}"
    reset_engine()
    runtime = get_runtime()
    log.info(
        "scoring process %s loaded the encoder (%s on %s; %s)",
        WORKER_HOST,
        runtime.encoder.variant,
        runtime.encoder.device,
        variant_source(runtime.settings),
    )


@dataclass(eq=False)
class Job:
    """One message of a batch and what became of its submission."""

    sid: uuid.UUID
    taken: batching.Taken | None  # None: the task's own message, which Celery acknowledges
    alone: bool = False
    copies: list[batching.Taken] | None = None  # the same id taken twice: acknowledged with it
    attempts: int = 0
    item: Item | None = None  # ready to score
    outcome: str | None = None  # set once the job is settled (committed, or nothing to do)
    failure: Failure | None = None  # to commit as the submission's failure

    @property
    def tokens(self) -> int:
        return self.item.tokens if self.item is not None else 0

    def settle(self, outcome: str) -> None:
        self.outcome = outcome
        for taken in [self.taken, *(self.copies or [])]:
            if taken is not None:
                taken.ack()


class Batch:
    """The jobs one task run scores, from the claim to the acknowledgements."""

    def __init__(
        self, settings: Settings, own: Job, runtime: Runtime, app: Any, node: str | None
    ) -> None:
        self.settings = settings
        self.own = own
        self.runtime = runtime
        self.app = app
        self.node = node  # the worker's Celery node name, recorded with each claim
        self.jobs: list[Job] = [own]

    def claim(self, jobs: list[Job]) -> None:
        """Claim ``jobs`` in one transaction, then read what each one holds."""
        with session_scope() as session:
            claimed = claim(session, [j.sid for j in jobs], self.node)
        for job in jobs:
            found = claimed[job.sid]
            if found.settled is not None:
                if found.settled == "missing":
                    with logs.bound(submission_id=str(job.sid)):
                        log.error("dropped a message for unknown submission %s", job.sid)
                job.settle(found.settled)  # nothing to write
                continue
            job.attempts = found.attempts
            ready = to_item(found, self.settings, self.runtime.encoder)
            if isinstance(ready, Failure):
                job.failure = ready
                continue
            job.item = ready
            if found.submitted_at is not None:
                metrics.queue_wait((dt.datetime.now(dt.UTC) - found.submitted_at).total_seconds())

    def gather(self) -> None:
        """Take the messages waiting behind this one, up to the budget or the wait."""
        settings = self.settings
        taker = batching.taker(self.app)
        by_id = {self.own.sid: self.own}
        tokens = self.own.tokens
        deadline = time.monotonic() + settings.batch_max_wait_ms / 1000.0
        while len(self.jobs) < settings.batch_max_messages and tokens < settings.batch_token_budget:
            scorable = [j for j in self.jobs if j.item is not None]
            want = settings.batch_max_messages - len(self.jobs)
            if scorable and tokens:
                # Half of what the average so far says still fits: the sizes of the messages
                # behind are unknown until they are claimed, so the budget is approached in
                # a few rounds instead of overshot in one.
                per_job = tokens / len(scorable)
                fits = (settings.batch_token_budget - tokens) / per_job
                want = min(want, max(1, math.floor(fits / 2)))
            taken, drained = taker.take(want)
            fresh: list[Job] = []
            for item in taken:
                sid = batching.submission_id(item.argument) if item.valid else None
                if sid is None:
                    log.error("dropped a message with a malformed submission id")
                    item.ack()
                    continue
                if sid in by_id:  # a second copy of a message in this batch
                    by_id[sid].copies = [*(by_id[sid].copies or []), item]
                    continue
                job = Job(sid, item, alone=item.alone)
                by_id[sid] = job
                fresh.append(job)
            if fresh:
                self.jobs.extend(fresh)
                self.claim(fresh)
                tokens += sum(j.tokens for j in fresh)
            if drained:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if not taken:
                    time.sleep(min(0.002, left))

    def give_back(self) -> None:
        """Requeue the messages taken along whose jobs are not settled (an error stopped
        the batch); they are claimed again by whoever takes them next."""
        for job in self.jobs:
            if job.outcome is None:
                for taken in [job.taken, *(job.copies or [])]:
                    if taken is not None:
                        taken.requeue()
                job.taken, job.copies = None, None

    def run(self) -> None:
        """Score and write every job: the batch first, then the ones scored on their own."""
        ready = [j for j in self.jobs if j.outcome is None and j.item is not None]
        together = [j for j in ready if not j.alone and j.attempts <= 1]
        self._score_and_write(together)
        for job in ready:
            if job not in together:
                self._score_and_write([job])

    def commit_failures(self) -> None:
        """Commit the failures found so far (the run stopped before it could)."""
        self._score_and_write([])

    def _score_and_write(self, jobs: list[Job]) -> None:
        """Score ``jobs`` and commit them with every failure not yet committed; then
        acknowledge them."""
        failing = [j for j in self.jobs if j.failure is not None and j.outcome is None]
        by_id = {j.sid: j for j in [*jobs, *failing]}
        outcomes = score_and_write(
            self.runtime,
            [j.item for j in jobs if j.item is not None],
            {j.sid: j.failure for j in failing if j.failure is not None},
            worker_host=WORKER_HOST,
        )
        for sid, outcome in outcomes.items():
            by_id[sid].settle(outcome)


@shared_task(
    name=names.SCORE_SUBMISSION,
    bind=True,
    max_retries=8,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
)
def score_submission(self: Task, submission_id: str, alone: bool = False) -> str:
    """Score one submission and, with batching on, those waiting behind it; returns what
    happened to the first (for logs and tests). ``alone``: score it outside any batch."""
    settings = get_settings()
    sid = batching.submission_id(submission_id)
    if sid is None:
        log.error("dropped a message with a malformed submission id")
        return "malformed"
    own = Job(sid, None, alone=alone)
    runtime = get_runtime()
    batch = Batch(settings, own, runtime, self.app, self.request.hostname)
    try:
        batch.claim([own])
        if own.outcome is not None:
            return own.outcome
        # A message delivered before may be one that kills its process: it takes nothing
        # else down with it. A payload that is already failed waits for no batch either.
        if settings.batching and not alone and own.attempts <= 1 and own.failure is None:
            runtime.scorer()  # no model: retry this message alone, take nothing else
            batch.gather()
        batch.run()
    except (NoServingModel, EncoderMismatch) as exc:
        # An operator can fix these; keep the message alive for a while.
        batch.give_back()
        if own.outcome is not None:
            return own.outcome
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=min(60, 5 * 2**self.request.retries)) from exc
        own.failure = Failure(str(exc), FailureReason.no_model)
        batch.commit_failures()
    except SoftTimeLimitExceeded:
        batch.give_back()
        if own.outcome is not None:
            return own.outcome
        if len(batch.jobs) > 1:
            # The batch ran out of time, not necessarily this message: try it on its own.
            raise self.retry(kwargs={"alone": True}, countdown=0) from None
        own.failure = Failure(
            f"scoring took longer than {settings.task_soft_time_limit} s", FailureReason.timeout
        )
        batch.commit_failures()
    except Exception:
        # The database (retried by Celery for this message) or anything unforeseen: the
        # messages taken along and not settled go back to the queue.
        batch.give_back()
        if own.outcome is not None:
            log.exception("a batch stopped after its first message was settled")
            return own.outcome
        raise
    return own.outcome or "failed"
