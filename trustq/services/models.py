"""Model versions: listing them and their promotion history (``promotion`` promotes one)."""

from __future__ import annotations

from typing import Any

from trustq.db import models as models_db
from trustq.db.session import session_scope
from trustq.schemas import ModelOut
from trustq.scoring.errors import ModelNotFound

__all__ = ["ModelNotFound", "history", "list_models"]


def list_models() -> list[ModelOut]:
    """Model versions newest first, with their status and test metrics."""
    with session_scope() as session:
        return [
            ModelOut(
                version=r.version,
                status=r.status,
                created_at=r.created_at,
                created_by=r.created_by,
                encoder_name=r.encoder_name,
                encoder_revision=r.encoder_revision,
                artifact_sha256=r.artifact_sha256,
                training_data_sha256=r.training_data_sha256,
                labels_used=r.labels_used,
                test_metrics={
                    k: v
                    for k, v in (r.metrics or {}).get("test", {}).items()
                    if isinstance(v, int | float | str | None)
                },
            )
            for r in models_db.model_version_summaries(session)
        ]


def history(version: str | None = None, *, limit: int = 30) -> list[dict[str, Any]]:
    """Promotion decisions (by the gate or by hand) newest first, of one version or all."""
    with session_scope() as session:
        return [
            {
                "at": r.created_at.isoformat(timespec="seconds"),
                "version": r.version,
                "previous_version": r.previous_version,
                "decision": r.decision,
                "actor": r.actor,
                "reason": r.reason,
                "candidate_metrics": r.candidate_metrics,
                "serving_metrics": r.serving_metrics,
            }
            for r in models_db.list_model_decisions(session, version=version, limit=limit)
        ]


def serving_version() -> str | None:
    """The version the database marks serving, if any."""
    with session_scope() as session:
        serving = models_db.serving_model_version(session)
    return serving[0] if serving else None
