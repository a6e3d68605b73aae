"""Malformed messages put straight on the queue, between good ones: each is logged and dropped
(or its submission failed), none is retried for ever, and none holds up the good ones."""

from __future__ import annotations

import base64
import json
import os
import pickle
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import WorkerProcess
from tests.factories import profile
from tests.hostile.conftest import assert_alive, settle
from tests.reliability import record
from tests.servers import wait_for
from trustq import client
from trustq.broker import names
from trustq.db import submissions as submissions_db
from trustq.db.session import session_scope

pytestmark = [pytest.mark.hostile, pytest.mark.integration]


class _Mkdir:
    """Unpickling this makes a folder: proof that a pickle message was (or was not) loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return (os.mkdir, (self.path,))


def _envelope(redis_client, **change: object) -> bytes:
    """A real Celery message for score_submission, with ``change`` applied to its body or
    content type, taken from a scratch queue so that no worker sees the original."""
    from trustq.worker.app import app

    app.send_task(names.SCORE_SUBMISSION, args=[str(uuid.uuid4())], queue="hostile-scratch")
    raw = redis_client.rpop("hostile-scratch")
    message = json.loads(raw)
    if "body" in change:
        message["body"] = base64.b64encode(change["body"]).decode()
    if "content_type" in change:
        message["content-type"] = change["content_type"]
        message["content-encoding"] = "binary"
    return json.dumps(message).encode()


def test_malformed_messages_are_dropped_and_never_block_the_others(
    hostile_worker: WorkerProcess, redis_client
) -> None:
    from trustq.worker.app import app

    marker = Path(tempfile.gettempdir()) / f"trustq-pickle-ran-{uuid.uuid4().hex}"
    with session_scope() as session:
        unscorable, _ = submissions_db.add_submission(
            session,
            external_id="poison",
            idempotency_key=None,
            payload={"external_id": "poison", "experience_level": "wizard"},
            resume_sha256="0" * 64,
            submitted_by="hostile-tests",
            request_id=None,
        )

    def send(*args: object, **kwargs: object) -> None:
        app.send_task(names.SCORE_SUBMISSION, args=list(args), kwargs=kwargs)

    poison: dict[str, Callable[[], object]] = {
        "not JSON at all": lambda: redis_client.lpush("scoring", b"\xff\x00{not json"),
        "JSON but not a message": lambda: redis_client.lpush("scoring", b'{"hello": "world"}'),
        "a message whose body is not JSON": lambda: redis_client.lpush(
            "scoring", _envelope(redis_client, body=b"\x00 not json")
        ),
        "a pickle message": lambda: redis_client.lpush(
            "scoring",
            _envelope(
                redis_client,
                body=pickle.dumps(((_Mkdir(str(marker)),), {}, {})),
                content_type="application/x-python-serialize",
            ),
        ),
        "an unknown task": lambda: app.send_task("trustq.no_such_task", queue="scoring"),
        "no arguments": lambda: send(),
        "too many arguments": lambda: send(str(uuid.uuid4()), "extra", 3),
        "an unexpected keyword": lambda: send(str(uuid.uuid4()), bogus=1),
        "not an id": lambda: send("'; DROP TABLE submissions; --"),
        "a number": lambda: send(12345),
        "a nested object": lambda: send({"id": [1, 2, {"x": None}]}),
        "an unknown submission": lambda: send(str(uuid.uuid4())),
        "a stored payload that cannot be scored": lambda: send(str(unscorable.id)),
    }
    good: list[uuid.UUID] = []
    started = time.monotonic()
    for put in poison.values():
        good.append(client.enqueue(profile()))
        put()
    good.append(client.enqueue(profile()))

    outcome = settle([*good, unscorable.id], timeout=180)

    def drained() -> bool:
        return redis_client.llen("scoring") == 0 and redis_client.hlen("unacked") == 0

    # Nothing waits for a retry: the queue and the unacknowledged table empty out.
    wait_for(drained, 30, "the queue and the unacked table to empty")
    log = hostile_worker.output()
    record(
        "hostile",
        "messages",
        kinds=len(poison),
        good_in_between=len(good),
        good_scored=outcome["scored"],
        poison_failed_with_reason=outcome["failed_with_reason"],
        left_in_queue=redis_client.llen("scoring"),
        left_unacked=redis_client.hlen("unacked"),
        seconds=round(time.monotonic() - started, 1),
    )
    assert outcome["scored"] == len(good), outcome
    assert outcome["failed_with_reason"] == 1 and "experience_level" in str(
        outcome["failed_reasons"]
    )
    assert not marker.exists(), "a pickle message was unpickled"
    assert_alive(hostile_worker)
    assert log.count("dropped a message with a malformed submission id") >= 3
    assert "dropped a message for unknown submission" in log
    assert "trustq.no_such_task" in log
