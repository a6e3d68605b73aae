"""The embedding cache: resume embeddings by encoder variant and text hash. Callers own the
transaction (see ``session``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from trustq.db.common import insert_for
from trustq.db.tables import (
    Embedding,
    utcnow,
)


def cached_embeddings(
    session: Session, encoder_name: str, encoder_revision: str, hashes: Iterable[str]
) -> dict[str, np.ndarray]:
    wanted = list(set(hashes))
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(
            select(Embedding.text_sha256, Embedding.vector).where(
                Embedding.encoder_name == encoder_name,
                Embedding.encoder_revision == encoder_revision,
                Embedding.text_sha256.in_(chunk),
            )
        )
        for text_hash, blob in rows:
            found[text_hash] = np.frombuffer(blob, dtype=np.float32).copy()
    return found


def store_embeddings(
    session: Session,
    encoder_name: str,
    encoder_revision: str,
    vectors: Mapping[str, np.ndarray],
) -> None:
    if not vectors:
        return
    rows: Sequence[dict[str, Any]] = [
        {
            "encoder_name": encoder_name,
            "encoder_revision": encoder_revision,
            "text_sha256": text_hash,
            "dim": int(vec.shape[0]),
            "vector": np.asarray(vec, dtype=np.float32).tobytes(),
            "created_at": utcnow(),
        }
        for text_hash, vec in vectors.items()
    ]
    for start in range(0, len(rows), 500):
        stmt = insert_for(session, Embedding).values(list(rows[start : start + 500]))
        session.execute(stmt.on_conflict_do_nothing())
