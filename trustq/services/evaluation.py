"""Scoring a labelled data set with a registered model version, as the workers would."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from trustq.config import Settings
from trustq.db import repo
from trustq.db.session import session_scope
from trustq.models.artifact import ArtifactError, deserialise
from trustq.models.scorer import Scorer
from trustq.models.training import metrics
from trustq.schemas import LabelledProfile
from trustq.worker.runtime import embed_with_cache, make_encoder


class EvaluationError(RuntimeError):
    """The model version cannot be evaluated: unknown, unreadable or for another encoder."""


def evaluate_version(
    settings: Settings, version: str, profiles: Sequence[LabelledProfile], as_of: dt.date
) -> dict[str, Any]:
    """Metrics of model ``version`` on ``profiles`` (and of ``p_true`` when every profile has it).

    The model is loaded from the database and scored through the same :class:`Scorer` and
    embedding cache the workers use, so the numbers are those of the served path.
    """
    if not profiles:
        raise EvaluationError("no profiles to evaluate")
    with session_scope() as session:
        row = repo.get_model_version(session, version)
        if row is None:
            raise EvaluationError(f"no model version {version!r}")
        artifact, sha, status = row.artifact, row.artifact_sha256, str(row.status)
    try:
        model, meta = deserialise(artifact, sha)
        scorer = Scorer(model, meta, version=version)
    except (ArtifactError, ValueError) as exc:
        raise EvaluationError(f"model {version} cannot be loaded: {exc}") from exc

    encoder = make_encoder(settings)
    trained_on = meta["encoder"]
    if (trained_on["name"], trained_on["revision"]) != (encoder.name, encoder.revision):
        raise EvaluationError(
            f"model {version} was trained on encoder {trained_on['name']} revision "
            f"{trained_on['revision']}, but the configured encoder is {encoder.name} "
            f"revision {encoder.revision}"
        )

    started = time.perf_counter()
    embeddings = embed_with_cache(encoder, [p.resume_text for p in profiles])
    encoder_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scores = scorer.score(profiles, embeddings, as_of)
    scoring_seconds = time.perf_counter() - started

    labels = np.array([p.label for p in profiles], dtype=np.int64)
    probs = np.array([s.p_risk for s in scores], dtype=np.float64)
    result: dict[str, Any] = {
        "version": version,
        "status": status,
        "calibration": scorer.calibration.to_meta(),
        "as_of": as_of.isoformat(),
        "n": len(profiles),
        "metrics": metrics(labels, probs),
        "encoder_seconds": round(encoder_seconds, 3),
        "scoring_seconds": round(scoring_seconds, 3),
    }
    p_true = [p.p_true for p in profiles]
    if all(p is not None for p in p_true):
        result["ceiling"] = metrics(labels, np.array(p_true, dtype=np.float64))
    return result
