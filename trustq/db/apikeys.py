"""API keys (only their hashes) and their label policies. Callers own the transaction (see
``session``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trustq.db.tables import (
    ApiKey,
    utcnow,
)


def add_api_key(session: Session, *, name: str, key_sha256: str, prefix: str, scope: str) -> ApiKey:
    """Insert a key; ValueError if the name is taken."""
    row = ApiKey(name=name, key_sha256=key_sha256, prefix=prefix, scope=scope)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise ValueError(f"an API key named {name!r} exists already") from exc
    return row


def api_key_by_hash(session: Session, key_sha256: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_sha256 == key_sha256))


def api_key_by_name(session: Session, name: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.name == name))


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def revoke_api_key(session: Session, name: str) -> bool:
    """Revoke the key called ``name``; False if there is no such unrevoked key."""
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount == 1


def set_key_label_policy(session: Session, name: str, **policy: int | bool | None) -> bool:
    """Set ``labels_per_day`` (None: no cap) and/or ``labels_excluded`` of key ``name``;
    False if there is no such key."""
    unknown = set(policy) - {"labels_per_day", "labels_excluded"}
    if unknown:
        raise ValueError(f"not a label policy: {sorted(unknown)}")
    if not policy:
        return session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None
    return session.execute(update(ApiKey).where(ApiKey.name == name).values(**policy)).rowcount == 1


def touch_api_key(session: Session, key_id: int, when: dt.datetime) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when))
