"""The review console in a real browser: Debian's Chromium driven by Playwright, against
`trustq api` serving the run's database, with verdicts the run's worker scored.

An analyst signs in, filters the queue, claims a case, sees the flagged phrases highlighted
and the project timeline, decides with the keyboard (the label lands in PostgreSQL) and is
taken to the next case; a second analyst cannot take a claimed case; a hostile resume
renders as text; a read-only key is refused a decision. With TRUSTQ_TEST_SCREENSHOTS set to
a folder, the queue, a case and the overview are saved there (docs/console.md shows them).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Key, api_process
from tests.conftest import SharedWorker
from tests.factories import copy_model_version, profile
from tests.servers import wait_for

pytestmark = [pytest.mark.api, pytest.mark.integration]

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("TRUSTQ_TEST_CHROMIUM") or shutil.which("chromium") or ""
SCREENSHOTS = os.environ.get("TRUSTQ_TEST_SCREENSHOTS")
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


def _projects() -> list[dict[str, Any]]:
    today = dt.date.today()
    return [
        {
            "title": "Checkout rebuild",
            "start_date": str(today - dt.timedelta(days=700)),
            "end_date": str(today - dt.timedelta(days=500)),
            "client_rating": 5,
            "completed_on_time": True,
        },
        {
            "title": "Inventory API",
            "start_date": str(today - dt.timedelta(days=560)),
            "end_date": str(today - dt.timedelta(days=300)),
            "client_rating": 5,
            "disputed": True,
        },
        {
            "title": "Mobile shop",
            "start_date": str(today - dt.timedelta(days=200)),
            "end_date": str(today - dt.timedelta(days=60)),
            "completed_on_time": False,
            "client_rating": 4,
        },
    ]


@pytest.fixture(scope="module")
def cases(
    database: str,  # noqa: ARG001
    shared_worker: SharedWorker,
    clean_module: None,  # noqa: ARG001
) -> dict[str, str]:
    """Three profiles scored by the run's worker: one that promises guaranteed results with
    a disputed, overlapping history; one whose resume is hostile markup; one plain."""
    from trustq.schemas import Profile
    from trustq.services import submissions, verdicts

    tag = uuid.uuid4().hex[:6]
    made = {
        "guarantee": profile(
            external_id=f"fl-guarantee-{tag}",
            resume_text=(
                "Senior backend developer. 100% guaranteed results on every project, "
                "guaranteed first page ranking. Built payment systems in Python and Go for "
                "retailers since 2016; led a team of four."
            ),
            projects=_projects(),
        ),
        "hostile": profile(external_id=f"fl-hostile-{tag}", resume_text=f"Designer. {HOSTILE}"),
        "plain": profile(external_id=f"fl-plain-{tag}"),
    }
    ids = {}
    for name, data in made.items():
        [done] = submissions.enqueue([Profile.model_validate(data)], submitted_by="tests")
        ids[name] = str(done.id)
    shared_worker.consume()
    wait_for(
        lambda: all(verdicts.get_verdict(s) is not None for s in ids.values()),
        120,
        "the console's cases to be scored",
    )
    shared_worker.pause()
    return ids


@pytest.fixture(scope="module")
def clean_module(database: str) -> None:  # noqa: ARG001
    from sqlalchemy import text

    from trustq.db.session import session_scope

    with session_scope() as session:
        session.execute(text("TRUNCATE submissions, webhook_endpoints CASCADE"))


@pytest.fixture(scope="module")
def analysts(database: str) -> dict[str, Key]:  # noqa: ARG001
    from trustq.services import apikeys

    tag = uuid.uuid4().hex[:4]
    made = {}
    for name, scope in [("ana", "submit"), ("ben", "submit"), ("rita", "read"), ("ops", "admin")]:
        info, token = apikeys.create(f"{name}-{tag}", scope)
        made[name] = Key(info.name, token)
    return made


@pytest.fixture(scope="module")
def console_url(
    database: str,  # noqa: ARG001
    serving_model: str,  # noqa: ARG001
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("console") / "api.log"
    with api_process(log, {"TRUSTQ_API_AUTH_FAILURE_LIMIT": "0"}) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM:
        pytest.fail(
            "Chromium is not installed (apt-get install chromium, or set TRUSTQ_TEST_CHROMIUM)"
        )
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def sign_in(browser: Any, base: str, key: Key, width: int = 1280) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/console")
    page.fill("#api_key", key.token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/queue")
    return page


def shot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def test_an_analyst_works_the_queue_in_a_browser(
    browser: Any, console_url: str, analysts: dict[str, Key], cases: dict[str, str]
) -> None:
    from trustq.services import verdicts

    base = console_url
    # A wrong key is refused; the right one gives a session cookie, never the key.
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/console/queue")
    page.wait_for_url(f"{base}/console/login")
    page.fill("#api_key", "tq_not-a-key")
    page.click("button[type=submit]")
    assert "unknown or revoked" in page.inner_text(".error")
    context.close()

    page = sign_in(browser, base, analysts["ana"])
    [cookie] = [c for c in page.context.cookies() if c["name"] == "trustq_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert analysts["ana"].token not in cookie["value"]

    # The queue: every band, then filtered to one freelancer.
    page.select_option("#filters select[name=band]", "any")
    page.click("#filters button[type=submit]")
    rows = page.locator("table.queue tbody tr[data-case]")
    assert rows.count() == 3
    shot(page, "queue")
    guarantee = verdicts.get_verdict(cases["guarantee"])
    page.fill("#filters input[name=external_id]", guarantee.external_id)
    page.click("#filters button[type=submit]")
    assert rows.count() == 1

    # Claim it: the case, its highlighted evidence and its timeline.
    rows.first.locator("button").click()
    page.wait_for_url(f"{base}/console/cases/{cases['guarantee']}")
    marked = " ".join(page.locator("#resume mark").all_inner_texts()).lower()
    assert "guaranteed" in marked
    assert page.locator(".tl-row").count() == 3
    assert page.locator(".mark-disputed").count() == 1
    assert page.locator(".mark-overlap").count() >= 2
    assert page.locator(".mark-late").count() == 1
    shot(page, "case")

    # Decide with the keyboard: t, a note, Enter; the next case opens, already claimed.
    page.keyboard.press("t")
    page.keyboard.type("portfolio checked by phone")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: cases["guarantee"] not in url)
    [label] = verdicts.labels_of(cases["guarantee"])
    assert (label.label, label.source, label.actor) == (
        "trustworthy",
        "review",
        analysts["ana"].name,
    )
    assert label.note == "portfolio checked by phone"
    held = page.url.rsplit("/", 1)[1]
    assert held in (cases["hostile"], cases["plain"])
    assert page.locator("#decision").count() == 1

    # A second analyst sees who holds it and cannot take it.
    other = sign_in(browser, base, analysts["ben"])
    other.goto(f"{base}/console/cases/{held}")
    assert analysts["ana"].name in other.inner_text(".held")
    assert other.locator("#decision").count() == 0
    token = other.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = other.request.post(
        f"{base}/console/cases/{held}/decide",
        form={"csrf_token": token, "label": "risky"},
    )
    assert refused.status == 409
    assert verdicts.labels_of(held) == []

    # A hostile resume is text: no script ran, the markup shows as written.
    other.goto(f"{base}/console/cases/{cases['hostile']}")
    assert other.evaluate("typeof window.pwned") == "undefined"
    assert "<script>window.pwned = 1</script>" in other.inner_text("#resume")

    # A read-only key views but is refused a decision.
    reader = sign_in(browser, base, analysts["rita"])
    reader.goto(f"{base}/console/cases/{cases['plain']}")
    assert "may view cases but not decide" in reader.inner_text(".read-only")
    assert reader.locator("#claim").count() == 0
    token = reader.locator("input[name=csrf_token]").first.get_attribute("value")
    for path in ("claim", "decide"):
        answer = reader.request.post(
            f"{base}/console/cases/{cases['plain']}/{path}",
            form={"csrf_token": token, "label": "risky"},
        )
        assert answer.status == 403, path
    assert verdicts.labels_of(cases["plain"]) == []

    # The overview, as an admin sees it: promote another version and roll back, each with
    # its reason recorded; then signing out ends the session.
    serving = verdicts.get_verdict(cases["plain"]).model_version
    other_version = copy_model_version(serving, f"v-console-{uuid.uuid4().hex[:6]}")
    admin = sign_in(browser, base, analysts["ops"])
    admin.goto(f"{base}/console/overview")
    assert admin.inner_text("#serving") == serving
    assert analysts["ana"].name in admin.inner_text("table")
    for version, reason in [(other_version, "canary of the copy"), (serving, "roll back")]:
        admin.select_option("#promote-version", version)
        admin.fill("#promote input[name=reason]", reason)
        admin.click("#promote button[type=submit]")
        admin.wait_for_url(f"{base}/console/overview?notice=promoted")
        assert admin.inner_text("#serving") == version
        assert f"promoted by hand by {analysts['ops'].name}: {reason}" in admin.inner_text(
            "#history"
        )
    shot(admin, "overview")
    for scope in ("ana", "rita"):  # a submit key and a read key: no promotion
        viewer = sign_in(browser, base, analysts[scope])
        viewer.goto(f"{base}/console/overview")
        assert viewer.locator("#promote").count() == 0
        token = viewer.locator("input[name=csrf_token]").first.get_attribute("value")
        refused = viewer.request.post(
            f"{base}/console/models/promote",
            form={"csrf_token": token, "version": other_version, "reason": "mine"},
        )
        assert refused.status == 403
    admin.click("button.link")
    admin.wait_for_url(f"{base}/console/login?notice=signed-out")
    admin.goto(f"{base}/console/overview")
    assert admin.url.endswith("/console/login")


def test_the_console_fits_a_tablet(
    browser: Any, console_url: str, analysts: dict[str, Key], cases: dict[str, str]
) -> None:
    page = sign_in(browser, console_url, analysts["rita"], width=768)
    page.goto(f"{console_url}/console/cases/{cases['plain']}")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 768, f"the case page scrolls sideways at tablet width ({width} px)"
