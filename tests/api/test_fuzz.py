"""Generated and malformed requests against every operation of the OpenAPI document, with an
admin key, against real PostgreSQL and Redis: none may get a 5xx answer."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.api.conftest import Key
from tests.conftest import empty_queues
from trustq.api.app import create_app
from trustq.config import get_settings

pytestmark = [pytest.mark.api, pytest.mark.hostile]

# Building the app touches no server; its requests reach the test run's database and Redis.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(get_settings().model_copy(update={"api_rate_limit": 0}))
)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.fixture(scope="module", autouse=True)
def _no_leftover_messages(serving_model: str, redis_client: Any) -> Any:  # noqa: ARG001
    yield
    # Generated profiles were queued: leave no message for a later test's worker.
    empty_queues(redis_client)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=25)
def test_no_request_gets_a_server_error(case: Any, keys: dict[str, Key]) -> None:
    response = case.call(headers=keys["admin"].headers)
    case.validate_response(response, checks=[not_a_server_error])
