"""Calibrated P(risky) for a batch of profiles from a loaded TrustNet artifact."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trustq.models.features import MAX_STEPS, STEP_FEATURES, project_steps
from trustq.models.indicators import INDICATOR_NAMES, compute_indicators, normalise_indicators
from trustq.models.network import TrustNet
from trustq.models.training import Calibration
from trustq.schemas import Profile


@dataclass
class Score:
    """The model's calibrated P(risky) and the raw indicators it saw."""

    p_risk: float
    indicators: dict[str, float]


class Scorer:
    """Scores profiles with one model; the caller supplies the resume embeddings."""

    def __init__(self, model: TrustNet, meta: dict[str, Any], *, version: str) -> None:
        # An artifact built with other features would score silently wrong, as the original
        # did when serving scaled its inputs differently from training; refuse it instead.
        if tuple(meta.get("step_features", ())) != STEP_FEATURES:
            raise ValueError(f"model {version} was trained on other step features")
        if tuple(meta.get("indicator_names", ())) != INDICATOR_NAMES:
            raise ValueError(f"model {version} was trained on other indicators")
        if meta.get("max_steps", MAX_STEPS) != MAX_STEPS:
            raise ValueError(f"model {version} was trained on another sequence length")
        try:
            self.calibration = Calibration.from_meta(meta)
        except ValueError as exc:
            raise ValueError(f"model {version} has no valid calibration: {exc}") from exc
        self.model = model.eval()
        self.meta = meta
        self.version = version
        self.embed_dim = int(meta.get("net", {}).get("embed_dim", model.embed_dim))
        if self.embed_dim != model.embed_dim:
            raise ValueError(f"model {version}: metadata and network disagree on embedding size")

    def score(
        self, profiles: Sequence[Profile], embeddings: np.ndarray, as_of: dt.date
    ) -> list[Score]:
        """One calibrated score per profile, in order, from a single batched forward pass."""
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[1] != self.embed_dim:
            raise ValueError(
                f"embeddings have shape {emb.shape}; model {self.version} needs "
                f"(n, {self.embed_dim}) from encoder {self.meta.get('encoder', {}).get('name')}"
            )
        if emb.shape[0] != len(profiles):
            raise ValueError(f"{len(profiles)} profiles but {emb.shape[0]} embeddings")
        if not np.isfinite(emb).all():
            raise ValueError("embeddings contain NaN or infinity")
        if not profiles:
            return []

        raw = [compute_indicators(p, as_of) for p in profiles]
        steps = [project_steps(p, as_of) for p in profiles]
        lengths = np.array([len(s) for s in steps], dtype=np.int64)
        padded = np.zeros((len(steps), int(lengths.max()), len(STEP_FEATURES)), np.float32)
        for i, s in enumerate(steps):
            padded[i, : len(s)] = s
        indicators = np.stack([normalise_indicators(r) for r in raw])

        with torch.inference_mode():
            logits = self.model(
                torch.from_numpy(emb),
                torch.from_numpy(padded),
                torch.from_numpy(lengths),
                torch.from_numpy(indicators),
            )
        probs = self.calibration.proba(logits.double().numpy())
        return [Score(p_risk=float(pi), indicators=r) for pi, r in zip(probs, raw, strict=True)]
