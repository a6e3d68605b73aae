"""Every Prometheus metric of trustq, and the one-line helpers code calls to move them.

Workers run several processes (Celery prefork): ``trustq worker`` sets
``PROMETHEUS_MULTIPROC_DIR`` before this module is first imported, so each process writes
its samples to that folder and the worker's main process serves their sum (see
``trustq.worker.observability``). The API is one process and serves its own registry.

Backlog numbers (queue depth, age of the oldest queued submission, submissions by status,
the model the database says serves) are read at scrape time by
``trustq.services.status.BacklogCollector``, which the API and the worker register.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from enum import StrEnum

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class FailureReason(StrEnum):
    """Why a submission ended failed; a closed set so the label stays small."""

    resume_file = "resume_file"  # unreadable, encrypted, image-only or too long
    invalid_payload = "invalid_payload"  # the stored payload no longer validates
    no_model = "no_model"  # no serving model, or one trained on another encoder
    timeout = "timeout"  # the soft time limit hit
    attempts_exhausted = "attempts_exhausted"  # redelivered more than MAX_ATTEMPTS times
    error = "error"  # anything else the model raised


# --- scoring (workers) -------------------------------------------------------------------

PROFILES_SCORED = Counter(
    "trustq_profiles_scored_total",
    "Profiles scored and stored as a verdict.",
    ["risk_level", "model_version"],
)
SCORING_FAILURES = Counter(
    "trustq_scoring_failures_total",
    "Submissions marked failed (the dead-letter state), by reason.",
    ["reason"],
)
BATCH_SIZE = Histogram(
    "trustq_scoring_batch_size",
    "Profiles scored together in one encoder/model pass.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
SCORING_LATENCY = Histogram(
    "trustq_scoring_latency_seconds",
    "Time from reading a submission to its verdict being ready, per profile.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
QUEUE_WAIT = Histogram(
    "trustq_queue_wait_seconds",
    "Time a submission waited between being stored and being scored.",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600),
)
WORKER_MODEL = Gauge(
    "trustq_worker_model_info",
    "1 for the model version a worker process serves with (0 once it moved on).",
    ["version"],
    multiprocess_mode="livemax",
)
TASKS = Counter(
    "trustq_tasks_total",
    "Celery tasks run by this worker, by task name and outcome.",
    ["task", "outcome"],
)
TASK_DURATION = Histogram(
    "trustq_task_duration_seconds",
    "Wall time of Celery tasks, by task name.",
    ["task"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
)

# --- models ------------------------------------------------------------------------------

RETRAINING_RUNS = Counter(
    "trustq_retraining_runs_total",
    "Retraining runs that ended, by what started them and how they ended.",
    ["trigger", "outcome"],
)
PROMOTION_DECISIONS = Counter(
    "trustq_promotion_decisions_total",
    "Promotion decisions on candidate models, by decision and by whom (gate or operator).",
    ["decision", "decided_by"],
)

# --- retention ---------------------------------------------------------------------------

RESUMES_ERASED = Counter(
    "trustq_resumes_erased_total",
    "Submissions whose resume text and file the retention task erased.",
)

# --- HTTP API ----------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "trustq_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "trustq_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SUBMISSIONS_ACCEPTED = Counter(
    "trustq_submissions_accepted_total",
    "Profiles accepted for scoring, by intake (the API for now) and whether they were new.",
    ["intake", "new"],
)


# --- helpers: one line at the call site --------------------------------------------------


def profile_scored(risk_level: str, model_version: str, latency_seconds: float) -> None:
    """A verdict was stored for one profile that took ``latency_seconds`` to score."""
    PROFILES_SCORED.labels(risk_level=risk_level, model_version=model_version).inc()
    SCORING_LATENCY.observe(max(latency_seconds, 0.0))


def scoring_failed(reason: FailureReason | str) -> None:
    """A submission was marked failed for ``reason`` (a FailureReason)."""
    SCORING_FAILURES.labels(reason=FailureReason(reason).value).inc()


def batch_scored(size: int) -> None:
    """``size`` profiles went through the encoder and the model together."""
    BATCH_SIZE.observe(size)


def queue_wait(seconds: float) -> None:
    """A submission waited ``seconds`` between intake and scoring."""
    QUEUE_WAIT.observe(max(seconds, 0.0))


def serving_model(version: str, previous: str | None = None) -> None:
    """This process now scores with ``version`` (and no longer with ``previous``)."""
    if previous is not None and previous != version:
        WORKER_MODEL.labels(version=previous).set(0)
    WORKER_MODEL.labels(version=version).set(1)


def retraining_run(trigger: str, outcome: str) -> None:
    """A retraining run ended: ``trigger`` (beat: enough labels; schedule; manual), ``outcome``
    (promoted, rejected, failed, skipped)."""
    RETRAINING_RUNS.labels(trigger=trigger, outcome=outcome).inc()


def promotion_decision(decision: str, *, automatic: bool) -> None:
    """A candidate model was ``promoted`` or ``rejected``, by the gate or by an operator."""
    if decision not in ("promoted", "rejected"):
        raise ValueError(f"decision must be promoted or rejected, not {decision!r}")
    PROMOTION_DECISIONS.labels(
        decision=decision, decided_by="gate" if automatic else "operator"
    ).inc()


def resumes_erased(count: int) -> None:
    RESUMES_ERASED.inc(count)


def submission_accepted(*, intake: str, new: bool) -> None:
    SUBMISSIONS_ACCEPTED.labels(intake=intake, new="true" if new else "false").inc()


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    HTTP_LATENCY.labels(method=method, route=route).observe(seconds)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def make_registry(collectors: Sequence[Collector] = ()) -> CollectorRegistry:
    """A registry with this process's metrics (all processes' in multiprocess mode), and
    ``collectors`` read at each scrape."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    for collector in collectors:
        # The default registry lives as long as the process; each kind is registered once.
        key = (id(registry), type(collector).__qualname__)
        if key not in _registered:
            registry.register(collector)
            _registered.add(key)
    return registry


_registered: set[tuple[int, str]] = set()


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def sample_value(text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """The value of one sample in Prometheus text output (for checks and tests)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(
                sample.labels.get(k) == v for k, v in (labels or {}).items()
            ):
                return float(sample.value)
    return None
