"""Webhooks: endpoints registered per API key (its owner), the signature every
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
from sqlalchemy.orm import Session

from trustq.config import Settings
from trustq.db import apikeys as apikeys_db
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
    """The key has as many endpoints as TRUSTQ_WEBHOOK_MAX_ENDPOINTS allows."""


class NotFound(LookupError):
    """No such endpoint or delivery (of this key)."""


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
    if settings.webhook_allow_private:
        return None
    for inner in embedded_ipv4(ip):
        kind = address_refusal(str(inner), settings)
        if kind is not None:
            return f"{kind} (inside {address})"
    if ip.is_global and not ip.is_multicast:
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


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries to the IPv4 network (mapped, compatible,
    NAT64, 6to4, Teredo): a packet to it may reach them, so they are checked too."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


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
            # The address a name resolves to is not said: the answer would map the
            # cluster's own network for whoever asks.
            raise UrlRefused(
                (f"{host} resolves to {kind}" if host != address else f"{host} is {kind}")
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


def key_named(name: str) -> tuple[int, str]:
    """The id of the unrevoked API key ``name`` (an endpoint's owner); NotFound if none."""
    with session_scope() as session:
        row = apikeys_db.api_key_by_name(session, name)
        if row is None or row.revoked_at is not None:
            raise NotFound(
                f"no API key {name!r} (an endpoint receives the events of one key's submissions)"
            )
        return row.id, row.name


def add_endpoint(
    settings: Settings,
    *,
    api_key_id: int,
    owner: str,
    url: str,
    events: Sequence[str] = WEBHOOK_EVENTS,
    description: str | None = None,
    created_by: str,
) -> WebhookEndpointCreated:
    """Register an endpoint for the submissions of the key ``api_key_id`` (named ``owner``);
    its secret is returned this once."""
    unknown = sorted(set(events) - set(WEBHOOK_EVENTS))
    if unknown or not events:
        raise ValueError(
            f"unknown events {unknown}; choose from {', '.join(WEBHOOK_EVENTS)}"
            if unknown
            else "an endpoint needs at least one event"
        )
    if description is not None:
        check_name(description, "the description")
    check_url(url, settings)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with session_scope() as session:
        webhooks_db.lock_key(session, api_key_id)
        if webhooks_db.count_endpoints(session, api_key_id) >= settings.webhook_max_endpoints:
            raise TooManyEndpoints(
                f"{owner} has {settings.webhook_max_endpoints} endpoints already, the most "
                "allowed (TRUSTQ_WEBHOOK_MAX_ENDPOINTS); remove one first"
            )
        row = webhooks_db.add_endpoint(
            session,
            api_key_id=api_key_id,
            owner=owner,
            url=url,
            secret=secret,
            events=[e for e in WEBHOOK_EVENTS if e in events],
            description=description,
            created_by=created_by,
        )
        out = endpoint_out(row)
    return WebhookEndpointCreated(**out.model_dump(), secret=secret)


def list_endpoints(api_key_id: int | None = None) -> list[WebhookEndpointOut]:
    with session_scope() as session:
        return [endpoint_out(r) for r in webhooks_db.endpoints(session, api_key_id)]


def as_id(value: uuid.UUID | str, what: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(value)
    except ValueError as exc:
        raise ValueError(f"not {what} id: {value!r}") from exc


def remove_endpoint(endpoint_id: uuid.UUID | str, api_key_id: int | None = None) -> None:
    """Remove an endpoint (its pending deliveries are failed; their history stays);
    NotFound if there is none."""
    eid = as_id(endpoint_id, "an endpoint")
    with session_scope() as session:
        if not webhooks_db.remove_endpoint(session, eid, utcnow(), api_key_id):
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


def _known_endpoint(session: Session, eid: uuid.UUID | None, api_key_id: int | None) -> None:
    """NotFound unless ``eid`` (when given) is an endpoint of the key (any key's if None)."""
    if eid is not None and webhooks_db.get_endpoint(session, eid, api_key_id) is None:
        raise NotFound(f"no webhook endpoint {eid}")


def list_deliveries(
    *,
    api_key_id: int | None = None,
    endpoint_id: uuid.UUID | str | None = None,
    status: str | None = None,
    evaluation_id: uuid.UUID | str | None = None,
    limit: int = 100,
) -> list[WebhookDeliveryOut]:
    """Deliveries, newest first; NotFound for an endpoint the key does not have."""
    if status is not None and status not in set(DeliveryStatus):
        raise ValueError(f"unknown status {status!r}; choose from pending, delivered, failed")
    eid = None if endpoint_id is None else as_id(endpoint_id, "an endpoint")
    sid = None if evaluation_id is None else as_id(evaluation_id, "an evaluation")
    with session_scope() as session:
        _known_endpoint(session, eid, api_key_id)
        rows = webhooks_db.deliveries(
            session,
            api_key_id=api_key_id,
            endpoint_id=eid,
            status=status,
            submission_id=sid,
            limit=limit,
        )
        return [delivery_out(r) for r in rows]


def get_delivery(delivery_id: uuid.UUID | str, api_key_id: int | None = None) -> WebhookDeliveryOut:
    """A delivery with its attempt log; NotFound if there is none (of this key)."""
    did = as_id(delivery_id, "a delivery")
    with session_scope() as session:
        row = webhooks_db.get_delivery(session, did, api_key_id)
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
    api_key_id: int | None = None,
    endpoint_id: uuid.UUID | str | None = None,
) -> list[str]:
    """Send deliveries again now, with a new retry window: the given ones (delivered or
    failed; NotFound for one that is not the key's), or else every failed one of the key
    or endpoint. Returns the ids made due."""
    ids = None if delivery_ids is None else [as_id(d, "a delivery") for d in delivery_ids]
    eid = None if endpoint_id is None else as_id(endpoint_id, "an endpoint")
    with session_scope() as session:
        for did in ids or []:
            if webhooks_db.get_delivery(session, did, api_key_id) is None:
                raise NotFound(f"no webhook delivery {did}")
        _known_endpoint(session, eid, api_key_id)
        replayed = webhooks_db.replay(
            session,
            delivery_ids=ids,
            api_key_id=api_key_id,
            endpoint_id=eid,
            failed_only=ids is None,
            now=utcnow(),
        )
    return [str(d) for d in replayed]
