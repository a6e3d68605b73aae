"""The Celery configuration every trustq process shares, and the producers' app.

Every delivery guarantee trustq relies on is set here, with its reason. The contract, in
short: PostgreSQL holds every submission; Redis carries only its id. A message is
acknowledged only after its verdict (or its failure) is committed, so a worker that dies
mid-batch causes a redelivery, never a loss; the verdict is unique per (submission, model
version), so a redelivery never writes a second row; and what the broker itself loses
(Redis restarted empty, a failed publish) the sweeper publishes again
(trustq/tasks/sweeper.py). Redis must never evict: docker-compose.yml runs it with
``maxmemory-policy noeviction``, so a full Redis refuses new messages (the submission stays
stored for the sweeper) instead of silently dropping queued ones.

Producers (the API, the CLI, the services that queue a submission or a training run) send
through ``producer``: an app that knows the task names (``trustq.broker.names``) and none of
the tasks, so publishing never imports the worker, the encoder or the model. The worker's
app (``trustq.worker.app``) is configured by the same :func:`configure`.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import before_task_publish

from trustq import logs
from trustq.broker import names
from trustq.config import Settings, get_settings

# The request id of the API call or command that published a message travels with it.
REQUEST_ID_HEADER = "trustq_request_id"


def configure(app: Celery, settings: Settings) -> Celery:
    """Set ``app`` up for ``settings``' broker with every guarantee above; returns it."""
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
            # after this long. It exceeds the hard time limit (Settings refuses otherwise),
            # so the longest batch finishes, or is killed, before its messages come back;
            # and it exceeds the scoring task's longest retry back-off (120 s), whose
            # message a worker holds unacknowledged until it is due.
            "visibility_timeout": settings.visibility_timeout,
            "unacked_restore_interval": settings.unacked_restore_interval,
            "unacked_restore_throttle": 1,
            "socket_timeout": 30,
            "socket_connect_timeout": 10,
        }
        # kombu's Redis transport, except that a queue entry that is not a message is
        # dropped with a log line instead of stopping the worker (trustq/worker/transport.py).
        app.conf.broker_transport = "trustq.broker.transport:Transport"
    app.conf.update(
        broker_url=broker_url,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        # A worker outlives a Redis restart: it reconnects for as long as it takes.
        broker_connection_max_retries=None,
        # JSON only: nothing that arrives over the broker is ever unpickled.
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        event_serializer="json",
        # Verdicts live in the database; Celery results would only duplicate them.
        task_ignore_result=True,
        # Acknowledge after the verdict is committed, so a crash means redelivery, not loss.
        task_acks_late=True,
        # A pool process killed mid-task (OOM, SIGKILL) requeues its message. A message that
        # kills its process every time cannot loop: each start counts an attempt, and the
        # task fails the submission once TRUSTQ_MAX_ATTEMPTS is passed.
        task_reject_on_worker_lost=True,
        # A task that raised (the database down past its retries) or hit the hard time limit
        # is acknowledged; its submission is still queued or processing in PostgreSQL, so
        # the sweeper, not an endless redelivery, decides whether it runs again.
        task_acks_on_failure_or_timeout=True,
        # When the broker connection drops, running tasks finish and commit their verdicts
        # instead of being killed (which would restart the pool process and reload the
        # encoder). Their messages may come back; the verdict's uniqueness makes the
        # second run a no-op.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # Take one message at a time per process: others stay available to other workers,
        # and a worker that dies holds as few messages as possible until they come back.
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        # Training runs for minutes: its limits sit just under the visibility timeout instead.
        task_annotations={
            name: {
                "soft_time_limit": int(settings.visibility_timeout * 0.90),
                "time_limit": int(settings.visibility_timeout * 0.95),
            }
            for name in (names.TRAIN_MODEL, names.RETRAIN_RUN)
        },
        task_routes=names.ROUTES,
        task_default_queue=names.SCORING_QUEUE,
        task_create_missing_queues=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        timezone="UTC",
        enable_utc=True,
    )
    return app


@before_task_publish.connect
def _send_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = logs.current("request_id")
    if headers is not None and request_id is not None:
        headers[REQUEST_ID_HEADER] = request_id


def create_producer(settings: Settings) -> Celery:
    """An app that sends trustq's messages and runs none of its tasks."""
    return configure(Celery("trustq-producer", set_as_current=False), settings)


producer = create_producer(get_settings())
