"""Loading a registered model version and checking it: the one way every part of trustq
(workers, evaluation, retraining's holdout, promotion) builds a :class:`Scorer`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from trustq.db import models as models_db
from trustq.models.artifact import ArtifactError, deserialise
from trustq.models.encoder import Encoder
from trustq.models.scorer import Scorer
from trustq.scoring.errors import (
    EncoderMismatch,
    ModelNotFound,
    ModelUnavailable,
    ModelUnreadable,
    NoServingModel,
)

__all__ = [
    "EncoderMismatch",
    "ModelNotFound",
    "ModelUnavailable",
    "ModelUnreadable",
    "NoServingModel",
    "StoredModel",
    "build_scorer",
    "read_model",
    "read_serving",
]


@dataclass(frozen=True)
class StoredModel:
    version: str
    status: str
    artifact: bytes
    artifact_sha256: str


def read_model(session: Session, version: str) -> StoredModel:
    """Model ``version`` as stored; ModelNotFound when there is none."""
    row = models_db.get_model_version(session, version)
    if row is None:
        raise ModelNotFound(f"no model version {version!r}")
    return StoredModel(row.version, str(row.status), row.artifact, row.artifact_sha256)


def read_serving(session: Session) -> tuple[str, str] | None:
    """(version, artifact sha256) of the model the database marks serving, if any."""
    return models_db.serving_model_version(session)


def build_scorer(
    stored: StoredModel,
    *,
    base_rate: float | None = None,
    encoder: Encoder | None = None,
    encoder_role: str = "the configured encoder is",
) -> Scorer:
    """A scorer for ``stored``: ModelUnreadable if its artifact does not load, and, given an
    ``encoder``, EncoderMismatch unless the model was trained on that encoder.
    ``base_rate``: the share of risky profiles its probabilities are moved to (None: the
    training set's)."""
    try:
        model, meta = deserialise(stored.artifact, stored.artifact_sha256)
        scorer = Scorer(model, meta, version=stored.version, base_rate=base_rate)
    except (ArtifactError, ValueError) as exc:
        raise ModelUnreadable(f"model {stored.version} cannot be loaded: {exc}") from exc
    if encoder is not None:
        trained_on = meta["encoder"]
        if (trained_on["name"], trained_on["revision"]) != (encoder.name, encoder.revision):
            raise EncoderMismatch(
                f"model {stored.version} was trained on encoder {trained_on['name']} "
                f"revision {trained_on['revision']}, but {encoder_role} {encoder.name} "
                f"revision {encoder.revision}"
            )
    return scorer
