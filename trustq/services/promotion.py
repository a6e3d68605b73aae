"""Promoting a model version by hand (a rollback is the promotion of an older version).

Its artifact is loaded to check it, so this imports the model's code (torch); the API and
the CLI import it only when asked to promote.
"""

from __future__ import annotations

from typing import Any

from trustq import metrics
from trustq.db import models as models_db
from trustq.db.session import session_scope
from trustq.db.tables import ModelDecision, ModelStatus
from trustq.scoring.serving import ModelUnreadable, build_scorer, read_model


def promote(version: str, *, actor: str, note: str | None = None) -> dict[str, Any]:
    """Serve ``version`` from now on, recorded with ``actor``. Workers switch at their next
    model check. A version already serving, or whose artifact does not load, is refused
    (ValueError) and nothing changes."""
    if not actor.strip():
        raise ValueError("a promotion needs the name of whoever asks for it")
    with session_scope() as session:
        stored = read_model(session, version)
        if stored.status == ModelStatus.serving:
            raise ValueError(f"model {version} is already serving")
        try:
            build_scorer(stored)
        except ModelUnreadable as exc:
            raise ValueError(f"refused: {exc}") from exc
        row = models_db.get_model_version(session, version)
        assert row is not None
        previous = models_db.serving_model(session)
        models_db.promote_model(session, version)
        reason = f"promoted by hand by {actor}" + (f": {note}" if note else "")
        models_db.add_model_decision(
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
