"""What a worker process loads once: the encoder and the serving model."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import numpy as np
import torch

from trustq.config import Settings, get_settings
from trustq.db import repo
from trustq.db.session import session_scope
from trustq.models.artifact import ArtifactError, deserialise
from trustq.models.encoder import Encoder
from trustq.models.scorer import Scorer
from trustq.rules import RuleSet
from trustq.services.submissions import sha256_text

log = logging.getLogger(__name__)


class NoServingModel(RuntimeError):
    """No model version is marked serving: run `trustq train` first."""


class EncoderMismatch(RuntimeError):
    """The serving model was trained on another encoder than this worker runs."""


def make_encoder(settings: Settings) -> Encoder:
    return Encoder(
        settings.encoder_path,
        max_tokens=settings.encoder_max_tokens,
        overlap_tokens=settings.encoder_overlap_tokens,
        batch_size=settings.encoder_batch_size,
    )


def embed_with_cache(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """Embeddings of ``texts``, reading and filling the database cache."""
    hashes = [sha256_text(t) for t in texts]
    with session_scope() as session:
        known = repo.cached_embeddings(session, encoder.name, encoder.revision, hashes)
    missing: dict[str, str] = {}
    for text_hash, text in zip(hashes, texts, strict=True):
        if text_hash not in known and text_hash not in missing:
            missing[text_hash] = text
    if missing:
        vectors = encoder.encode(list(missing.values()))
        fresh = dict(zip(missing.keys(), vectors, strict=True))
        with session_scope() as session:
            repo.store_embeddings(session, encoder.name, encoder.revision, fresh)
        known.update(fresh)
    return np.stack([known[h] for h in hashes]).astype(np.float32, copy=False)


class Runtime:
    """The encoder and the serving model of one worker process."""

    def __init__(self, settings: Settings) -> None:
        torch.set_num_threads(settings.resolved_torch_threads)
        self.settings = settings
        self.encoder = make_encoder(settings)
        self.rules = RuleSet.load(settings.rules_path)
        self._scorer: Scorer | None = None
        self._sha: str | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def scorer(self) -> Scorer:
        """The serving model, reloaded when another version was promoted."""
        with self._lock:
            due = time.monotonic() - self._checked_at >= self.settings.model_refresh_seconds
            if self._scorer is None or due:
                self._refresh()
            if self._scorer is None:
                raise NoServingModel("no model is serving; run `trustq train` to train one")
            return self._scorer

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
            scorer = Scorer(model, meta, version=version)
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
        self._scorer = scorer
        self._sha = sha
        self._checked_at = time.monotonic()
        log.info("serving model %s", version)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return embed_with_cache(self.encoder, texts)


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's runtime, loaded on first use."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime(get_settings())
    return _runtime
