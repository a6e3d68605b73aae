"""The HTTP API end to end: real PostgreSQL, Redis and one worker; the app in this process.

Submit, poll, read the verdict, label, page; idempotency; metrics of the API and the worker;
`trustq status`; retention; and no personal data in the logs of either.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tests.api.conftest import Key
from tests.cli import trustq
from tests.conftest import WorkerProcess
from tests.factories import profile
from tests.resume_docs import RESUME_LINES, docx_with_text
from trustq.broker import names
from trustq.db import retention as retention_db
from trustq.db import submissions as submissions_db
from trustq.db import verdicts as verdicts_db
from trustq.db.session import session_scope
from trustq.db.tables import Embedding, Submission, utcnow
from trustq.metrics import sample_value

pytestmark = [pytest.mark.api, pytest.mark.integration]

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture(autouse=True)
def _clean(clean_tables: None) -> None:
    pass


def submit(http: TestClient, key: Key, data: dict[str, Any], **headers: str) -> str:
    r = http.post("/v1/evaluations", json=data, headers={**key.headers, **headers})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def submit_file(http: TestClient, key: Key, data: dict[str, Any], resume: bytes) -> str:
    data = {k: v for k, v in data.items() if k != "resume_text"}
    r = http.post(
        "/v1/evaluations",
        data={"profile": json.dumps(data)},
        files={"resume": ("cv.docx", resume, DOCX)},
        headers=key.headers,
    )
    assert r.status_code == 202, r.text
    return r.json()["id"]


def wait_done(http: TestClient, key: Key, sid: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = http.get(f"/v1/evaluations/{sid}", headers=key.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in ("done", "failed"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{sid} still {body['status']} after {timeout:.0f} s")
        time.sleep(0.3)


@pytest.mark.usefixtures("live_worker")
def test_submit_poll_read_label_review_and_page(
    http: TestClient, keys: dict[str, Key], serving_model: str
) -> None:
    submitter, reader = keys["submit"], keys["read"]
    freelancer = f"fl-api-{uuid.uuid4().hex[:6]}"
    r = http.post(
        "/v1/evaluations",
        json=profile(external_id=freelancer),
        headers={**submitter.headers, "X-Request-ID": f"req-{freelancer}"},
    )
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert r.headers["location"] == accepted["location"] == f"/v1/evaluations/{accepted['id']}"
    assert accepted["created"] is True and accepted["status"] == "queued"
    # The caller's request id is kept beside one the API makes: it cannot pose as another's.
    assert r.headers["x-client-request-id"] == f"req-{freelancer}"
    server_id = r.headers["x-request-id"]
    assert server_id != f"req-{freelancer}" and len(server_id) == 32
    ids = [accepted["id"]]
    ids.append(submit(http, submitter, profile(external_id=freelancer)))
    ids.append(
        submit_file(http, submitter, profile(external_id=freelancer), docx_with_text(RESUME_LINES))
    )
    submit(http, submitter, profile())  # another freelancer: never in the filtered pages

    done = [wait_done(http, reader, sid) for sid in ids]
    for sid, evaluation in zip(ids, done, strict=True):
        assert evaluation["status"] == "done", evaluation
        assert evaluation["submitted_by"] == submitter.name
        verdict = evaluation["verdict"]
        assert verdict["submission_id"] == sid
        assert 0 <= verdict["trust_score"] <= 100
        assert verdict["risk_level"] in ("LOW", "MEDIUM", "HIGH")
        assert verdict["model_version"] == serving_model
        assert len(verdict["input_sha256"]) == 64 and verdict["encoder_name"]
        for field in ("breakdown", "flags", "reasons", "indicators", "recommendation"):
            assert field in verdict, field
    assert done[0]["request_id"] == server_id
    assert done[0]["client_request_id"] == f"req-{freelancer}"
    assert done[1]["request_id"] != done[0]["request_id"]
    assert done[1]["client_request_id"] is None

    # Labels: the key's name is the actor, with the person behind it when given.
    first = ids[0]
    r = http.post(
        f"/v1/evaluations/{first}/labels",
        json={"label": "risky", "source": "review", "actor": "alice", "note": "banned portfolio"},
        headers=submitter.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["actor"] == f"{submitter.name}/alice"
    r = http.post(
        f"/v1/evaluations/{first}/labels",
        json={"label": "trustworthy", "source": "chargeback"},
        headers=submitter.headers,
    )
    assert r.status_code == 201, r.text
    labels = http.get(f"/v1/evaluations/{first}", headers=reader.headers).json()["labels"]
    assert [(x["label"], x["source"], x["actor"]) for x in labels] == [
        ("trustworthy", "chargeback", submitter.name),
        ("risky", "review", f"{submitter.name}/alice"),
    ]
    assert labels[1]["note"] == "banned portfolio"
    missing = http.post(
        f"/v1/evaluations/{uuid.uuid4()}/labels", json={"label": "risky"}, headers=submitter.headers
    )
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["field"] == "evaluation_id"

    # The review queue: verdicts for a person without a label, so never the labelled one.
    queue = http.get("/v1/review-queue", headers=reader.headers).json()["items"]
    assert all(v["risk_level"] == "MEDIUM" for v in queue)
    in_queue = {v["submission_id"] for v in queue}
    assert first not in in_queue
    for sid, evaluation in zip(ids[1:], done[1:], strict=True):
        assert (evaluation["verdict"]["risk_level"] == "MEDIUM") == (sid in in_queue)

    # Pages of two, newest first, each evaluation once; the cursor also comes as a Link.
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"external_id": freelancer, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = http.get("/v1/evaluations", params=params, headers=reader.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        pages += 1
        seen += [item["id"] for item in page["items"]]
        assert all(item["verdict"] is not None for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            assert "link" not in r.headers
            break
        assert f"cursor={cursor}" in r.headers["link"] and 'rel="next"' in r.headers["link"]
    assert pages == 2
    assert seen == ids[::-1]

    level = done[0]["verdict"]["risk_level"]
    r = http.get(
        "/v1/evaluations",
        params={"external_id": freelancer, "risk_level": level},
        headers=reader.headers,
    )
    expected = [
        sid for sid, e in zip(ids, done, strict=True) if e["verdict"]["risk_level"] == level
    ]
    assert [item["id"] for item in r.json()["items"]] == expected[::-1]

    def listed(**params: str) -> list[str]:
        found = http.get(
            "/v1/evaluations", params={"external_id": freelancer, **params}, headers=reader.headers
        )
        assert found.status_code == 200, found.text
        return [item["id"] for item in found.json()["items"]]

    assert listed(status="queued") == []
    assert listed(status="done") == ids[::-1]
    later = (utcnow() + dt.timedelta(hours=1)).isoformat()
    assert listed(since=later) == []
    assert listed(until=later) == ids[::-1]

    models = http.get("/v1/models", headers=reader.headers).json()["items"]
    serving = [m for m in models if m["status"] == "serving"]
    assert [m["version"] for m in serving] == [serving_model]
    assert "artifact" not in serving[0]


@pytest.mark.usefixtures("live_worker")
def test_idempotency_key_gives_the_same_submission_once(
    http: TestClient, keys: dict[str, Key]
) -> None:
    submitter = keys["submit"]
    key = f"order-{uuid.uuid4().hex}"
    data = profile()
    first = http.post(
        "/v1/evaluations", json=data, headers={**submitter.headers, "Idempotency-Key": key}
    )
    again = http.post(
        "/v1/evaluations", json=data, headers={**submitter.headers, "Idempotency-Key": f'"{key}"'}
    )
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert (first.json()["created"], again.json()["created"]) == (True, False)
    listed = http.get(
        "/v1/evaluations", params={"external_id": data["external_id"]}, headers=submitter.headers
    ).json()["items"]
    assert len(listed) == 1

    changed = http.post(
        "/v1/evaluations",
        json={**data, "resume_text": data["resume_text"] + " Also Rust."},
        headers={**submitter.headers, "Idempotency-Key": key},
    )
    # Idempotency keys are each client's own: another key using the same one learns
    # nothing about the first and gets a submission of its own.
    other_client = http.post(
        "/v1/evaluations", json=data, headers={**keys["admin"].headers, "Idempotency-Key": key}
    )
    assert other_client.status_code == 202, other_client.text
    assert other_client.json()["created"] is True
    assert other_client.json()["id"] != first.json()["id"]
    for refused in (changed,):
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["type"].endswith("/idempotency-key-reused")
        assert problem["errors"][0] == {
            "location": "header",
            "field": "Idempotency-Key",
            "message": "already used for a different request",
        }
    mismatch = http.post(
        "/v1/evaluations",
        json={**profile(), "idempotency_key": "in-the-body"},
        headers={**submitter.headers, "Idempotency-Key": "in-the-header"},
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["errors"][0]["field"] == "Idempotency-Key"

    # The key may come in the profile instead of the header.
    in_body = {**profile(), "idempotency_key": f"body-{uuid.uuid4().hex}"}
    assert submit(http, submitter, in_body) == submit(http, submitter, in_body)
    wait_done(http, submitter, first.json()["id"])


def test_metrics_of_the_api_and_the_worker_and_trustq_status(
    http: TestClient, keys: dict[str, Key], live_worker: WorkerProcess, serving_model: str
) -> None:
    sid = submit(http, keys["submit"], profile())
    assert wait_done(http, keys["read"], sid)["status"] == "done"

    api = http.get("/metrics")
    assert api.status_code == 200 and api.headers["content-type"].startswith("text/plain")
    text = api.text
    accepted = {"method": "POST", "route": "/v1/evaluations", "status": "202"}
    assert (sample_value(text, "trustq_http_requests_total", accepted) or 0) >= 1
    assert (sample_value(text, "trustq_submissions", {"status": "done"}) or 0) >= 1
    assert sample_value(text, "trustq_serving_model_info", {"version": serving_model}) == 1
    assert sample_value(text, "trustq_queue_depth", {"queue": "scoring"}) is not None
    assert sample_value(text, "trustq_oldest_queued_age_seconds") is not None

    port = live_worker.metrics_port  # type: ignore[attr-defined]
    worker = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    scored = {"task": names.SCORE_SUBMISSION, "outcome": "success"}
    # Counted in the pool process, served by the main process (multiprocess mode).
    assert (sample_value(worker, "trustq_tasks_total", scored) or 0) >= 1
    assert (
        sample_value(worker, "trustq_task_duration_seconds_count", {"task": scored["task"]}) or 0
    ) >= 1
    assert sample_value(worker, "trustq_backlog_up", {"part": "database"}) == 1

    shown = trustq("status", "--json", "--timeout", "3")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert any(name.startswith("worker-") for name in status["workers"]), status
    assert status["serving_model"] == serving_model
    assert set(status["queues"]) == {"scoring", "training", "maintenance"}
    assert set(status["submissions"]) == {"queued", "processing", "done", "failed"}
    assert status["submissions"]["done"] >= 1
    # Each worker's heartbeat names its encoder variant, once its first scoring process has
    # chosen it (measured on this CPU, or as configured).
    name = next(n for n in status["workers"] if n.startswith("worker-"))
    deadline = time.monotonic() + 30
    while not (status["worker_encoders"].get(name) or "").startswith("torch-"):
        assert time.monotonic() < deadline, status["worker_encoders"]
        time.sleep(1)
        status = json.loads(trustq("status", "--json", "--timeout", "3").stdout)
    encoder = status["worker_encoders"][name]
    assert "measured fastest faithful" in encoder or "as configured" in encoder, encoder
    table = trustq("status")
    assert table.returncode == 0, table.stderr
    for row in (
        "queue scoring",
        "workers seen",
        "encoder of",
        "serving model",
        "dead letters",
        "oldest",
    ):
        assert row in table.stdout, table.stdout


OFF_PLATFORM = (
    "Backend developer. Built a Django checkout for a retailer in 2022. "
    "Message me on Telegram and pay me directly through PayPal to skip the fees."
)


def test_retention_erases_old_resumes_and_keeps_the_verdict(
    http: TestClient, keys: dict[str, Key], live_worker: WorkerProcess
) -> None:
    submitter = keys["submit"]
    old_text = submit(http, submitter, profile(resume_text=OFF_PLATFORM))
    old_file = submit_file(http, submitter, profile(), docx_with_text(RESUME_LINES))
    recent = submit(http, submitter, profile(resume_text=OFF_PLATFORM))
    before = {sid: wait_done(http, submitter, sid) for sid in (old_text, old_file, recent)}
    assert any(f["code"] == "off_platform_request" for f in before[old_text]["verdict"]["flags"])
    old = [uuid.UUID(old_text), uuid.UUID(old_file)]
    with session_scope() as session:
        session.execute(
            update(Submission)
            .where(Submission.id.in_(old))
            .values(created_at=utcnow() - dt.timedelta(days=31))
        )
        hashes = {s: submissions_db.get_submission(session, s).resume_sha256 for s in old}

    from trustq.worker.app import app

    app.send_task(names.ERASE_EXPIRED_RESUMES, queue=names.MAINTENANCE_QUEUE)
    deadline = time.monotonic() + 60
    event = None
    while event is None:
        with session_scope() as session:
            for row in retention_db.audit_events(session, kind="retention.erase"):
                if old_text in row.detail["submissions"]:
                    event = row
        assert time.monotonic() < deadline, "the retention task recorded no erasure"
        time.sleep(0.3)
    assert sorted(event.detail["submissions"]) == sorted([old_text, old_file])
    assert (event.detail["texts"], event.detail["files"], event.actor) == (2, 1, "retention")

    with session_scope() as session:
        for sid in old:
            row = submissions_db.get_submission(session, sid)
            assert row.erased_at is not None
            assert row.payload["resume_text"] is None
            assert row.resume_sha256 == hashes[sid]
            assert submissions_db.resume_file_of(session, sid) is None
            found = verdicts_db.latest_verdict(session, sid)
            assert found is not None
            embedded = session.scalar(
                select(func.count())
                .select_from(Embedding)
                .where(Embedding.text_sha256 == hashes[sid])
            )
            assert embedded, "the embedding must outlive the text"
        kept = submissions_db.get_submission(session, uuid.UUID(recent))
        assert kept.erased_at is None and kept.payload["resume_text"] == OFF_PLATFORM

    after = http.get(f"/v1/evaluations/{old_text}", headers=submitter.headers).json()
    assert after["resume_erased_at"] is not None
    assert after["verdict"]["trust_score"] == before[old_text]["verdict"]["trust_score"]
    flag = next(f for f in after["verdict"]["flags"] if f["code"] == "off_platform_request")
    assert "Telegram" not in json.dumps(after["verdict"]), (
        "verdicts must not quote an erased resume"
    )
    assert flag["evidence"]["count"] == 1
    untouched = http.get(f"/v1/evaluations/{recent}", headers=submitter.headers).json()
    assert "Telegram" in json.dumps(untouched["verdict"]["flags"])

    port = live_worker.metrics_port  # type: ignore[attr-defined]
    worker = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert (sample_value(worker, "trustq_resumes_erased_total") or 0) >= 2


CANARY_NAME = "Zelda Quokkaberg"
CANARY_EMAIL = "zelda.quokkaberg@example.org"
CANARY_PHONE = "+1 555 0199 321"
CANARY_LINK = "https://github.com/zquokkaberg"


def test_logs_are_json_lines_with_ids_and_no_personal_data(
    http: TestClient,
    keys: dict[str, Key],
    live_worker: WorkerProcess,
    api_log: Any,
) -> None:
    resume = (
        f"{CANARY_NAME}, {CANARY_EMAIL}, {CANARY_PHONE}. Backend developer. Built a Django "
        "checkout for a retailer that cut failed payments by 18% in 2022."
    )
    data = profile(resume_text=resume, links={"github": CANARY_LINK})
    sid = submit(http, keys["submit"], data, **{"X-Request-ID": "req-canary"})
    evaluation = wait_done(http, keys["read"], sid)
    assert evaluation["status"] == "done"
    server_id = evaluation["request_id"]
    refused = http.post(
        "/v1/evaluations",
        json={**data, "experience_level": f"{CANARY_NAME} level"},
        headers=keys["submit"].headers,
    )
    assert refused.status_code == 422
    assert CANARY_NAME not in refused.text, "a problem must not echo the input back"
    http.post(
        "/v1/evaluations",
        content=f'{{"resume_text": "{CANARY_EMAIL}", '.encode(),
        headers={**keys["submit"].headers, "content-type": "application/json"},
    )

    api_lines = [json.loads(line) for line in api_log.getvalue().splitlines()]
    worker_lines = [
        json.loads(line) for line in live_worker.output().splitlines() if line.startswith("{")
    ]
    accepted = [e for e in api_lines if e.get("submission_id") == sid]
    assert accepted and accepted[0]["request_id"] == server_id
    assert accepted[0]["client_request_id"] == "req-canary"
    requests = [e for e in api_lines if e["logger"] == "trustq.api"]
    assert requests and all(e["request_id"] for e in requests)
    scored = [e for e in worker_lines if e.get("submission_id") == sid]
    assert scored, "the worker logs nothing with the submission id"
    assert any(e.get("request_id") == server_id for e in scored), scored

    everything = api_log.getvalue() + live_worker.output()
    for secret in (CANARY_NAME, CANARY_EMAIL, CANARY_PHONE, CANARY_LINK, "cut failed payments"):
        assert secret not in everything, f"{secret!r} appears in the logs"
