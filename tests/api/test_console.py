"""The review console without a browser: its headers, sign-in and CSRF checks, sessions
that end with their key, claims that keep two analysts apart, and the rate limit."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Key

pytestmark = pytest.mark.api


@pytest.fixture(autouse=True)
def _clean(clean_tables: None) -> None:
    pass


@pytest.fixture
def console(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(api_rate_limit=0, api_auth_failure_limit=0)


def _form_token(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


def sign_in(client: TestClient, key: Key) -> str:
    """Sign ``key`` in; returns the session's CSRF token (from the queue page)."""
    page = client.get("/console/login")
    answer = client.post(
        "/console/login",
        data={"api_key": key.token, "login_token": _form_token(page.text, "login_token")},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console/queue"
    return _form_token(client.get("/console/queue").text, "csrf_token")


def _case(serving_model: str, text: str = "Backend developer.") -> uuid.UUID:
    """A submission with a verdict, as a worker writes one."""
    from tests.db.test_repo import _add, _verdict
    from trustq.db import verdicts as verdicts_db
    from trustq.db.session import session_scope

    with session_scope() as session:
        row, _ = _add(session)
        row.payload = {**row.payload, "resume_text": text}
        verdict = {**_verdict(row.id, serving_model), "risk_level": "MEDIUM"}
        verdicts_db.write_verdicts(
            session,
            [{**verdict, "model_risk_level": "MEDIUM", "recommendation": "review"}],
        )
        return row.id


def test_pages_are_sent_with_a_strict_policy_and_sign_in_needs_its_own_token(
    console: TestClient, keys: dict[str, Key]
) -> None:
    page = console.get("/console/login")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in policy
    # A sign-in posted from elsewhere (no token of the form's cookie) changes nothing.
    forged = console.post("/console/login", data={"api_key": keys["read"].token})
    assert forged.status_code == 403
    wrong = console.post(
        "/console/login",
        data={"api_key": "tq_wrong", "login_token": _form_token(page.text, "login_token")},
    )
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.text
    assert "trustq_console" not in console.cookies


def test_the_session_cookie_is_http_only_strict_and_secure_over_https(
    make_client: Callable[..., TestClient], keys: dict[str, Key]
) -> None:
    client = make_client(api_rate_limit=0)
    client.base_url = client.base_url.copy_with(scheme="https")
    page = client.get("/console/login")
    answer = client.post(
        "/console/login",
        data={"api_key": keys["read"].token, "login_token": _form_token(page.text, "login_token")},
        follow_redirects=False,
    )
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
    assert keys["read"].token.lower() not in cookie


def test_forms_without_the_session_token_change_nothing(
    console: TestClient, keys: dict[str, Key], serving_model: str
) -> None:
    from trustq.services import verdicts

    sid = _case(serving_model)
    token = sign_in(console, keys["submit"])
    for data in ({}, {"csrf_token": "x" * 43}):
        refused = console.post(f"/console/cases/{sid}/claim", data=data)
        assert refused.status_code == 403, refused.text
    claimed = console.post(
        f"/console/cases/{sid}/claim", data={"csrf_token": token}, follow_redirects=False
    )
    assert claimed.status_code == 303
    refused = console.post(f"/console/cases/{sid}/decide", data={"label": "risky"})
    assert refused.status_code == 403
    assert verdicts.labels_of(sid) == []


def test_a_case_is_one_analysts_until_the_claim_expires(
    make_client: Callable[..., TestClient], keys: dict[str, Key], serving_model: str
) -> None:
    from sqlalchemy import update

    from trustq.db.session import session_scope
    from trustq.db.tables import ReviewClaim
    from trustq.services import verdicts

    sid = _case(serving_model)
    ana, ben = make_client(api_rate_limit=0), make_client(api_rate_limit=0)
    ana_token, ben_token = sign_in(ana, keys["submit"]), sign_in(ben, keys["admin"])
    ana.post(f"/console/cases/{sid}/claim", data={"csrf_token": ana_token})
    taken = ben.post(
        f"/console/cases/{sid}/claim", data={"csrf_token": ben_token}, follow_redirects=False
    )
    assert taken.headers["location"].endswith("?notice=held")
    assert f"Held by <b>{keys['submit'].name}</b>" in ben.get(f"/console/cases/{sid}").text
    refused = ben.post(
        f"/console/cases/{sid}/decide", data={"csrf_token": ben_token, "label": "risky"}
    )
    assert refused.status_code == 409 and verdicts.labels_of(sid) == []
    with session_scope() as session:  # the claim runs out
        session.execute(
            update(ReviewClaim).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(1))
        )
    ben.post(f"/console/cases/{sid}/claim", data={"csrf_token": ben_token})
    decided = ben.post(
        f"/console/cases/{sid}/decide",
        data={"csrf_token": ben_token, "label": "risky", "note": "stolen portfolio"},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    [label] = verdicts.labels_of(sid)
    assert (label.label, label.source, label.actor, label.note) == (
        "risky",
        "review",
        keys["admin"].name,
        "stolen portfolio",
    )
    # Decided: not claimed or decided again (a correction is `trustq decide`'s).
    for path in ("claim", "decide"):
        late = ana.post(
            f"/console/cases/{sid}/{path}", data={"csrf_token": ana_token, "label": "trustworthy"}
        )
        assert late.status_code == 409 and "decided this case already" in late.text, path
    assert len(verdicts.labels_of(sid)) == 1
    # A case nobody holds is claimed by the decision itself, in its transaction.
    other = _case(serving_model)
    direct = ana.post(
        f"/console/cases/{other}/decide",
        data={"csrf_token": ana_token, "label": "trustworthy"},
        follow_redirects=False,
    )
    assert direct.status_code == 303
    assert [x.actor for x in verdicts.labels_of(other)] == [keys["submit"].name]


def test_a_session_ends_with_its_key_and_at_sign_out(
    console: TestClient, make_client: Callable[..., TestClient], serving_model: str
) -> None:
    from trustq.db.session import session_scope
    from trustq.db.tables import ReviewClaim
    from trustq.services import apikeys

    info, token = apikeys.create(f"leaving-{uuid.uuid4().hex[:6]}", "submit")
    csrf = sign_in(console, Key(info.name, token))
    assert console.get("/console/queue", follow_redirects=False).status_code == 200
    apikeys.revoke(info.name)
    gone = console.get("/console/queue", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/console/login"

    other = make_client(api_rate_limit=0)
    info, token = apikeys.create(f"staying-{uuid.uuid4().hex[:6]}", "submit")
    csrf = sign_in(other, Key(info.name, token))
    session = other.cookies["trustq_console"]
    other.post(f"/console/cases/{_case(serving_model)}/claim", data={"csrf_token": csrf})
    out = other.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.headers["location"] == "/console/login?notice=signed-out"
    with session_scope() as db:  # its claims were given back
        assert db.query(ReviewClaim).filter_by(actor=info.name).count() == 0
    # The old cookie, replayed, opens nothing.
    replayed = make_client(api_rate_limit=0)
    replayed.cookies.set("trustq_console", session)
    assert replayed.get("/console/queue", follow_redirects=False).status_code == 303


def test_bad_filters_are_named_and_console_pages_count_against_the_key(
    make_client: Callable[..., TestClient], keys: dict[str, Key]
) -> None:
    unlimited = make_client(api_rate_limit=0)
    sign_in(unlimited, keys["read"])
    bad = unlimited.get("/console/queue?band=PURPLE")
    assert bad.status_code == 422 and "unknown band" in bad.text
    huge = unlimited.get(f"/console/queue?cursor=2026-01-01T00:00:00%2B00:00_{10**20}")
    assert huge.status_code == 422 and "not a cursor" in huge.text
    assert unlimited.get("/console/cases/not-a-case").status_code == 404
    client = make_client(api_rate_limit=60, api_rate_burst=3)
    sign_in(client, keys["read"])
    codes = [client.get("/console/queue").status_code for _ in range(4)]
    assert 429 in codes, codes


def test_profile_text_is_escaped_in_the_page(
    console: TestClient, keys: dict[str, Key], serving_model: str
) -> None:
    sid = _case(serving_model, text='<script>alert(1)</script><img src=x onerror="alert(2)">')
    sign_in(console, keys["submit"])
    page = console.get(f"/console/cases/{sid}").text
    assert "<script>alert" not in page and 'onerror="alert' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # A read key sees the verdict, not the resume or the profile as submitted.
    sign_in(console, keys["read"])
    page = console.get(f"/console/cases/{sid}").text
    assert "alert(1)" not in page and "shown to keys that decide" in page


def test_flagged_phrases_are_cut_out_of_the_resume() -> None:
    from trustq.services.console import highlight

    text = "I deliver. 100% Guaranteed results, always. Call me."
    flags: list[dict[str, Any]] = [
        {"code": "guarantee_language", "evidence": {"matches": [{"phrases": ["guaranteed"]}]}},
        {"code": "other", "evidence": {"sentence": "results, always"}},
    ]
    segments = highlight(text, flags)
    assert "".join(s.text for s in segments) == text
    assert [(s.text, s.codes) for s in segments if s.codes] == [
        ("Guaranteed", ("guarantee_language",)),
        ("results, always", ("other",)),
    ]
    assert highlight("plain", []) == highlight("plain", [{"code": "x", "evidence": {}}])


def test_the_overview_counts_days_on_the_embedded_sqlite_too(tmp_path: Any) -> None:
    from sqlalchemy.orm import Session

    from tests.db.test_repo import _add, _model, _verdict
    from trustq.db import console as console_db
    from trustq.db import migrate
    from trustq.db import verdicts as verdicts_db
    from trustq.db.session import make_engine

    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        _model(session, "v-sqlite")
        row, _ = _add(session)
        verdicts_db.write_verdicts(session, [_verdict(row.id, "v-sqlite")])
        session.commit()
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        [(day, band, count)] = console_db.verdicts_per_day(session, since)
    engine.dispose()
    assert (day, band, count) == (dt.datetime.now(dt.UTC).date(), "LOW", 1)
