"""Reasons: which parts of a profile moved its probability most, found by occlusion.

Each candidate part (a project of the history, a sentence of the resume) is removed in
turn and the profile scored again with the same model. A part's effect is
``p(risky) with it − p(risky) without it``: positive effects raise the risk. Projects are
removed from both the sequence and the indicators, so the effect is the whole effect of
that project, exactly.

Sentences: re-embedding the text once per left-out sentence would cost one encoder pass
per sentence. Instead the text's own pass is used: its embedding is the normalised sum of
the states of all its tokens (see ``trustq.models.encoder``), so it splits exactly into
one term per sentence plus the special tokens. A sentence's effect is the change in
p(risky) when its term is dropped from that sum. The with-all side is the embedding the
model scored; the without side keeps the context the sentence gave the other tokens, so
the sizes are approximate. Sentence reasons cost no encoder pass when the text was just
embedded, and one pass over the text when its embedding came from the cache.

Every profile of a batch is explained together: one LSTM pass over all project variants,
one pass of the network's head over all sentence variants.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from trustq.models.encoder import Encoder, TokenSums
from trustq.models.scorer import Features, Scorer
from trustq.rules.checks import evaluate_flags
from trustq.schemas import Profile, Project

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
MAX_SENTENCES = 40
MAX_PROJECTS = 100
# A part is a reason when it moves p(risky) by half a point, or the odds by a tenth.
MIN_EFFECT = 0.005
MIN_ODDS_EFFECT = 0.1


@dataclass(frozen=True)
class Reason:
    kind: str  # "project" or "sentence"
    effect: float  # change in p(risky) this part causes; > 0 raises the risk
    text: str  # a sentence a reviewer reads
    evidence: dict[str, Any]
    # The same change in log-odds: it does not shrink with the base rate, so a part that
    # multiplies the odds matters just as much when p(risky) is 2% as when it is 40%.
    odds_effect: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if len(s.strip()) > 2]


def sentence_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The candidate sentences of ``text`` (at most MAX_SENTENCES) and their character
    spans in it."""
    sentences = split_sentences(text)[:MAX_SENTENCES]
    spans: list[tuple[int, int]] = []
    pos = 0
    for sentence in sentences:
        start = text.find(sentence, pos)
        if start < 0:  # cannot happen for stripped pieces of the text; keep the pairing safe
            start = pos
        spans.append((start, start + len(sentence)))
        pos = start + len(sentence)
    return sentences, spans


@dataclass
class ToExplain:
    """One scored profile and what its reasons are computed from."""

    profile: Profile
    p_risk: float
    embedding: np.ndarray
    features: Features
    # The text's token sums split by sentence (``sentence_spans`` order); None: no sentences.
    sentences: list[str] | None = None
    token_sums: TokenSums | None = None
    # Row of the batch's sequence features (``Scorer.score_prepared``), if computed.
    sequence: torch.Tensor | None = None


def explain(
    profile: Profile,
    p_risk: float,
    scorer: Scorer,
    encoder: Encoder | None,
    embedding: np.ndarray,
    as_of: dt.date,
    *,
    top: int = 5,
) -> list[Reason]:
    """The ``top`` parts with the largest effect on ``p_risk``, largest first.

    With ``encoder`` None the resume sentences are not examined (no encoder passes).
    """
    features = scorer.prepare(profile, as_of, evaluate_flags(profile, as_of))
    item = ToExplain(profile, p_risk, embedding, features)
    if encoder is not None:
        item.sentences, spans = sentence_spans(profile.text)
        _, [item.token_sums] = encoder.encode_with_spans([profile.text], [spans])
    return explain_many([item], scorer, as_of, top=top)[0]


def explain_many(
    items: Sequence[ToExplain], scorer: Scorer, as_of: dt.date, *, top: int = 5
) -> list[list[Reason]]:
    """:func:`explain` for many profiles: the same reasons, from two batched passes."""
    found: list[list[Reason]] = [[] for _ in items]
    for i, reasons in _project_reasons(items, scorer, as_of, top):
        found[i].extend(reasons)
    for i, reasons in _sentence_reasons(items, scorer, top):
        found[i].extend(reasons)
    out = []
    for reasons in found:
        reasons.sort(key=lambda r: -abs(r.effect))
        out.append(
            [
                r
                for r in reasons[:top]
                if abs(r.effect) >= MIN_EFFECT or abs(r.odds_effect) >= MIN_ODDS_EFFECT
            ]
        )
    return out


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _strongest(effects: Sequence[float], top: int) -> list[int]:
    """Positions of the ``top`` largest effects (as rounded in a Reason), in their own
    order: only those can be among a profile's ``top`` reasons, and keeping their order
    keeps the final stable sort the same as over all of them."""
    rounded = [abs(round(e, 4)) for e in effects]
    return sorted(sorted(range(len(effects)), key=lambda k: -rounded[k])[:top])


def _project_reasons(
    items: Sequence[ToExplain], scorer: Scorer, as_of: dt.date, top: int
) -> list[tuple[int, list[Reason]]]:
    plans: list[tuple[int, list[Project], list[int]]] = []
    variants: list[Features] = []
    embeddings: list[np.ndarray] = []
    for i, item in enumerate(items):
        ordered = item.profile.projects_in_time_order()
        if not ordered:
            continue
        # The most recent projects are the ones the sequence model reads.
        candidates = list(range(len(ordered)))[-MAX_PROJECTS:]
        variants.extend(scorer.prepare_without(item.profile, as_of, candidates, item.features))
        embeddings.extend([item.embedding] * len(candidates))
        plans.append((i, ordered, candidates))
    if not variants:
        return []
    probs, _ = scorer.score_prepared(variants, np.stack(embeddings))
    out = []
    row = 0
    for i, ordered, candidates in plans:
        without = [float(p) for p in probs[row : row + len(candidates)]]
        effects = [items[i].p_risk - p for p in without]
        row += len(candidates)
        kept = _strongest(effects, top)
        odds = [_logit(items[i].p_risk) - _logit(without[j]) for j in range(len(without))]
        out.append(
            (i, [_project_reason(ordered, candidates[j], effects[j], odds[j]) for j in kept])
        )
    return out


def _project_reason(ordered: list[Project], i: int, effect: float, odds: float) -> Reason:
    project = ordered[i]
    traits = [
        name
        for name, on in (
            ("disputed", project.disputed),
            ("cancelled", project.cancelled),
            ("late", project.completed_on_time is False),
        )
        if on
    ]
    if project.client_rating is not None:
        traits.append(f"rated {project.client_rating:.1f}")
    described = f"project {i + 1} of {len(ordered)} “{project.title}”" + (
        f" ({', '.join(traits)})" if traits else ""
    )
    return Reason(
        kind="project",
        effect=round(effect, 4),
        text=f"{described} {'raises' if effect > 0 else 'lowers'} the risk "
        f"by {abs(effect) * 100:.1f} points",
        evidence={
            "project_index": i,
            "title": project.title,
            "start": str(project.start_date),
        },
        odds_effect=round(odds, 4),
    )


def _sentence_reasons(
    items: Sequence[ToExplain], scorer: Scorer, top: int
) -> list[tuple[int, list[Reason]]]:
    plans: list[tuple[int, int]] = []
    rows: list[np.ndarray] = []
    owners: list[int] = []
    for i, item in enumerate(items):
        sums = item.token_sums
        if sums is None or not item.sentences or len(item.sentences) < 2:
            continue
        # Row 0: the text as scored; row 1 + k: without sentence k's tokens.
        rows.append(sums.total[None, :])
        rows.append(sums.total[None, :] - sums.spans)
        owners.extend([i] * (1 + len(sums.spans)))
        plans.append((i, len(sums.spans)))
    if not plans:
        return []
    approx = np.concatenate(rows)
    approx /= np.maximum(np.linalg.norm(approx, axis=1, keepdims=True), 1e-12)
    index = np.array(owners)
    features = [items[i].features for i in owners]
    indicators = np.stack([f.indicators for f in features])
    sequence = _sequences(items, index, scorer)
    probs = scorer.head_proba(sequence, approx.astype(np.float32), indicators)
    out = []
    row = 0
    for i, n in plans:
        with_all = float(probs[row])
        sentences = items[i].sentences or []
        effects = [with_all - float(p) for p in probs[row + 1 : row + 1 + n]]
        reasons = []
        for k in _strongest(effects, top):
            effect = effects[k]
            quoted = sentences[k] if len(sentences[k]) <= 160 else sentences[k][:157] + "…"
            reasons.append(
                Reason(
                    kind="sentence",
                    effect=round(effect, 4),
                    text=f"the resume sentence “{quoted}” "
                    f"{'raises' if effect > 0 else 'lowers'} "
                    f"the risk by {abs(effect) * 100:.1f} points",
                    evidence={"sentence_index": k, "sentence": sentences[k][:500]},
                    odds_effect=round(_logit(with_all) - _logit(float(probs[row + 1 + k])), 4),
                )
            )
        row += 1 + n
        out.append((i, reasons))
    return out


def _sequences(
    items: Sequence[ToExplain], owners: np.ndarray, scorer: Scorer
) -> torch.Tensor | None:
    """Sequence features for each row (its profile's), computing the missing ones once."""
    if not scorer.model.use_sequence:
        return None
    needed = sorted({int(i) for i in owners})
    missing = [i for i in needed if items[i].sequence is None]
    if missing:
        fresh = scorer.sequence_features([items[i].features.steps for i in missing])
        assert fresh is not None
        for i, row in zip(missing, fresh, strict=True):
            items[i].sequence = row
    stacked = torch.stack([items[i].sequence for i in needed])  # type: ignore[misc]
    position = {i: k for k, i in enumerate(needed)}
    index = torch.tensor([position[int(i)] for i in owners], device=stacked.device)
    return stacked.index_select(0, index)
