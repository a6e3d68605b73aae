"""/v1/webhooks: a key registers endpoints for the events of its own submissions, reads its
deliveries with their attempts and replays them. A key sees and touches only its own."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from trustq.api.problems import FieldError, Problem, ProblemDetail, pydantic_errors
from trustq.api.problems import validation_problem as invalid
from trustq.api.routes import PROBLEMS, Submitter, _json
from trustq.schemas import (
    ReplayOut,
    WebhookDeliveryOut,
    WebhookDeliveryPage,
    WebhookEndpointCreated,
    WebhookEndpointIn,
    WebhookEndpointList,
)
from trustq.services import webhooks
from trustq.services.apikeys import KeyInfo

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

NOT_FOUND = {404: {"model": ProblemDetail, "description": "No such endpoint or delivery"}}


def _not_found(exc: LookupError, field: str) -> Problem:
    return Problem(
        404,
        "not-found",
        "Not found",
        str(exc),
        errors=[FieldError(location="path", field=field, message="unknown")],
    )


@router.post(
    "",
    status_code=201,
    response_model=WebhookEndpointCreated,
    summary="Register an endpoint for this key's submissions; its signing secret is shown once",
    responses={
        409: {"model": ProblemDetail, "description": "This key has the most endpoints allowed"},
        **PROBLEMS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/WebhookEndpointIn"}}
            },
        }
    },
)
async def add_endpoint(request: Request, key: Submitter) -> WebhookEndpointCreated:
    raw = await request.body()
    return await run_in_threadpool(_add_endpoint, request, raw, key)


def _add_endpoint(request: Request, raw: bytes, key: KeyInfo) -> WebhookEndpointCreated:
    try:
        body = WebhookEndpointIn.model_validate(_json(raw, "(body)"))
    except ValidationError as exc:
        raise invalid(pydantic_errors(exc.errors(include_url=False), "body")) from exc
    try:
        created = webhooks.add_endpoint(
            request.app.state.settings,
            api_key_id=key.id,
            owner=key.name,
            url=body.url,
            events=body.events,
            description=body.description,
            created_by=key.name,
        )
    except webhooks.TooManyEndpoints as exc:
        raise Problem(409, "too-many-endpoints", "Too many endpoints", str(exc)) from exc
    except ValueError as exc:
        raise invalid([FieldError(location="body", field="url", message=str(exc))]) from exc
    log.info("registered webhook endpoint %s", created.id, extra={"api_key": key.name})
    return created


@router.get(
    "",
    response_model=WebhookEndpointList,
    summary="This key's endpoints (never their secrets)",
    responses=PROBLEMS,
)
def list_endpoints(key: Submitter) -> WebhookEndpointList:
    return WebhookEndpointList(items=webhooks.list_endpoints(key.id))


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    summary="Remove an endpoint with its deliveries",
    responses={**NOT_FOUND, **PROBLEMS},
)
def remove_endpoint(endpoint_id: uuid.UUID, key: Submitter) -> Response:
    try:
        webhooks.remove_endpoint(endpoint_id, key.id)
    except webhooks.NotFound as exc:
        raise _not_found(exc, "endpoint_id") from exc
    log.info("removed webhook endpoint %s", endpoint_id, extra={"api_key": key.name})
    return Response(status_code=204)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=WebhookDeliveryPage,
    summary="An endpoint's deliveries, newest first (status=failed: those given up on)",
    responses={**NOT_FOUND, **PROBLEMS},
)
def list_deliveries(
    endpoint_id: uuid.UUID,
    key: Submitter,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> WebhookDeliveryPage:
    try:
        items = webhooks.list_deliveries(
            api_key_id=key.id, endpoint_id=endpoint_id, status=status, limit=limit
        )
    except webhooks.NotFound as exc:
        raise _not_found(exc, "endpoint_id") from exc
    return WebhookDeliveryPage(items=items)


@router.get(
    "/deliveries/{delivery_id}",
    response_model=WebhookDeliveryOut,
    summary="One delivery with every attempt: when, what the endpoint answered, how long",
    responses={**NOT_FOUND, **PROBLEMS},
)
def get_delivery(delivery_id: uuid.UUID, key: Submitter) -> WebhookDeliveryOut:
    try:
        return webhooks.get_delivery(delivery_id, key.id)
    except webhooks.NotFound as exc:
        raise _not_found(exc, "delivery_id") from exc


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=ReplayOut,
    summary="Send a delivered or failed delivery again now (same event id, new signature)",
    responses={**NOT_FOUND, **PROBLEMS},
)
def replay_delivery(delivery_id: uuid.UUID, key: Submitter) -> ReplayOut:
    try:
        replayed = webhooks.replay(delivery_ids=[delivery_id], api_key_id=key.id)
    except webhooks.NotFound as exc:
        raise _not_found(exc, "delivery_id") from exc
    log.info("replayed webhook delivery %s", delivery_id, extra={"api_key": key.name})
    return ReplayOut(replayed=replayed)


@router.post(
    "/{endpoint_id}/replay-failed",
    status_code=202,
    response_model=ReplayOut,
    summary="Send every failed delivery of an endpoint again now",
    responses={**NOT_FOUND, **PROBLEMS},
)
def replay_failed(endpoint_id: uuid.UUID, key: Submitter) -> ReplayOut:
    try:
        replayed = webhooks.replay(api_key_id=key.id, endpoint_id=endpoint_id)
    except webhooks.NotFound as exc:
        raise _not_found(exc, "endpoint_id") from exc
    log.info(
        "replayed %d failed webhook deliveries of %s",
        len(replayed),
        endpoint_id,
        extra={"api_key": key.name},
    )
    return ReplayOut(replayed=replayed)
