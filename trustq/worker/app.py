"""The Celery app. Every delivery guarantee trustq relies on is set here, with its reason."""

from __future__ import annotations

from celery import Celery

from trustq.config import Settings, get_settings
from trustq.tasks import names
from trustq.tasks.schedule import BEAT_SCHEDULE


def create_app(settings: Settings) -> Celery:
    app = Celery("trustq", include=["trustq.tasks.scoring", "trustq.tasks.training"])
    broker_url = settings.resolved_broker_url
    transport_options: dict[str, object] = {}
    if broker_url.startswith("sqla+"):
        # The embedded SQL broker polls its table; its default of 1 s idles between messages.
        # Its transport options all go to create_engine, so the interval is set on the class.
        from kombu.transport import sqlalchemy as sqla_transport

        sqla_transport.Transport.polling_interval = 0.1
    if broker_url.startswith(("redis://", "rediss://")):
        transport_options = {
            # A message taken but not acknowledged (its worker died) goes back on the queue
            # after this long; it exceeds the hard time limit so a slow task is not run twice.
            "visibility_timeout": settings.visibility_timeout,
            "unacked_restore_interval": settings.unacked_restore_interval,
            "unacked_restore_throttle": 1,
            "socket_timeout": 30,
            "socket_connect_timeout": 10,
        }
    app.conf.update(
        broker_url=broker_url,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        # JSON only: nothing that arrives over the broker is ever unpickled.
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        event_serializer="json",
        # Verdicts live in the database; Celery results would only duplicate them.
        task_ignore_result=True,
        # Acknowledge after the verdict is committed, so a crash means redelivery, not loss.
        task_acks_late=True,
        # A pool process killed mid-task (OOM, SIGKILL) requeues its message.
        task_reject_on_worker_lost=True,
        # Take one message at a time per process: others stay available to other workers.
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        # Training runs for minutes: its limits sit just under the visibility timeout instead.
        task_annotations={
            names.TRAIN_MODEL: {
                "soft_time_limit": int(settings.visibility_timeout * 0.90),
                "time_limit": int(settings.visibility_timeout * 0.95),
            }
        },
        task_routes=names.ROUTES,
        task_default_queue=names.SCORING_QUEUE,
        task_create_missing_queues=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        beat_schedule=BEAT_SCHEDULE,
        timezone="UTC",
        enable_utc=True,
    )
    return app


app = create_app(get_settings())
