"""Promoting a model version by hand (a rollback is the promotion of an older version)."""

from __future__ import annotations

from typing import Any

from trustq import metrics
from trustq.db import repo
from trustq.db.session import session_scope
from trustq.db.tables import ModelDecision, ModelStatus
from trustq.models.artifact import ArtifactError, deserialise
from trustq.models.scorer import Scorer


class ModelNotFound(LookupError):
    """No model version of that name."""


def promote(version: str, *, actor: str, note: str | None = None) -> dict[str, Any]:
    """Serve ``version`` from now on, recorded with ``actor``. Workers switch at their next
    model check. A version already serving, or whose artifact does not load, is refused
    (ValueError) and nothing changes."""
    if not actor.strip():
        raise ValueError("a promotion needs the name of whoever asks for it")
    with session_scope() as session:
        row = repo.get_model_version(session, version)
        if row is None:
            raise ModelNotFound(f"no model version {version!r}")
        if row.status == ModelStatus.serving:
            raise ValueError(f"model {version} is already serving")
        try:
            Scorer(*deserialise(row.artifact, row.artifact_sha256), version=version)
        except (ArtifactError, ValueError) as exc:
            raise ValueError(f"model {version} refused: {exc}") from exc
        previous = repo.serving_model(session)
        repo.promote_model(session, version)
        reason = f"promoted by hand by {actor}" + (f": {note}" if note else "")
        repo.add_model_decision(
            session,
            ModelDecision(
                version=version,
                previous_version=previous.version if previous else None,
                decision="promoted",
                actor=actor,
                reason=reason,
                candidate_metrics=_test_metrics(row.metrics),
                serving_metrics=_test_metrics(previous.metrics) if previous else {},
            ),
        )
        metrics.promotion_decision("promoted", automatic=False)
        return {
            "version": version,
            "previous_version": previous.version if previous else None,
            "actor": actor,
            "reason": reason,
        }


def _test_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    test = metrics.get("test", {})
    return {k: test.get(k) for k in ("n", "roc_auc", "log_loss", "ece", "accuracy")}
