"""What a worker process loads once (the encoder and the serving model) and the scoring of
a batch of profiles with them: one encoder pass, one LSTM pass, one pass of the network's
head for every reason and breakdown row of the whole batch.

Nothing here commits anything: the embedding cache and the near-duplicate lookup are the
only database reads, and both can be left out (the in-process benchmark does).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import torch

from trustq import metrics
from trustq.config import Settings, get_settings
from trustq.db import repo
from trustq.db.session import session_scope
from trustq.models.artifact import ArtifactError, deserialise
from trustq.models.breakdown import breakdown as score_breakdown
from trustq.models.encoder import Encoder, TokenSums
from trustq.models.reasons import ToExplain, explain_many, sentence_spans
from trustq.models.scorer import Features, Scorer
from trustq.rules.checks import evaluate_flags
from trustq.rules.decision import Decision, decide, summarise
from trustq.rules.duplicates import lsh_bands, minhash_signature
from trustq.rules.flags import Flag, RiskLevel
from trustq.rules.inputs import history_state, input_notices
from trustq.rules.ruleset import RuleSet
from trustq.schemas import Profile
from trustq.services.submissions import sha256_text

log = logging.getLogger(__name__)


class NoServingModel(RuntimeError):
    """No model version is marked serving: run `trustq train` first."""


class EncoderMismatch(RuntimeError):
    """The serving model was trained on another encoder than this worker runs."""


def make_encoder(settings: Settings) -> Encoder:
    """The reference encoder (fp32 PyTorch on the CPU): what models are trained on."""
    return Encoder(
        settings.encoder_path,
        max_tokens=settings.encoder_max_tokens,
        overlap_tokens=settings.encoder_overlap_tokens,
        batch_size=settings.encoder_batch_size,
    )


@cache
def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX-512 BF16 or AMX), where bf16 autocast
    is faster than fp32 instead of slower."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "")
    except OSError:
        return False
    words = set(flags.split())
    return bool(words & {"avx512_bf16", "amx_bf16"})


def serving_variant(settings: Settings) -> tuple[str, str, int]:
    """(device, precision, batch size) the worker's encoder runs with, ``auto`` resolved."""
    device = settings.encoder_device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = settings.encoder_precision
    if precision == "auto":
        if device == "cuda":
            precision = "fp16"
        elif settings.encoder_runtime == "torch" and cpu_has_bf16():
            precision = "bf16"
        else:
            precision = "fp32"
    batch = settings.encoder_gpu_batch_size if device == "cuda" else settings.encoder_batch_size
    return device, precision, batch


def make_serving_encoder(settings: Settings) -> Encoder:
    """The encoder a worker scores with: the configured device, runtime and precision."""
    device, precision, batch = serving_variant(settings)
    return Encoder(
        settings.encoder_path,
        max_tokens=settings.encoder_max_tokens,
        overlap_tokens=settings.encoder_overlap_tokens,
        batch_size=batch,
        device=device,
        precision=precision,
        runtime=settings.encoder_runtime,
        compile=settings.encoder_compile,
        cache_dir=settings.data_dir / "encoders",
    )


def embed_with_cache(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """Embeddings of ``texts``, reading and filling the database cache."""
    vectors, _ = embed_texts(encoder, texts, cache=True)
    return vectors


@dataclass
class Embedded:
    """A batch's embeddings and, for the texts the encoder ran on, their sentence sums."""

    vectors: np.ndarray
    hashes: list[str] = field(default_factory=list)  # of the texts, in order
    token_sums: dict[str, TokenSums] = field(default_factory=dict)
    from_cache: int = 0
    encoded: int = 0


def embed_texts(
    encoder: Encoder, texts: Sequence[str], *, cache: bool, spans: bool = False
) -> tuple[np.ndarray, Embedded]:
    """Embeddings of ``texts``: from the database cache (with ``cache``) where this encoder
    variant embedded the text before, from the encoder otherwise, each distinct text once.

    With ``spans`` the texts the encoder runs on are also split by sentence (for sentence
    reasons; free, it is the same pass).
    """
    hashes = [sha256_text(t) for t in texts]
    known: dict[str, np.ndarray] = {}
    if cache and texts:
        with session_scope() as session:
            known = repo.cached_embeddings(session, encoder.name, encoder.cache_revision, hashes)
    missing: dict[str, str] = {}
    for text_hash, text in zip(hashes, texts, strict=True):
        if text_hash not in known and text_hash not in missing:
            missing[text_hash] = text
    result = Embedded(np.zeros((0, encoder.dim), np.float32), hashes)
    result.from_cache = len({h for h in hashes if h in known})
    result.encoded = len(missing)
    if missing:
        fresh_texts = list(missing.values())
        if spans:
            spans_of = [sentence_spans(t)[1] for t in fresh_texts]
            vectors, sums = encoder.encode_with_spans(fresh_texts, spans_of)
            result.token_sums = dict(zip(missing.keys(), sums, strict=True))
        else:
            vectors = encoder.encode(fresh_texts)
        fresh = dict(zip(missing.keys(), vectors, strict=True))
        if cache:
            with session_scope() as session:
                repo.store_embeddings(session, encoder.name, encoder.cache_revision, fresh)
        known.update(fresh)
    if texts:
        result.vectors = np.stack([known[h] for h in hashes]).astype(np.float32, copy=False)
    return result.vectors, result


@dataclass
class Scored:
    """Everything a verdict row holds that the model and the rules decided."""

    p_risk: float
    decision: Decision
    reasons: list[dict[str, Any]]
    breakdown: dict[str, Any]
    indicators: dict[str, float]
    signature: bytes
    bands: list[str]


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


# Looks up other freelancers' copies of each resume: (profile index, signature, bands)
# per profile in, one list of flags per profile out. The worker's reads the database.
DuplicateLookup = Callable[[Sequence[tuple[int, bytes, list[str]]]], list[list[Flag]]]

# Errors an operator or a retry fixes; a batch that meets one is not split up.
BATCH_ERRORS: tuple[type[BaseException], ...] = (NoServingModel, EncoderMismatch)


class Runtime:
    """The encoder and the serving model of one worker process."""

    def __init__(
        self, settings: Settings, *, scorer: Scorer | None = None, cache: bool = True
    ) -> None:
        torch.set_num_threads(settings.resolved_torch_threads)
        self.settings = settings
        self.encoder = make_serving_encoder(settings)
        self.rules = RuleSet.load(settings.rules_path)
        self.cache = cache
        self._scorer: Scorer | None = None
        self._sha: str | None = None
        self._checked_at = 0.0
        self._pinned = scorer is not None
        self._lock = threading.Lock()
        if scorer is not None:
            self._scorer = self._place(scorer)

    def scorer(self) -> Scorer:
        """The serving model, reloaded when another version was promoted."""
        with self._lock:
            if self._pinned:
                assert self._scorer is not None
                return self._scorer
            due = time.monotonic() - self._checked_at >= self.settings.model_refresh_seconds
            if self._scorer is None or due:
                self._refresh()
            if self._scorer is None:
                raise NoServingModel("no model is serving; run `trustq train` to train one")
            return self._scorer

    def _place(self, scorer: Scorer) -> Scorer:
        # On a GPU the network runs beside the encoder, in half precision like it.
        if self.encoder.device.type == "cuda":
            return scorer.to(self.encoder.device, half=self.encoder.precision == "fp16")
        return scorer

    def _refresh(self) -> None:
        with session_scope() as session:
            current = repo.serving_model_version(session)
            if current is None or current[1] == self._sha:
                self._checked_at = time.monotonic()
                return
            row = repo.get_model_version(session, current[0])
            if row is None:  # demoted between the two reads; look again next time
                return
            version, artifact, sha = row.version, row.artifact, row.artifact_sha256
        try:
            model, meta = deserialise(artifact, sha)
            scorer = Scorer(model, meta, version=version, base_rate=self.settings.base_rate)
        except (ArtifactError, ValueError) as exc:
            # Keep serving the model loaded before (if any); the next check looks again.
            log.error(
                "model %s refused, still serving %s: %s",
                version,
                self._scorer.version if self._scorer else "nothing",
                exc,
            )
            self._checked_at = time.monotonic()
            return
        trained_on = meta["encoder"]
        if (trained_on["name"], trained_on["revision"]) != (
            self.encoder.name,
            self.encoder.revision,
        ):
            raise EncoderMismatch(
                f"model {version} was trained on encoder {trained_on['name']} "
                f"revision {trained_on['revision']}, but this worker runs "
                f"{self.encoder.name} revision {self.encoder.revision}"
            )
        previous = self._scorer.version if self._scorer is not None else None
        self._scorer = self._place(scorer)
        metrics.serving_model(version, previous)
        self._sha = sha
        self._checked_at = time.monotonic()
        log.info("serving model %s", version)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors, _ = embed_texts(self.encoder, texts, cache=self.cache)
        return vectors

    # --- scoring -------------------------------------------------------------------------

    def score_batch(
        self,
        profiles: Sequence[Profile],
        today: dt.date,
        *,
        duplicates: DuplicateLookup | None = None,
        report: BatchReport | None = None,
        tokens: Sequence[int] | None = None,
    ) -> list[Scored | Exception]:
        """Score ``profiles`` together; one result per profile, in order. ``tokens``: each
        resume's length in encoder tokens, when the caller counted them already.

        A profile the model cannot score gets its exception in place of a result and the
        others are still scored: when the batch as a whole raises, each profile is scored
        alone. NoServingModel and EncoderMismatch, and database errors, concern the whole
        batch and are raised.
        """
        report = report if report is not None else BatchReport()
        report.size += len(profiles)
        # One model for the whole batch, even if another is promoted meanwhile.
        scorer = self.scorer()
        report.model_version = scorer.version
        try:
            return list(self._score_together(scorer, profiles, today, duplicates, report, tokens))
        except Exception as exc:
            if _concerns_the_batch(exc):
                raise
            if len(profiles) == 1:
                return [exc]
            log.warning(
                "a batch of %d raised %s; scoring its profiles one by one",
                len(profiles),
                type(exc).__name__,
            )
        out: list[Scored | Exception] = []
        for i, profile in enumerate(profiles):
            one = _only(duplicates, i)
            try:
                counted = None if tokens is None else [tokens[i]]
                out.extend(self._score_together(scorer, [profile], today, one, report, counted))
            except Exception as exc:
                if _concerns_the_batch(exc):
                    raise
                out.append(exc)
        return out

    def _score_together(
        self,
        scorer: Scorer,
        profiles: Sequence[Profile],
        today: dt.date,
        duplicates: DuplicateLookup | None,
        report: BatchReport,
        tokens: Sequence[int] | None = None,
    ) -> list[Scored]:
        settings = self.settings
        started = time.perf_counter()
        want_sentences = settings.reason_sentences != "never"
        texts = [p.text for p in profiles]
        embeddings, embedded = embed_texts(
            self.encoder, texts, cache=self.cache, spans=want_sentences
        )
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

        signatures = [minhash_signature(t) for t in texts]
        bands = [lsh_bands(s) for s in signatures]
        histories = [history_state(p, settings.short_history_projects) for p in profiles]
        if tokens is None:
            tokens = [self.encoder.count_tokens([t])[1] for t in texts]
        notices = [
            input_notices(t, n, scorer.length_range) for t, n in zip(texts, tokens, strict=True)
        ]
        now = report.timed("flags", now)
        if duplicates is not None:
            found = duplicates([(i, signatures[i], bands[i]) for i in range(len(profiles))])
            for i, extra in enumerate(found):
                flags[i].extend(extra)
            now = report.timed("duplicates", now)
        decisions = [
            decide(
                p_risk=float(probs[i]),
                flags=flags[i],
                external_id=p.external_id,
                history=histories[i],
                notices=notices[i],
                settings=settings,
                rules=self.rules,
            )
            for i, p in enumerate(profiles)
        ]
        now = report.timed("rules", now)

        items = [
            ToExplain(p, float(probs[i]), embeddings[i], features[i])
            for i, p in enumerate(profiles)
        ]
        if sequence is not None:
            for i, item in enumerate(items):
                item.sequence = sequence[i]
        hashes = embedded.hashes
        explain_text = [
            settings.reason_sentences == "all"
            or (settings.reason_sentences == "non_low" and d.risk_level != RiskLevel.LOW)
            for d in decisions
        ]
        # Texts whose embedding came from the cache need the encoder for their sentences.
        again = {
            hashes[i]: texts[i]
            for i in range(len(profiles))
            if explain_text[i] and hashes[i] not in embedded.token_sums
        }
        if again:
            spans_of = [sentence_spans(t)[1] for t in again.values()]
            _, sums = self.encoder.encode_with_spans(list(again.values()), spans_of)
            embedded.token_sums.update(zip(again.keys(), sums, strict=True))
            report.reasons_encoded += len(again)
            now = report.timed("encoder", now)
        for i, item in enumerate(items):
            if explain_text[i]:
                item.sentences, _ = sentence_spans(texts[i])
                item.token_sums = embedded.token_sums[hashes[i]]
        reasons = explain_many(items, scorer, today)
        for i, d in enumerate(decisions):
            d.summary = summarise(
                d,
                n_projects=len(profiles[i].projects),
                reasons=[r.to_dict() for r in reasons[i]],
            )
        now = report.timed("reasons", now)
        groups = scorer.group_probabilities_many(features, embeddings, sequence)
        parts = [score_breakdown(g) for g in groups]
        report.timed("breakdown", now)

        return [
            Scored(
                p_risk=float(probs[i]),
                decision=decisions[i],
                reasons=[r.to_dict() for r in reasons[i]],
                breakdown=parts[i],
                indicators={k: float(v) for k, v in features[i].raw_indicators.items()},
                signature=signatures[i],
                bands=bands[i],
            )
            for i in range(len(profiles))
        ]


def _concerns_the_batch(exc: BaseException) -> bool:
    """Errors that are not one profile's doing: no model, the database, the time limit."""
    from celery.exceptions import SoftTimeLimitExceeded
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, (*BATCH_ERRORS, DBAPIError, SoftTimeLimitExceeded))


def _only(duplicates: DuplicateLookup | None, index: int) -> DuplicateLookup | None:
    """The lookup for profile ``index`` scored on its own (it keeps its batch position)."""
    if duplicates is None:
        return None

    def lookup(items: Sequence[tuple[int, bytes, list[str]]]) -> list[list[Flag]]:
        return duplicates([(index, signature, bands) for _, signature, bands in items])

    return lookup


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's runtime, loaded on first use."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime(get_settings())
    return _runtime
