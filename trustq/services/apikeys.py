"""API keys: made once, shown once, stored as a sha256 only.

Scopes rank ``read`` < ``submit`` < ``admin``: a key may do what its scope and every lower
one allow. ``read`` reads evaluations, the review queue and models; ``submit`` also sends
profiles and labels; ``admin`` also promotes models.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from trustq.db import apikeys as apikeys_db
from trustq.db.session import session_scope
from trustq.db.tables import ApiKey, ApiKeyScope, utcnow

TOKEN_PREFIX = "tq_"
SCOPE_RANK = {ApiKeyScope.read: 1, ApiKeyScope.submit: 2, ApiKeyScope.admin: 3}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# last_used_at is a write; once a minute per key is precise enough.
TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    scope: str
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    labels_per_day: int | None = None
    labels_excluded: bool = False

    def allows(self, needed: ApiKeyScope | str) -> bool:
        return SCOPE_RANK[ApiKeyScope(self.scope)] >= SCOPE_RANK[ApiKeyScope(needed)]


def key_info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        row.id,
        row.name,
        row.scope,
        row.prefix,
        row.created_at,
        row.revoked_at,
        row.last_used_at,
        row.labels_per_day,
        bool(row.labels_excluded),
    )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(name: str, scope: str) -> tuple[KeyInfo, str]:
    """Make a key; returns its record and the token (shown once, never stored)."""
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"key name {name!r}: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if scope not in {s.value for s in ApiKeyScope}:
        raise ValueError(f"scope must be submit, read or admin, not {scope!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with session_scope() as session:
        row = apikeys_db.add_api_key(
            session,
            name=name,
            key_sha256=hash_token(token),
            prefix=token[: len(TOKEN_PREFIX) + 6],
            scope=scope,
        )
        return key_info(row), token


def authenticate(token: str) -> KeyInfo | None:
    """The unrevoked key this token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    now = utcnow()
    with session_scope() as session:
        row = apikeys_db.api_key_by_hash(session, hash_token(token))
        if row is None or row.revoked_at is not None:
            return None
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
            apikeys_db.touch_api_key(session, row.id, now)
        return key_info(row)


def revoke(name: str) -> None:
    """Revoke a key; LookupError if no active key has that name."""
    with session_scope() as session:
        if not apikeys_db.revoke_api_key(session, name):
            raise LookupError(f"no active API key named {name!r}")


def list_keys() -> list[KeyInfo]:
    with session_scope() as session:
        return [key_info(r) for r in apikeys_db.list_api_keys(session)]


def set_label_policy(
    name: str, *, per_day: int | None = None, no_cap: bool = False, excluded: bool | None = None
) -> KeyInfo:
    """Cap the labels key ``name`` may add in 24 hours (``per_day``; ``no_cap`` lifts it) and
    exclude or include its labels in training; LookupError if there is no such key."""
    policy: dict[str, int | bool | None] = {}
    if per_day is not None and no_cap:
        raise ValueError("give a daily cap or lift it, not both")
    if per_day is not None:
        if per_day < 0:
            raise ValueError("a daily label cap is 0 or more")
        policy["labels_per_day"] = per_day
    if no_cap:
        policy["labels_per_day"] = None
    if excluded is not None:
        policy["labels_excluded"] = excluded
    with session_scope() as session:
        if not apikeys_db.set_key_label_policy(session, name, **policy):
            raise LookupError(f"no API key named {name!r}")
        row = apikeys_db.api_key_by_name(session, name)
        assert row is not None
        return key_info(row)
