"""Callers who mean harm: a body built to be slow to validate, bodies sent without a key,
guessed keys, hostile resume files, an error the API did not foresee. Real PostgreSQL and
Redis; the timing test runs `trustq api` as it is served (uvicorn, one process)."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Key, api_process
from tests.api.test_errors import problem
from tests.conftest import empty_queues
from tests.factories import profile
from tests.hostile_files import HOSTILE_FILES, make
from tests.resume_docs import RESUME_LINES, pdf_with_text

pytestmark = pytest.mark.api


@pytest.fixture(autouse=True)
def _fresh(clean_tables: None, redis_client: Any) -> None:  # noqa: ARG001
    empty_queues(redis_client)


def _health_during(base: str, hostile: Callable[[], httpx.Response]) -> tuple[list[float], Any]:
    """Seconds each /healthz took while ``hostile`` ran in another thread, and its answer."""
    answer: dict[str, Any] = {}

    def run() -> None:
        answer["response"] = hostile()

    thread = threading.Thread(target=run)
    times: list[float] = []
    with httpx.Client(base_url=base, timeout=10) as probe:
        probe.get("/healthz")
        thread.start()
        while thread.is_alive() or len(times) < 5:
            started = time.perf_counter()
            assert probe.get("/healthz").status_code == 200
            times.append(time.perf_counter() - started)
            time.sleep(0.01)
    thread.join()
    return times, answer["response"]


def test_health_answers_in_milliseconds_while_a_body_built_to_be_slow_is_validated(
    served: str, keys: dict[str, Key]
) -> None:
    body = profile()
    body.update({f"unknown_{i}": i for i in range(140_000)})
    raw = json.dumps(body).encode()
    assert len(raw) > 1_500_000

    def hostile() -> httpx.Response:
        return httpx.post(
            f"{served}/v1/evaluations",
            content=raw,
            headers={**keys["submit"].headers, "content-type": "application/json"},
            timeout=60,
        )

    times, response = _health_during(served, hostile)
    refused = problem(response, 422, "validation")
    assert len(refused["errors"]) <= 51
    assert len(response.content) < 20_000
    assert "140,000 unknown fields" in refused["detail"]
    # Within each thread's turn of the GIL: a blocked event loop would take the whole body.
    assert max(times) < 0.3, sorted(times)[-5:]

    nested = profile()
    nested["projects"] = [{**nested["projects"][0], **{f"x{i}": 1 for i in range(300)}}] * 400
    times, response = _health_during(
        served,
        lambda: httpx.post(
            f"{served}/v1/evaluations", json=nested, headers=keys["submit"].headers, timeout=60
        ),
    )
    refused = problem(response, 422, "validation")
    assert refused["errors"][-1]["field"] == "(more)"
    assert "more errors not listed" in refused["errors"][-1]["message"]
    assert max(times) < 0.3, sorted(times)[-5:]


def test_a_body_without_a_key_is_refused_before_it_is_read(
    http: TestClient, keys: dict[str, Key]
) -> None:
    sid = http.post("/v1/evaluations", json=profile(), headers=keys["submit"].headers).json()["id"]
    big = b'{"label": "risky", "note": "' + b"n" * (15 * 1024 * 1024) + b'"}'
    started = time.perf_counter()
    refused = http.post(f"/v1/evaluations/{sid}/labels", content=big)
    assert time.perf_counter() - started < 0.5
    problem(refused, 401, "unauthorized")
    # Not even a malformed body is looked at without a key.
    problem(http.post(f"/v1/evaluations/{sid}/labels", content=b"{not json"), 401, "unauthorized")
    # With a key the body is read, checked and stored.
    h = keys["submit"].headers
    problem(
        http.post(f"/v1/evaluations/{sid}/labels", content=b"{not", headers=h),
        400,
        "malformed-json",
    )
    wrong = problem(
        http.post(f"/v1/evaluations/{sid}/labels", json={"label": "maybe"}, headers=h),
        422,
        "validation",
    )
    assert "label" in {e["field"] for e in wrong["errors"]}
    made = http.post(f"/v1/evaluations/{sid}/labels", json={"label": "risky"}, headers=h)
    assert made.status_code == 201, made.text


def test_failed_authentications_are_limited_per_address_before_any_look_up(
    make_client: Callable[..., TestClient], keys: dict[str, Key]
) -> None:
    guarded = make_client(api_auth_failure_limit=60, api_auth_failure_burst=5)
    guesses = [
        guarded.get("/v1/models", headers={"Authorization": f"Bearer tq_guess{i}"})
        for i in range(6)
    ]
    assert [g.status_code for g in guesses[:5]] == [401] * 5
    over = problem(guesses[5], 429, "rate-limited")
    assert "without a valid API key" in over["detail"]
    assert int(guesses[5].headers["retry-after"]) >= 1
    # While the address is over its limit, even a good key waits: the check comes first.
    problem(guarded.get("/v1/models", headers=keys["read"].headers), 429, "rate-limited")
    # Good keys from an address that never failed are not touched by it, whichever API
    # process they reach.
    fresh = make_client("192.0.2.7", api_auth_failure_limit=60, api_auth_failure_burst=5)
    assert fresh.get("/v1/models", headers=keys["read"].headers).status_code == 200


def test_behind_a_trusted_proxy_each_client_is_limited_on_its_own(tmp_path: Path) -> None:
    """Every client of a load balancer comes from its address: the limit counts the address
    X-Forwarded-For names when the proxy is trusted, and ignores the header otherwise (a
    client cannot pick a fresh address for each guess)."""
    limits = {"TRUSTQ_API_AUTH_FAILURE_LIMIT": "60", "TRUSTQ_API_AUTH_FAILURE_BURST": "3"}

    def guesses(base: str, forwarded_for: list[str]) -> list[int]:
        return [
            httpx.get(
                f"{base}/v1/models",
                headers={"Authorization": "Bearer tq_guess", "X-Forwarded-For": client},
                timeout=10,
            ).status_code
            for client in forwarded_for
        ]

    trusted = {**limits, "TRUSTQ_API_FORWARDED_ALLOW_IPS": "127.0.0.1"}
    with api_process(tmp_path / "trusted.log", trusted) as base:
        assert guesses(base, ["203.0.113.1"] * 4) == [401, 401, 401, 429]
        assert guesses(base, ["203.0.113.2"]) == [401]
    untrusted = {**limits, "TRUSTQ_API_FORWARDED_ALLOW_IPS": "192.0.2.1"}
    with api_process(tmp_path / "untrusted.log", untrusted) as base:
        assert guesses(base, [f"198.51.100.{i}" for i in range(4)]) == [401, 401, 401, 429]


@pytest.mark.parametrize("name", [n for n, v in HOSTILE_FILES.items() if v[3]])
def test_hostile_files_that_intake_can_see_are_refused_with_422(
    http: TestClient, keys: dict[str, Key], name: str
) -> None:
    filename, _, reason, _ = HOSTILE_FILES[name]
    data = profile()
    del data["resume_text"]
    refused = http.post(
        "/v1/evaluations",
        data={"profile": json.dumps(data)},
        files={"resume": (filename, io.BytesIO(make(name)))},
        headers=keys["submit"].headers,
    )
    body = problem(refused, 422, "validation")
    assert body["errors"][0]["field"] == "resume"
    assert reason in body["errors"][0]["message"]
    good = http.post(
        "/v1/evaluations",
        data={"profile": json.dumps(data)},
        files={"resume": ("cv.pdf", io.BytesIO(pdf_with_text(RESUME_LINES)))},
        headers=keys["submit"].headers,
    )
    assert good.status_code == 202, good.text


def test_an_unforeseen_error_carries_the_request_id_and_its_message_is_not_logged(
    make_client: Callable[..., TestClient], api_log: io.StringIO
) -> None:
    from fastapi.testclient import TestClient as Client

    app = make_client().app
    secret = "resume text " + uuid.uuid4().hex  # as an exception message may quote input

    def broken() -> None:
        raise RuntimeError(secret)

    app.add_api_route("/broken", broken)
    with Client(app, raise_server_exceptions=False) as client:
        answer = client.get("/broken", headers={"X-Request-ID": "req-broken-1"})
    body = problem(answer, 500, "internal")
    assert len(body["request_id"]) == 32
    assert answer.headers["x-client-request-id"] == "req-broken-1"
    logged = api_log.getvalue()
    assert "unhandled RuntimeError" in logged
    assert secret not in logged


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"external_id": "fl-\x00-1"}, "external_id"),
        ({"since": "9999-12-31T23:59:59-23:59"}, "since"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ({"until": "9999-12-31T23:59:59-23:59"}, "until"),
    ],
)
def test_nul_bytes_and_extreme_instants_are_a_422_naming_the_field(
    http: TestClient, keys: dict[str, Key], query: dict[str, str], field: str
) -> None:
    refused = http.get("/v1/evaluations", params=query, headers=keys["read"].headers)
    assert field in {e["field"] for e in problem(refused, 422, "validation")["errors"]}
    nul = profile(external_id="fl-\x00-1")
    body = problem(
        http.post("/v1/evaluations", json=nul, headers=keys["submit"].headers), 422, "validation"
    )
    assert "external_id" in {e["field"] for e in body["errors"]}


def test_a_keys_labels_are_recorded_with_it_and_capped_per_day(
    http: TestClient, keys: dict[str, Key]
) -> None:
    from trustq.db import labels as labels_db
    from trustq.db.session import session_scope
    from trustq.services import apikeys

    info, token = apikeys.create(f"capped-{uuid.uuid4().hex[:6]}", "submit")
    apikeys.set_label_policy(info.name, per_day=2)
    h = {"Authorization": f"Bearer {token}"}
    sid = http.post("/v1/evaluations", json=profile(), headers=keys["submit"].headers).json()["id"]
    for _ in range(2):
        made = http.post(f"/v1/evaluations/{sid}/labels", json={"label": "risky"}, headers=h)
        assert made.status_code == 201, made.text
    over = problem(
        http.post(f"/v1/evaluations/{sid}/labels", json={"label": "risky"}, headers=h),
        429,
        "label-cap-reached",
    )
    assert info.name in over["detail"]
    with session_scope() as session:
        stored = labels_db.labels_of(session, uuid.UUID(sid))
    assert [row.api_key for row in stored] == [info.name, info.name]


def test_readiness_is_checked_once_a_moment_and_metrics_can_need_a_key(
    make_client: Callable[..., TestClient], keys: dict[str, Key], serving_model: str
) -> None:
    from sqlalchemy import update

    from trustq.db.session import session_scope
    from trustq.db.tables import ModelStatus, ModelVersion

    cached = make_client(api_readiness_cache_seconds=60)
    assert cached.get("/readyz").status_code == 200

    def set_status(status: ModelStatus) -> None:
        with session_scope() as session:
            session.execute(
                update(ModelVersion)
                .where(ModelVersion.version == serving_model)
                .values(status=status)
            )

    set_status(ModelStatus.candidate)
    try:
        # A flood of probes is answered from the last check; a fresh process checks.
        assert all(cached.get("/readyz").status_code == 200 for _ in range(20))
        assert make_client(api_readiness_cache_seconds=0).get("/readyz").status_code == 503
    finally:
        set_status(ModelStatus.serving)

    guarded = make_client(api_metrics_need_key=True, api_auth_failure_limit=0)
    problem(guarded.get("/metrics"), 401, "unauthorized")
    scraped = guarded.get("/metrics", headers=keys["read"].headers)
    assert scraped.status_code == 200 and "trustq_http_requests" in scraped.text
    assert make_client().get("/metrics").status_code == 200  # open by default


def test_the_docs_page_loads_its_assets_from_the_api_itself(http: TestClient) -> None:
    page = http.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text.split("<body>")[0]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        path = next(p for p in page.text.split('"') if p.endswith(asset))
        served = http.get(path)
        assert served.status_code == 200 and len(served.content) > 10_000
