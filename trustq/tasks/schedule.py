"""The whole Celery beat schedule. Every entry carries an expiry so a backlog cannot pile up."""

from __future__ import annotations

from typing import Any

from trustq.broker import names
from trustq.config import Settings, cron


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    sweep_every = settings.sweep_interval
    check_every = settings.retrain_check_seconds
    schedule: dict[str, dict[str, Any]] = {
        # Erase resumes past TRUSTQ_RETENTION_DAYS (a no-op while it is unset); hourly is
        # precise enough for a limit counted in days.
        "erase-expired-resumes": {
            "task": names.ERASE_EXPIRED_RESUMES,
            "schedule": 3600.0,
            "options": {"expires": 3600.0},
        },
        # Publish again what the broker lost; fail what was tried max_attempts times.
        "sweep-stale-submissions": {
            "task": names.SWEEP_SUBMISSIONS,
            "schedule": sweep_every,
            # A sweep not started within its interval is superseded by the next one.
            "options": {"expires": sweep_every},
        },
        # Queue one retraining run when enough new labels arrived (a database lock makes
        # it one).
        "retrain-when-enough-labels": {
            "task": names.RETRAIN_CHECK,
            "schedule": check_every,
            "options": {"expires": check_every},
        },
    }
    if settings.retrain_schedule:
        # Queue one run at these times too, whatever the count, if any label is new.
        schedule["retrain-on-schedule"] = {
            "task": names.RETRAIN_SCHEDULED,
            "schedule": cron(settings.retrain_schedule),
            "options": {"expires": 3600.0},
        }
    return schedule
