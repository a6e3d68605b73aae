"""What workers show operators: JSON logs carrying the submission and request ids, and the
metrics of every pool process, served by the worker's main process.

Imported by ``trustq.worker.app`` so its signal handlers are connected wherever the app is:
in producers (the request id travels as a message header) and in workers.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import Any

from celery.signals import (
    before_task_publish,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_shutdown,
)

from trustq import logs, metrics
from trustq.config import get_settings

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "trustq_request_id"
_started: dict[str, tuple[float, dict[str, Any]]] = {}


@setup_logging.connect
def _configure_logging(loglevel: Any = None, **_: Any) -> None:
    # Connecting this signal stops Celery from installing its own handlers.
    settings = get_settings()
    logs.configure(settings.log_format, loglevel or settings.log_level)


@before_task_publish.connect
def _send_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = logs.current("request_id")
    if headers is not None and request_id is not None:
        headers[REQUEST_ID_HEADER] = request_id


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

    start_http_server(port, registry=metrics.make_registry())
    log.info("worker metrics on port %d", port)
