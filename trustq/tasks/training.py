"""The training task, on its own queue so that scoring keeps flowing while a model trains."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from trustq.config import get_settings
from trustq.data.synthetic import REFERENCE_DATE
from trustq.services.training import synthetic_profiles, train_and_register
from trustq.tasks import names


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
