"""Bearer API keys, scopes and the per-key rate limit."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable

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


class RateLimiter:
    """A token bucket per key: ``per_minute`` on average, ``burst`` at once. Counted in this
    process; with several API processes each allows that much."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[Hashable, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: Hashable, *, spend: bool = True) -> float:
        """0 if the request may go ahead, else the seconds until it may. ``spend=False``
        only looks: it answers the same without using up a token."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if len(self._buckets) > 100_000:  # forget buckets that have filled up again
                self._buckets = {
                    k: (t, w)
                    for k, (t, w) in self._buckets.items()
                    if t + (now - w) * self.rate < self.burst
                }
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0 if spend else tokens, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


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
