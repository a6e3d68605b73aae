"""What the API refuses, and how: auth and scopes, limits, problem+json naming the field,
the OpenAPI document, promotion. Real PostgreSQL and Redis; no worker needed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from tests.api.conftest import Key
from tests.cli import trustq
from tests.conftest import empty_queues
from tests.factories import copy_model_version, profile, project
from tests.resume_docs import RESUME_LINES, docx_with_text
from trustq.db.session import session_scope
from trustq.db.tables import ApiKey, ModelDecision, ModelVersion
from trustq.schemas import MAX_PROJECTS, MAX_RESUME_CHARS, profile_json_schema

pytestmark = pytest.mark.api

PROBLEM = "application/problem+json"


def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"https://trustq.dev/problems/{kind}"
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def fields(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body["errors"]}


@pytest.fixture(autouse=True)
def _fresh(clean_tables: None, redis_client: Any) -> None:  # noqa: ARG001
    empty_queues(redis_client)


def test_keys_and_scopes(http: TestClient, keys: dict[str, Key]) -> None:
    missing = problem(http.get("/v1/models"), 401, "unauthorized")
    assert "Bearer" in missing["detail"]
    assert http.get("/v1/models").headers["www-authenticate"].startswith("Bearer")
    problem(
        http.get("/v1/models", headers={"Authorization": "Bearer tq_nope"}), 401, "unauthorized"
    )
    problem(
        http.get("/v1/models", headers={"Authorization": "Basic dXNlcjpwdw=="}), 401, "unauthorized"
    )

    reader, submitter = keys["read"], keys["submit"]
    assert http.get("/v1/models", headers=reader.headers).status_code == 200
    denied = problem(
        http.post("/v1/evaluations", json=profile(), headers=reader.headers), 403, "forbidden"
    )
    assert "scope submit" in denied["detail"] and reader.name in denied["detail"]
    problem(
        http.post(
            "/v1/evaluations/00000000-0000-0000-0000-000000000000/labels",
            json={"label": "risky"},
            headers=reader.headers,
        ),
        403,
        "forbidden",
    )
    problem(http.post("/v1/models/v1/promote", headers=submitter.headers), 403, "forbidden")
    assert http.get("/v1/review-queue", headers=submitter.headers).status_code == 200

    # A key made and revoked with the command line; only its sha256 is stored.
    made = trustq("apikey", "create", "--name", f"{reader.name}-cli", "--scope", "read")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("tq_")
    headers = {"Authorization": f"Bearer {token}"}
    assert http.get("/v1/models", headers=headers).status_code == 200
    with session_scope() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.name == f"{reader.name}-cli"))
        assert row.key_sha256 == hashlib.sha256(token.encode()).hexdigest()
        assert token not in json.dumps([str(getattr(row, c.key)) for c in ApiKey.__table__.c])
        assert row.last_used_at is not None
    twice = trustq("apikey", "create", "--name", f"{reader.name}-cli", "--scope", "read")
    assert twice.returncode == 2 and "exists already" in twice.stderr
    revoked = trustq("apikey", "revoke", f"{reader.name}-cli")
    assert revoked.returncode == 0, revoked.stderr
    gone = problem(http.get("/v1/models", headers=headers), 401, "unauthorized")
    assert "revoked" in gone["detail"]
    listed = trustq("apikey", "list")
    assert f"{reader.name}-cli" in listed.stdout and token not in listed.stdout


def test_profile_limits_and_malformed_bodies_name_the_field(
    http: TestClient, keys: dict[str, Key]
) -> None:
    h = keys["submit"].headers

    def post(**kwargs: Any) -> Any:
        return http.post("/v1/evaluations", headers={**h, **kwargs.pop("headers", {})}, **kwargs)

    too_long = problem(
        post(json=profile(resume_text="a" * (MAX_RESUME_CHARS + 1))), 422, "validation"
    )
    assert fields(too_long) == {"resume_text"}
    assert too_long["errors"][0]["location"] == "body"
    many = problem(post(json=profile(projects=[project()] * (MAX_PROJECTS + 1))), 422, "validation")
    assert fields(many) == {"projects"}
    nested = problem(post(json=profile(projects=[project(client_rating=9)])), 422, "validation")
    assert fields(nested) == {"projects.0.client_rating"}
    unknown = problem(post(json={**profile(), "salary": 1}), 422, "validation")
    assert fields(unknown) == {"salary"}
    problem(post(json=[profile()]), 422, "validation")
    bad_json = problem(
        post(content=b'{"external_id": ', headers={"content-type": "application/json"}),
        400,
        "malformed-json",
    )
    assert fields(bad_json) == {"(body)"}
    problem(
        post(content=b"[" * 100_000, headers={"content-type": "application/json"}),
        400,
        "malformed-json",
    )
    problem(
        post(content=b"hello", headers={"content-type": "text/plain"}),
        415,
        "unsupported-media-type",
    )

    # multipart: the profile as JSON text and a resume file
    without_text = {k: v for k, v in profile().items() if k != "resume_text"}
    docx = docx_with_text(RESUME_LINES)
    ok = post(data={"profile": json.dumps(without_text)}, files={"resume": ("cv.docx", docx)})
    assert ok.status_code == 202, ok.text
    wrong_kind = post(
        data={"profile": json.dumps(without_text)}, files={"resume": ("cv.txt", b"text")}
    )
    assert "only .pdf and .docx" in problem(wrong_kind, 422, "validation")["errors"][0]["message"]
    both = post(data={"profile": json.dumps(profile())}, files={"resume": ("cv.docx", docx)})
    assert fields(problem(both, 422, "validation")) == {"profile.resume_text"}
    no_file = post(data={"profile": json.dumps(without_text)}, files={"other": ("x.docx", docx)})
    assert {"resume", "other"} <= fields(problem(no_file, 422, "validation"))

    query = problem(
        http.get("/v1/evaluations", params={"limit": 0, "risk_level": "PURPLE"}, headers=h),
        422,
        "validation",
    )
    assert fields(query) == {"limit", "risk_level"}
    assert {e["location"] for e in query["errors"]} == {"query"}
    cursor = problem(
        http.get("/v1/evaluations", params={"cursor": "not-a-cursor"}, headers=h), 422, "validation"
    )
    assert fields(cursor) == {"cursor"}
    path = problem(http.get("/v1/evaluations/42", headers=h), 422, "validation")
    assert path["errors"][0] == {
        "location": "path",
        "field": "evaluation_id",
        "message": path["errors"][0]["message"],
    }
    problem(
        http.get("/v1/evaluations/00000000-0000-0000-0000-000000000000", headers=h),
        404,
        "not-found",
    )
    problem(http.get("/v1/nothing-here"), 404, "not-found")
    problem(http.delete("/v1/models", headers=h), 405, "method-not-allowed")


def test_body_size_and_rate_limits(
    make_client: Callable[..., TestClient], keys: dict[str, Key]
) -> None:
    small = make_client(api_rate_limit=0, api_max_body_bytes=4096, max_resume_file_bytes=1024)
    h = keys["submit"].headers
    declared = small.post("/v1/evaluations", json=profile(resume_text="a" * 5000), headers=h)
    assert "4,096 bytes" in problem(declared, 413, "too-large")["detail"]

    def chunks() -> Any:  # no Content-Length: the limit is counted while reading
        yield b'{"resume_text": "'
        for _ in range(10):
            yield b"a" * 1000
        yield b'"}'

    streamed = small.post(
        "/v1/evaluations", content=chunks(), headers={**h, "content-type": "application/json"}
    )
    problem(streamed, 413, "too-large")
    fits = small.post("/v1/evaluations", json=profile(), headers=h)
    assert fits.status_code == 202, fits.text

    limited = make_client(api_rate_limit=60, api_rate_burst=3)
    reader = keys["read"]
    answers = [limited.get("/v1/models", headers=reader.headers) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    over = problem(answers[3], 429, "rate-limited")
    assert reader.name in over["detail"]
    assert int(answers[3].headers["retry-after"]) >= 1
    # Every API process counts in the same Redis: another replica refuses the key too.
    replica = make_client(api_rate_limit=60, api_rate_burst=3)
    problem(replica.get("/v1/models", headers=reader.headers), 429, "rate-limited")
    # Per key: another key still gets through.
    assert limited.get("/v1/models", headers=keys["admin"].headers).status_code == 200


def test_the_openapi_document(http: TestClient) -> None:
    r = http.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    assert {
        "/v1/evaluations",
        "/v1/evaluations/{evaluation_id}",
        "/v1/evaluations/{evaluation_id}/labels",
        "/v1/review-queue",
        "/v1/models",
        "/v1/models/{version}/promote",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(doc["paths"])
    schemas = doc["components"]["schemas"]
    body = doc["paths"]["/v1/evaluations"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/Profile"}
    assert set(body["multipart/form-data"]["schema"]["required"]) == {"profile", "resume"}
    published = profile_json_schema()
    assert schemas["Profile"]["properties"].keys() == published["properties"].keys()
    assert schemas["Profile"]["required"] == published["required"]
    assert schemas["Profile"]["additionalProperties"] is False
    schemes = doc["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/v1/"):
                assert operation.get("security"), f"{method} {path} is not secured"
                for code in ("401", "422"):
                    ref = operation["responses"][code]["content"]["application/json"]["schema"]
                    assert ref == {"$ref": "#/components/schemas/ProblemDetail"}, (path, code)

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        assert ref.removeprefix("#/components/schemas/") in schemas, f"dangling {ref}"
    assert http.get("/docs").status_code == 200


def test_promotion_by_an_admin_key_is_recorded_with_its_name(
    http: TestClient, keys: dict[str, Key], serving_model: str
) -> None:
    admin = keys["admin"]
    problem(http.post("/v1/models/v-none/promote", headers=admin.headers), 404, "not-found")
    serving = problem(
        http.post(f"/v1/models/{serving_model}/promote", headers=admin.headers),
        409,
        "cannot-promote",
    )
    assert "already serving" in serving["detail"]

    copy = copy_model_version(serving_model, f"{serving_model}-apicopy")
    try:
        r = http.post(
            f"/v1/models/{copy}/promote", json={"note": "api test"}, headers=admin.headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["previous_version"] == serving_model
        assert r.json()["actor"] == admin.name
        listed = http.get("/v1/models", headers=admin.headers).json()["items"]
        assert [m["version"] for m in listed if m["status"] == "serving"] == [copy]
        back = http.post(f"/v1/models/{serving_model}/promote", headers=admin.headers)
        assert back.status_code == 200, back.text
        with session_scope() as session:
            decisions = session.scalars(
                select(ModelDecision).where(ModelDecision.version.in_([copy, serving_model]))
            ).all()
            assert {(d.version, d.actor) for d in decisions} >= {
                (copy, admin.name),
                (serving_model, admin.name),
            }
    finally:
        from trustq.db import models as models_db

        with session_scope() as session:
            if models_db.serving_model_version(session)[0] != serving_model:
                models_db.promote_model(session, serving_model)
            session.execute(delete(ModelDecision).where(ModelDecision.actor == admin.name))
            session.execute(delete(ModelVersion).where(ModelVersion.version == copy))
