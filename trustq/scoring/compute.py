"""The compute step: a verdict for each profile of a batch, from the profiles, what the read
step found (cached embeddings, stored near-duplicate candidates), the encoder and the model.
No session and no broker: the same function serves the workers, ``trustq evaluate``,
retraining's holdout and the benchmarks.

One encoder pass, one LSTM pass and one pass of the network's head for every reason and
breakdown row of the whole batch. A profile the model cannot score gets its exception in
place of a result and the others are still scored.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import DBAPIError

from trustq.config import Settings
from trustq.db.submissions import ResumeMatch
from trustq.models.breakdown import breakdown as score_breakdown
from trustq.models.encoder import Encoder
from trustq.models.reasons import ToExplain, explain_many, sentence_spans
from trustq.models.scorer import Features, Scorer
from trustq.rules.checks import evaluate_flags
from trustq.rules.decision import Decision, decide, summarise
from trustq.rules.duplicates import duplicate_flags, lsh_bands, minhash_signature
from trustq.rules.flags import Flag, RiskLevel
from trustq.rules.inputs import history_state, input_notices
from trustq.rules.ruleset import RuleSet
from trustq.schemas import Profile, sha256_text
from trustq.scoring.embeddings import embed
from trustq.scoring.serving import ModelUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Model:
    """What scores: the encoder, the network with its calibration, the rules, the settings."""

    encoder: Encoder
    scorer: Scorer
    rules: RuleSet
    settings: Settings


@dataclass
class Inputs:
    """What the compute step needs beside the profiles; ``prepare`` makes the pure part and
    the read step fills in what the database holds."""

    hashes: list[str]  # sha256 of each resume text
    signatures: list[bytes] | None = None  # MinHash of each resume (None: no duplicate flags)
    bands: list[list[str]] | None = None
    cached: dict[str, np.ndarray] = field(default_factory=dict)  # embeddings by text hash
    # Other freelancers' stored submissions sharing each resume or one of its bands, and the
    # ids of the batch's own submissions (so a later profile sees an earlier one's copy).
    stored_matches: list[list[ResumeMatch]] | None = None
    submission_ids: list[uuid.UUID] | None = None


def prepare(profiles: Sequence[Profile], *, duplicates: bool = True) -> Inputs:
    """The inputs computed from the profiles alone: hashes and, with ``duplicates``, each
    resume's MinHash signature and LSH bands (what the read step looks candidates up by)."""
    texts = [p.text for p in profiles]
    inputs = Inputs(hashes=[sha256_text(t) for t in texts])
    if duplicates:
        inputs.signatures = [minhash_signature(t) for t in texts]
        inputs.bands = [lsh_bands(s) for s in inputs.signatures]
    return inputs


@dataclass
class Scored:
    """Everything a verdict row holds that the model and the rules decided."""

    p_risk: float
    decision: Decision
    reasons: list[dict[str, Any]]
    breakdown: dict[str, Any]
    indicators: dict[str, float]
    signature: bytes | None
    bands: list[str]


@dataclass
class Computed:
    """One result per profile (a Scored or the exception it raised), and the embeddings the
    encoder made (for the write step to cache)."""

    results: list[Scored | Exception]
    fresh: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class BatchReport:
    """What one batch cost, for logs and benchmarks."""

    size: int = 0
    model_version: str = ""
    from_cache: int = 0
    encoded: int = 0
    reasons_encoded: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def timed(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - started
        return now


def concerns_the_batch(exc: BaseException) -> bool:
    """Errors that are not one profile's doing: no usable model, the database, the time
    limit. A batch that meets one is not split up; the error is raised."""
    return isinstance(exc, ModelUnavailable | DBAPIError | SoftTimeLimitExceeded)


def compute(
    profiles: Sequence[Profile],
    inputs: Inputs,
    model: Model,
    today: dt.date,
    *,
    tokens: Sequence[int] | None = None,
    explain: bool = True,
    report: BatchReport | None = None,
) -> Computed:
    """Score ``profiles`` together; one result per profile, in order. ``tokens``: each
    resume's length in encoder tokens, when the caller counted them already. Without
    ``explain`` no reasons, summary or breakdown are made (evaluation needs the numbers
    only).

    When the batch as a whole raises, each profile is scored on its own (keeping its place,
    so it still sees the earlier profiles of the batch as possible copies).
    """
    report = report if report is not None else BatchReport()
    report.size += len(profiles)
    report.model_version = model.scorer.version
    computed = Computed([])
    everyone = list(range(len(profiles)))
    try:
        computed.results = list(
            _score(everyone, profiles, inputs, model, today, tokens, explain, report, computed)
        )
        return computed
    except Exception as exc:
        if concerns_the_batch(exc):
            raise
        if len(profiles) == 1:
            computed.results = [exc]
            return computed
        log.warning(
            "a batch of %d raised %s; scoring its profiles one by one",
            len(profiles),
            type(exc).__name__,
        )
    for i in everyone:
        try:
            computed.results.extend(
                _score([i], profiles, inputs, model, today, tokens, explain, report, computed)
            )
        except Exception as exc:
            if concerns_the_batch(exc):
                raise
            computed.results.append(exc)
    return computed


def _duplicates(
    i: int, profiles: Sequence[Profile], inputs: Inputs, threshold: float
) -> list[Flag]:
    """Flags for other freelancers' copies of resume ``i``: stored ones, and those of the
    batch's earlier profiles (not stored yet, so the database could not show them)."""
    assert inputs.signatures is not None and inputs.stored_matches is not None
    matches = list(inputs.stored_matches[i])
    known = {m.submission_id for m in matches}
    ids = inputs.submission_ids
    external_id = profiles[i].external_id
    for k in range(i):
        sid = ids[k] if ids is not None else None
        if profiles[k].external_id == external_id or sid in known or sid is None:
            continue
        exact = inputs.hashes[k] == inputs.hashes[i]
        matches.append(ResumeMatch(sid, profiles[k].external_id, inputs.signatures[k], exact))
    return duplicate_flags(matches, inputs.signatures[i], threshold)


def _score(
    rows: list[int],
    every: Sequence[Profile],
    inputs: Inputs,
    model: Model,
    today: dt.date,
    counted: Sequence[int] | None,
    explain: bool,
    report: BatchReport,
    computed: Computed,
) -> list[Scored]:
    settings, scorer, encoder = model.settings, model.scorer, model.encoder
    profiles = [every[i] for i in rows]
    hashes = [inputs.hashes[i] for i in rows]
    started = time.perf_counter()
    want_sentences = explain and settings.reason_sentences != "never"
    texts = [p.text for p in profiles]
    known = {**inputs.cached, **computed.fresh}
    embedded = embed(encoder, texts, known, hashes=hashes, spans=want_sentences)
    computed.fresh.update(embedded.fresh)
    embeddings = embedded.vectors
    report.from_cache += embedded.from_cache
    report.encoded += embedded.encoded
    now = report.timed("encoder", started)

    flags = [evaluate_flags(p, today) for p in profiles]
    features: list[Features] = [
        scorer.prepare(p, today, f) for p, f in zip(profiles, flags, strict=True)
    ]
    now = report.timed("flags", now)
    probs, sequence = scorer.score_prepared(features, embeddings)
    now = report.timed("model", now)

    histories = [history_state(p, settings.short_history_projects) for p in profiles]
    if counted is None:
        tokens = [encoder.count_tokens([t])[1] for t in texts]
    else:
        tokens = [counted[i] for i in rows]
    notices = [input_notices(t, n, scorer.length_range) for t, n in zip(texts, tokens, strict=True)]
    now = report.timed("flags", now)
    if inputs.signatures is not None and inputs.stored_matches is not None:
        threshold = settings.near_duplicate_threshold
        for j, i in enumerate(rows):
            flags[j].extend(_duplicates(i, every, inputs, threshold))
        now = report.timed("duplicates", now)
    decisions = [
        decide(
            p_risk=float(probs[j]),
            flags=flags[j],
            external_id=p.external_id,
            history=histories[j],
            notices=notices[j],
            settings=settings,
            rules=model.rules,
        )
        for j, p in enumerate(profiles)
    ]
    now = report.timed("rules", now)

    reasons: list[list[dict[str, Any]]] = [[] for _ in profiles]
    parts: list[dict[str, Any]] = [{} for _ in profiles]
    if explain:
        reasons, parts = _explain(
            profiles, texts, hashes, probs, embeddings, features, sequence, decisions,
            embedded.token_sums, model, today, report, now,
        )  # fmt: skip
    return [
        Scored(
            p_risk=float(probs[j]),
            decision=decisions[j],
            reasons=reasons[j],
            breakdown=parts[j],
            indicators={k: float(v) for k, v in features[j].raw_indicators.items()},
            signature=inputs.signatures[i] if inputs.signatures is not None else None,
            bands=inputs.bands[i] if inputs.bands is not None else [],
        )
        for j, i in enumerate(rows)
    ]


def _explain(
    profiles: Sequence[Profile],
    texts: Sequence[str],
    hashes: Sequence[str],
    probs: np.ndarray,
    embeddings: np.ndarray,
    features: Sequence[Features],
    sequence: Any,
    decisions: Sequence[Decision],
    token_sums: dict[str, Any],
    model: Model,
    today: dt.date,
    report: BatchReport,
    now: float,
) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Reasons, summaries (set on the decisions) and the score breakdown of each profile."""
    settings, scorer = model.settings, model.scorer
    items = [
        ToExplain(p, float(probs[j]), embeddings[j], features[j]) for j, p in enumerate(profiles)
    ]
    if sequence is not None:
        for j, item in enumerate(items):
            item.sequence = sequence[j]
    explain_text = [
        settings.reason_sentences == "all"
        or (settings.reason_sentences == "non_low" and d.risk_level != RiskLevel.LOW)
        for d in decisions
    ]
    # Texts whose embedding came from the cache need the encoder for their sentences.
    again = {
        hashes[j]: texts[j]
        for j in range(len(profiles))
        if explain_text[j] and hashes[j] not in token_sums
    }
    if again:
        spans_of = [sentence_spans(t)[1] for t in again.values()]
        _, sums = model.encoder.encode_with_spans(list(again.values()), spans_of)
        token_sums.update(zip(again.keys(), sums, strict=True))
        report.reasons_encoded += len(again)
        now = report.timed("encoder", now)
    for j, item in enumerate(items):
        if explain_text[j]:
            item.sentences, _ = sentence_spans(texts[j])
            item.token_sums = token_sums[hashes[j]]
    found = explain_many(items, scorer, today)
    reasons = [[r.to_dict() for r in found[j]] for j in range(len(profiles))]
    for j, d in enumerate(decisions):
        d.summary = summarise(d, n_projects=len(profiles[j].projects), reasons=reasons[j])
    now = report.timed("reasons", now)
    groups = scorer.group_probabilities_many(features, embeddings, sequence)
    parts = [score_breakdown(g) for g in groups]
    report.timed("breakdown", now)
    return reasons, parts
