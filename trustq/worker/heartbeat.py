"""The worker's heartbeat: a thread of the worker's main process writes that the worker (its
Celery node) lives every ``TRUSTQ_HEARTBEAT_SECONDS``, then queues again what workers silent
for ``TRUSTQ_LOST_WORKER_AFTER`` had claimed (``trustq.tasks.sweeper``). The main process
does not score, so a long batch in a pool process never delays a beat; if the whole worker
dies, its beats stop and the live workers take its submissions back within about
``lost_worker_after + heartbeat_seconds``.

Imported by ``trustq.worker.app``, which connects the signals below in every worker.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown

from trustq.config import Settings, get_settings
from trustq.db import workers as workers_db
from trustq.db.session import session_scope
from trustq.db.tables import utcnow
from trustq.scoring.encoders import variant_source
from trustq.tasks.sweeper import reclaim_from_lost_workers

log = logging.getLogger(__name__)


class Heartbeat(threading.Thread):
    def __init__(self, node: str, settings: Settings) -> None:
        super().__init__(name="trustq-heartbeat", daemon=True)
        self.node = node
        self.settings = settings
        self.stopped = threading.Event()

    def run(self) -> None:
        while True:
            self.beat()
            if self.stopped.wait(self.settings.heartbeat_seconds):
                return

    def encoder(self) -> str:
        """How this worker's scoring processes run the encoder (read each beat: the first
        process to start may still be measuring when the worker's first beat goes out)."""
        try:
            return variant_source(self.settings, probe_gpu=False)
        except Exception as exc:
            log.warning("cannot tell the encoder variant: %s: %s", type(exc).__name__, exc)
            return f"unknown ({type(exc).__name__}: {exc})"[:500]

    def beat(self) -> None:
        encoder = self.encoder()
        try:
            with session_scope() as session:
                workers_db.record_heartbeat(session, self.node, utcnow(), encoder)
            reclaim_from_lost_workers(self.settings)
        except Exception as exc:  # the database or broker is down: the next beat tries again
            log.warning("heartbeat of %s failed: %s: %s", self.node, type(exc).__name__, exc)


_running: list[Heartbeat] = []


@worker_ready.connect
def _start(sender: Any = None, **_: Any) -> None:
    node = getattr(sender, "hostname", None)
    if node is None:
        log.error("no node name at worker start: this worker writes no heartbeat")
        return
    heartbeat = Heartbeat(node, get_settings())
    _running.append(heartbeat)
    heartbeat.start()
    log.info("heartbeat of %s every %.0f s", node, heartbeat.settings.heartbeat_seconds)


@worker_shutdown.connect
def _stop(**_: Any) -> None:
    for heartbeat in _running:
        heartbeat.stopped.set()
