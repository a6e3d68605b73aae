"""The whole Celery beat schedule. Every entry carries an expiry so a backlog cannot pile up."""

from __future__ import annotations

from typing import Any

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {}
