"""The training task, on its own queue so that scoring keeps flowing while a model trains."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from trustq.broker import names
from trustq.config import get_settings
from trustq.data.synthetic import REFERENCE_DATE
from trustq.services.retraining import execute_run, request_run
from trustq.services.training import synthetic_profiles, train_and_register

log = logging.getLogger(__name__)


@shared_task(name=names.TRAIN_MODEL)
def train_model(
    size: int = 6000, seed: int = 0, serve: bool = True, requested_by: str = "celery"
) -> dict[str, Any]:
    """Train on the built-in synthetic set and register the result."""
    report = train_and_register(
        get_settings(),
        synthetic_profiles(size, seed),
        as_of=REFERENCE_DATE,
        created_by=requested_by,
        serve=serve,
    )
    return {"version": report.version, "status": report.status}


@shared_task(name=names.RETRAIN_CHECK)
def retrain_check() -> dict[str, Any]:
    """The beat tick: queue one run when enough new labels arrived."""
    request = request_run(get_settings(), trigger="beat", requested_by="beat")
    return {"started": request.started, "run": request.run_id, "message": request.message}


@shared_task(name=names.RETRAIN_SCHEDULED)
def retrain_scheduled() -> dict[str, Any]:
    """A time of TRUSTQ_RETRAIN_SCHEDULE: queue one run if any submission was labelled since
    the last training cut-off, however few."""
    request = request_run(
        get_settings(),
        trigger="schedule",
        requested_by="beat (RETRAIN_SCHEDULE)",
        min_new_labels=1,
    )
    return {"started": request.started, "run": request.run_id, "message": request.message}


@shared_task(name=names.RETRAIN_RUN)
def retrain_run(run_id: int) -> dict[str, Any]:
    """One retraining run: train a candidate, judge it against the serving model."""
    if isinstance(run_id, bool) or not isinstance(run_id, int):
        log.error("retrain_run needs an integer run id, got %r; dropped", run_id)
        return {"run": None, "outcome": "dropped"}
    return execute_run(get_settings(), run_id)
