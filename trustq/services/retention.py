"""Retention: after TRUSTQ_RETENTION_DAYS, erase what a submission holds of the resume itself.

Erased: the resume text (from the stored payload), the resume file and its file name, and the
resume sentences that verdict explanations quote. Kept: the text's sha256, its embedding,
the verdict (score, levels, flags without their quotes, reasons without their quotes), the
labels and the audit fields. Each batch is recorded as an ``audit_events`` row.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
from typing import Any

from trustq import metrics
from trustq.db import retention as retention_db
from trustq.db import verdicts as verdicts_db
from trustq.db.session import session_scope
from trustq.db.tables import utcnow

log = logging.getLogger(__name__)

AUDIT_KIND = "retention.erase"
# Evidence keys whose values quote the resume (see trustq.rules and trustq.models.reasons).
QUOTING_KEYS = frozenset({"sentence", "sentences", "phrases", "snippet", "quote", "text"})
_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"")
ERASED = "[erased]"


def _scrub(value: Any) -> tuple[Any, bool]:
    """``value`` without the quoting keys anywhere inside; True if something was removed."""
    if isinstance(value, dict):
        out, changed = {}, False
        for key, item in value.items():
            if key in QUOTING_KEYS:
                changed = True
                continue
            out[key], sub = _scrub(item)
            changed = changed or sub
        return out, changed
    if isinstance(value, list):
        pairs = [_scrub(item) for item in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    return value, False


def redact_explanations(
    flags: list[dict[str, Any]], reasons: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """Flags and reasons with the resume quotes taken out; True if anything changed."""
    changed = False
    new_flags = []
    for flag in copy.deepcopy(flags):
        evidence, quoted = _scrub(flag.get("evidence", {}))
        if quoted:
            # A flag whose evidence quoted the resume quotes it in its message too.
            flag["evidence"] = evidence
            flag["message"] = _QUOTED.sub(f'"{ERASED}"', str(flag.get("message", "")))
            changed = True
        new_flags.append(flag)
    new_reasons = []
    for reason in copy.deepcopy(reasons):
        if reason.get("kind") == "sentence":
            effect = float(reason.get("effect", 0.0))
            reason["text"] = (
                f"a resume sentence ({ERASED}) {'raises' if effect > 0 else 'lowers'} "
                f"the risk by {abs(effect) * 100:.1f} points"
            )
            reason["evidence"], _ = _scrub(reason.get("evidence", {}))
            changed = True
        new_reasons.append(reason)
    return new_flags, new_reasons, changed


def erase_expired(
    days: int,
    *,
    actor: str = "retention",
    now: dt.datetime | None = None,
    batch_size: int = 200,
    max_batches: int = 50,
) -> dict[str, int]:
    """Erase the resumes of finished submissions older than ``days``; returns the counts.

    Works in batches of ``batch_size``, each its own transaction with its audit event, and
    stops after ``max_batches`` (the next run continues).
    """
    now = now or utcnow()
    cutoff = now - dt.timedelta(days=days)
    totals = {"submissions": 0, "texts": 0, "files": 0, "verdicts_redacted": 0}
    for _ in range(max_batches):
        with session_scope() as session:
            ids = retention_db.erasable_submissions(session, before=cutoff, limit=batch_size)
            if not ids:
                break
            counts = retention_db.erase_resumes(session, ids, now)
            redacted = 0
            for verdict in verdicts_db.verdicts_of(session, ids):
                flags, reasons, changed = redact_explanations(verdict.flags, verdict.reasons)
                if changed:
                    verdicts_db.set_verdict_explanations(
                        session, verdict.id, flags=flags, reasons=reasons
                    )
                    redacted += 1
            retention_db.add_audit_event(
                session,
                kind=AUDIT_KIND,
                actor=actor,
                detail={
                    "retention_days": days,
                    "cutoff": cutoff.isoformat(),
                    "submissions": [str(i) for i in ids],
                    "texts": counts["texts"],
                    "files": counts["files"],
                    "verdicts_redacted": redacted,
                },
            )
        metrics.resumes_erased(len(ids))
        log.info(
            "retention erased the resumes of %d submission(s) older than %d days "
            "(%d texts, %d files, %d verdicts redacted)",
            len(ids),
            days,
            counts["texts"],
            counts["files"],
            redacted,
        )
        totals["submissions"] += len(ids)
        totals["texts"] += counts["texts"]
        totals["files"] += counts["files"]
        totals["verdicts_redacted"] += redacted
    return totals
