"""/console: the review console, server-rendered (Jinja2, autoescaped) with a little plain
JavaScript for the keyboard. It runs the use cases of ``trustq.services.console``.

The browser holds a session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS), never
the API key. Every form carries the session's CSRF token (the sign-in form a token of its
own cookie), and every page is sent with a Content-Security-Policy that allows this
origin's script and styles only, so profile text, which is always escaped, could not run
even if it were not. Requests count against the key's rate limit like the API's.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import math
import secrets
import uuid
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from trustq.api.auth import RateLimiter
from trustq.db.tables import ApiKeyScope, utcnow
from trustq.rules.flags import FLAG_CODES, RiskLevel
from trustq.services import console
from trustq.services.console import Analyst
from trustq.services.labels import LabelCapReached

log = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "console_assets"
# Every value is escaped, whatever the template's name.
templates = Jinja2Templates(
    env=jinja2.Environment(loader=jinja2.FileSystemLoader(ASSETS / "templates"), autoescape=True)
)

router = APIRouter(prefix="/console", include_in_schema=False)
static = StaticFiles(directory=ASSETS / "static")

SESSION_COOKIE = "trustq_console"
LOGIN_COOKIE = "trustq_console_login"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NOTICES = {
    "held": "Another analyst holds that case; it is theirs until their claim expires.",
    "decided": "Decision recorded. No other case of this band is waiting.",
    "empty": "No case of this queue is waiting.",
    "read-only": "Your key may only read: claiming and deciding need scope submit.",
    "promoted": "The model version was promoted.",
    "signed-out": "You are signed out.",
}


class SignIn(Exception):
    """No live session: the browser goes to the sign-in page."""


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        name,
        {"notice": NOTICES.get(request.query_params.get("notice", "")), **context},
        status_code=status,
    )
    response.headers.update(HEADERS)
    return response


def redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers.update(HEADERS)
    return response


def install(app: Any) -> None:
    """Mount the console on the API application."""
    app.include_router(router)
    app.mount("/console/static", static, name="console-static")

    @app.exception_handler(SignIn)
    async def _sign_in(request: Request, exc: SignIn) -> Response:  # noqa: ARG001
        return redirect("/console/login")

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> Response:
        analyst = getattr(request.state, "analyst", None)
        return page(request, "refused.html", exc.status, analyst=analyst, message=exc.message)


def analyst(request: Request) -> Analyst:
    """The signed-in analyst (a sign-in page otherwise), within the key's rate limit."""
    found = console.analyst_for(request.cookies.get(SESSION_COOKIE))
    if found is None:
        raise SignIn()
    request.state.analyst = found
    request.state.api_key = found.name
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.take(found.key.id)
    if wait > 0:
        raise Refused(429, f"Too many requests; try again in {max(1, math.ceil(wait))} s.")
    return found


Signed = Annotated[Analyst, Depends(analyst)]


async def _form(request: Request, who: Analyst) -> Any:
    """The posted form, if it carries the session's CSRF token."""
    form = await request.form()
    token = str(form.get("csrf_token", ""))
    if not hmac.compare_digest(token.encode(), who.csrf_token.encode()):
        raise Refused(403, "This form has expired or did not come from this console.")
    return form


def _needs(who: Analyst, scope: ApiKeyScope) -> None:
    if not who.may(scope):
        raise Refused(
            403, f"Your key ({who.name}, scope {who.key.scope}) may not do this: it needs {scope}."
        )


# --- signing in and out ------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def home() -> Response:
    return redirect("/console/queue")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    token = secrets.token_urlsafe(24)
    response = page(request, "login.html", login_token=token, error=None)
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request),
        path="/console/login", max_age=3600,
    )  # fmt: skip
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await request.form()
    expected = request.cookies.get(LOGIN_COOKIE, "")
    sent = str(form.get("login_token", ""))
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Refused(403, "The sign-in form has expired; open it again.")
    failures: RateLimiter = request.app.state.auth_failure_limiter
    address = request.client.host if request.client is not None else "unknown"
    if failures.take(address, spend=False) > 0:
        raise Refused(429, "Too many failed sign-ins from this address; try again later.")
    settings = request.app.state.settings
    signed = await run_in_threadpool(console.sign_in, str(form.get("api_key", "")), settings)
    if signed is None:
        failures.take(address)
        return page(
            request, "login.html", 401, login_token=expected,
            error="That key is unknown or revoked.",
        )  # fmt: skip
    token, who = signed
    log.info("console sign-in", extra={"api_key": who.name})
    response = redirect("/console/queue")
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request),
        path="/console", max_age=int(settings.console_session_hours * 3600),
    )  # fmt: skip
    response.delete_cookie(LOGIN_COOKIE, path="/console/login")
    return response


@router.post("/logout")
async def logout(request: Request, who: Signed) -> Response:
    await _form(request, who)
    await run_in_threadpool(console.sign_out, request.cookies.get(SESSION_COOKIE, ""), who)
    response = redirect("/console/login?notice=signed-out")
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


# --- the queue ---------------------------------------------------------------------------


@router.get("/queue", response_class=HTMLResponse)
def queue(
    request: Request,
    who: Signed,
    band: str | None = None,
    flag: str | None = None,
    model: str | None = None,
    age: str | None = None,
    external_id: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    try:
        filters = console.queue_filter(band, flag, model, age, external_id)
        found = console.queue_page(filters, cursor)
    except ValueError as exc:
        raise Refused(422, str(exc)) from exc
    query = {
        "band": band or "MEDIUM",
        "flag": flag or "",
        "model": model or "",
        "age": age or "",
        "external_id": external_id or "",
    }
    return page(
        request,
        "queue.html",
        analyst=who,
        found=found,
        query=query,
        bands=[*RiskLevel, "any"],
        flags=FLAG_CODES,
        ages=list(console.AGES),
        now=utcnow(),
    )


@router.post("/next")
async def work_next(request: Request, who: Signed) -> Response:
    """The oldest unheld case of the queue as the analyst filtered it."""
    form = await _form(request, who)
    try:
        filters = console.queue_filter(
            *(str(form.get(f, "")) or None for f in ("band", "flag", "model", "age")),
            str(form.get("external_id", "")) or None,
        )
    except ValueError as exc:
        raise Refused(422, str(exc)) from exc
    return await _open_next(request, who, filters, "empty")


async def _open_next(request: Request, who: Analyst, filters: Any, notice: str) -> Response:
    if not who.may(ApiKeyScope.submit):
        return redirect("/console/queue?notice=read-only")
    settings = request.app.state.settings
    sid = await run_in_threadpool(console.next_case, who, settings, filters)
    if sid is None:
        return redirect(f"/console/queue?notice={notice}")
    return redirect(f"/console/cases/{sid}")


def _case_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise Refused(404, "No such case.") from exc


# --- a case ------------------------------------------------------------------------------


@router.post("/cases/{case_id}/claim")
async def claim(request: Request, case_id: str, who: Signed) -> Response:
    submission_id = _case_id(case_id)
    await _form(request, who)
    _needs(who, ApiKeyScope.submit)
    try:
        holder = await run_in_threadpool(
            console.claim_case, submission_id, who, request.app.state.settings
        )
    except LookupError as exc:
        raise Refused(404, "No such case.") from exc
    except console.AlreadyDecided as exc:
        raise Refused(409, f"{exc}; `trustq decide` records a correction.") from exc
    if holder != who.name:
        return redirect(f"/console/cases/{submission_id}?notice=held")
    return redirect(f"/console/cases/{submission_id}")


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: str, who: Signed) -> Response:
    submission_id = _case_id(case_id)
    try:
        found = console.case(submission_id, who, request.app.state.settings)
    except LookupError as exc:
        raise Refused(404, "No such case (or it has no verdict yet).") from exc
    return page(
        request,
        "case.html",
        analyst=who,
        case=found,
        verdict=found.verdict,
        mine=found.held_by == who.name,
        may_decide=who.may(ApiKeyScope.submit),
        now=utcnow(),
    )


@router.post("/cases/{case_id}/decide")
async def decide(request: Request, case_id: str, who: Signed) -> Response:
    submission_id = _case_id(case_id)
    form = await _form(request, who)
    _needs(who, ApiKeyScope.submit)
    label = str(form.get("label", ""))
    if label not in ("risky", "trustworthy"):
        raise Refused(422, "Choose risky or trustworthy.")
    try:
        decided = await run_in_threadpool(
            console.decide,
            submission_id,
            who,
            label,
            str(form.get("note", "")) or None,
            request.app.state.settings,
        )
    except console.HeldByOther as exc:
        raise Refused(409, f"{exc}: only they can decide it now.") from exc
    except console.AlreadyDecided as exc:
        raise Refused(409, f"{exc}; `trustq decide` records a correction.") from exc
    except LookupError as exc:
        raise Refused(404, "No such case.") from exc
    except ValueError as exc:
        raise Refused(422, str(exc)) from exc
    except PermissionError as exc:
        raise Refused(403, str(exc)) from exc
    except LabelCapReached as exc:
        raise Refused(429, str(exc)) from exc
    log.info(
        "console decision %s",
        label,
        extra={"api_key": who.name, "submission_id": str(submission_id)},
    )
    return await _open_next(
        request, who, console.queue_filter(decided.band, None, None, None, None), "decided"
    )


# --- the overview ------------------------------------------------------------------------


@router.get("/overview", response_class=HTMLResponse)
def overview(request: Request, who: Signed) -> Response:
    return page(
        request,
        "overview.html",
        analyst=who,
        view=console.overview(),
        bands=list(RiskLevel),
        is_admin=who.may(ApiKeyScope.admin),
        now=utcnow(),
    )


@router.post("/models/promote")
async def promote(request: Request, who: Signed) -> Response:
    form = await _form(request, who)
    _needs(who, ApiKeyScope.admin)
    version = str(form.get("version", "")).strip()
    reason = str(form.get("reason", "")).strip()
    if not reason:
        raise Refused(422, "Say why: the reason is recorded with the decision.")
    # Imported here: promoting loads the version's artifact to check it (torch).
    from trustq.services import models as model_service
    from trustq.services.promotion import promote as promote_version

    try:
        await run_in_threadpool(promote_version, version[:64], actor=who.name, note=reason[:2000])
    except model_service.ModelNotFound as exc:
        raise Refused(404, f"No model version {version!r}.") from exc
    except ValueError as exc:
        raise Refused(409, str(exc)) from exc
    log.info("console promotion of %s", version, extra={"api_key": who.name})
    return redirect("/console/overview?notice=promoted")


def age(then: dt.datetime | None, now: dt.datetime) -> str:
    """'3 h', '2 d' … for the templates."""
    if then is None:
        return "-"
    seconds = max(0.0, (now - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


templates.env.filters["age"] = lambda then, now: age(then, now)
templates.env.globals["part_names"] = {
    "resume_quality": "Resume",
    "project_realism": "Projects",
    "profile_validation": "Profile validation",
}
