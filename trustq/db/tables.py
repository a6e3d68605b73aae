"""The database tables (SQLAlchemy 2 declarative, ``Mapped[]`` style)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self,
        value: dt.datetime | None,
        dialect: Any,  # noqa: ARG002
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; trustq stores UTC-aware timestamps only")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self,
        value: dt.datetime | None,
        dialect: Any,  # noqa: ARG002
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


JSONDoc = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SubmissionStatus(StrEnum):
    queued = "queued"
    processing = "processing"
    done = "done"
    failed = "failed"


class ModelStatus(StrEnum):
    serving = "serving"
    candidate = "candidate"
    retired = "retired"


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'processing', 'done', 'failed')", name="status_known"
        ),
        Index("ix_submissions_status_created", "status", "created_at"),
        # An idempotency key is the caller's own: two clients may use the same one.
        UniqueConstraint(
            "submitted_by", "idempotency_key", name="uq_submissions_submitter_idempotency_key"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    external_id: Mapped[str] = mapped_column(String(200), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    resume_sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default=SubmissionStatus.queued)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(200))
    # The X-Request-ID its caller sent, beside the request id the API made.
    client_request_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # A PDF or DOCX sent instead of resume_text; the worker extracts the text into the payload.
    resume_file: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    resume_filename: Mapped[str | None] = mapped_column(String(300))
    resume_minhash: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # Set when the retention task erased the resume text and file (hash and verdicts stay).
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The worker (Celery node name) whose claim made it processing; its heartbeat says
    # whether that worker still lives.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    # The API key that sent it (None: an operator's, from the CLI or Python); its webhook
    # endpoints are told of its verdict.
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), index=True
    )


class WorkerHeartbeat(Base):
    """The last sign of life of each worker (Celery node): a worker silent for longer than
    TRUSTQ_LOST_WORKER_AFTER is presumed lost, and what it had claimed is queued again."""

    __tablename__ = "worker_heartbeats"

    worker: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The encoder variant its scoring processes serve with, and how it was chosen.
    encoder: Mapped[str | None] = mapped_column(String(500), nullable=True)


class ResumeBand(Base):
    """MinHash LSH band keys: near-duplicate resumes share a key, found by an index lookup."""

    __tablename__ = "resume_bands"

    band: Mapped[str] = mapped_column(String(64), primary_key=True)
    submission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class LabelValue(StrEnum):
    risky = "risky"
    trustworthy = "trustworthy"


class LabelSource(StrEnum):
    review = "review"
    chargeback = "chargeback"
    dispute = "dispute"
    manual = "manual"


class Label(Base):
    """What people learned about a submission; append-only, the newest is the current one."""

    __tablename__ = "labels"
    __table_args__ = (
        CheckConstraint("label IN ('risky', 'trustworthy')", name="label_known"),
        CheckConstraint(
            "source IN ('review', 'chargeback', 'dispute', 'manual')", name="source_known"
        ),
        Index("ix_labels_submission_created", "submission_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE")
    )
    label: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    # The API key that recorded the label; None for an operator's (CLI, Python).
    api_key: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        CheckConstraint("status IN ('serving', 'candidate', 'retired')", name="status_known"),
        # At most one model serves at a time.
        Index(
            "uq_model_versions_one_serving",
            "status",
            unique=True,
            postgresql_where=text("status = 'serving'"),
            sqlite_where=text("status = 'serving'"),
        ),
    )

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=ModelStatus.candidate)
    training_data_sha256: Mapped[str] = mapped_column(String(64))
    encoder_name: Mapped[str] = mapped_column(String(300))
    encoder_revision: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    artifact: Mapped[bytes] = mapped_column(LargeBinary)
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))
    # The newest label this model was trained on: labels after it are "new" for retraining.
    labels_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    labels_used: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Verdict(Base):
    __tablename__ = "verdicts"
    __table_args__ = (
        # A message delivered twice must not write a second verdict.
        UniqueConstraint("submission_id", "model_version", name="uq_verdicts_submission_model"),
        CheckConstraint("trust_score >= 0 AND trust_score <= 100", name="score_range"),
        CheckConstraint("p_risk >= 0 AND p_risk <= 1", name="p_risk_range"),
        Index("ix_verdicts_risk_created", "risk_level", "created_at"),
        Index("ix_verdicts_recommendation_created", "recommendation", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    p_risk: Mapped[float] = mapped_column(Float)
    trust_score: Mapped[float] = mapped_column(Float)
    risk_level: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(16))
    model_version: Mapped[str] = mapped_column(ForeignKey("model_versions.version"))
    encoder_name: Mapped[str] = mapped_column(String(300))
    encoder_revision: Mapped[str] = mapped_column(String(64))
    input_sha256: Mapped[str] = mapped_column(String(64))
    indicators: Mapped[dict[str, float]] = mapped_column(JSONDoc)
    latency_ms: Mapped[float] = mapped_column(Float)
    worker_host: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # The model's risk level before rules acted; risk_level is the final one.
    model_risk_level: Mapped[str] = mapped_column(String(16))
    recommendation: Mapped[str] = mapped_column(String(16))
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    rule_hits: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    # The score's three parts (resume quality, project realism, profile validation).
    breakdown: Mapped[dict[str, Any]] = mapped_column(
        JSONDoc, default=dict, server_default=text("'{}'")
    )
    # The history on the platform (none, short, full), what about the input the model cannot
    # read well, the sentence for support staff, and the share of risky traffic p_risk was
    # corrected to. Verdicts written before these existed hold NULL (unknown).
    history: Mapped[str | None] = mapped_column(String(8))
    notices: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONDoc, default=list, server_default=text("'[]'")
    )
    summary: Mapped[str | None] = mapped_column(Text)
    base_rate: Mapped[float | None] = mapped_column(Float)


class Embedding(Base):
    """Encoder outputs cached by (encoder, revision, text hash): no text is embedded twice."""

    __tablename__ = "embeddings"

    encoder_name: Mapped[str] = mapped_column(String(300), primary_key=True)
    encoder_revision: Mapped[str] = mapped_column(String(64), primary_key=True)
    text_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrainingRunStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class TrainingRun(Base):
    """One retraining run. ``active_slot`` is 'retrain' while the run is queued or running and
    NULL after: the unique constraint lets at most one run be active, whoever asks."""

    __tablename__ = "training_runs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    active_slot: Mapped[str | None] = mapped_column(String(16), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=TrainingRunStatus.queued)
    trigger: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(200))
    new_labels: Mapped[int] = mapped_column(Integer, default=0)
    candidate_version: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ModelDecision(Base):
    """Append-only: every promotion decision, by the gate or by a person, with the evidence."""

    __tablename__ = "model_decisions"
    __table_args__ = (
        CheckConstraint("decision IN ('promoted', 'rejected')", name="decision_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    version: Mapped[str] = mapped_column(ForeignKey("model_versions.version"), index=True)
    previous_version: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    candidate_metrics: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    serving_metrics: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


class ApiKeyScope(StrEnum):
    submit = "submit"
    read = "read"
    admin = "admin"


class ApiKey(Base):
    """A bearer key of the HTTP API; only its sha256 is stored."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("scope IN ('submit', 'read', 'admin')", name="scope_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Labels this key may add in any 24 hours (None: no cap), and whether retraining
    # ignores the labels it added.
    labels_per_day: Mapped[int | None] = mapped_column(Integer)
    labels_excluded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AuditEvent(Base):
    """Append-only record of operations that change stored data (erasures and the like)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


class WebhookEvent(StrEnum):
    verdict_ready = "verdict.ready"
    submission_failed = "submission.failed"


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class WebhookEndpoint(Base):
    """Where the events of the submissions one API key sent are posted."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    owner: Mapped[str] = mapped_column(String(200))  # the key's name, as it is shown
    url: Mapped[str] = mapped_column(Text)
    # The signing secret: kept as is, since every delivery is signed with it.
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[list[str]] = mapped_column(JSONDoc)
    description: Mapped[str | None] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Consecutive failed attempts, and until when its deliveries wait: a dead endpoint is
    # tried once per back-off step, not once per event.
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    paused_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Removed endpoints get no new events and keep their deliveries' history; rows are
    # never deleted under a verdict's write, which references them.
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One event for one endpoint (the outbox): written in the transaction that wrote the
    verdict or the failure, sent by ``trustq webhooks run`` until it is delivered or its
    retry window closes."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_known"),
        CheckConstraint("event IN ('verdict.ready', 'submission.failed')", name="event_known"),
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_due", "endpoint_id", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # The same event sent to several endpoints shares its id (receivers deduplicate on it).
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    event: Mapped[str] = mapped_column(String(32))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    submission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    # The JSON body, made at the first attempt and sent unchanged by every later one.
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Its retry window (TRUSTQ_WEBHOOK_RETRY_FOR_S) counts from here: the event's time, or
    # its last replay's.
    retry_from: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    replays: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class WebhookAttempt(Base):
    """Append-only: every attempt to deliver, with what the endpoint answered."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)


class ConsoleSession(Base):
    """A signed-in analyst of the review console: the browser holds the token (a cookie),
    never the API key; only the token's sha256 is stored."""

    __tablename__ = "console_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    # Every form of the session carries it; a request without it changes nothing.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class ReviewClaim(Base):
    """An analyst working a case: no one else may decide it until the claim expires."""

    __tablename__ = "review_claims"

    submission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    actor: Mapped[str] = mapped_column(String(200), index=True)
    claimed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
