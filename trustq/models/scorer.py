"""Calibrated P(risky) for a batch of profiles from a loaded TrustNet artifact."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trustq.models.breakdown import MASKS
from trustq.models.features import MAX_STEPS, STEP_FEATURES, leave_one_out, project_steps
from trustq.models.indicators import compute_indicators
from trustq.models.network import TrustNet
from trustq.models.profile_features import PROFILE_FEATURES, claims_and_flags, profile_vector
from trustq.models.training import Calibration
from trustq.rules.checks import evaluate_flags
from trustq.rules.flags import Flag
from trustq.rules.inputs import LengthRange
from trustq.schemas import Profile

# Rows per LSTM pass: few distinct shapes on a CPU (see sequence_features), large on a GPU.
CPU_LSTM_ROWS = 64
CUDA_LSTM_ROWS = 8192


@dataclass(frozen=True)
class Features:
    """A profile's model inputs besides the resume: project steps and the profile vector
    (``indicators``: the indicators, the claims and the flags; see profile_features)."""

    steps: np.ndarray
    raw_indicators: dict[str, float]
    indicators: np.ndarray
    static: np.ndarray  # the claims and flags part, the same for every variant of a profile


@dataclass
class Score:
    """The model's calibrated P(risky) and the raw indicators it saw."""

    p_risk: float
    indicators: dict[str, float]


class Scorer:
    """Scores profiles with one model; the caller supplies the resume embeddings.

    ``base_rate``: the share of risky profiles in the traffic scored. The calibrated
    probability speaks of the training set's share; with a base rate it is moved to that
    share by the prior-shift correction of its odds, ``logit p' = logit p + logit(base_rate)
    - logit(training share)``, an offset that keeps the ranking. None keeps the training
    share (evaluation on data drawn like the training set).
    """

    def __init__(
        self,
        model: TrustNet,
        meta: dict[str, Any],
        *,
        version: str,
        base_rate: float | None = None,
    ) -> None:
        # An artifact built with other features would score silently wrong, as the original
        # did when serving scaled its inputs differently from training; refuse it instead.
        if tuple(meta.get("step_features", ())) != STEP_FEATURES:
            raise ValueError(f"model {version} was trained on other step features")
        if tuple(meta.get("indicator_names", ())) != PROFILE_FEATURES:
            raise ValueError(
                f"model {version} was trained on other profile features; retrain it with this "
                "version of trustq"
            )
        if meta.get("max_steps", MAX_STEPS) != MAX_STEPS:
            raise ValueError(f"model {version} was trained on another sequence length")
        try:
            calibration = Calibration.from_meta(meta)
            self.training_share = float(meta["training_risky_share"])
            self.length_range = LengthRange.from_meta(meta.get("resume_tokens"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"model {version} has no valid calibration, training share or resume length "
                f"range: {exc}; retrain it with this version of trustq"
            ) from exc
        if not 0 < self.training_share < 1:
            raise ValueError(f"model {version}: training risky share {self.training_share}")
        self.base_rate = base_rate
        self.calibration = (
            calibration
            if base_rate is None
            else calibration.shifted(self.training_share, base_rate)
        )
        self.model = model.eval()
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self._reference_sequence: torch.Tensor | None = None
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
        self,
        profiles: Sequence[Profile],
        embeddings: np.ndarray,
        as_of: dt.date,
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

        prepared = [self.prepare(p, as_of, evaluate_flags(p, as_of)) for p in profiles]
        probs, _ = self.score_prepared(prepared, emb)
        return [
            Score(p_risk=float(pi), indicators=f.raw_indicators)
            for pi, f in zip(probs, prepared, strict=True)
        ]

    def prepare(self, profile: Profile, as_of: dt.date, flags: Sequence[Flag]) -> Features:
        """The model inputs of ``profile`` other than its resume embedding; ``flags`` are its
        rule flags (:func:`trustq.rules.checks.evaluate_flags`)."""
        raw = compute_indicators(profile, as_of)
        static = claims_and_flags(profile, flags)
        return Features(project_steps(profile, as_of), raw, profile_vector(raw, static), static)

    def prepare_without(
        self,
        profile: Profile,
        as_of: dt.date,
        candidates: Sequence[int],
        features: Features,
    ) -> list[Features]:
        """:meth:`prepare` of the profile without project ``k`` (a position in its time
        order), for each ``k`` in ``candidates``: the same inputs, computed together from
        ``features``, the profile's own (from :meth:`prepare`). The claims and the flags
        stay those of the whole profile: a reason is the project's effect through the
        history the model reads."""
        return [
            Features(variant, raw, profile_vector(raw, features.static), features.static)
            for variant, raw in leave_one_out(profile, as_of, candidates, features.steps)
        ]

    def score_prepared(
        self, features: Sequence[Features], embeddings: np.ndarray
    ) -> tuple[np.ndarray, torch.Tensor | None]:
        """Calibrated P(risky) per profile, and the sequence features behind it (reused by
        :meth:`head_proba` for variants that change only the resume or the indicators)."""
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.shape != (len(features), self.embed_dim):
            raise ValueError(f"embeddings have shape {emb.shape}, not ({len(features)}, dim)")
        if not features:
            return np.zeros(0), None
        sequence = self.sequence_features([f.steps for f in features])
        indicators = np.stack([f.indicators for f in features])
        return self.head_proba(sequence, emb, indicators), sequence

    def sequence_features(self, steps: Sequence[np.ndarray]) -> torch.Tensor | None:
        """The LSTMs' reading of each step array (one pass for all), on the model's device."""
        if not self.model.use_sequence:
            return None
        lengths = np.array([len(s) for s in steps], dtype=np.int64)
        # On a CPU oneDNN compiles an LSTM kernel for every new (rows, steps) shape, which
        # costs several times the pass itself: rows go in length order, in chunks of a few
        # fixed sizes, padded to a multiple of 8 steps, so a worker meets few shapes. Each
        # row's output depends on its own steps only, so the padding changes nothing.
        chunk = CUDA_LSTM_ROWS if self.device.type == "cuda" else CPU_LSTM_ROWS
        order = np.argsort(lengths, kind="stable")
        out: torch.Tensor | None = None
        with torch.inference_mode():
            for start in range(0, len(order), chunk):
                rows = order[start : start + chunk]
                n_rows = 1 << max(0, int(len(rows) - 1).bit_length())
                width = -(-int(lengths[rows].max()) // 8) * 8
                padded = np.zeros((n_rows, width, len(STEP_FEATURES)), np.float32)
                row_lengths = np.ones(n_rows, dtype=np.int64)
                for k, i in enumerate(rows):
                    padded[k, : lengths[i]] = steps[i]
                    row_lengths[k] = lengths[i]
                part = self.model.sequence_features(
                    self._tensor(padded), torch.from_numpy(row_lengths)
                )
                assert part is not None
                if out is None:
                    out = part.new_empty((len(steps), part.shape[1]))
                out[torch.from_numpy(rows).to(part.device)] = part[: len(rows)]
        return out

    def head_proba(
        self, sequence: torch.Tensor | None, embeddings: np.ndarray, indicators: np.ndarray
    ) -> np.ndarray:
        """Calibrated P(risky) from sequence features (one row per input row) and the other
        inputs, without running the LSTMs."""
        with torch.inference_mode():
            logits = self.model.head_logits(
                sequence, self._tensor(embeddings), self._tensor(indicators)
            )
        return self.calibration.proba(logits.double().cpu().numpy())

    def reference_sequence(self) -> torch.Tensor | None:
        """Sequence features of the reference history (computed once per scorer)."""
        if self._reference_sequence is None and self.model.use_sequence:
            self._reference_sequence = self.sequence_features([self.reference.steps])
        return self._reference_sequence

    def group_probabilities_many(
        self,
        features: Sequence[Features],
        embeddings: np.ndarray,
        sequence: torch.Tensor | None,
    ) -> list[dict[tuple[bool, ...], float]]:
        """:meth:`group_probabilities` for many profiles at once, from their sequence
        features (as :meth:`score_prepared` returned them): no LSTM pass at all."""
        if not features:
            return []
        ref = self.reference
        n, b = len(MASKS), len(features)
        # Row r = profile r // n under mask r % n; index b stands for the reference input.
        use = np.array(MASKS, dtype=bool)
        own = np.repeat(np.arange(b), n)
        pick = {g: np.where(np.tile(use[:, g], b), own, b) for g in range(use.shape[1])}
        emb = np.concatenate([np.asarray(embeddings, np.float32), ref.embedding[None, :]])
        ind = np.concatenate([np.stack([f.indicators for f in features]), ref.indicators[None]])
        seq_rows = None
        ref_seq = self.reference_sequence()
        if sequence is not None and ref_seq is not None:
            index = torch.from_numpy(pick[1]).to(sequence.device)
            seq_rows = torch.cat([sequence, ref_seq]).index_select(0, index)
        probs = self.head_proba(seq_rows, emb[pick[0]], ind[pick[2]])
        return [
            {mask: float(p) for mask, p in zip(MASKS, probs[i * n : (i + 1) * n], strict=True)}
            for i in range(b)
        ]

    def to(self, device: str | torch.device, *, half: bool = False) -> Scorer:
        """Run the network on ``device`` (in fp16 with ``half``, for a GPU)."""
        self.model = self.model.to(device)
        self.dtype = torch.float16 if half else torch.float32
        self.model = self.model.to(self.dtype)
        self.device = torch.device(device)
        self._reference_sequence = None
        return self

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(array, np.float32))
        return t.to(self.device, self.dtype, non_blocking=True)

    def group_probabilities(
        self, profile: Profile, embedding: np.ndarray, as_of: dt.date
    ) -> dict[tuple[bool, ...], float]:
        """Calibrated P(risky) for every combination of the profile's real inputs and the
        training reference, per group (text, sequence, indicators), in one forward pass."""
        ref = self.reference
        real = self.prepare(profile, as_of, evaluate_flags(profile, as_of))
        real_steps, real_ind = real.steps, real.indicators
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
        return self.head_proba(self.sequence_features(steps), emb, indicators)


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
        if indicators.shape != (len(PROFILE_FEATURES),):
            raise ValueError("reference profile vector does not fit the profile features")
        for name, arr in (("embedding", embedding), ("step", step), ("indicators", indicators)):
            if not np.isfinite(arr).all():
                raise ValueError(f"reference {name} is not finite")
        return cls(embedding, np.repeat(step[None, :], length, 0), indicators)
