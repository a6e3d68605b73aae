"""Settings, read once from the environment (``TRUSTQ_`` prefix) and validated loudly."""

from __future__ import annotations

import difflib
import os
import platform
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of trustq. With no database or broker URL, an embedded default is used."""

    model_config = SettingsConfigDict(env_prefix="TRUSTQ_", extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_variables(cls, data: object) -> object:
        """A misspelt variable (``TRUSTQ_DATABSE_URL``) would otherwise be ignored and its
        setting left at its default, the embedded database for instance."""
        unknown = unknown_variables(os.environ)
        if unknown:
            raise ValueError("; ".join(unknown))
        return data

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
    # How workers run the encoder (training always embeds with the fp32 reference).
    # auto: a GPU when torch sees one. Precision auto: fp16 on a GPU, bf16 autocast on a CPU
    # that computes in bf16 natively (avx512_bf16 or AMX), else fp32; docs/benchmarks.md
    # measures what each choice changes.
    encoder_device: Literal["auto", "cpu", "cuda"] = "auto"
    encoder_runtime: Literal["torch", "onnx"] = "torch"
    encoder_precision: Literal["auto", "fp32", "bf16", "fp16", "int8"] = "auto"
    encoder_compile: bool = False
    # Windows per encoder pass on a GPU, where larger batches pay (encoder_batch_size on a CPU).
    encoder_gpu_batch_size: int = Field(default=256, ge=1, le=8192)

    # Micro-batching: a worker process that takes a scoring message also takes the messages
    # waiting behind it, up to this many resume tokens or messages, waiting at most
    # batch_max_wait_ms for more to arrive; off, it scores one message at a time.
    batching: bool = True
    batch_token_budget: int = Field(default=8192, ge=256, le=1_000_000)
    batch_max_messages: int = Field(default=32, ge=1, le=4096)
    batch_max_wait_ms: float = Field(default=10.0, ge=0, le=5000)

    worker_concurrency: int | None = Field(default=None, ge=1, le=64)
    torch_threads: int | None = Field(default=None, ge=1, le=256)

    # Redis redelivers a message that was taken but not acknowledged after this long; it must
    # exceed the hard time limit of a task, or a slow task would run twice.
    visibility_timeout: int = Field(default=1800, ge=5)
    unacked_restore_interval: int = Field(default=10, ge=1)
    task_soft_time_limit: int = Field(default=300, ge=1)
    task_time_limit: int = Field(default=360, ge=2)
    max_attempts: int = Field(default=5, ge=1, le=100)
    # The sweeper (a beat task, trustq/tasks/sweeper.py) runs this often. It publishes again
    # a submission that has been queued or processing for longer than sweep_stale_after
    # while the broker holds no message for it, and fails it after max_attempts.
    sweep_interval: float = Field(default=30.0, ge=0.5)
    sweep_stale_after: float = Field(default=120.0, ge=1)
    # Whether this process's /metrics carries the cluster-wide gauges (queue depth, backlog,
    # submissions by status, serving model). They read the same database and broker wherever
    # they are served, so summed over several targets they are wrong: turn this off on all
    # processes but one (docker-compose.yml keeps it on the trainer alone).
    cluster_metrics: bool = True
    # Each worker writes a heartbeat this often; one silent for lost_worker_after is presumed
    # lost, and the submissions it had claimed are queued again (trustq/tasks/sweeper.py).
    heartbeat_seconds: float = Field(default=10.0, ge=0.5)
    lost_worker_after: float = Field(default=30.0, ge=2)
    # A worker checks this often whether another model version was promoted.
    model_refresh_seconds: float = Field(default=30.0, ge=0)

    # Retraining (trustq/services/retraining.py). Beat checks this often how many labels
    # arrived since the serving model's training cut-off, and queues one run at this many.
    retrain_check_seconds: float = Field(default=300.0, ge=1)
    retrain_min_new_labels: int = Field(default=200, ge=1)
    # Also queue a run at these times (a crontab expression, e.g. "0 3 * * 0": Sundays at
    # 03:00 UTC) when at least one submission was labelled since the last cut-off. Off unset.
    retrain_schedule: str | None = None
    # The base synthetic set every run trains on besides the labelled submissions; its test
    # split is the fixed part of the promotion holdout.
    retrain_base_size: int = Field(default=6000, ge=100)
    retrain_base_seed: int = Field(default=0, ge=0)
    # The base set's resume lengths in words, as [low, high]; unset, the generator's mixture
    # of full resumes and short blurbs. A platform whose profiles are blurbs sets it so.
    retrain_base_resume_words: tuple[int, int] | None = None
    # The most recent labelled submissions (this share of them) are held out, never trained on.
    retrain_holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    retrain_max_epochs: int = Field(default=50, ge=1)
    # A run "running" for longer than this is presumed lost and no longer blocks new runs.
    retrain_stale_after: float = Field(default=3600.0, ge=10)
    # The promotion gate: the candidate must be at most this much worse than the serving
    # model on the same holdout, and clear the absolute floors.
    promote_max_auc_drop: float = Field(default=0.005, ge=0, le=1)
    promote_max_log_loss_rise: float = Field(default=0.01, ge=0)
    promote_min_auc: float = Field(default=0.70, ge=0, le=1)
    promote_max_log_loss: float = Field(default=0.60, gt=0)

    low_risk_min_score: float = Field(default=80.0, ge=0, le=100)
    medium_risk_min_score: float = Field(default=55.0, ge=0, le=100)
    # The share of risky profiles in the traffic workers score. The model learns at its
    # training set's share; its probability is moved to this one (a prior-shift correction
    # of the calibrated odds), so the score and the bands speak of real traffic.
    base_rate: float = Field(default=0.03, gt=0, lt=1)
    # Fewer projects than this on the platform is a short history; none is a newcomer.
    short_history_projects: int = Field(default=5, ge=1, le=100)
    # What a newcomer's or short history's verdict recommends when no flag speaks against
    # it: limited (approve under the platform's new-account limits), review, or score
    # (follow the bands).
    newcomer_policy: Literal["limited", "review", "score"] = "limited"

    rules_path: Path | None = Field(
        default=None,
        description="YAML rules applied after the model; the packaged default if unset.",
    )
    # Resume sentences are explained by re-embedding the text without each one: several
    # encoder passes, so by default only for verdicts a person will look at.
    reason_sentences: Literal["all", "non_low", "never"] = "non_low"
    max_resume_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # A resume file is read within these bounds; past any of them it fails with the reason.
    # A DOCX's parts inflated, as its zip directory declares them (checked at intake).
    resume_file_max_inflated_bytes: int = Field(default=32 * 1024 * 1024, ge=64 * 1024)
    # A PDF's pages (checked at intake) and their decoded content streams together.
    resume_file_max_pages: int = Field(default=40, ge=1, le=10_000)
    resume_file_max_content_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024)
    # Each file is read in a child process with this much address space, for this long.
    resume_extract_timeout_s: float = Field(default=8.0, gt=0, le=300)
    resume_extract_memory_mb: int = Field(default=768, ge=256)
    near_duplicate_threshold: float = Field(default=0.8, gt=0, le=1)

    runs_dir: Path | None = Field(
        default=None, description="Training run folders; data_dir/runs if unset."
    )

    # --- HTTP API (`trustq api`) ---
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    # A whole request body, a resume file and multipart framing included.
    api_max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # Requests per minute per API key, counted in each API process; 0 turns the limit off.
    api_rate_limit: int = Field(default=600, ge=0)
    api_rate_burst: int = Field(default=60, ge=1)
    # The proxies (load balancers) whose X-Forwarded-For names the client: comma-separated
    # addresses or networks, "*" for any (only where nothing else can reach the API). The
    # per-address limit below counts the client so named, not the proxy every client shares.
    api_forwarded_allow_ips: str = "127.0.0.1"
    # Requests without a valid key, per minute per client address; 0 turns the limit off.
    api_auth_failure_limit: int = Field(default=30, ge=0)
    api_auth_failure_burst: int = Field(default=20, ge=1)
    # /metrics only for a key of scope read or higher (off: open, for a private network).
    api_metrics_need_key: bool = False
    # /readyz answers from its last check for this long (0: check on every call).
    api_readiness_cache_seconds: float = Field(default=1.0, ge=0, le=60)

    # --- the review console (/console, served by `trustq api`) ---
    # A signed-in analyst's session lasts this long; a claimed case is theirs this long.
    console_session_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    console_claim_minutes: float = Field(default=15.0, gt=0, le=24 * 60)

    # --- webhooks (`trustq webhooks run` delivers them) ---
    # Each attempt gets this long for the whole exchange (connect, send, answer).
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # A failing delivery is tried again after base, 2 base, 4 base ... up to max_delay
    # seconds, until retry_for seconds after the event; then it is failed (replayable).
    webhook_backoff_base_s: float = Field(default=10.0, gt=0)
    webhook_backoff_max_s: float = Field(default=3600.0, gt=0)
    webhook_retry_for_s: float = Field(default=86400.0, gt=0)
    # Deliveries in flight at once per `trustq webhooks run` process; when idle, it looks
    # for due deliveries this often.
    webhook_concurrency: int = Field(default=32, ge=1, le=1000)
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # Endpoints an owner (an API key) may register.
    webhook_max_endpoints: int = Field(default=5, ge=1, le=1000)
    # Endpoint URLs are https, on public addresses, unless these allow http and private,
    # loopback or link-local addresses (a receiver inside the operator's own network).
    webhook_allow_http: bool = False
    webhook_allow_private: bool = False

    # --- operations ---
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The worker's main process serves every pool process's metrics on this port; 0 = off.
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_dir: Path | None = Field(
        default=None,
        description="Where worker processes write metric samples; a fresh temp folder if unset.",
    )
    # After this many days a finished submission's resume text and file are erased; unset = never.
    retention_days: int | None = Field(default=None, ge=1, le=36500)

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

    @field_validator("retrain_schedule")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        if value is not None:
            cron(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.task_time_limit <= self.task_soft_time_limit:
            raise ValueError("TRUSTQ_TASK_TIME_LIMIT must exceed TRUSTQ_TASK_SOFT_TIME_LIMIT")
        if self.visibility_timeout <= self.task_time_limit:
            raise ValueError("TRUSTQ_VISIBILITY_TIMEOUT must exceed TRUSTQ_TASK_TIME_LIMIT")
        if self.lost_worker_after < 2 * self.heartbeat_seconds:
            raise ValueError(
                "TRUSTQ_LOST_WORKER_AFTER must be at least twice TRUSTQ_HEARTBEAT_SECONDS "
                "(a live worker would be taken for lost after one late heartbeat)"
            )
        words = self.retrain_base_resume_words
        if words is not None and not 1 <= words[0] <= words[1]:
            raise ValueError(
                "TRUSTQ_RETRAIN_BASE_RESUME_WORDS must be [low, high] with 1 <= low <= high"
            )
        if self.medium_risk_min_score > self.low_risk_min_score:
            raise ValueError(
                "TRUSTQ_MEDIUM_RISK_MIN_SCORE must not exceed TRUSTQ_LOW_RISK_MIN_SCORE"
            )
        if self.api_max_body_bytes <= self.max_resume_file_bytes:
            raise ValueError(
                "TRUSTQ_API_MAX_BODY_BYTES must exceed TRUSTQ_MAX_RESUME_FILE_BYTES "
                "(a resume file travels inside the request body)"
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
        return self.worker_concurrency or max(1, usable_cores() // 2)

    @property
    def resolved_torch_threads(self) -> int:
        return self.torch_threads or max(1, usable_cores() // self.resolved_concurrency)

    @property
    def resolved_pool_size(self) -> int:
        return self.db_pool_size or self.resolved_concurrency + 2


def cron(expression: str) -> Any:
    """The Celery crontab of an expression of five fields (minute, hour, day of month,
    month, day of week) as cron reads it; ValueError names a bad one."""
    from celery.schedules import crontab

    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"{expression!r} is not a crontab expression of five fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 3 * * 0'"
        )
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        return crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month,
            day_of_week=day_of_week,
        )
    except ValueError as exc:
        raise ValueError(f"{expression!r} is not a valid crontab expression: {exc}") from exc


PREFIX = "TRUSTQ_"
# Variables of trustq's own tools (the test suite, the benchmarks), not settings.
TOOL_PREFIXES = ("TRUSTQ_TEST_", "TRUSTQ_BENCH_")


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A sentence for each ``TRUSTQ_`` variable that names no setting, with the setting it
    probably meant."""
    known = [PREFIX + name.upper() for name in Settings.model_fields]
    found = []
    for variable in sorted(environ):
        name = variable.upper()
        if not name.startswith(PREFIX) or name in known or name.startswith(TOOL_PREFIXES):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        found.append(
            f"{variable} is not a setting"
            + (f" (did you mean {close[0]}?)" if close else " (docs: trustq/config.py)")
        )
    return found


def usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it (the platform's words elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; fails with a readable message on a bad value."""
    settings = Settings()
    if settings.embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
