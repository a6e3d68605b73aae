"""Settings, read once from the environment (``TRUSTQ_`` prefix) and validated loudly."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of trustq. With no database or broker URL, an embedded default is used."""

    model_config = SettingsConfigDict(env_prefix="TRUSTQ_", extra="forbid")

    # Where the embedded default keeps its SQLite files and training runs keep artifacts.
    data_dir: Path = Path(".trustq")

    database_url: str | None = Field(
        default=None, description="postgresql+psycopg2://… in production; SQLite when unset."
    )
    broker_url: str | None = Field(
        default=None,
        description="redis://… in production; kombu's SQLAlchemy transport when unset.",
    )
    db_pool_size: int | None = Field(default=None, ge=1, le=200)

    encoder_path: Path | None = Field(
        default=None,
        description="A local BERT-architecture checkpoint; the packaged MiniLM if unset.",
    )
    encoder_max_tokens: int = Field(default=256, ge=16, le=512)
    encoder_overlap_tokens: int = Field(default=32, ge=0, le=256)
    encoder_batch_size: int = Field(default=32, ge=1, le=4096)

    worker_concurrency: int | None = Field(default=None, ge=1, le=64)
    torch_threads: int | None = Field(default=None, ge=1, le=256)

    # Redis redelivers a message that was taken but not acknowledged after this long; it must
    # exceed the hard time limit of a task, or a slow task would run twice.
    visibility_timeout: int = Field(default=1800, ge=5)
    unacked_restore_interval: int = Field(default=10, ge=1)
    task_soft_time_limit: int = Field(default=300, ge=1)
    task_time_limit: int = Field(default=360, ge=2)
    max_attempts: int = Field(default=5, ge=1, le=100)
    # A worker checks this often whether another model version was promoted.
    model_refresh_seconds: float = Field(default=30.0, ge=0)

    low_risk_min_score: float = Field(default=80.0, ge=0, le=100)
    medium_risk_min_score: float = Field(default=55.0, ge=0, le=100)

    rules_path: Path | None = Field(
        default=None,
        description="YAML rules applied after the model; the packaged default if unset.",
    )
    # Resume sentences are explained by re-embedding the text without each one: several
    # encoder passes, so by default only for verdicts a person will look at.
    reason_sentences: Literal["all", "non_low", "never"] = "non_low"
    max_resume_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    near_duplicate_threshold: float = Field(default=0.8, gt=0, le=1)

    runs_dir: Path | None = Field(
        default=None, description="Training run folders; data_dir/runs if unset."
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql", "sqlite")):
            raise ValueError("TRUSTQ_DATABASE_URL must be a postgresql:// or sqlite:// URL")
        return value

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "sqla+")):
            raise ValueError("TRUSTQ_BROKER_URL must be a redis:// URL or a sqla+ URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.task_time_limit <= self.task_soft_time_limit:
            raise ValueError("TRUSTQ_TASK_TIME_LIMIT must exceed TRUSTQ_TASK_SOFT_TIME_LIMIT")
        if self.visibility_timeout <= self.task_time_limit:
            raise ValueError("TRUSTQ_VISIBILITY_TIMEOUT must exceed TRUSTQ_TASK_TIME_LIMIT")
        if self.medium_risk_min_score > self.low_risk_min_score:
            raise ValueError(
                "TRUSTQ_MEDIUM_RISK_MIN_SCORE must not exceed TRUSTQ_LOW_RISK_MIN_SCORE"
            )
        return self

    @property
    def embedded(self) -> bool:
        """True when running on the embedded default (no servers configured)."""
        return self.database_url is None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'trustq.db').resolve()}"

    @property
    def resolved_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{(self.data_dir / 'broker.db').resolve()}"

    @property
    def resolved_runs_dir(self) -> Path:
        return self.runs_dir or self.data_dir / "runs"

    @property
    def resolved_concurrency(self) -> int:
        # One encoder per two cores: each process already uses several threads.
        return self.worker_concurrency or max(1, (os.cpu_count() or 1) // 2)

    @property
    def resolved_torch_threads(self) -> int:
        return self.torch_threads or max(1, (os.cpu_count() or 1) // self.resolved_concurrency)

    @property
    def resolved_pool_size(self) -> int:
        return self.db_pool_size or self.resolved_concurrency + 2


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; fails with a readable message on a bad value."""
    settings = Settings()
    if settings.embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
