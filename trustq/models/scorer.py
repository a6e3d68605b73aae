"""Calibrated P(risky) for a batch of profiles from a loaded TrustNet artifact."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trustq.models.breakdown import MASKS
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
        try:
            self.reference = Reference.from_meta(meta.get("reference"), self.embed_dim)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(
                f"model {version} has no valid reference inputs for the score breakdown "
                f"({exc}); retrain it with this version of trustq"
            ) from exc

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
        indicators = np.stack([normalise_indicators(r) for r in raw])
        probs = self._proba(emb, steps, indicators)
        return [Score(p_risk=float(pi), indicators=r) for pi, r in zip(probs, raw, strict=True)]

    def group_probabilities(
        self, profile: Profile, embedding: np.ndarray, as_of: dt.date
    ) -> dict[tuple[bool, ...], float]:
        """Calibrated P(risky) for every combination of the profile's real inputs and the
        training reference, per group (text, sequence, indicators), in one forward pass."""
        ref = self.reference
        real_steps = project_steps(profile, as_of)
        real_ind = normalise_indicators(compute_indicators(profile, as_of))
        emb, steps, ind = [], [], []
        for text, sequence, indicators in MASKS:
            emb.append(np.asarray(embedding, np.float32) if text else ref.embedding)
            steps.append(real_steps if sequence else ref.steps)
            ind.append(real_ind if indicators else ref.indicators)
        probs = self._proba(np.stack(emb), steps, np.stack(ind))
        return {mask: float(p) for mask, p in zip(MASKS, probs, strict=True)}

    def _proba(
        self, emb: np.ndarray, steps: Sequence[np.ndarray], indicators: np.ndarray
    ) -> np.ndarray:
        lengths = np.array([len(s) for s in steps], dtype=np.int64)
        padded = np.zeros((len(steps), int(lengths.max()), len(STEP_FEATURES)), np.float32)
        for i, s in enumerate(steps):
            padded[i, : len(s)] = s
        with torch.inference_mode():
            logits = self.model(
                torch.from_numpy(np.ascontiguousarray(emb, np.float32)),
                torch.from_numpy(padded),
                torch.from_numpy(lengths),
                torch.from_numpy(np.ascontiguousarray(indicators, np.float32)),
            )
        return self.calibration.proba(logits.double().numpy())


@dataclass(frozen=True)
class Reference:
    """The training set's average input per group: what the breakdown compares against."""

    embedding: np.ndarray
    steps: np.ndarray
    indicators: np.ndarray

    @classmethod
    def from_training(
        cls, embeddings: np.ndarray, steps: Sequence[np.ndarray], indicators: np.ndarray
    ) -> Reference:
        mean = np.asarray(embeddings, np.float64).mean(axis=0)
        # Real inputs are unit vectors; so is the reference.
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        all_steps = np.concatenate([np.asarray(s, np.float64) for s in steps])
        length = max(1, round(float(np.median([len(s) for s in steps]))))
        return cls(
            embedding=mean.astype(np.float32),
            steps=np.repeat(all_steps.mean(axis=0, keepdims=True), length, 0).astype(np.float32),
            indicators=np.asarray(indicators, np.float64).mean(axis=0).astype(np.float32),
        )

    def to_meta(self) -> dict[str, Any]:
        return {
            "embedding": [round(float(x), 7) for x in self.embedding],
            "step": [round(float(x), 7) for x in self.steps[0]],
            "length": len(self.steps),
            "indicators": [round(float(x), 7) for x in self.indicators],
        }

    @classmethod
    def from_meta(cls, meta: Any, embed_dim: int) -> Reference:
        if not isinstance(meta, dict):
            raise ValueError("the artifact records no reference inputs")
        embedding = np.asarray(meta["embedding"], np.float32)
        step = np.asarray(meta["step"], np.float32)
        indicators = np.asarray(meta["indicators"], np.float32)
        length = int(meta["length"])
        if embedding.shape != (embed_dim,):
            raise ValueError(f"reference embedding has shape {embedding.shape}")
        if step.shape != (len(STEP_FEATURES),) or not 1 <= length <= MAX_STEPS:
            raise ValueError("reference step or length does not fit the step features")
        if indicators.shape != (len(INDICATOR_NAMES),):
            raise ValueError("reference indicators do not fit the indicators")
        for name, arr in (("embedding", embedding), ("step", step), ("indicators", indicators)):
            if not np.isfinite(arr).all():
                raise ValueError(f"reference {name} is not finite")
        return cls(embedding, np.repeat(step[None, :], length, 0), indicators)
