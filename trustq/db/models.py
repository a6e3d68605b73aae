"""Model versions, which one serves, and every promotion decision. Callers own the transaction
(see ``session``)."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, load_only

from trustq.db.tables import (
    ModelDecision,
    ModelStatus,
    ModelVersion,
)


def next_model_version(session: Session) -> str:
    count = session.scalar(select(func.count()).select_from(ModelVersion)) or 0
    return f"v{count + 1}"


def add_model_version(session: Session, row: ModelVersion) -> ModelVersion:
    session.add(row)
    session.flush()
    return row


def serving_model_version(session: Session) -> tuple[str, str] | None:
    """(version, artifact sha256) of the serving model, without loading its bytes."""
    row = session.execute(
        select(ModelVersion.version, ModelVersion.artifact_sha256).where(
            ModelVersion.status == ModelStatus.serving
        )
    ).first()
    return (row[0], row[1]) if row else None


def get_model_version(session: Session, version: str) -> ModelVersion | None:
    return session.get(ModelVersion, version)


def promote_model(session: Session, version: str) -> None:
    """Make ``version`` the serving model and retire the one serving before."""
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.status == ModelStatus.serving)
        .values(status=ModelStatus.retired)
    )
    session.flush()
    result = session.execute(
        update(ModelVersion)
        .where(ModelVersion.version == version)
        .values(status=ModelStatus.serving)
    )
    if result.rowcount != 1:
        raise LookupError(f"no model version {version!r}")


def model_version_summaries(session: Session) -> list[ModelVersion]:
    """Model versions newest first, without their artifact bytes."""
    return list(
        session.scalars(
            select(ModelVersion)
            .options(
                load_only(
                    ModelVersion.version,
                    ModelVersion.created_at,
                    ModelVersion.status,
                    ModelVersion.training_data_sha256,
                    ModelVersion.encoder_name,
                    ModelVersion.encoder_revision,
                    ModelVersion.metrics,
                    ModelVersion.artifact_sha256,
                    ModelVersion.created_by,
                    ModelVersion.labels_used,
                )
            )
            .order_by(ModelVersion.created_at.desc())
        )
    )


def serving_model(session: Session) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.status == ModelStatus.serving))


def add_model_decision(session: Session, row: ModelDecision) -> ModelDecision:
    session.add(row)
    session.flush()
    return row


def list_model_decisions(
    session: Session, *, version: str | None = None, limit: int = 50
) -> list[ModelDecision]:
    query = select(ModelDecision).order_by(ModelDecision.id.desc()).limit(limit)
    if version is not None:
        query = query.where(ModelDecision.version == version)
    return list(session.scalars(query))
