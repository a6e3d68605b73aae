"""The review console's statements: sessions, claims on cases, the queue with its filters,
and the overview's counts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, String, cast, delete, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from trustq.db.common import insert_for
from trustq.db.tables import (
    ApiKey,
    ConsoleSession,
    Label,
    ModelDecision,
    ReviewClaim,
    Submission,
    Verdict,
)
from trustq.db.verdicts import VerdictRow, newest_verdict_id

# --- sessions ----------------------------------------------------------------------------


def add_session(
    session: Session,
    *,
    token_sha256: str,
    api_key_id: int,
    csrf_token: str,
    expires_at: dt.datetime,
) -> None:
    session.add(
        ConsoleSession(
            token_sha256=token_sha256,
            api_key_id=api_key_id,
            csrf_token=csrf_token,
            expires_at=expires_at,
        )
    )


def live_session(
    session: Session, token_sha256: str, now: dt.datetime
) -> tuple[ConsoleSession, ApiKey] | None:
    """The session and its key, if the session has not expired and the key is not revoked."""
    row = session.execute(
        select(ConsoleSession, ApiKey)
        .join(ApiKey, ApiKey.id == ConsoleSession.api_key_id)
        .where(
            ConsoleSession.token_sha256 == token_sha256,
            ConsoleSession.expires_at > now,
            ApiKey.revoked_at.is_(None),
        )
    ).first()
    return (row[0], row[1]) if row else None


def end_session(session: Session, token_sha256: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.token_sha256 == token_sha256))


def drop_expired_sessions(session: Session, now: dt.datetime) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))


# --- claims ------------------------------------------------------------------------------


def claim(
    session: Session, submission_id: uuid.UUID, actor: str, now: dt.datetime, until: dt.datetime
) -> str:
    """Claim a case for ``actor`` (or renew its claim); returns who holds it afterwards:
    ``actor``, or the analyst whose claim has not expired yet."""
    stmt = insert_for(session, ReviewClaim).values(
        submission_id=submission_id, actor=actor, claimed_at=now, expires_at=until
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["submission_id"],
        set_={"actor": actor, "claimed_at": now, "expires_at": until},
        where=or_(ReviewClaim.expires_at <= now, ReviewClaim.actor == actor),
    )
    session.execute(stmt)
    return str(
        session.scalar(select(ReviewClaim.actor).where(ReviewClaim.submission_id == submission_id))
    )


def holder(
    session: Session, submission_id: uuid.UUID, now: dt.datetime, *, lock: bool = False
) -> ReviewClaim | None:
    """The live claim on a case, if any; ``lock``: held until the transaction ends."""
    stmt = select(ReviewClaim).where(
        ReviewClaim.submission_id == submission_id, ReviewClaim.expires_at > now
    )
    return session.scalar(stmt.with_for_update() if lock else stmt)


def lock_case(session: Session, submission_id: uuid.UUID) -> bool:
    """Lock a case's submission row until the transaction ends (two decisions on one case
    then run one after the other); False if there is no such submission."""
    found = session.scalar(
        select(Submission.id).where(Submission.id == submission_id).with_for_update()
    )
    return found is not None


def decided_by(session: Session, submission_id: uuid.UUID) -> str | None:
    """Who labelled the case last, if anyone has."""
    return session.scalar(
        select(Label.actor)
        .where(Label.submission_id == submission_id)
        .order_by(Label.created_at.desc(), Label.id.desc())
        .limit(1)
    )


def renew(
    session: Session, submission_id: uuid.UUID, actor: str, now: dt.datetime, until: dt.datetime
) -> None:
    """Extend ``actor``'s live claim on a case (an analyst still reading it)."""
    session.execute(
        update(ReviewClaim)
        .where(
            ReviewClaim.submission_id == submission_id,
            ReviewClaim.actor == actor,
            ReviewClaim.expires_at > now,
        )
        .values(expires_at=until)
    )


def holders(
    session: Session, submission_ids: Sequence[uuid.UUID], now: dt.datetime
) -> dict[uuid.UUID, ReviewClaim]:
    rows = session.scalars(
        select(ReviewClaim).where(
            ReviewClaim.submission_id.in_(list(submission_ids)), ReviewClaim.expires_at > now
        )
    )
    return {r.submission_id: r for r in rows}


def release(session: Session, submission_id: uuid.UUID, actor: str) -> None:
    session.execute(
        delete(ReviewClaim).where(
            ReviewClaim.submission_id == submission_id, ReviewClaim.actor == actor
        )
    )


def release_all(session: Session, actor: str) -> None:
    """Every claim of ``actor`` (signing out)."""
    session.execute(delete(ReviewClaim).where(ReviewClaim.actor == actor))


# --- the queue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    band: str | None = "MEDIUM"
    flag: str | None = None
    model_version: str | None = None
    older_than: dt.timedelta | None = None
    external_id: str | None = None


def _has_flag(session: Session, code: str) -> object:
    if session.get_bind().dialect.name == "postgresql":
        return Verdict.flags.contains([{"code": code}])
    # SQLite keeps JSON as text in json.dumps's form.
    return cast(Verdict.flags, String).like(f'%"code": "{code}"%')


def queue(
    session: Session,
    filters: QueueFilter,
    *,
    now: dt.datetime,
    after: tuple[dt.datetime, int] | None = None,
    limit: int = 50,
) -> list[VerdictRow]:
    """Newest verdicts of submissions nobody has labelled yet, oldest first, filtered;
    ``after`` is the (scored at, verdict id) the page starts after."""
    stmt = _filtered(
        session,
        select(Verdict, Submission)
        .select_from(Submission)
        .join(Verdict, Verdict.id == newest_verdict_id()),
        filters,
        now,
    )
    if after is not None:
        stmt = stmt.where(tuple_(Verdict.created_at, Verdict.id) > tuple_(*after))
    stmt = stmt.order_by(Verdict.created_at, Verdict.id).limit(limit)
    return [VerdictRow(v, s) for v, s in session.execute(stmt)]


def queue_size(
    session: Session, filters: QueueFilter, now: dt.datetime
) -> tuple[int, dt.datetime | None]:
    """How many cases match ``filters``, and when the oldest was scored."""
    stmt = _filtered(
        session,
        select(func.count(), func.min(Verdict.created_at))
        .select_from(Submission)
        .join(Verdict, Verdict.id == newest_verdict_id()),
        filters,
        now,
    )
    count, oldest = session.execute(stmt).one()
    return int(count), oldest


def _filtered(session: Session, stmt: Any, filters: QueueFilter, now: dt.datetime) -> Any:
    """``stmt`` (over submissions and their newest verdicts) narrowed to the undecided
    cases ``filters`` select."""
    undecided = ~select(Label.id).where(Label.submission_id == Verdict.submission_id).exists()
    stmt = stmt.where(undecided)
    if filters.band is not None:
        stmt = stmt.where(Verdict.risk_level == filters.band)
    if filters.flag is not None:
        stmt = stmt.where(_has_flag(session, filters.flag))
    if filters.model_version is not None:
        stmt = stmt.where(Verdict.model_version == filters.model_version)
    if filters.older_than is not None:
        stmt = stmt.where(Verdict.created_at <= now - filters.older_than)
    if filters.external_id is not None:
        stmt = stmt.where(Submission.external_id == filters.external_id)
    return stmt


# --- the overview ------------------------------------------------------------------------


def verdicts_per_day(session: Session, since: dt.datetime) -> list[tuple[dt.date, str, int]]:
    """(day, band, verdicts) since ``since``, by the day they were scored (UTC)."""
    if session.get_bind().dialect.name == "postgresql":
        day: Any = cast(func.timezone("UTC", Verdict.created_at), Date)
    else:  # SQLite keeps UTC times as text; date() reads their day
        day = func.date(Verdict.created_at)
    rows = session.execute(
        select(day, Verdict.risk_level, func.count())
        .where(Verdict.created_at >= since)
        .group_by(day, Verdict.risk_level)
        .order_by(day)
    )
    return [
        (d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)), band, int(n))
        for d, band, n in rows
    ]


def decisions_per_analyst(session: Session, since: dt.datetime) -> list[tuple[str, str, int]]:
    """(actor, label, count) of review labels since ``since``, busiest first."""
    rows = session.execute(
        select(Label.actor, Label.label, func.count())
        .where(Label.source == "review", Label.created_at >= since)
        .group_by(Label.actor, Label.label)
        .order_by(func.count().desc(), Label.actor)
    )
    return [(a, lab, int(n)) for a, lab, n in rows]


def promotion_history(session: Session, limit: int = 20) -> list[ModelDecision]:
    return list(
        session.scalars(
            select(ModelDecision)
            .order_by(ModelDecision.created_at.desc(), ModelDecision.id.desc())
            .limit(limit)
        )
    )
