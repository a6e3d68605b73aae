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
from trustq.models.breakdown import breakdown as score_breakdown
from trustq.models.heuristics import NEAR_DUPLICATE_CODE, Flag, Severity, evaluate_flags
from trustq.models.near_duplicates import lsh_bands, minhash_signature, similarity
from trustq.models.reasons import explain
from trustq.schemas import MAX_RESUME_CHARS, Profile, describe_errors
from trustq.services.resume_files import ResumeFileError, extract_text
from trustq.services.submissions import sha256_text
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


def _duplicate_flags(
    sid: uuid.UUID, profile: Profile, signature: bytes, bands: list[str], threshold: float
) -> list[Flag]:
    """Flag a resume that other freelancers (other external ids) submitted too."""
    with session_scope() as session:
        matches = repo.resume_matches(
            session,
            submission_id=sid,
            external_id=profile.external_id,
            resume_sha256=sha256_text(profile.text),
            bands=bands,
        )
    close = []
    for m in matches:
        score = 1.0 if m.exact else (similarity(signature, m.minhash) if m.minhash else 0.0)
        if score >= threshold:
            close.append((score, m))
    if not close:
        return []
    close.sort(key=lambda pair: -pair[0])
    others = sorted({m.external_id for _, m in close})
    exact = any(m.exact for _, m in close)
    return [
        Flag(
            code=NEAR_DUPLICATE_CODE,
            severity=Severity.high if exact else Severity.medium,
            message=(
                f"The resume text is {'identical' if exact else 'nearly identical'} to "
                f"the resume of {len(others)} other freelancer(s)."
            ),
            evidence={
                "external_ids": others[:10],
                "submissions": [str(m.submission_id) for _, m in close[:10]],
                "similarity": round(close[0][0], 3),
            },
        )
    ]


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
        resume_file = repo.resume_file_of(session, sid) if not payload.get("resume_text") else None
    if attempts > settings.max_attempts:
        return _fail(sid, f"gave up after {settings.max_attempts} attempts")
    if resume_file is not None:
        try:
            text = extract_text(resume_file[1], resume_file[0])
        except ResumeFileError as exc:
            return _fail(sid, f"resume file unusable: {exc}")
        if len(text) > MAX_RESUME_CHARS:
            return _fail(
                sid,
                f"resume file holds {len(text):,} characters of text; "
                f"the limit is {MAX_RESUME_CHARS:,}",
            )
        payload = {**payload, "resume_text": text}
        with session_scope() as session:
            repo.set_extracted_resume(session, sid, payload, sha256_text(payload["resume_text"]))

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
        embedding = runtime.embed([profile.text])
        today = dt.date.today()
        result = scorer.score([profile], embedding, as_of=today)[0]
        flags = evaluate_flags(profile, today)
        signature = minhash_signature(profile.text)
        bands = lsh_bands(signature)
        flags.extend(
            _duplicate_flags(sid, profile, signature, bands, settings.near_duplicate_threshold)
        )
        decision = verdict.decide(
            p_risk=result.p_risk,
            flags=flags,
            external_id=profile.external_id,
            settings=settings,
            rules=runtime.rules,
        )
        explain_text = settings.reason_sentences == "all" or (
            settings.reason_sentences == "non_low" and decision.risk_level != "LOW"
        )
        found_reasons = explain(
            profile,
            result.p_risk,
            scorer,
            runtime.encoder if explain_text else None,
            embedding[0],
            today,
        )
        parts = score_breakdown(scorer.group_probabilities(profile, embedding[0], today))
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

    with session_scope() as session:
        repo.store_resume_signature(session, sid, signature, bands)
        inserted = repo.write_verdict(
            session,
            {
                "submission_id": sid,
                "p_risk": float(result.p_risk),
                "trust_score": decision.trust_score,
                "risk_level": decision.risk_level,
                "model_risk_level": decision.model_risk_level,
                "recommendation": decision.recommendation,
                "label": decision.label,
                "flags": decision.flags,
                "rule_hits": decision.rule_hits,
                "reasons": [r.to_dict() for r in found_reasons],
                "breakdown": parts,
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
