"""Errors as RFC 9457 problem details (``application/problem+json``), each naming the field."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from trustq import logs

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://trustq.dev/problems/"
# A problem lists this many field errors at most (a body can be built to make thousands).
MAX_ERRORS = 50


class FieldError(BaseModel):
    """One thing wrong with the request: where (body, query, path, header) and which field."""

    location: str
    field: str
    message: str


class ProblemDetail(BaseModel):
    """RFC 9457 problem details, with the field errors and the request id."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] = []


class Problem(Exception):
    """Raised anywhere in the API to answer with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        errors: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def field_path(loc: Iterable[Any]) -> str:
    return ".".join(str(p) for p in loc) or "(body)"


def pydantic_errors(
    errors: Iterable[Mapping[str, Any]], location: str = "body"
) -> list[FieldError]:
    """Field errors from pydantic's ``errors()``; the offending input is never echoed."""
    out = []
    for err in errors:
        loc = list(err.get("loc", ()))
        where = location
        if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            where = str(loc.pop(0))
        out.append(FieldError(location=where, field=field_path(loc), message=str(err["msg"])))
    return out


def validation_problem(errors: list[FieldError], detail: str | None = None) -> Problem:
    """A 422 naming at most MAX_ERRORS of the errors, and how many more there are."""
    listed = errors[:MAX_ERRORS]
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS
        listed.append(
            FieldError(location="body", field="(more)", message=f"{more:,} more errors not listed")
        )
    return Problem(
        422,
        "validation",
        "The request is not valid",
        detail or "; ".join(f"{e.field}: {e.message}" for e in errors[:10]),
        errors=listed,
    )


def response(request: Request, problem: Problem) -> JSONResponse:
    body = ProblemDetail(
        type=TYPE_BASE + problem.slug,
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
        instance=request.url.path,
        request_id=logs.current("request_id"),
        errors=problem.errors,
    ).model_dump(mode="json")
    body.update(problem.extra)
    return JSONResponse(
        body, status_code=problem.status, media_type=MEDIA_TYPE, headers=problem.headers
    )


_HTTP_SLUGS = {
    400: ("bad-request", "The request cannot be read"),
    401: ("unauthorized", "An API key is needed"),
    403: ("forbidden", "This API key may not do that"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("too-large", "The request body is too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def install(app: FastAPI) -> None:
    """Answer every error, ours and the framework's, as problem+json (an unexpected one is
    answered by the request-context middleware, inside the request's context)."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return response(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return response(request, validation_problem(pydantic_errors(exc.errors())))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no resource at {request.url.path}"
        return response(
            request, Problem(exc.status_code, slug, title, detail, headers=exc.headers or {})
        )

    async def on_database(request: Request, exc: Exception) -> JSONResponse:
        log.error("database unavailable: %s", type(exc).__name__)
        return response(
            request,
            Problem(
                503,
                "database-unavailable",
                "The database is unavailable",
                "the database did not answer; try again shortly",
                headers={"Retry-After": "5"},
            ),
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(DBAPIError, on_database)
