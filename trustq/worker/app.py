"""The worker's Celery app: the shared configuration (``trustq.broker.app``), the tasks it
runs and beat's schedule.
"""

from __future__ import annotations

import os

from celery import Celery

# PyTorch's OpenMP threads spin after each parallel region by default, taking cycles from
# PostgreSQL, Redis and the other pool processes on the same cores (on two cores that made a
# two-thread pool process slower than a one-thread one). OpenMP reads this when torch is
# first imported, which in a worker happens after this module.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from trustq.broker.app import configure
from trustq.config import Settings, get_settings
from trustq.tasks.schedule import beat_schedule
from trustq.worker import (
    heartbeat,  # noqa: F401 - connects the heartbeat's signals
    observability,  # noqa: F401 - connects the logging and metrics signals
)


def create_app(settings: Settings) -> Celery:
    """The app ``trustq worker`` and ``trustq beat`` run."""
    app = Celery(
        "trustq",
        include=[
            "trustq.tasks.scoring",
            "trustq.tasks.training",
            "trustq.tasks.sweeper",
            "trustq.tasks.retention",
        ],
    )
    configure(app, settings)
    app.conf.beat_schedule = beat_schedule(settings)
    return app


app = create_app(get_settings())
