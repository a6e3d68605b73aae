"""The retention task: erase the resumes of submissions older than TRUSTQ_RETENTION_DAYS."""

from __future__ import annotations

from celery import shared_task

from trustq.broker import names
from trustq.config import get_settings
from trustq.services.retention import erase_expired


@shared_task(name=names.ERASE_EXPIRED_RESUMES, soft_time_limit=240, time_limit=300)
def erase_expired_resumes() -> dict[str, int | str]:
    """Erase what retention allows; a no-op while TRUSTQ_RETENTION_DAYS is unset."""
    days = get_settings().retention_days
    if days is None:
        return {"retention": "off"}
    return {**erase_expired(days), "retention_days": days}
