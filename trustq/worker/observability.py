"""What workers show operators: JSON logs carrying the submission and request ids, and the
metrics of every pool process, served by the worker's main process.

Imported by ``trustq.worker.app`` so its signal handlers are connected in every worker
and beat process. The request id a producer sent along (``trustq.broker.app``) is bound to
the logs of the task it started.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import Any

from celery.signals import (
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_shutdown,
)

from trustq import logs, metrics
from trustq.broker.app import REQUEST_ID_HEADER
from trustq.config import get_settings
from trustq.services.status import BacklogCollector

log = logging.getLogger(__name__)

_started: dict[str, tuple[float, dict[str, Any]]] = {}


@setup_logging.connect
def _configure_logging(loglevel: Any = None, **_: Any) -> None:
    # Connecting this signal stops Celery from installing its own handlers.
    settings = get_settings()
    logs.configure(settings.log_format, loglevel or settings.log_level)


def _submission_id(args: Any) -> str | None:
    if args and isinstance(args, list | tuple) and isinstance(args[0], str):
        try:
            return str(uuid.UUID(args[0]))
        except ValueError:
            return None
    return None


@task_prerun.connect
def _task_started(task_id: str | None = None, task: Any = None, args: Any = None, **_: Any) -> None:
    request_id = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    tokens = logs.bind(request_id=request_id, submission_id=_submission_id(args))
    if task_id is not None:
        _started[task_id] = (time.perf_counter(), tokens)


@task_postrun.connect
def _task_ended(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    started = _started.pop(task_id, None) if task_id is not None else None
    name = getattr(task, "name", None) or "unknown"
    metrics.TASKS.labels(task=name, outcome=(state or "unknown").lower()).inc()
    if started is not None:
        metrics.TASK_DURATION.labels(task=name).observe(time.perf_counter() - started[0])
        logs.unbind(started[1])


@worker_process_shutdown.connect
def _process_gone(**_: Any) -> None:
    if metrics.multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())


def serve_metrics(port: int) -> None:
    """Serve the metrics of this worker's processes on ``port`` (a daemon thread)."""
    from prometheus_client import start_http_server

    cluster = [BacklogCollector()] if get_settings().cluster_metrics else []
    start_http_server(port, registry=metrics.make_registry(cluster))
    log.info("worker metrics on port %d", port)
