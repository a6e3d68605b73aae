"""Reasons: which parts of a profile moved its probability most, found by occlusion.

Each candidate part (a project of the history, a sentence of the resume) is removed in
turn and the profile scored again with the same model. A part's effect is
``p(risky) with it − p(risky) without it``: positive effects raise the risk. Projects are
removed from both the sequence and the indicators, so the effect is the whole effect of
that project, exactly.

Sentences: re-embedding the text once per left-out sentence would cost one encoder pass
per sentence. Instead each sentence is embedded once (one batch, about the tokens of the
whole text), the text's embedding is approximated by the token-weighted mean of its
sentence embeddings, and a sentence's effect is the change in p(risky) when its term is
dropped from that mean. Both sides of the difference use the same approximation, so the
ranking is consistent; the sizes are approximate.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from trustq.models.encoder import Encoder
from trustq.models.scorer import Scorer
from trustq.schemas import Profile

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
MAX_SENTENCES = 40
MAX_PROJECTS = 100


@dataclass(frozen=True)
class Reason:
    kind: str  # "project" or "sentence"
    effect: float  # change in p(risky) this part causes; > 0 raises the risk
    text: str  # a sentence a reviewer reads
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if len(s.strip()) > 2]


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
    reasons = _project_reasons(profile, p_risk, scorer, embedding, as_of)
    if encoder is not None:
        reasons += _sentence_reasons(profile, scorer, encoder, as_of)
    reasons.sort(key=lambda r: -abs(r.effect))
    return [r for r in reasons[:top] if abs(r.effect) >= 0.005]


def _project_reasons(
    profile: Profile, p_risk: float, scorer: Scorer, embedding: np.ndarray, as_of: dt.date
) -> list[Reason]:
    ordered = profile.projects_in_time_order()
    if not ordered:
        return []
    # The most recent projects are the ones the sequence model reads.
    candidates = list(range(len(ordered)))[-MAX_PROJECTS:]
    variants = [
        profile.model_copy(update={"projects": ordered[:i] + ordered[i + 1 :]}) for i in candidates
    ]
    scores = scorer.score(variants, np.repeat(embedding[None, :], len(variants), 0), as_of)
    out = []
    for i, score in zip(candidates, scores, strict=True):
        project = ordered[i]
        effect = p_risk - score.p_risk
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
        out.append(
            Reason(
                kind="project",
                effect=round(effect, 4),
                text=f"{described} {'raises' if effect > 0 else 'lowers'} the risk "
                f"by {abs(effect) * 100:.1f} points",
                evidence={
                    "project_index": i,
                    "title": project.title,
                    "start": str(project.start_date),
                },
            )
        )
    return out


def _sentence_reasons(
    profile: Profile, scorer: Scorer, encoder: Encoder, as_of: dt.date
) -> list[Reason]:
    sentences = split_sentences(profile.text)
    if len(sentences) < 2:
        return []
    candidates = sentences[:MAX_SENTENCES]
    vectors = encoder.encode(candidates).astype(np.float64)
    weights = np.array([sum(len(w) for w in encoder.windows(s)) for s in candidates], np.float64)
    weighted = vectors * weights[:, None]
    total = weighted.sum(axis=0)
    rows = [total] + [total - weighted[i] for i in range(len(candidates))]
    approx = np.stack(rows)
    approx /= np.maximum(np.linalg.norm(approx, axis=1, keepdims=True), 1e-12)
    scores = scorer.score([profile] * len(rows), approx.astype(np.float32), as_of)
    with_all = scores[0].p_risk
    out = []
    for i, score in enumerate(scores[1:]):
        effect = with_all - score.p_risk
        quoted = candidates[i] if len(candidates[i]) <= 160 else candidates[i][:157] + "…"
        out.append(
            Reason(
                kind="sentence",
                effect=round(effect, 4),
                text=f"the resume sentence “{quoted}” {'raises' if effect > 0 else 'lowers'} "
                f"the risk by {abs(effect) * 100:.1f} points",
                evidence={"sentence_index": i, "sentence": candidates[i][:500]},
            )
        )
    return out
