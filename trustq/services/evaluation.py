"""Scoring a labelled data set with a registered model version, as the workers would: the
same compute step (``trustq.scoring.compute``) and embedding cache, with no reasons made.
Used by ``trustq evaluate`` and by retraining's holdout."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustq.config import Settings
from trustq.db.session import session_scope
from trustq.models.training import metrics
from trustq.rules.ruleset import RuleSet
from trustq.schemas import LabelledProfile
from trustq.scoring.compute import BatchReport, Inputs, Model, compute, prepare
from trustq.scoring.embeddings import read_cached, write_cached
from trustq.scoring.encoders import make_encoder
from trustq.scoring.serving import ModelUnavailable, build_scorer, read_model


class EvaluationError(RuntimeError):
    """The model version cannot be evaluated: unknown, unreadable or for another encoder."""


@dataclass
class Scores:
    """The probabilities a model version gives a labelled set, and what they cost."""

    version: str
    status: str
    model: Model
    p_risk: np.ndarray
    report: BatchReport


def score_labelled(
    settings: Settings,
    version: str,
    profiles: Sequence[LabelledProfile],
    dates: Sequence[dt.date],
) -> Scores:
    """Score ``profiles`` (each as of its date) with model ``version`` at the training set's
    share of risky profiles; ModelUnavailable when the version cannot be scored with."""
    with session_scope() as session:
        stored = read_model(session, version)
    encoder = make_encoder(settings)
    scorer = build_scorer(stored, encoder=encoder)
    model = Model(encoder, scorer, RuleSet.load(settings.rules_path), settings)
    inputs = prepare(profiles, duplicates=False)
    with session_scope() as session:
        cached = read_cached(session, encoder, inputs.hashes)
    report = BatchReport()
    probs = np.zeros(len(profiles), dtype=np.float64)
    fresh: dict[str, np.ndarray] = {}
    by_day: dict[dt.date, list[int]] = {}
    for i, day in enumerate(dates):
        by_day.setdefault(day, []).append(i)
    for day, rows in by_day.items():
        part = Inputs(hashes=[inputs.hashes[i] for i in rows], cached={**cached, **fresh})
        computed = compute(
            [profiles[i] for i in rows], part, model, day, explain=False, report=report
        )
        for i, result in zip(rows, computed.results, strict=True):
            if isinstance(result, Exception):
                raise EvaluationError(
                    f"profile {profiles[i].external_id} cannot be scored: "
                    f"{type(result).__name__}: {result}"
                ) from result
            probs[i] = result.p_risk
        fresh.update(computed.fresh)
    if fresh:
        with session_scope() as session:
            write_cached(session, encoder, fresh)
    return Scores(version, stored.status, model, probs, report)


def evaluate_version(
    settings: Settings, version: str, profiles: Sequence[LabelledProfile], as_of: dt.date
) -> dict[str, Any]:
    """Metrics of model ``version`` on ``profiles``, and of the synthetic ceiling
    (``p_ceiling``) and latent probability (``p_true``) when every profile has them."""
    if not profiles:
        raise EvaluationError("no profiles to evaluate")
    try:
        scores = score_labelled(settings, version, profiles, [as_of] * len(profiles))
    except ModelUnavailable as exc:
        raise EvaluationError(str(exc)) from exc
    labels = np.array([p.label for p in profiles], dtype=np.int64)
    seconds = scores.report.seconds
    result: dict[str, Any] = {
        "version": version,
        "status": scores.status,
        "calibration": scores.model.scorer.calibration.to_meta(),
        "as_of": as_of.isoformat(),
        "n": len(profiles),
        "metrics": metrics(labels, scores.p_risk),
        "encoder_seconds": round(seconds.get("encoder", 0.0), 3),
        "scoring_seconds": round(sum(v for k, v in seconds.items() if k != "encoder"), 3),
    }
    for key, values in (
        ("ceiling", [p.p_ceiling for p in profiles]),
        ("latent", [p.p_true for p in profiles]),
    ):
        if all(v is not None for v in values):
            result[key] = metrics(labels, np.array(values, dtype=np.float64))
    return result
