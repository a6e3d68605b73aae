"""The /v1 endpoints. They validate, store, publish and read; scoring happens in workers."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import uuid
from pathlib import PurePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from trustq import logs, metrics
from trustq.api.auth import require
from trustq.api.problems import MAX_ERRORS, FieldError, Problem, ProblemDetail, pydantic_errors
from trustq.api.problems import validation_problem as invalid
from trustq.api.schemas import (
    EvaluationAccepted,
    EvaluationOut,
    EvaluationPage,
    LabelIn,
    ModelList,
    PromoteIn,
    VerdictPage,
)
from trustq.db.tables import ApiKeyScope
from trustq.rules.flags import RiskLevel
from trustq.schemas import MAX_PROJECTS, LabelOut, Links, Profile, Project
from trustq.scoring.resume_files import ResumeFileError
from trustq.services import labels as label_service
from trustq.services import models as model_service
from trustq.services import submissions, verdicts
from trustq.services.apikeys import KeyInfo

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1")

Reader = Annotated[KeyInfo, Depends(require(ApiKeyScope.read))]
Submitter = Annotated[KeyInfo, Depends(require(ApiKeyScope.submit))]
Admin = Annotated[KeyInfo, Depends(require(ApiKeyScope.admin))]

PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemDetail, "description": text}
    for code, text in {
        401: "No valid API key",
        403: "The key's scope does not allow this",
        422: "The request is not valid; each error names its field",
        429: "Over the key's rate limit; see Retry-After",
        503: "The database or the broker is unavailable",
    }.items()
}

_PROFILE_PART = (
    "The profile as JSON text, without resume_text (the file replaces it)."
    " Send the resume as the file part `resume` (.pdf or .docx)."
)
SUBMIT_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Profile"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "profile": {"type": "string", "description": _PROFILE_PART},
                    "resume": {"type": "string", "format": "binary"},
                },
                "required": ["profile", "resume"],
            }
        },
    },
}


# --- submitting --------------------------------------------------------------------------


def _json(raw: bytes | str, where: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise Problem(
            400,
            "malformed-json",
            "The request cannot be read",
            f"{where} is not valid JSON: {message}",
            errors=[FieldError(location="body", field=where, message="not valid JSON")],
        ) from exc


async def _read_submission(
    request: Request, max_bytes: int
) -> tuple[Any, tuple[str, bytes] | None]:
    """The profile data and the resume file (name, bytes) of a JSON or multipart body."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return await run_in_threadpool(_json, await request.body(), "(body)"), None
    if media != "multipart/form-data":
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "send the profile as application/json, or as multipart/form-data with the "
            "parts `profile` (JSON) and `resume` (a .pdf or .docx file)",
        )
    # The context closes the spooled upload when the block ends.
    async with request.form(max_files=1, max_fields=1, max_part_size=max_bytes) as form:
        unknown = sorted(set(form.keys()) - {"profile", "resume"})
        errors = [
            FieldError(location="body", field=name, message="unknown part") for name in unknown
        ]
        part = form.get("profile")
        upload = form.get("resume")
        if not isinstance(part, str):
            errors.append(
                FieldError(location="body", field="profile", message="a text part with JSON")
            )
        if not isinstance(upload, UploadFile):
            errors.append(FieldError(location="body", field="resume", message="a file part"))
        if errors:
            raise invalid(errors)
        assert isinstance(part, str) and isinstance(upload, UploadFile)
        name = PurePath(upload.filename or "resume").name[-300:] or "resume"
        return _json(part, "profile"), (name, await upload.read())


def _enqueue(
    profile: Profile, key: KeyInfo, request_id: str | None, resume_file: tuple[str, bytes] | None
) -> submissions.Enqueued:
    try:
        [result] = submissions.enqueue(
            [profile],
            submitted_by=key.name,
            request_id=request_id,
            client_request_id=logs.current("client_request_id"),
            resume_file=resume_file,
            api_key_id=key.id,
        )
    except ResumeFileError as exc:  # intake's checks of the file: nothing was stored
        raise invalid([FieldError(location="body", field="resume", message=str(exc))]) from exc
    except submissions.IdempotencyKeyReused as exc:
        raise Problem(
            422,
            "idempotency-key-reused",
            "The idempotency key was used for another request",
            "this key sent this Idempotency-Key before with a different profile; use a "
            "new idempotency key for a new request",
            errors=[
                FieldError(
                    location="header",
                    field="Idempotency-Key",
                    message="already used for a different request",
                )
            ],
        ) from exc
    return result


def _unknown_fields(data: dict[str, Any]) -> list[str]:
    """The paths of the fields no profile has, counted before validation: cheap in Python,
    where validating a body of a hundred thousand of them holds the interpreter for long."""
    out = [str(name)[:100] for name in data if name not in Profile.model_fields]
    links = data.get("links")
    if isinstance(links, dict):
        out += [f"links.{str(n)[:100]}" for n in links if n not in Links.model_fields]
    projects = data.get("projects")
    if isinstance(projects, list):
        for i, item in enumerate(projects[: MAX_PROJECTS + 1]):
            if isinstance(item, dict):
                out += [
                    f"projects.{i}.{str(n)[:100]}" for n in item if n not in Project.model_fields
                ]
    return out


def _accept(
    data: Any, resume_file: tuple[str, bytes] | None, idempotency_key: str | None
) -> Profile:
    """The profile of a submission's body, validated; a 422 Problem naming each field
    otherwise. (The resume file is checked where every door's files are: at enqueue.)"""
    if not isinstance(data, dict):
        raise invalid(
            [
                FieldError(
                    location="body",
                    field="(body)" if resume_file is None else "profile",
                    message=f"expected a JSON object, got {type(data).__name__}",
                )
            ]
        )
    if idempotency_key is not None:
        header_key = idempotency_key.strip().removeprefix('"').removesuffix('"')
        if data.get("idempotency_key") not in (None, header_key):
            raise invalid(
                [
                    FieldError(
                        location="header",
                        field="Idempotency-Key",
                        message="differs from idempotency_key in the profile",
                    )
                ]
            )
        data = {**data, "idempotency_key": header_key}
    unknown = _unknown_fields(data)
    if len(unknown) > MAX_ERRORS:  # a body built to make thousands of errors: name a few
        prefix = "" if resume_file is None else "profile."
        raise invalid(
            [
                FieldError(location="body", field=prefix + name, message="unknown field")
                for name in unknown[: MAX_ERRORS + 1]
            ],
            detail=f"{len(unknown):,} unknown fields",
        )
    try:
        profile = submissions.parse_profile(data, with_resume_file=resume_file is not None)
    except ValidationError as exc:
        errors = pydantic_errors(exc.errors(include_url=False), "body")
        if resume_file is not None:
            errors = [e.model_copy(update={"field": f"profile.{e.field}"}) for e in errors]
        raise invalid(errors) from exc
    return profile


@router.post(
    "/evaluations",
    status_code=202,
    response_model=EvaluationAccepted,
    summary="Submit a profile for evaluation",
    description=(
        "A profile as JSON (the published profile schema), or multipart/form-data with the "
        "profile as JSON text in `profile` and a PDF/DOCX resume in `resume`. Answers 202 "
        "with the submission id and its Location. The same `Idempotency-Key` (header, or "
        "`idempotency_key` in the profile) gives the same submission and queues nothing."
    ),
    openapi_extra={"requestBody": SUBMIT_BODY},
    responses={
        400: {"model": ProblemDetail, "description": "The body is not valid JSON"},
        413: {"model": ProblemDetail, "description": "The body is over the size limit"},
        415: {"model": ProblemDetail, "description": "Neither JSON nor multipart"},
        **PROBLEMS,
    },
)
async def submit_evaluation(
    request: Request,
    response: Response,
    key: Submitter,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=202,
            description="Repeat a request safely: the same key gives the same submission.",
        ),
    ] = None,
) -> EvaluationAccepted:
    settings = request.app.state.settings
    data, resume_file = await _read_submission(request, settings.api_max_body_bytes)
    # Validating a large body and inspecting a file take CPU time: off the event loop.
    profile = await run_in_threadpool(_accept, data, resume_file, idempotency_key)
    try:
        result = await run_in_threadpool(
            _enqueue, profile, key, logs.current("request_id"), resume_file
        )
    except submissions.DatabaseUnavailable as exc:
        log.error("the database refused a submission")
        raise Problem(
            503,
            "database-unavailable",
            "The database is unavailable",
            "the submission was not stored; try again shortly",
            headers={"Retry-After": "5"},
        ) from exc
    metrics.submission_accepted(intake="api", new=result.created)
    log.info(
        "accepted a submission" if result.created else "repeated a submission (idempotency key)",
        extra={"submission_id": str(result.id), "api_key": key.name, "published": result.queued},
    )
    location = f"/v1/evaluations/{result.id}"
    response.headers["Location"] = location
    return EvaluationAccepted(
        id=str(result.id),
        status="queued",
        location=location,
        created=result.created,
        published=result.queued,
    )


# --- reading -----------------------------------------------------------------------------


@router.get(
    "/evaluations/{evaluation_id}",
    response_model=EvaluationOut,
    summary="One evaluation: its status and, when done, the verdict",
    responses={404: {"model": ProblemDetail, "description": "No such submission"}, **PROBLEMS},
)
def get_evaluation(evaluation_id: uuid.UUID, key: Reader) -> EvaluationOut:  # noqa: ARG001
    try:
        return verdicts.get_evaluation(evaluation_id)
    except LookupError as exc:
        raise _no_such_evaluation(evaluation_id) from exc


def _no_such_evaluation(evaluation_id: uuid.UUID) -> Problem:
    return Problem(
        404,
        "not-found",
        "Not found",
        f"no submission {evaluation_id}",
        errors=[FieldError(location="path", field="evaluation_id", message="unknown")],
    )


def _utc(value: dt.datetime | None, field: str) -> dt.datetime | None:
    """``value`` in UTC (UTC if it names no zone); 422 for an instant outside years 1-9999."""
    if value is None:
        return None
    try:
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except OverflowError as exc:
        raise invalid(
            [
                FieldError(
                    location="query", field=field, message="outside the years 1 to 9999 in UTC"
                )
            ]
        ) from exc


def encode_cursor(created_at: dt.datetime, submission_id: uuid.UUID) -> str:
    raw = f"{created_at.astimezone(dt.UTC).isoformat()}|{submission_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, sid = raw.split("|")
        created_at = dt.datetime.fromisoformat(when)
        if created_at.tzinfo is None:
            raise ValueError("naive")
        return created_at, uuid.UUID(sid)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid(
            [
                FieldError(
                    location="query",
                    field="cursor",
                    message="not a cursor this API gave out (use next_cursor as it is)",
                )
            ]
        ) from exc


@router.get(
    "/evaluations",
    response_model=EvaluationPage,
    summary="Evaluations newest first, filtered, paginated by cursor",
    responses=PROBLEMS,
)
def list_evaluations(
    request: Request,
    response: Response,
    key: Reader,  # noqa: ARG001
    external_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    risk_level: RiskLevel | None = None,
    status: Literal["queued", "processing", "done", "failed"] | None = None,
    since: Annotated[
        dt.datetime | None, Query(description="Submitted at or after (ISO 8601; UTC if no zone).")
    ] = None,
    until: Annotated[dt.datetime | None, Query(description="Submitted before.")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> EvaluationPage:
    before = decode_cursor(cursor) if cursor else None
    if external_id is not None and "\x00" in external_id:
        raise invalid(
            [FieldError(location="query", field="external_id", message="must not contain NUL")]
        )
    since, until = _utc(since, "since"), _utc(until, "until")
    page = verdicts.page_evaluations(
        external_id=external_id,
        risk_level=risk_level,
        status=status,
        since=since,
        until=until,
        before=before,
        limit=limit,
    )
    next_cursor = None
    if page.next_before is not None:
        next_cursor = encode_cursor(*page.next_before)
        next_url = request.url.include_query_params(cursor=next_cursor)
        response.headers["Link"] = f'<{next_url.path}?{next_url.query}>; rel="next"'
    return EvaluationPage(items=page.items, next_cursor=next_cursor)


# --- labels and review -------------------------------------------------------------------


@router.post(
    "/evaluations/{evaluation_id}/labels",
    status_code=201,
    response_model=LabelOut,
    summary="Label a submission with what became known about it (append-only)",
    responses={404: {"model": ProblemDetail, "description": "No such submission"}, **PROBLEMS},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LabelIn"}}},
        }
    },
)
async def add_label(request: Request, evaluation_id: uuid.UUID, key: Submitter) -> LabelOut:
    # The body is read only now, after the key was checked: no key, no parsing.
    raw = await request.body()
    return await run_in_threadpool(_add_label, evaluation_id, raw, key)


def _add_label(evaluation_id: uuid.UUID, raw: bytes, key: KeyInfo) -> LabelOut:
    try:
        body = LabelIn.model_validate(_json(raw, "(body)"))
    except ValidationError as exc:
        raise invalid(pydantic_errors(exc.errors(include_url=False), "body")) from exc
    actor = key.name if body.actor is None else f"{key.name}/{body.actor}"
    try:
        out = label_service.add_label(
            evaluation_id, body.label, source=body.source, by=actor, note=body.note, key=key
        )
    except LookupError as exc:
        raise _no_such_evaluation(evaluation_id) from exc
    except ValueError as exc:
        raise invalid([FieldError(location="body", field="actor", message=str(exc))]) from exc
    except label_service.LabelCapReached as exc:
        raise Problem(
            429,
            "label-cap-reached",
            "This key's daily label cap is reached",
            str(exc),
            headers={"Retry-After": "3600"},
        ) from exc
    log.info(
        "labelled a submission %s (%s)",
        body.label,
        body.source,
        extra={"submission_id": str(evaluation_id), "api_key": key.name},
    )
    return out


@router.get(
    "/review-queue",
    response_model=VerdictPage,
    summary="Verdicts for a person (review or risky) awaiting a decision, oldest first",
    responses=PROBLEMS,
)
def review_queue(
    key: Reader,  # noqa: ARG001
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> VerdictPage:
    return VerdictPage(items=verdicts.review_queue(limit=limit))


# --- models ------------------------------------------------------------------------------


@router.get(
    "/models",
    response_model=ModelList,
    summary="Model versions, newest first, with their status and test metrics",
    responses=PROBLEMS,
)
def list_models(key: Reader) -> ModelList:  # noqa: ARG001
    return ModelList(items=model_service.list_models())


@router.post(
    "/models/{version}/promote",
    summary="Make a model version the serving one (recorded as a decision by this key)",
    responses={
        404: {"model": ProblemDetail, "description": "No such model version"},
        409: {"model": ProblemDetail, "description": "This version cannot be promoted"},
        **PROBLEMS,
    },
)
def promote_model(
    version: Annotated[str, Path(min_length=1, max_length=64)],
    key: Admin,
    body: PromoteIn | None = None,
) -> dict[str, Any]:
    # Imported here: promoting loads the candidate's artifact to check it (torch), which
    # no other endpoint needs.
    from trustq.services.promotion import promote

    try:
        result = promote(version, actor=key.name, note=body.note if body is not None else None)
    except model_service.ModelNotFound as exc:
        raise Problem(
            404,
            "not-found",
            "Not found",
            str(exc) or f"no model version {version!r}",
            errors=[FieldError(location="path", field="version", message="unknown")],
        ) from exc
    except ValueError as exc:
        raise Problem(
            409,
            "cannot-promote",
            "This model version cannot be promoted",
            str(exc),
            errors=[FieldError(location="path", field="version", message=str(exc))],
        ) from exc
    log.info("promoted model %s", version, extra={"api_key": key.name})
    return result
