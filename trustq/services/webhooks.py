"""Webhooks: endpoints registered per owner (an API key's name), the signature every
delivery carries, and what a caller or an operator sees and replays.

An endpoint's URL is checked when it is registered and again, address by address, before
every attempt (``trustq.services.webhook_delivery``): https only and public addresses only,
unless ``TRUSTQ_WEBHOOK_ALLOW_HTTP`` / ``TRUSTQ_WEBHOOK_ALLOW_PRIVATE`` say otherwise, so a
key cannot make the cluster post into its own network (loopback, private ranges, the cloud
metadata address) even through a name that resolves there later.

The signature is Stripe's scheme, with HMAC-SHA256: the header
``Trustq-Signature: t=<unix seconds>,v1=<hex HMAC of "<t>.<body>" under the secret>``. A
receiver recomputes it over the raw body and refuses a timestamp older than its tolerance
(five minutes in ``verify``), so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
import uuid
from collections.abc import Sequence

import httpx

from trustq.config import Settings
from trustq.db import webhooks as webhooks_db
from trustq.db.session import session_scope
from trustq.db.tables import DeliveryStatus, WebhookDelivery, WebhookEndpoint, utcnow
from trustq.schemas import (
    WEBHOOK_EVENTS,
    WebhookAttemptOut,
    WebhookDeliveryOut,
    WebhookEndpointCreated,
    WebhookEndpointOut,
    check_name,
)

SIGNATURE_HEADER = "Trustq-Signature"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300


class UrlRefused(ValueError):
    """An endpoint URL trustq will not post to; the message says why."""


class TooManyEndpoints(ValueError):
    """The owner has as many endpoints as TRUSTQ_WEBHOOK_MAX_ENDPOINTS allows."""


class NotFound(LookupError):
    """No such endpoint or delivery (for this owner)."""


# --- signing -----------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Trustq-Signature`` header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds of
    ``now`` (what a receiver checks; README, "Webhooks", has it without trustq)."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).rsplit("v1=", 1)[1]
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))


# --- addresses ---------------------------------------------------------------------------


def address_refusal(address: str, settings: Settings) -> str | None:
    """What kind of address ``address`` is, when it may not be posted to; else None.
    Anything not globally routable (private, loopback, link-local, shared, reserved,
    multicast) is refused unless TRUSTQ_WEBHOOK_ALLOW_PRIVATE is set."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if settings.webhook_allow_private or (ip.is_global and not ip.is_multicast):
        return None
    kind = next(
        (
            name
            for name in ("unspecified", "loopback", "link_local", "multicast", "private")
            if getattr(ip, f"is_{name}")
        ),
        "non-public",
    )
    return f"a {kind.replace('_', '-')} address"


def parse_url(url: str, settings: Settings) -> httpx.URL:
    """``url`` parsed, if its form is acceptable (scheme, host, no credentials)."""
    if len(url) > 2000:
        raise UrlRefused("the URL is longer than 2000 characters")
    try:
        check_name(url, "the URL")
        parsed = httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise UrlRefused(f"not a URL: {exc}") from exc
    schemes = ("https", "http") if settings.webhook_allow_http else ("https",)
    if parsed.scheme not in schemes:
        raise UrlRefused(
            f"the URL must be {' or '.join(schemes)}, not {parsed.scheme or 'schemeless'}"
            + ("" if settings.webhook_allow_http else " (TRUSTQ_WEBHOOK_ALLOW_HTTP allows http)")
        )
    if not parsed.host:
        raise UrlRefused("the URL names no host")
    if parsed.userinfo:
        raise UrlRefused("the URL must not carry a user name or password")
    if parsed.fragment:
        raise UrlRefused("the URL must not have a fragment")
    return parsed


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_addresses(host: str, addresses: Sequence[str], settings: Settings) -> None:
    """UrlRefused unless every address ``host`` resolved to is allowed (a name with one
    private address among public ones is refused: it may be served from either)."""
    if not addresses:
        raise UrlRefused(f"{host} resolves to no address")
    for address in addresses:
        kind = address_refusal(address, settings)
        if kind is not None:
            raise UrlRefused(
                (
                    f"{host} resolves to {address}, {kind}"
                    if host != address
                    else f"{host} is {kind}"
                )
                + "; endpoints must be on public addresses (TRUSTQ_WEBHOOK_ALLOW_PRIVATE "
                "allows others)"
            )


def check_url(url: str, settings: Settings) -> str:
    """``url`` if trustq may post to it now; UrlRefused saying why not."""
    parsed = parse_url(url, settings)
    host = parsed.host
    if is_ip(host):
        check_addresses(host, [host], settings)
        return url
    try:
        found = socket.getaddrinfo(host, parsed.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UrlRefused(f"{host} does not resolve ({exc})") from exc
    check_addresses(host, sorted({str(info[4][0]) for info in found}), settings)
    return url


# --- endpoints ---------------------------------------------------------------------------


def endpoint_out(row: WebhookEndpoint) -> WebhookEndpointOut:
    return WebhookEndpointOut(
        id=str(row.id),
        owner=row.owner,
        url=row.url,
        events=list(row.events),
        description=row.description,
        created_at=row.created_at,
        created_by=row.created_by,
        failures=row.failures,
        paused_until=row.paused_until,
    )


def add_endpoint(
    settings: Settings,
    *,
    owner: str,
    url: str,
    events: Sequence[str] = WEBHOOK_EVENTS,
    description: str | None = None,
    created_by: str,
) -> WebhookEndpointCreated:
    """Register an endpoint for ``owner``'s submissions; its secret is returned this once."""
    check_name(owner, "the owner")
    unknown = sorted(set(events) - set(WEBHOOK_EVENTS))
    if unknown or not events:
        raise ValueError(
            f"unknown events {unknown}; choose from {', '.join(WEBHOOK_EVENTS)}"
            if unknown
            else "an endpoint needs at least one event"
        )
    check_url(url, settings)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with session_scope() as session:
        if webhooks_db.count_endpoints(session, owner) >= settings.webhook_max_endpoints:
            raise TooManyEndpoints(
                f"{owner} has {settings.webhook_max_endpoints} endpoints already, the most "
                "allowed (TRUSTQ_WEBHOOK_MAX_ENDPOINTS); remove one first"
            )
        row = webhooks_db.add_endpoint(
            session,
            owner=owner,
            url=url,
            secret=secret,
            events=[e for e in WEBHOOK_EVENTS if e in events],
            description=description,
            created_by=created_by,
        )
        out = endpoint_out(row)
    return WebhookEndpointCreated(**out.model_dump(), secret=secret)


def list_endpoints(owner: str | None = None) -> list[WebhookEndpointOut]:
    with session_scope() as session:
        return [endpoint_out(r) for r in webhooks_db.endpoints(session, owner)]


def as_id(value: uuid.UUID | str, what: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(value)
    except ValueError as exc:
        raise ValueError(f"not {what} id: {value!r}") from exc


def remove_endpoint(endpoint_id: uuid.UUID | str, owner: str | None = None) -> None:
    """Remove an endpoint, its deliveries and their attempts; NotFound if there is none."""
    eid = as_id(endpoint_id, "an endpoint")
    with session_scope() as session:
        if not webhooks_db.remove_endpoint(session, eid, owner):
            raise NotFound(f"no webhook endpoint {eid}")


# --- deliveries --------------------------------------------------------------------------


def delivery_out(
    row: WebhookDelivery, log: list[WebhookAttemptOut] | None = None
) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=str(row.id),
        event_id=str(row.event_id),
        event=row.event,
        endpoint_id=str(row.endpoint_id),
        evaluation_id=str(row.submission_id),
        status=row.status,
        attempts=row.attempts,
        replays=row.replays,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if row.status == DeliveryStatus.pending else None,
        delivered_at=row.delivered_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        attempt_log=log,
    )


def list_deliveries(
    *,
    owner: str | None = None,
    endpoint_id: uuid.UUID | str | None = None,
    status: str | None = None,
    evaluation_id: uuid.UUID | str | None = None,
    limit: int = 100,
) -> list[WebhookDeliveryOut]:
    """Deliveries, newest first; NotFound for an endpoint the owner does not have."""
    if status is not None and status not in set(DeliveryStatus):
        raise ValueError(f"unknown status {status!r}; choose from pending, delivered, failed")
    eid = None if endpoint_id is None else as_id(endpoint_id, "an endpoint")
    sid = None if evaluation_id is None else as_id(evaluation_id, "an evaluation")
    with session_scope() as session:
        if eid is not None and webhooks_db.get_endpoint(session, eid, owner) is None:
            raise NotFound(f"no webhook endpoint {eid}")
        rows = webhooks_db.deliveries(
            session, owner=owner, endpoint_id=eid, status=status, submission_id=sid, limit=limit
        )
        return [delivery_out(r) for r in rows]


def get_delivery(delivery_id: uuid.UUID | str, owner: str | None = None) -> WebhookDeliveryOut:
    """A delivery with its attempt log; NotFound if there is none (for this owner)."""
    did = as_id(delivery_id, "a delivery")
    with session_scope() as session:
        row = webhooks_db.get_delivery(session, did, owner)
        if row is None:
            raise NotFound(f"no webhook delivery {did}")
        log = [
            WebhookAttemptOut(
                at=a.at, status_code=a.status_code, error=a.error, duration_ms=a.duration_ms
            )
            for a in webhooks_db.attempts(session, did)
        ]
        return delivery_out(row, log)


def replay(
    *,
    delivery_ids: Sequence[uuid.UUID | str] | None = None,
    owner: str | None = None,
    endpoint_id: uuid.UUID | str | None = None,
) -> list[str]:
    """Send deliveries again now, with a new retry window: the given ones (delivered or
    failed; NotFound for one that is not the owner's), or else every failed one of the
    owner or endpoint. Returns the ids made due."""
    ids = None if delivery_ids is None else [as_id(d, "a delivery") for d in delivery_ids]
    eid = None if endpoint_id is None else as_id(endpoint_id, "an endpoint")
    with session_scope() as session:
        for did in ids or []:
            if webhooks_db.get_delivery(session, did, owner) is None:
                raise NotFound(f"no webhook delivery {did}")
        if eid is not None and webhooks_db.get_endpoint(session, eid, owner) is None:
            raise NotFound(f"no webhook endpoint {eid}")
        replayed = webhooks_db.replay(
            session,
            delivery_ids=ids,
            owner=owner,
            endpoint_id=eid,
            failed_only=ids is None,
            now=utcnow(),
        )
    return [str(d) for d in replayed]
