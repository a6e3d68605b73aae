"""Bearer API keys, scopes and the per-key rate limit."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Hashable

import limits
import limits.storage
import limits.strategies
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from trustq.api.problems import Problem
from trustq.db.tables import ApiKeyScope
from trustq.services import apikeys
from trustq.services.apikeys import KeyInfo

bearer = HTTPBearer(
    auto_error=False,
    description="An API key made with `trustq apikey create --name N --scope submit|read|admin`.",
)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="trustq"'}
log = logging.getLogger(__name__)


class RateLimiter:
    """At most ``per_minute`` requests a key in any minute and ``burst`` in any second
    (moving windows, the ``limits`` library), counted in ``storage``: the broker's Redis, so
    every API process behind a load balancer shares one count; on the embedded default (no
    Redis) in the memory of its one process. ``per_minute`` 0 turns the limit off."""

    def __init__(self, name: str, per_minute: int, burst: int, storage: str) -> None:
        self.name = name
        self.items = (
            [limits.RateLimitItemPerSecond(burst), limits.RateLimitItemPerMinute(per_minute)]
            if per_minute > 0
            else []
        )
        self.limiter = limits.strategies.MovingWindowRateLimiter(
            limits.storage.storage_from_string(storage)
        )

    def take(self, key: Hashable, *, spend: bool = True) -> float:
        """0 if the request may go ahead, else the seconds until it may. ``spend=False``
        only looks. If the count cannot be read (Redis down), the request goes ahead and a
        warning says so: the limit protects the service, an outage of it should not stop it."""
        ident = str(key)
        try:
            for item in self.items:
                if not self.limiter.test(item, self.name, ident):
                    reset = self.limiter.get_window_stats(item, self.name, ident).reset_time
                    return max(reset - time.time(), 0.001)
            if spend:
                for item in self.items:
                    self.limiter.hit(item, self.name, ident)
        except Exception as exc:  # the storage is unreachable
            log.warning("rate limit %s not counted: %s: %s", self.name, type(exc).__name__, exc)
        return 0.0


def limit_storage(broker_url: str) -> str:
    """Where the rate limits count: the broker's Redis, or this process's memory."""
    return broker_url if broker_url.startswith(("redis://", "rediss://")) else "memory://"


def require(scope: ApiKeyScope) -> Callable[..., KeyInfo]:
    """A dependency: the caller's key, which must allow ``scope``; 401, 403 or 429 if not."""

    def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> KeyInfo:
        # Failed authentications are limited per client address, before any look-up, so
        # guessing keys or flooding without one costs the database nothing past the limit.
        failures: RateLimiter = request.app.state.auth_failure_limiter
        address = request.client.host if request.client is not None else "unknown"
        wait = failures.take(address, spend=False)
        if wait > 0:
            raise Problem(
                429,
                "rate-limited",
                "Too many failed authentications",
                f"too many requests without a valid API key from {address}; try again later",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if credentials is None or credentials.scheme.lower() != "bearer":
            failures.take(address)
            raise Problem(
                401,
                "unauthorized",
                "An API key is needed",
                "send an API key as 'Authorization: Bearer <key>'",
                headers=CHALLENGE,
            )
        key = apikeys.authenticate(credentials.credentials)
        if key is None:
            failures.take(address)
            raise Problem(
                401,
                "unauthorized",
                "An API key is needed",
                "the API key is unknown or revoked",
                headers=CHALLENGE,
            )
        request.state.api_key = key.name
        if not key.allows(scope):
            raise Problem(
                403,
                "forbidden",
                "This API key may not do that",
                f"this needs a key with scope {scope.value} (or higher); "
                f"key {key.name!r} has scope {key.scope}",
            )
        limiter: RateLimiter = request.app.state.rate_limiter
        wait = limiter.take(key.id)
        if wait > 0:
            raise Problem(
                429,
                "rate-limited",
                "Too many requests",
                f"key {key.name!r} is over its limit of {request.app.state.settings.api_rate_limit}"
                " requests per minute",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        return key

    return dependency
