"""The write step: verdicts, resume signatures, extracted resume texts, new cache entries and
failures of a batch in one transaction."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from trustq.config import Settings
from trustq.db import submissions as submissions_db
from trustq.db import verdicts as verdicts_db
from trustq.models.encoder import Encoder
from trustq.schemas import sha256_text
from trustq.scoring.compute import Scored
from trustq.scoring.embeddings import write_cached
from trustq.scoring.read import Failure, Item


@dataclass
class Written:
    """A verdict to write: its submission, what was computed, and the row."""

    item: Item
    scored: Scored
    row: dict[str, Any]


def payload_sha256(payload: Mapping[str, Any]) -> str:
    """The hash of a stored payload, as the verdict's audit records its input."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def verdict_row(
    item: Item,
    scored: Scored,
    *,
    version: str,
    encoder: Encoder,
    settings: Settings,
    latency: float,
    worker_host: str,
) -> dict[str, Any]:
    """The verdict table's row for ``item``, with its audit fields."""
    decision = scored.decision
    return {
        "submission_id": item.sid,
        "p_risk": float(scored.p_risk),
        "trust_score": decision.trust_score,
        "risk_level": decision.risk_level,
        "model_risk_level": decision.model_risk_level,
        "recommendation": decision.recommendation,
        "label": decision.label,
        "flags": decision.flags,
        "rule_hits": decision.rule_hits,
        "reasons": scored.reasons,
        "breakdown": scored.breakdown,
        "history": decision.history,
        "notices": decision.notices,
        "summary": decision.summary,
        "base_rate": settings.base_rate,
        "model_version": version,
        "encoder_name": encoder.name,
        "encoder_revision": encoder.revision,
        "input_sha256": payload_sha256(item.payload),
        "indicators": scored.indicators,
        "latency_ms": latency * 1000.0,
        "worker_host": worker_host,
    }


def write(
    session: Session,
    written: Sequence[Written],
    failures: Mapping[uuid.UUID, Failure],
    *,
    encoder: Encoder | None = None,
    fresh: Mapping[str, np.ndarray] | None = None,
) -> set[uuid.UUID]:
    """Write a batch's results; returns the submissions whose verdict was inserted (the
    others had one from this model version already)."""
    if encoder is not None and fresh:
        write_cached(session, encoder, fresh)
    for one in written:
        if one.item.extracted:
            text = one.item.payload["resume_text"]
            submissions_db.set_extracted_resume(
                session, one.item.sid, one.item.payload, sha256_text(text)
            )
    submissions_db.store_resume_signatures(
        session,
        [
            (one.item.sid, one.scored.signature, one.scored.bands)
            for one in written
            if one.scored.signature is not None
        ],
    )
    inserted = verdicts_db.write_verdicts(session, [one.row for one in written])
    for sid, failure in failures.items():
        submissions_db.mark_failed(session, sid, failure.reason)
    return inserted
