"""Sending webhook deliveries: ``trustq webhooks run``.

A process of its own, apart from the scoring workers: an endpoint that is slow or down
holds only this process's connections, never a scoring process. It loops: fail what
waited past its retry window, claim the due deliveries (leased, so a dispatcher that dies
leaves them due again; locked rows skipped, so several dispatchers share the work), post
each one, log the attempt and settle it. Up to ``TRUSTQ_WEBHOOK_CONCURRENCY`` posts are in
flight at once, and at most ``PER_ENDPOINT`` of one endpoint (claimed again only once they
are all settled).

A delivery that fails is due again after an exponential back-off (``base · 2^(n-1)``, at
most ``TRUSTQ_WEBHOOK_BACKOFF_MAX_S``, ±10 % jitter) until ``TRUSTQ_WEBHOOK_RETRY_FOR_S``
after its event, then failed: listed and replayable. The endpoint itself is paused by the
same back-off, counted once per step, so a dead endpoint costs one round of attempts (at
most ``PER_ENDPOINT``) per step, not one per event. Success
is a 2xx answer within ``TRUSTQ_WEBHOOK_TIMEOUT_S``; redirects are not followed.

Every attempt resolves the endpoint's host again and checks each address
(``trustq.services.webhooks.check_addresses``), then connects to the checked address
itself (the name kept for the Host header, TLS's SNI and its certificate check), so a name
that resolves elsewhere between the check and the connection cannot reach an internal
address.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx

from trustq import __version__, logs
from trustq.config import Settings
from trustq.db import webhooks as webhooks_db
from trustq.db.session import session_scope
from trustq.db.tables import utcnow
from trustq.services import verdicts
from trustq.services.webhooks import (
    SIGNATURE_HEADER,
    UrlRefused,
    check_addresses,
    is_ip,
    parse_url,
    sign,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Deliveries of one endpoint in flight at once: a slow endpoint cannot take every slot.
# An endpoint is claimed again only once none of its deliveries is in flight.
PER_ENDPOINT = 8
# Deliveries whose retry window closed while their endpoint was paused are failed this often.
EXPIRE_EVERY_S = 30.0
# A claimed delivery is due again this long after its attempt's time limit, if its
# dispatcher has not settled it by then (it died).
LEASE_MARGIN_S = 60.0


def backoff(settings: Settings, failures: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure (from 1)."""
    step = min(
        settings.webhook_backoff_max_s,
        settings.webhook_backoff_base_s * 2 ** min(max(failures - 1, 0), 40),
    )
    return step * (rng or random).uniform(0.9, 1.1)


def body_of(claimed: webhooks_db.Claimed) -> str:
    """The event as sent: its id, type and time, and the evaluation as
    ``GET /v1/evaluations/{id}`` shows it when the event is first sent."""
    evaluation = verdicts.get_evaluation(claimed.submission_id)
    return json.dumps(
        {
            "id": str(claimed.event_id),
            "type": claimed.event,
            "created_at": claimed.created_at.isoformat(),
            "data": evaluation.model_dump(mode="json"),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


@dataclass(frozen=True)
class Target:
    """Where one attempt connects: the checked address, and the name it is for."""

    url: httpx.URL
    host_header: str
    extensions: dict[str, Any]


async def resolve(url: str, settings: Settings) -> Target:
    """The endpoint's URL pinned to an address checked now; UrlRefused if none may be used."""
    parsed = parse_url(url, settings)
    host = parsed.host
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if is_ip(host):
        addresses = [host]
    else:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as exc:
            raise UrlRefused(f"{host} does not resolve ({exc})") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    check_addresses(host, addresses, settings)
    extensions: dict[str, Any] = {}
    if parsed.scheme == "https" and not is_ip(host):
        extensions["sni_hostname"] = host
    return Target(
        parsed.copy_with(host=addresses[0]),
        parsed.netloc.decode("ascii"),
        extensions,
    )


@dataclass
class Attempt:
    """What one attempt found."""

    body: str
    status_code: int | None = None
    error: str | None = None
    duration_ms: float = 0.0
    final: bool = False  # no later attempt can succeed (the evaluation is gone)


class Dispatcher:
    """Claims due deliveries and posts them (``run`` until stopped, or ``drain``)."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        self.transport = transport
        self.inflight: set[asyncio.Task[None]] = set()
        self.busy: Counter[uuid.UUID] = Counter()  # deliveries in flight per endpoint
        self.rng = random.Random()
        self.expired_at = 0.0
        # Database work has threads of its own: name lookups (asyncio's default executor)
        # that hang on a silent name server cannot hold up claims and records.
        self.db = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhooks-db")

    async def _in_db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.db, partial(fn, *args))

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.transport,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment between trustq and an endpoint
            timeout=self.settings.webhook_timeout_s,
            limits=httpx.Limits(max_connections=self.settings.webhook_concurrency),
            headers={"User-Agent": f"trustq-webhooks/{__version__}"},
        )

    # --- database steps (in a thread: the event loop never waits on the database) -------

    def _claim(self, want: int, due_by: dt.datetime | None = None) -> list[webhooks_db.Claimed]:
        now = utcnow()
        lease = dt.timedelta(seconds=self.settings.webhook_timeout_s + LEASE_MARGIN_S)
        if time.monotonic() - self.expired_at >= EXPIRE_EVERY_S:
            window = dt.timedelta(seconds=self.settings.webhook_retry_for_s)
            with session_scope() as session:
                expired = webhooks_db.expire(session, now, window)
            self.expired_at = time.monotonic()
            if expired:
                log.warning("%d webhook deliveries failed: their retry window closed", expired)
        with session_scope() as session:
            return webhooks_db.claim_due(
                session,
                due_by or now,
                limit=want,
                per_endpoint=PER_ENDPOINT,
                lease_until=now + lease,
                busy=set(self.busy),
            )

    def _record(self, claimed: webhooks_db.Claimed, attempt: Attempt, at: dt.datetime) -> None:
        settings = self.settings
        ok = attempt.error is None
        next_at: dt.datetime | None = None
        if not ok:
            next_at = at + dt.timedelta(seconds=backoff(settings, claimed.attempt, self.rng))
            closes = claimed.retry_from + dt.timedelta(seconds=settings.webhook_retry_for_s)
            if next_at > closes or attempt.final:
                next_at = None
        with session_scope() as session:
            webhooks_db.record_attempt(
                session,
                claimed,
                at=at,
                body=attempt.body or "",
                status_code=attempt.status_code,
                error=attempt.error,
                duration_ms=attempt.duration_ms,
                next_attempt_at=next_at,
            )
            webhooks_db.endpoint_result(
                session,
                claimed.endpoint_id,
                ok=ok,
                started=at,
                pause=lambda failures: (
                    at + dt.timedelta(seconds=backoff(settings, failures, self.rng))
                ),
            )
        with logs.bound(submission_id=str(claimed.submission_id)):
            if ok:
                log.info("webhook %s delivered to %s", claimed.event, claimed.url)
            else:
                log.warning(
                    "webhook %s to %s failed (attempt %d): %s; %s",
                    claimed.event,
                    claimed.url,
                    claimed.attempt,
                    attempt.error,
                    f"next at {next_at.isoformat()}" if next_at else "given up",
                )

    # --- one delivery -------------------------------------------------------------------

    async def _post(self, client: httpx.AsyncClient, claimed: webhooks_db.Claimed) -> Attempt:
        settings = self.settings
        try:
            body = claimed.body or await self._in_db(body_of, claimed)
        except LookupError as exc:
            return Attempt("", error=f"the event's evaluation is gone: {exc}", final=True)
        except Exception as exc:
            log.exception("could not make the body of webhook delivery %s", claimed.id)
            return Attempt("", error=f"could not make the event's body ({type(exc).__name__})")
        attempt = Attempt(body)
        started = time.monotonic()
        try:
            async with asyncio.timeout(settings.webhook_timeout_s):
                target = await resolve(claimed.url, settings)
                content = body.encode("utf-8")
                headers = {
                    "Host": target.host_header,
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(claimed.secret, int(time.time()), content),
                    "Trustq-Event": claimed.event,
                    "Trustq-Event-Id": str(claimed.event_id),
                    "Trustq-Delivery": str(claimed.id),
                }
                # The answer's body is never read: an endpoint cannot make trustq hold it.
                async with client.stream(
                    "POST",
                    target.url,
                    content=content,
                    headers=headers,
                    extensions=target.extensions,
                ) as response:
                    attempt.status_code = response.status_code
            if not 200 <= response.status_code < 300:
                attempt.error = f"answered {response.status_code}" + (
                    " (redirects are not followed)" if response.is_redirect else ""
                )
        except UrlRefused as exc:
            attempt.error = f"refused: {exc}"
        except TimeoutError:
            attempt.error = f"no answer within {settings.webhook_timeout_s:g} s"
        except (httpx.HTTPError, OSError) as exc:
            attempt.error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        attempt.duration_ms = (time.monotonic() - started) * 1000.0
        return attempt

    async def _deliver(self, client: httpx.AsyncClient, claimed: webhooks_db.Claimed) -> None:
        at = utcnow()
        try:
            attempt = await self._post(client, claimed)
            await self._in_db(self._record, claimed, attempt, at)
        except Exception:
            # The lease makes it due again: delivered twice at worst, never lost.
            log.exception("could not record a webhook attempt (delivery %s)", claimed.id)
        finally:
            self.busy[claimed.endpoint_id] -= 1
            if self.busy[claimed.endpoint_id] <= 0:
                del self.busy[claimed.endpoint_id]

    async def _fill(self, client: httpx.AsyncClient, due_by: dt.datetime | None = None) -> int:
        """Claim as many due deliveries as there are free slots and start them."""
        free = self.settings.webhook_concurrency - len(self.inflight)
        if free <= 0:
            return 0
        claimed = await self._in_db(self._claim, free, due_by)
        for one in claimed:
            self.busy[one.endpoint_id] += 1
            task = asyncio.create_task(self._deliver(client, one))
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)
        return len(claimed)

    async def run(self, stop: asyncio.Event, alive: Path | None = None) -> None:
        """Deliver until ``stop`` is set, then finish what is in flight. ``alive`` is
        touched at every turn (a container's health check reads its age)."""
        poll = self.settings.webhook_poll_seconds
        async with self._client() as client:
            while not stop.is_set():
                try:
                    started = await self._fill(client)
                except Exception:
                    log.exception("could not claim webhook deliveries; trying again")
                    started = 0
                if alive is not None:
                    alive.touch()
                if started and len(self.inflight) < self.settings.webhook_concurrency:
                    continue  # more may be due
                waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait())}
                waiters |= set(self.inflight)
                done, _ = await asyncio.wait(
                    waiters, timeout=poll, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in waiters - set(self.inflight):
                    if waiter not in done:
                        waiter.cancel()
            if self.inflight:
                await asyncio.wait(set(self.inflight))
        self.db.shutdown(wait=False)

    async def drain(self) -> None:
        """Attempt what is due now, each delivery once, and wait for the attempts."""
        started = utcnow()
        async with self._client() as client:
            while await self._fill(client, started) or self.inflight:
                if self.inflight:
                    await asyncio.wait(set(self.inflight), return_when=asyncio.FIRST_COMPLETED)
        self.db.shutdown(wait=False)


def deliver_due(settings: Settings) -> None:
    """Send every delivery that is due now, and return (``trustq webhooks run --once``)."""
    asyncio.run(Dispatcher(settings).drain())
