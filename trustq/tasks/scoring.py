"""The scoring task: claim a batch of submissions, score them together with no session open,
write every verdict of the batch in one transaction, then acknowledge their messages.

One message starts the task (Celery delivers it and acknowledges it when the task returns);
with batching on, the task also takes the messages waiting behind it (see
``trustq.worker.batching``) up to ``TRUSTQ_BATCH_TOKEN_BUDGET`` resume tokens or
``TRUSTQ_BATCH_MAX_MESSAGES`` messages, waiting at most ``TRUSTQ_BATCH_MAX_WAIT_MS`` for
more. Every message is acknowledged only after its verdict, or its failure, is committed.

A message fails alone: a payload that cannot be read or validated is failed with its reason
before the model runs; a profile the model cannot score is failed while the rest of its
batch is scored (the runtime scores the batch's profiles one by one when the batch raises);
a verdict the database refuses is written on its own and only that one is failed. A message
delivered before (its attempt count is above one: its process may have died on it) is
scored on its own, after its batch is committed, so a message that kills its process takes
no batch with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from trustq import logs, metrics
from trustq.config import Settings, get_settings
from trustq.db import repo
from trustq.db.session import reset_engine, session_scope
from trustq.db.tables import SubmissionStatus
from trustq.metrics import FailureReason
from trustq.rules.duplicates import duplicate_flags
from trustq.rules.flags import Flag
from trustq.schemas import Profile, describe_errors
from trustq.services.resume_files import FileLimits, ResumeFileError, extract_text
from trustq.services.submissions import sha256_text
from trustq.tasks import names
from trustq.worker import batching
from trustq.worker.runtime import (
    BatchReport,
    DuplicateLookup,
    EncoderMismatch,
    NoServingModel,
    Runtime,
    Scored,
    get_runtime,
)

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
        "scoring process %s loaded the encoder (%s on %s)",
        WORKER_HOST,
        runtime.encoder.variant,
        runtime.encoder.device,
    )


def _payload_sha256(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(eq=False)
class Job:
    """One message of a batch and what became of its submission."""

    sid: uuid.UUID
    taken: batching.Taken | None  # None: the task's own message, which Celery acknowledges
    alone: bool = False
    copies: list[batching.Taken] | None = None  # the same id taken twice: acknowledged with it
    attempts: int = 0
    payload: dict[str, Any] | None = None
    submitted_at: dt.datetime | None = None
    profile: Profile | None = None
    tokens: int = 0
    outcome: str | None = None  # set once the job is settled (committed, or nothing to do)
    failure: tuple[str, FailureReason] | None = None  # to commit as the submission's failure

    def settle(self, outcome: str) -> None:
        self.outcome = outcome

    def fail(self, reason: str, kind: FailureReason) -> None:
        self.failure = (reason, kind)

    def acknowledge(self) -> None:
        for taken in [self.taken, *(self.copies or [])]:
            if taken is not None:
                taken.ack()


class Batch:
    """The jobs one task run scores, from the claim to the acknowledgements."""

    def __init__(self, settings: Settings, own: Job, runtime: Runtime) -> None:
        self.settings = settings
        self.own = own
        self.runtime = runtime
        self.jobs: list[Job] = [own]

    # --- gathering -----------------------------------------------------------------------

    def claim(self, jobs: list[Job]) -> None:
        """Claim ``jobs`` in one transaction, then read and check what each one holds."""
        with session_scope() as session:
            rows = repo.claim_submissions(session, [j.sid for j in jobs])
            files: dict[uuid.UUID, tuple[str, bytes] | None] = {}
            for job in jobs:
                row = rows.get(job.sid)
                if row is None:
                    with logs.bound(submission_id=str(job.sid)):
                        log.error("dropped a message for unknown submission %s", job.sid)
                    job.settle("missing")
                    continue
                if row.status in (SubmissionStatus.done, SubmissionStatus.failed):
                    job.settle(f"already {row.status}")
                    continue
                job.attempts, job.payload, job.submitted_at = (
                    row.attempts,
                    row.payload,
                    row.created_at,
                )
                if not job.payload.get("resume_text"):
                    files[job.sid] = repo.resume_file_of(session, job.sid)
        extracted: dict[uuid.UUID, dict[str, Any]] = {}
        for job in jobs:
            if job.outcome is not None:
                job.acknowledge()  # unknown, or settled before: nothing to write
                continue
            if job.payload is None:
                continue
            if job.attempts > self.settings.max_attempts:
                job.fail(
                    f"gave up after {self.settings.max_attempts} attempts",
                    FailureReason.attempts_exhausted,
                )
                continue
            resume_file = files.get(job.sid)
            if resume_file is not None:
                try:
                    text = extract_text(
                        resume_file[1], resume_file[0], FileLimits.from_settings(self.settings)
                    )
                except ResumeFileError as exc:
                    job.fail(f"resume file unusable: {exc}", FailureReason.resume_file)
                    continue
                job.payload = {**job.payload, "resume_text": text}
                extracted[job.sid] = job.payload
            try:
                job.profile = Profile.model_validate(job.payload)
            except ValidationError as exc:
                job.fail(
                    "stored payload is not a valid profile: " + "; ".join(describe_errors(exc)),
                    FailureReason.invalid_payload,
                )
                continue
            job.tokens = self.runtime.encoder.count_tokens([job.profile.text])[1]
            if job.submitted_at is not None:
                metrics.queue_wait((dt.datetime.now(dt.UTC) - job.submitted_at).total_seconds())
        if extracted:
            with session_scope() as session:
                for sid, payload in extracted.items():
                    repo.set_extracted_resume(
                        session, sid, payload, sha256_text(payload["resume_text"])
                    )

    def gather(self) -> None:
        """Take the messages waiting behind this one, up to the budget or the wait."""
        settings = self.settings
        taker = batching.taker()
        by_id = {self.own.sid: self.own}
        tokens = self.own.tokens
        deadline = time.monotonic() + settings.batch_max_wait_ms / 1000.0
        while len(self.jobs) < settings.batch_max_messages and tokens < settings.batch_token_budget:
            scorable = [j for j in self.jobs if j.profile is not None]
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

    def commit_failures(self) -> None:
        """Commit the failures found so far (the run stopped before it could)."""
        failing = self._unsettled_failures()
        if failing:
            self._commit([], failing)

    # --- scoring and writing -------------------------------------------------------------

    def run(self) -> None:
        """Score and write every job: the batch first, then the ones scored on their own."""
        ready = [j for j in self.jobs if j.outcome is None and j.failure is None]
        together = [j for j in ready if not j.alone and j.attempts <= 1]
        self._score_and_write(together)
        for job in ready:
            if job not in together:
                self._score_and_write([job])

    def _score_and_write(self, jobs: list[Job]) -> None:
        """Score ``jobs`` together and commit their verdicts with every failure not yet
        committed, in one transaction; then acknowledge them."""
        if not jobs and not self._unsettled_failures():
            return
        started = time.perf_counter()
        report = BatchReport()
        results: list[Scored | Exception] = []
        if jobs:
            results = self.runtime.score_batch(
                [j.profile for j in jobs if j.profile is not None],
                dt.date.today(),
                duplicates=self._duplicates(jobs),
                report=report,
                tokens=[j.tokens for j in jobs if j.profile is not None],
            )
            metrics.batch_scored(len(jobs))
        latency = time.perf_counter() - started
        version = report.model_version
        written: list[tuple[Job, Scored, dict[str, Any]]] = []
        for job, result in zip(jobs, results, strict=True):
            if isinstance(result, Exception):
                with logs.bound(submission_id=str(job.sid)):
                    log.error(
                        "scoring submission %s raised",
                        job.sid,
                        exc_info=(type(result), result, result.__traceback__),
                    )
                job.fail(f"scoring error: {type(result).__name__}: {result}", FailureReason.error)
                continue
            written.append((job, result, self._row(job, result, version, latency)))
        to_fail = self._unsettled_failures()
        try:
            self._commit(written, to_fail)
        except DBAPIError as exc:
            if isinstance(exc, OperationalError) or len(written) + len(to_fail) <= 1:
                raise
            # A row the database refuses must not sink the batch: write them one by one.
            log.warning("a batch write failed (%s); writing its rows one by one", exc.orig)
            for one in written:
                try:
                    self._commit([one], [])
                except DBAPIError as one_exc:
                    if isinstance(one_exc, OperationalError):
                        raise
                    one[0].fail(
                        f"the database refused the verdict: {str(one_exc.orig).strip()[:500]}",
                        FailureReason.error,
                    )
            for job in self._unsettled_failures():
                self._commit([], [job])
        if jobs:
            log.info(
                "scored a batch of %d in %.0f ms: %d resume(s) encoded, %d from the cache, "
                "%d encoded again for sentence reasons",
                len(jobs),
                latency * 1000.0,
                report.encoded,
                report.from_cache,
                report.reasons_encoded,
            )

    def _unsettled_failures(self) -> list[Job]:
        return [j for j in self.jobs if j.failure is not None and j.outcome is None]

    def _commit(
        self, written: list[tuple[Job, Scored, dict[str, Any]]], to_fail: list[Job]
    ) -> None:
        """One transaction for these verdicts and failures; acknowledged once it commits."""
        with session_scope() as session:
            repo.store_resume_signatures(
                session, [(job.sid, result.signature, result.bands) for job, result, _ in written]
            )
            inserted = repo.write_verdicts(session, [row for _, _, row in written])
            for job in to_fail:
                assert job.failure is not None
                repo.mark_failed(session, job.sid, job.failure[0])
        for job, result, row in written:
            job.settle("scored" if job.sid in inserted else "duplicate")
            metrics.profile_scored(
                result.decision.risk_level, row["model_version"], row["latency_ms"] / 1000.0
            )
            job.acknowledge()
        for job in to_fail:
            assert job.failure is not None
            reason, kind = job.failure
            with logs.bound(submission_id=str(job.sid)):
                log.warning("submission %s failed: %s", job.sid, reason)
            metrics.scoring_failed(kind)
            job.settle("failed")
            job.acknowledge()

    def _row(self, job: Job, result: Scored, version: str, latency: float) -> dict[str, Any]:
        assert job.payload is not None
        decision = result.decision
        return {
            "submission_id": job.sid,
            "p_risk": float(result.p_risk),
            "trust_score": decision.trust_score,
            "risk_level": decision.risk_level,
            "model_risk_level": decision.model_risk_level,
            "recommendation": decision.recommendation,
            "label": decision.label,
            "flags": decision.flags,
            "rule_hits": decision.rule_hits,
            "reasons": result.reasons,
            "breakdown": result.breakdown,
            "history": decision.history,
            "notices": decision.notices,
            "summary": decision.summary,
            "base_rate": self.settings.base_rate,
            "model_version": version,
            "encoder_name": self.runtime.encoder.name,
            "encoder_revision": self.runtime.encoder.revision,
            "input_sha256": _payload_sha256(job.payload),
            "indicators": result.indicators,
            "latency_ms": latency * 1000.0,
            "worker_host": WORKER_HOST,
        }

    def _duplicates(self, jobs: list[Job]) -> DuplicateLookup:
        """Other freelancers' copies of each resume, from the database and from the earlier
        profiles of this batch (not stored yet, so the database cannot show them)."""
        threshold = self.settings.near_duplicate_threshold

        def lookup(items: Sequence[tuple[int, bytes, list[str]]]) -> list[list[Flag]]:
            people = [(p.external_id, sha256_text(p.text)) for p in _profiles(jobs)]
            signatures = {i: signature for i, signature, _ in items}
            out: list[list[Flag]] = []
            with session_scope() as session:
                for i, signature, bands in items:
                    external_id, text_sha = people[i]
                    matches = repo.resume_matches(
                        session,
                        submission_id=jobs[i].sid,
                        external_id=external_id,
                        resume_sha256=text_sha,
                        bands=bands,
                    )
                    known = {m.submission_id for m in matches}
                    matches += [
                        repo.ResumeMatch(
                            jobs[k].sid, people[k][0], signatures[k], people[k][1] == text_sha
                        )
                        for k in range(i)
                        if k in signatures
                        and people[k][0] != external_id
                        and jobs[k].sid not in known
                    ]
                    out.append(duplicate_flags(matches, signature, threshold))
            return out

        return lookup


def _profiles(jobs: list[Job]) -> list[Profile]:
    out = []
    for job in jobs:
        assert job.profile is not None
        out.append(job.profile)
    return out


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
    batch = Batch(settings, own, runtime)
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
        own.fail(str(exc), FailureReason.no_model)
        batch.commit_failures()
    except SoftTimeLimitExceeded:
        batch.give_back()
        if own.outcome is not None:
            return own.outcome
        if len(batch.jobs) > 1:
            # The batch ran out of time, not necessarily this message: try it on its own.
            raise self.retry(kwargs={"alone": True}, countdown=0) from None
        own.fail(
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
