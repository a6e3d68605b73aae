"""The scoring task: read the submission, score it with no session open, write the verdict."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from trustq import verdict
from trustq.config import get_settings
from trustq.db import repo
from trustq.db.session import reset_engine, session_scope
from trustq.db.tables import SubmissionStatus
from trustq.schemas import Profile, describe_errors
from trustq.tasks import names
from trustq.worker.runtime import EncoderMismatch, NoServingModel, get_runtime

log = logging.getLogger(__name__)

WORKER_HOST = f"{socket.gethostname()}/{os.getpid()}"


@worker_process_init.connect
def _load_in_child(**_: Any) -> None:
    # A forked pool process must not share the parent's database connections.
    global WORKER_HOST
    WORKER_HOST = f"{socket.gethostname()}/{os.getpid()}"
    reset_engine()
    get_runtime()


def _payload_sha256(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _fail(submission_id: uuid.UUID, reason: str) -> str:
    log.warning("submission %s failed: %s", submission_id, reason)
    with session_scope() as session:
        repo.mark_failed(session, submission_id, reason)
    return "failed"


@shared_task(
    name=names.SCORE_SUBMISSION,
    bind=True,
    max_retries=8,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
)
def score_submission(self: Task, submission_id: str) -> str:
    """Score one submission; returns what happened (for logs and tests)."""
    settings = get_settings()
    try:
        sid = uuid.UUID(str(submission_id))
    except ValueError:
        log.error("dropped a message with a malformed submission id")
        return "malformed"

    with session_scope() as session:
        row = repo.claim_submission(session, sid)
        if row is None:
            log.error("dropped a message for unknown submission %s", sid)
            return "missing"
        if row.status in (SubmissionStatus.done, SubmissionStatus.failed):
            return f"already {row.status}"
        attempts, payload = row.attempts, row.payload
        submitted_at = row.created_at
    if attempts > settings.max_attempts:
        return _fail(sid, f"gave up after {settings.max_attempts} attempts")

    started = time.perf_counter()
    try:
        profile = Profile.model_validate(payload)
    except ValidationError as exc:
        return _fail(
            sid, "stored payload is not a valid profile: " + "; ".join(describe_errors(exc))
        )
    try:
        runtime = get_runtime()
        scorer = runtime.scorer()
        embedding = runtime.embed([profile.resume_text])
        result = scorer.score([profile], embedding, as_of=dt.date.today())[0]
    except (NoServingModel, EncoderMismatch) as exc:
        # An operator can fix these; keep the message alive for a while.
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=min(60, 5 * 2**self.request.retries)) from exc
        return _fail(sid, str(exc))
    except SoftTimeLimitExceeded:
        return _fail(sid, f"scoring took longer than {settings.task_soft_time_limit} s")
    except (OperationalError, DBAPIError):
        raise
    except Exception as exc:  # a payload the model cannot score: fail it, never loop on it
        log.exception("scoring submission %s raised", sid)
        return _fail(sid, f"scoring error: {type(exc).__name__}: {exc}")
    latency_ms = (time.perf_counter() - started) * 1000.0

    score = verdict.trust_score(result.p_risk)
    with session_scope() as session:
        inserted = repo.write_verdict(
            session,
            {
                "submission_id": sid,
                "p_risk": float(result.p_risk),
                "trust_score": score,
                "risk_level": verdict.risk_level(score, settings).value,
                "label": verdict.label(result.p_risk),
                "model_version": scorer.version,
                "encoder_name": runtime.encoder.name,
                "encoder_revision": runtime.encoder.revision,
                "input_sha256": _payload_sha256(payload),
                "indicators": {k: float(v) for k, v in result.indicators.items()},
                "latency_ms": latency_ms,
                "worker_host": WORKER_HOST,
            },
        )
    log.info(
        "scored submission %s (queued %.1f s before) with %s in %.0f ms",
        sid,
        (dt.datetime.now(dt.UTC) - submitted_at).total_seconds(),
        scorer.version,
        latency_ms,
    )
    return "scored" if inserted else "duplicate"
