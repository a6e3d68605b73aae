"""The HTTP API: ``create_app(settings)`` builds it, ``trustq api`` serves it with uvicorn.

Limits and the rate limit come from ``settings``; the database and the broker are the
process's (``trustq.db.session``, ``trustq.broker.app``), as for every other part of trustq.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
import uuid
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPAuthorizationCredentials
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trustq import logs, metrics
from trustq.api import console, problems, routes, webhooks
from trustq.api.auth import RateLimiter, bearer, limit_storage, require
from trustq.api.problems import Problem, ProblemDetail
from trustq.api.schemas import Health, LabelIn, Ready
from trustq.config import Settings
from trustq.db.tables import ApiKeyScope
from trustq.schemas import Profile, WebhookEndpointIn
from trustq.services import status as status_service

log = logging.getLogger("trustq.api")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class BodyTooLarge(Problem):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            "too-large",
            "The request body is too large",
            f"the body is over the limit of {limit:,} bytes (TRUSTQ_API_MAX_BODY_BYTES)",
            errors=[problems.FieldError(location="body", field="(body)", message="too large")],
        )


class BodyLimit:
    """Refuse bodies over ``limit`` bytes: by Content-Length up front, else while reading."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.limit
            except ValueError:
                too_large = False  # the server refuses a malformed Content-Length itself
            if too_large:
                reply = problems.response(Request(scope), BodyTooLarge(self.limit))
                await reply(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)


class RequestContext:
    """A request id made here for every request (X-Request-ID in the answer), and the
    caller's own X-Request-ID, when sane, kept beside it (X-Client-Request-ID), both bound
    to the logs and stored with a submission; one log line and one metric sample per
    request. A caller's id is never taken for the server's: callers cannot collide with or
    impersonate another request in the audit trail."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        client_request_id = sent if _REQUEST_ID.match(sent) else None
        request_id = uuid.uuid4().hex
        tokens = logs.bind(request_id=request_id, client_request_id=client_request_id)
        status = 500
        started = time.perf_counter()

        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    *(
                        [(b"x-client-request-id", client_request_id.encode())]
                        if client_request_id
                        else []
                    ),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Answered here, inside the request's context, so the 500 carries the request
            # id; logged with the stack but not the message, which can quote input.
            log.error(
                "unhandled %s answering %s %s\n%s",
                type(exc).__name__,
                scope["method"],
                scope["path"],
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            if started_response:
                raise
            reply = problems.response(
                Request(scope),
                Problem(500, "internal", "Internal error", "an unexpected error; it was logged"),
            )
            await reply(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            # Starlette's own routes (/openapi.json, /docs) set the endpoint but not the route.
            template = getattr(route, "path", None) or (
                scope["path"] if "endpoint" in scope else "unmatched"
            )
            metrics.http_request(scope["method"], template, status, elapsed)
            log.info(
                "%s %s %d",
                scope["method"],
                template,
                status,
                extra={
                    "method": scope["method"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                    "api_key": (scope.get("state") or {}).get("api_key"),
                },
            )
            logs.unbind(tokens)


def create_app(settings: Settings) -> FastAPI:
    """The API application, configured by ``settings``."""
    # Swagger UI's script and styles are served by this process (fastapi-offline ships
    # them), not fetched by each browser from a CDN at whatever version it serves today.
    app = FastAPIOffline(
        redoc_url=None,
        title="trustq",
        version="1",
        summary="Trust evaluation of freelancer profiles.",
        description=(
            "Submit a profile, read its verdict. Every /v1 request needs "
            "`Authorization: Bearer <API key>`; errors are RFC 9457 problem details."
        ),
        responses={
            "default": {"model": ProblemDetail, "description": "An RFC 9457 problem"},
        },
    )
    app.state.settings = settings
    storage = limit_storage(settings.resolved_broker_url)
    app.state.rate_limiter = RateLimiter(
        "key", settings.api_rate_limit, settings.api_rate_burst, storage
    )
    app.state.auth_failure_limiter = RateLimiter(
        "failed-auth", settings.api_auth_failure_limit, settings.api_auth_failure_burst, storage
    )
    app.state.metrics_registry = metrics.make_registry(
        [status_service.BacklogCollector()] if settings.cluster_metrics else []
    )
    app.state.readiness = None
    problems.install(app)
    app.include_router(routes.router)
    app.include_router(webhooks.router)
    console.install(app)
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)
    app.add_middleware(RequestContext)

    # On the event loop itself: it answers even while every worker thread is busy.
    @app.get("/healthz", response_model=Health, summary="The process is up")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get(
        "/readyz",
        response_model=Ready,
        summary="Database, broker and a serving model are reachable",
        responses={503: {"model": ProblemDetail, "description": "A part is not ready"}},
    )
    def readyz() -> Ready:
        # Answered from the last check for a moment: a flood of probes costs the database
        # and the broker one check per API_READINESS_CACHE_SECONDS, not one per request.
        cached = app.state.readiness
        if (
            cached is not None
            and time.monotonic() - cached[0] < settings.api_readiness_cache_seconds
        ):
            if isinstance(cached[1], Problem):
                raise cached[1]
            return cached[1]
        try:
            answer = _check_readiness()
        except Problem as problem:
            app.state.readiness = (time.monotonic(), problem)
            raise
        app.state.readiness = (time.monotonic(), answer)
        return answer

    def _check_readiness() -> Ready:
        checks: dict[str, str] = {}
        failing: dict[str, str] = {}
        try:
            serving = status_service.check_database()
        except Exception as exc:
            log.warning("readiness: database unreachable: %s", exc)
            failing["database"] = f"unreachable ({type(exc).__name__})"
        else:
            checks["database"] = "ok"
            if serving is None:
                failing["model"] = "no model version is serving (run `trustq train`)"
            else:
                checks["model"] = serving
        try:
            status_service.check_broker()
        except Exception as exc:
            log.warning("readiness: broker unreachable: %s", exc)
            failing["broker"] = f"unreachable ({type(exc).__name__})"
        else:
            checks["broker"] = "ok"
        if failing:
            raise Problem(
                503,
                "not-ready",
                "Not ready",
                "; ".join(f"{part}: {why}" for part, why in failing.items()),
                extra={"checks": {**checks, **failing}, "failing": sorted(failing)},
            )
        return Ready(status="ready", checks=checks)

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
    )
    def prometheus(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> Response:
        if settings.api_metrics_need_key:
            require(ApiKeyScope.read)(request, credentials)
        body = metrics.render(app.state.metrics_registry)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            # Bodies read by hand (after the key is checked): publish their schemas here.
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (Profile, LabelIn, WebhookEndpointIn):
                body = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(body.pop("$defs", {}))
                components[model.__name__] = body
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
