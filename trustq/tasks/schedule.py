"""The whole Celery beat schedule. Every entry carries an expiry so a backlog cannot pile up."""

from __future__ import annotations

from typing import Any

from trustq.broker import names
from trustq.config import get_settings

_SWEEP_EVERY = get_settings().sweep_interval
_RETRAIN_CHECK_EVERY = get_settings().retrain_check_seconds

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
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
        "schedule": _SWEEP_EVERY,
        # A sweep not started within its interval is superseded by the next one.
        "options": {"expires": _SWEEP_EVERY},
    },
    # Queue one retraining run when enough new labels arrived (a database lock makes it one).
    "retrain-when-enough-labels": {
        "task": names.RETRAIN_CHECK,
        "schedule": _RETRAIN_CHECK_EVERY,
        "options": {"expires": _RETRAIN_CHECK_EVERY},
    },
}
