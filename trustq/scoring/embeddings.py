"""Resume embeddings: the cache is read and written in the read and write steps; the encoder
runs on what the cache did not hold, each distinct text once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from trustq.db import embeddings as embeddings_db
from trustq.db.session import session_scope
from trustq.models.encoder import Encoder, TokenSums
from trustq.models.reasons import sentence_spans
from trustq.schemas import sha256_text


@dataclass
class Embedded:
    """A batch's embeddings and, for the texts the encoder ran on, their sentence sums."""

    vectors: np.ndarray
    hashes: list[str] = field(default_factory=list)  # of the texts, in order
    token_sums: dict[str, TokenSums] = field(default_factory=dict)
    fresh: dict[str, np.ndarray] = field(default_factory=dict)  # encoded now: for the cache
    from_cache: int = 0
    encoded: int = 0


def read_cached(session: Session, encoder: Encoder, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    """The embeddings this encoder variant made before of the texts with these hashes."""
    if not hashes:
        return {}
    return embeddings_db.cached_embeddings(session, encoder.name, encoder.cache_revision, hashes)


def write_cached(session: Session, encoder: Encoder, fresh: Mapping[str, np.ndarray]) -> None:
    """Keep embeddings the encoder just made (in hash order, so that two writers of the same
    texts lock them in the same order)."""
    embeddings_db.store_embeddings(
        session, encoder.name, encoder.cache_revision, {h: fresh[h] for h in sorted(fresh)}
    )


def embed(
    encoder: Encoder,
    texts: Sequence[str],
    known: Mapping[str, np.ndarray],
    *,
    hashes: Sequence[str] | None = None,
    spans: bool = False,
) -> Embedded:
    """Embeddings of ``texts``: from ``known`` (by text hash) where it holds them, from the
    encoder otherwise. With ``spans`` the texts the encoder runs on are also split by
    sentence (for sentence reasons; free, it is the same pass)."""
    hashes = list(hashes) if hashes is not None else [sha256_text(t) for t in texts]
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
        result.fresh = dict(zip(missing.keys(), vectors, strict=True))
    if texts:
        vectors_by_hash = {**known, **result.fresh}
        result.vectors = np.stack([vectors_by_hash[h] for h in hashes]).astype(
            np.float32, copy=False
        )
    return result


def embed_with_cache(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """Embeddings of ``texts`` for training and evaluation: read the cache, encode the rest,
    keep what was encoded."""
    hashes = [sha256_text(t) for t in texts]
    with session_scope() as session:
        known = read_cached(session, encoder, hashes)
    embedded = embed(encoder, texts, known, hashes=hashes)
    if embedded.fresh:
        with session_scope() as session:
            write_cached(session, encoder, embedded.fresh)
    return embedded.vectors
