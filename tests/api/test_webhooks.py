"""Webhooks end to end: an endpoint registered over HTTP, verdicts scored by a real worker,
posted by `trustq webhooks run` to a receiver the test runs, verified as a receiver would;
a dead receiver retried until it is back, one that keeps failing given up on and replayed
over HTTP and from the command line; and what a key may not do or reach."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Key
from tests.api.test_api import submit, wait_done
from tests.cli import trustq
from tests.conftest import ROOT
from tests.factories import profile
from tests.receiver import Receiver, check_signature
from tests.servers import wait_for

pytestmark = [pytest.mark.api, pytest.mark.integration]

# The dispatcher's settings: short back-off and retry window so that a day of retries
# takes seconds; http and loopback allowed for the receiver on 127.0.0.1.
DISPATCHER_ENV = {
    "TRUSTQ_WEBHOOK_ALLOW_HTTP": "true",
    "TRUSTQ_WEBHOOK_ALLOW_PRIVATE": "true",
    "TRUSTQ_WEBHOOK_BACKOFF_BASE_S": "0.3",
    "TRUSTQ_WEBHOOK_BACKOFF_MAX_S": "1",
    "TRUSTQ_WEBHOOK_RETRY_FOR_S": "6",
    "TRUSTQ_WEBHOOK_POLL_SECONDS": "0.2",
    "TRUSTQ_WEBHOOK_TIMEOUT_S": "2",
    "TRUSTQ_LOG_FORMAT": "text",
}


@pytest.fixture(autouse=True)
def _clean(clean_tables: None) -> None:
    pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def dispatcher(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`trustq webhooks run`, stopped with SIGTERM at the end (it must exit cleanly)."""
    log = tmp_path / "webhooks.log"
    alive = tmp_path / "alive"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trustq", "webhooks", "run", "--alive-file", str(alive)],
            cwd=ROOT,
            env={**os.environ, **DISPATCHER_ENV},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_for(lambda: alive.exists() or proc.poll() is not None, 60, "the dispatcher")
    assert proc.poll() is None, log.read_text()
    yield proc
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text()


@pytest.fixture(scope="module")
def http(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(
        api_rate_limit=0,
        api_auth_failure_limit=0,
        webhook_allow_http=True,
        webhook_allow_private=True,
    )


def register(http: TestClient, key: Key, url: str, **extra: Any) -> dict[str, Any]:
    r = http.post("/v1/webhooks", json={"url": url, **extra}, headers=key.headers)
    assert r.status_code == 201, r.text
    return r.json()


def delivery_of(http: TestClient, key: Key, endpoint: str, sid: str) -> dict[str, Any]:
    r = http.get(f"/v1/webhooks/{endpoint}/deliveries", headers=key.headers)
    assert r.status_code == 200, r.text
    (found,) = [d for d in r.json()["items"] if d["evaluation_id"] == sid]
    r = http.get(f"/v1/webhooks/deliveries/{found['id']}", headers=key.headers)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.usefixtures("live_worker")
def test_verdicts_are_pushed_signed_retried_given_up_and_replayed(
    http: TestClient,
    keys: dict[str, Key],
    receiver: Receiver,
    dispatcher: subprocess.Popen[bytes],  # noqa: ARG001
) -> None:
    key, other = keys["submit"], keys["admin"]
    endpoint = register(http, key, receiver.url, description="risk desk")
    secret = endpoint["secret"]
    assert secret.startswith("whsec_") and endpoint["owner"] == key.name
    listed = http.get("/v1/webhooks", headers=key.headers).json()["items"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert "secret" not in listed[0]

    # Delivered: signed, the evaluation as GET shows it, once.
    first = submit(http, key, profile())
    got = receiver.wait_accepted(first)
    assert check_signature(secret, got.headers["Trustq-Signature"], got.body)
    assert not check_signature("whsec_wrong", got.headers["Trustq-Signature"], got.body)
    assert not check_signature(secret, got.headers["Trustq-Signature"], got.body + b" ")
    event, first_body = got.event, got.body
    assert event["type"] == got.headers["Trustq-Event"] == "verdict.ready"
    assert event["id"] == got.headers["Trustq-Event-Id"]
    assert event["data"]["status"] == "done"
    assert event["data"]["verdict"] == wait_done(http, key, first)["verdict"]
    delivered = delivery_of(http, key, endpoint["id"], first)
    assert delivered["status"] == "delivered" and delivered["attempts"] == 1
    assert delivered["attempt_log"][0]["status_code"] == 204

    # A dead receiver: scoring goes on, the delivery is retried until the receiver is back.
    receiver.stop()
    second = submit(http, key, profile())
    assert wait_done(http, key, second)["status"] == "done"
    wait_for(
        lambda: delivery_of(http, key, endpoint["id"], second)["attempts"] >= 2,
        30,
        "two failed attempts",
    )
    waiting = delivery_of(http, key, endpoint["id"], second)
    assert waiting["status"] == "pending"
    assert "ConnectError" in waiting["last_error"]
    receiver.start()
    got = receiver.wait_accepted(second)
    assert check_signature(secret, got.headers["Trustq-Signature"], got.body)
    settled = delivery_of(http, key, endpoint["id"], second)
    assert settled["status"] == "delivered"
    log = settled["attempt_log"]
    assert len(log) >= 3 and all(a["error"] for a in log[:-1]) and log[-1]["error"] is None

    # A receiver that keeps failing: given up on when the retry window closes, listed as
    # failed, replayed over HTTP once it works: the same event, signed anew.
    receiver.mode = "fail"
    third = submit(http, key, profile())
    assert wait_done(http, key, third)["status"] == "done"
    wait_for(
        lambda: delivery_of(http, key, endpoint["id"], third)["status"] == "failed",
        60,
        "the delivery to be given up on",
    )
    failed = http.get(
        f"/v1/webhooks/{endpoint['id']}/deliveries?status=failed", headers=key.headers
    ).json()["items"]
    assert [d["evaluation_id"] for d in failed] == [third]
    attempts = delivery_of(http, key, endpoint["id"], third)["attempt_log"]
    assert len(attempts) >= 2 and {a["status_code"] for a in attempts} == {500}
    refused = receiver.of(third)
    receiver.mode = "ok"
    r = http.post(f"/v1/webhooks/deliveries/{failed[0]['id']}/replay", headers=key.headers)
    assert r.status_code == 202 and r.json()["replayed"] == [failed[0]["id"]]
    replayed = receiver.wait_accepted(third)
    assert replayed.event["id"] == refused[0].event["id"]
    assert check_signature(secret, replayed.headers["Trustq-Signature"], replayed.body)

    # From the command line: a delivered event sent again.
    done = trustq("webhooks", "replay", delivered["id"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [delivered["id"]]
    again = receiver.wait_accepted(first, count=2)
    assert again.event["id"] == event["id"] and again.body == first_body
    listing = trustq("webhooks", "deliveries", "--owner", key.name, "--json")
    assert listing.returncode == 0, listing.stderr
    assert len(listing.stdout.splitlines()) == 3

    # Another key sees none of it and replays nothing.
    assert http.get("/v1/webhooks", headers=other.headers).json()["items"] == []
    for path in (
        f"/v1/webhooks/deliveries/{delivered['id']}",
        f"/v1/webhooks/{endpoint['id']}/deliveries",
    ):
        assert http.get(path, headers=other.headers).status_code == 404
    r = http.post(f"/v1/webhooks/deliveries/{delivered['id']}/replay", headers=other.headers)
    assert r.status_code == 404
    assert http.delete(f"/v1/webhooks/{endpoint['id']}", headers=other.headers).status_code == 404
    assert http.get("/v1/webhooks", headers=keys["read"].headers).status_code == 403
    assert http.delete(f"/v1/webhooks/{endpoint['id']}", headers=key.headers).status_code == 204
    assert http.get("/v1/webhooks", headers=key.headers).json()["items"] == []


def test_endpoint_urls_that_reach_inside_are_refused(
    make_client: Callable[..., TestClient], keys: dict[str, Key]
) -> None:
    http = make_client(api_rate_limit=0, api_auth_failure_limit=0)
    key = keys["submit"]
    for url, why in [
        ("http://hooks.example.com/x", "must be https"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://localhost:8443/x", "localhost resolves to a loopback address"),
        ("https://[64:ff9b::a9fe:a9fe]/x", "link-local address (inside 64:ff9b::a9fe:a9fe)"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://10.1.2.3/x", "private"),
        ("https://[::ffff:192.168.0.1]/x", "private"),
        ("https://[fd00::1]/x", "private"),
        ("https://0.0.0.0/x", "unspecified"),
        ("https://user:pw@hooks.example.com/x", "user name or password"),
        ("ftp://hooks.example.com/x", "must be https"),
        ("https://no-such-host.invalid/x", "does not resolve"),
    ]:
        r = http.post("/v1/webhooks", json={"url": url}, headers=key.headers)
        assert r.status_code == 422, (url, r.text)
        assert why in r.json()["errors"][0]["message"], (url, r.text)
    r = http.post(
        "/v1/webhooks",
        json={"url": "https://[::1]/x", "events": ["everything"]},
        headers=key.headers,
    )
    assert r.status_code == 422
    assert http.get("/v1/webhooks", headers=key.headers).json()["items"] == []


def test_too_many_endpoints_are_refused(
    make_client: Callable[..., TestClient], keys: dict[str, Key]
) -> None:
    http = make_client(api_rate_limit=0, webhook_allow_private=True, webhook_max_endpoints=2)
    key = keys["submit"]
    for n in range(2):
        register(http, key, f"https://127.0.0.1:{9000 + n}/x")
    r = http.post("/v1/webhooks", json={"url": "https://127.0.0.1:9009/x"}, headers=key.headers)
    assert r.status_code == 409, r.text
    assert "TRUSTQ_WEBHOOK_MAX_ENDPOINTS" in r.json()["detail"]


def _failed_submission_for(api_key_id: int) -> str:
    """A submission sent with the key ``api_key_id``, failed as a worker fails one (its
    event is queued)."""
    from trustq.db import submissions as submissions_db
    from trustq.db.session import session_scope
    from trustq.db.tables import Submission

    with session_scope() as session:
        row = Submission(
            external_id=f"fl-{uuid.uuid4().hex[:6]}",
            payload=profile(),
            resume_sha256="0" * 64,
            submitted_by="tests",
            api_key_id=api_key_id,
            status="processing",
        )
        session.add(row)
        session.flush()
        sid = row.id
        assert submissions_db.mark_failed(session, sid, "the resume file could not be read")
    return str(sid)


def test_failures_are_pushed_and_addresses_checked_again_at_every_attempt(
    receiver: Receiver,
) -> None:
    """In this process: the dispatcher's checks, without a worker. An endpoint registered
    while private addresses were allowed is not posted to once they are not (a name that
    later resolves inside is refused the same way), and slow or redirecting endpoints fail
    their attempt within the time limit."""
    from trustq.config import get_settings
    from trustq.services import apikeys, webhooks
    from trustq.services.webhook_delivery import deliver_due

    open_settings = get_settings().model_copy(
        update={
            "webhook_allow_http": True,
            "webhook_allow_private": True,
            "webhook_timeout_s": 0.5,
            "webhook_backoff_base_s": 0.01,
        }
    )
    key, _ = apikeys.create(f"owner-{uuid.uuid4().hex[:6]}", "submit")
    created = webhooks.add_endpoint(
        open_settings, api_key_id=key.id, owner=key.name, url=receiver.url,
        created_by="tests", events=["submission.failed"],
    )  # fmt: skip
    sid = _failed_submission_for(key.id)

    closed = open_settings.model_copy(update={"webhook_allow_private": False})
    deliver_due(closed)
    (delivery,) = webhooks.list_deliveries(api_key_id=key.id)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_error.startswith("refused: 127.0.0.1 is a loopback address")
    assert receiver.received == []

    for mode, error in [("slow", "no answer within 0.5 s"), ("redirect", "answered 302")]:
        receiver.mode = mode
        time.sleep(0.2)  # past the endpoint's pause
        started = time.monotonic()
        deliver_due(open_settings)
        assert time.monotonic() - started < 3
        (delivery,) = webhooks.list_deliveries(api_key_id=key.id)
        assert delivery.status == "pending" and delivery.last_error.startswith(error), delivery

    receiver.mode = "ok"
    time.sleep(0.2)
    deliver_due(open_settings)
    got = receiver.wait_accepted(sid, timeout=5)
    assert check_signature(created.secret, got.headers["Trustq-Signature"], got.body)
    assert got.event["type"] == "submission.failed"
    assert got.event["data"]["status"] == "failed"
    assert got.event["data"]["error"] == "the resume file could not be read"
    (delivery,) = webhooks.list_deliveries(api_key_id=key.id)
    assert delivery.status == "delivered" and delivery.attempts == 4
