"""The review console's use cases: signing in with an API key, the queue, claiming a case,
reading it whole, deciding it, and the overview. ``trustq.api.console`` renders them.

A session token (a cookie) stands for the key; only its sha256 is stored, with the CSRF
token every form of the session carries. A session ends at sign-out, after
``TRUSTQ_CONSOLE_SESSION_HOURS``, or when its key is revoked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from trustq.config import Settings
from trustq.db import console as console_db
from trustq.db import submissions as submissions_db
from trustq.db import verdicts as verdicts_db
from trustq.db.session import session_scope
from trustq.db.tables import ApiKeyScope, utcnow
from trustq.rules.flags import FLAG_CODES, RiskLevel
from trustq.schemas import OVERLAP_GRACE_DAYS, LabelOut, Project, VerdictOut
from trustq.services import apikeys, verdicts
from trustq.services import labels as label_service
from trustq.services import models as model_service
from trustq.services.apikeys import KeyInfo


class NotAllowed(PermissionError):
    """The analyst's key may not do this."""


class HeldByOther(RuntimeError):
    """Another analyst holds the case."""


class AlreadyDecided(RuntimeError):
    """The case has a label already (``trustq decide`` records a correction)."""


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Analyst:
    """A signed-in analyst: the key behind the session and the session's CSRF token."""

    key: KeyInfo
    csrf_token: str

    @property
    def name(self) -> str:
        return self.key.name

    def may(self, scope: str) -> bool:
        return self.key.allows(scope)


# --- sessions ----------------------------------------------------------------------------


def sign_in(token: str, settings: Settings) -> tuple[str, Analyst] | None:
    """A new session for the key ``token`` (None if it is unknown or revoked); returns the
    session token for the cookie."""
    key = apikeys.authenticate(token.strip())
    if key is None:
        return None
    session_token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    with session_scope() as session:
        console_db.drop_expired_sessions(session, now)
        console_db.add_session(
            session,
            token_sha256=_sha(session_token),
            api_key_id=key.id,
            csrf_token=csrf,
            expires_at=now + dt.timedelta(hours=settings.console_session_hours),
        )
    return session_token, Analyst(key, csrf)


def analyst_for(session_token: str | None) -> Analyst | None:
    """The analyst of a live session, or None."""
    if not session_token or len(session_token) > 100:
        return None
    with session_scope() as session:
        found = console_db.live_session(session, _sha(session_token), utcnow())
        if found is None:
            return None
        row, key = found
        return Analyst(apikeys.key_info(key), row.csrf_token)


def sign_out(session_token: str, analyst: Analyst) -> None:
    """End the session and give back the analyst's claims: no case waits on a closed tab."""
    with session_scope() as session:
        console_db.end_session(session, _sha(session_token))
        console_db.release_all(session, analyst.name)


# --- the queue ---------------------------------------------------------------------------

AGES = {"1h": dt.timedelta(hours=1), "24h": dt.timedelta(days=1), "7d": dt.timedelta(days=7)}


def queue_filter(
    band: str | None, flag: str | None, model: str | None, age: str | None, external_id: str | None
) -> console_db.QueueFilter:
    """The queue's filters from a form; ValueError naming a value that is not one."""
    if band not in (None, "", "any", *RiskLevel):
        raise ValueError(f"unknown band {band!r}")
    if flag not in (None, "", *FLAG_CODES):
        raise ValueError(f"unknown flag {flag!r}")
    if age not in (None, "", *AGES):
        raise ValueError(f"unknown age {age!r}; choose from {', '.join(AGES)}")
    return console_db.QueueFilter(
        band=None if band == "any" else (band or RiskLevel.MEDIUM),
        flag=flag or None,
        model_version=(model or "").strip()[:64] or None,
        older_than=AGES[age] if age else None,
        external_id=(external_id or "").strip()[:200] or None,
    )


@dataclass(frozen=True)
class QueueRow:
    submission_id: str
    external_id: str
    risk_level: str
    trust_score: float
    recommendation: str
    flags: list[str]
    model_version: str
    scored_at: dt.datetime
    held_by: str | None
    held_until: dt.datetime | None


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None
    waiting: int
    oldest: dt.datetime | None


def _cursor(created: dt.datetime, verdict_id: int) -> str:
    return f"{created.isoformat()}_{verdict_id}"


def _parse_cursor(cursor: str | None) -> tuple[dt.datetime, int] | None:
    if not cursor:
        return None
    try:
        at, _, vid = cursor.rpartition("_")
        parsed = dt.datetime.fromisoformat(at)
        number = int(vid)
        if parsed.tzinfo is None or not 0 <= number < 2**63:
            raise ValueError("out of range")
        return parsed, number
    except ValueError as exc:
        raise ValueError("not a cursor of this queue") from exc


def queue_page(
    filters: console_db.QueueFilter, cursor: str | None = None, limit: int = 25
) -> QueuePage:
    now = utcnow()
    after = _parse_cursor(cursor)
    with session_scope() as session:
        rows = console_db.queue(session, filters, now=now, after=after, limit=limit + 1)
        held = console_db.holders(session, [r.verdict.submission_id for r in rows], now)
        waiting, oldest = console_db.queue_size(session, filters, now)
    more = len(rows) > limit
    rows = rows[:limit]
    out = []
    for r in rows:
        v, s = r.verdict, r.submission
        claim = held.get(s.id)
        out.append(
            QueueRow(
                submission_id=str(s.id),
                external_id=s.external_id,
                risk_level=v.risk_level,
                trust_score=v.trust_score,
                recommendation=v.recommendation,
                flags=[f.get("code", "?") for f in v.flags],
                model_version=v.model_version,
                scored_at=v.created_at,
                held_by=claim.actor if claim else None,
                held_until=claim.expires_at if claim else None,
            )
        )
    last = rows[-1].verdict if more and rows else None
    return QueuePage(out, _cursor(last.created_at, last.id) if last else None, waiting, oldest)


# --- claims and decisions ----------------------------------------------------------------


def claim_case(submission_id: uuid.UUID, analyst: Analyst, settings: Settings) -> str:
    """Claim a case for the analyst; returns who holds it (someone else while their claim
    lasts). LookupError if there is no such submission."""
    if not analyst.may(ApiKeyScope.submit):
        raise NotAllowed(f"key {analyst.name!r} may only read (scope {analyst.key.scope})")
    now = utcnow()
    until = now + dt.timedelta(minutes=settings.console_claim_minutes)
    with session_scope() as session:
        if submissions_db.get_submission(session, submission_id) is None:
            raise LookupError(f"no submission {submission_id}")
        decided = console_db.decided_by(session, submission_id)
        if decided is not None:
            raise AlreadyDecided(f"{decided} decided this case already")
        return console_db.claim(session, submission_id, analyst.name, now, until)


def next_case(analyst: Analyst, settings: Settings, filters: console_db.QueueFilter) -> str | None:
    """Claim the oldest case of the queue ``filters`` select that nobody else holds; its
    id, or None when none is left."""
    after: tuple[dt.datetime, int] | None = None
    while True:
        now = utcnow()
        with session_scope() as session:
            rows = console_db.queue(session, filters, now=now, after=after, limit=50)
            held = console_db.holders(session, [r.verdict.submission_id for r in rows], now)
        for row in rows:
            sid = row.verdict.submission_id
            if sid in held and held[sid].actor != analyst.name:
                continue
            try:
                holder = claim_case(sid, analyst, settings)
            except AlreadyDecided:
                continue  # decided since the page was read
            if holder == analyst.name:
                return str(sid)
        if len(rows) < 50:
            return None
        after = (rows[-1].verdict.created_at, rows[-1].verdict.id)


@dataclass(frozen=True)
class Decided:
    label: LabelOut
    band: str  # the case's band: the next case is taken from the same one


def decide(
    submission_id: uuid.UUID, analyst: Analyst, label: str, note: str | None, settings: Settings
) -> Decided:
    """Record the analyst's decision as a review label and release the claim, in one
    transaction with the checks: the case must be undecided (AlreadyDecided) and not held by
    anyone else (HeldByOther; a claim of the analyst's that ran out while nobody took the
    case still counts), and the key of scope submit (NotAllowed)."""
    if not analyst.may(ApiKeyScope.submit):
        raise NotAllowed(f"key {analyst.name!r} may only read (scope {analyst.key.scope})")
    now = utcnow()
    with session_scope() as session:
        if not console_db.lock_case(session, submission_id):
            raise LookupError(f"no submission {submission_id}")
        decided = console_db.decided_by(session, submission_id)
        if decided is not None:
            raise AlreadyDecided(f"{decided} decided this case already")
        claim = console_db.holder(session, submission_id, now, lock=True)
        if claim is not None and claim.actor != analyst.name:
            raise HeldByOther(f"{claim.actor} holds this case")
        if claim is None:
            # Not claimed, or the analyst's claim ran out: take it now, in this transaction.
            until = now + dt.timedelta(minutes=settings.console_claim_minutes)
            if console_db.claim(session, submission_id, analyst.name, now, until) != analyst.name:
                raise HeldByOther("another analyst took this case")
        out = label_service.record_label(
            session,
            submission_id,
            label,
            source="review",
            by=analyst.name,
            note=(note or "").strip()[:4000] or None,
            key=analyst.key,
        )
        console_db.release(session, submission_id, analyst.name)
        verdict = verdicts_db.latest_verdict(session, submission_id)
        band = verdict.verdict.risk_level if verdict is not None else RiskLevel.MEDIUM
    return Decided(out, band)


# --- a case ------------------------------------------------------------------------------

# Evidence keys whose strings quote the resume.
_QUOTING = ("phrases", "phrase", "sentence", "quote", "quotes", "snippet", "text", "match")


def _quotes(evidence: Any) -> list[str]:
    found: list[str] = []
    if isinstance(evidence, dict):
        for key, value in evidence.items():
            if key in _QUOTING and isinstance(value, str):
                found.append(value)
            elif key in _QUOTING and isinstance(value, list):
                found.extend(v for v in value if isinstance(v, str))
            else:
                found.extend(_quotes(value))
    elif isinstance(evidence, list):
        for value in evidence:
            found.extend(_quotes(value))
    return found


@dataclass(frozen=True)
class Segment:
    text: str
    codes: tuple[str, ...] = ()  # the flags whose evidence this span is


def highlight(text: str, flags: list[dict[str, Any]]) -> list[Segment]:
    """``text`` cut into plain and flagged segments (every flag's quoted phrases and
    sentences found in it, case-insensitively; overlapping spans merged)."""
    spans: list[tuple[int, int, str]] = []
    lowered = text.lower()
    for flag in flags:
        for quote in _quotes(flag.get("evidence")):
            quote = quote.strip().rstrip("…").strip()
            if len(quote) < 3:
                continue
            for m in re.finditer(re.escape(quote.lower()), lowered):
                spans.append((m.start(), m.end(), str(flag.get("code", "?"))))
    if not spans:
        return [Segment(text)]
    spans.sort()
    merged: list[tuple[int, int, set[str]]] = []
    for start, end, code in spans:
        if merged and start <= merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), last[2] | {code})
        else:
            merged.append((start, end, {code}))
    out, at = [], 0
    for start, end, codes in merged:
        if start > at:
            out.append(Segment(text[at:start]))
        out.append(Segment(text[start:end], tuple(sorted(codes))))
        at = end
    if at < len(text):
        out.append(Segment(text[at:]))
    return out


@dataclass(frozen=True)
class Bar:
    """One project on the timeline, in the SVG's coordinates (0-1000 wide)."""

    title: str
    x: float
    width: float
    row: int
    marks: tuple[str, ...]  # disputed, cancelled, late, overlap, ongoing
    start: str
    end: str


def timeline(projects: list[dict[str, Any]], as_of: dt.date) -> tuple[list[Bar], str, str]:
    """The project history as bars over time, marked; and the span's first and last day."""
    parsed: list[Project] = []
    for raw in projects:
        try:
            parsed.append(Project.model_validate(raw))
        except ValueError:
            continue  # stored before a rule changed: left out of the picture, not of the case
    if not parsed:
        return [], "", ""
    spans = [(p, p.start_date, p.end(as_of)) for p in parsed]
    first = min(s for _, s, _ in spans)
    last = max(max(e for _, _, e in spans), first + dt.timedelta(days=30))
    total = (last - first).days or 1
    grace = dt.timedelta(days=OVERLAP_GRACE_DAYS)
    bars = []
    for i, (p, start, end) in enumerate(sorted(spans, key=lambda t: t[1])):
        overlaps = any(
            other is not p and start < other_end - grace and other_start < end - grace
            for other, other_start, other_end in spans
        )
        marks = tuple(
            name
            for name, on in (
                ("disputed", p.disputed),
                ("cancelled", p.cancelled),
                ("late", p.completed_on_time is False),
                ("overlap", overlaps),
                ("ongoing", p.end_date is None and p.duration_months is None),
            )
            if on
        )
        x = 1000.0 * (start - first).days / total
        width = max(4.0, 1000.0 * (end - start).days / total)
        bars.append(Bar(p.title, x, min(width, 1000.0 - x), i, marks, str(start), str(end)))
    return bars, str(first), str(last)


@dataclass
class Case:
    verdict: VerdictOut
    resume: list[Segment] | None  # None: erased by retention
    resume_filename: str | None
    profile: dict[str, Any]
    bars: list[Bar]
    span: tuple[str, str]
    duplicates: list[tuple[str, str]]  # (submission id, external id)
    labels: list[LabelOut]
    held_by: str | None
    held_until: dt.datetime | None
    parts: list[tuple[str, float, float]] = field(default_factory=list)  # name, points, of
    restricted: bool = False  # the resume and profile are not this analyst's to see


def case(submission_id: uuid.UUID, analyst: Analyst, settings: Settings) -> Case:
    """Everything the console shows of one case to ``analyst``; LookupError if it has no
    verdict. The resume and the profile as submitted are for keys that decide (scope
    submit), as the API shows them to none; an analyst's own claim is renewed."""
    verdict = verdicts.get_verdict(submission_id)
    if verdict is None:
        raise LookupError(f"no verdict for {submission_id}")
    now = utcnow()
    with session_scope() as session:
        submission = submissions_db.get_submission(session, submission_id)
        assert submission is not None  # it has a verdict
        payload = dict(submission.payload or {})
        filename = submission.resume_filename
        until = now + dt.timedelta(minutes=settings.console_claim_minutes)
        console_db.renew(session, submission_id, analyst.name, now, until)
        claim = console_db.holder(session, submission_id, now)
    if not analyst.may(ApiKeyScope.submit):
        payload, filename = {}, None
    text = payload.get("resume_text")
    bars, first, last = timeline(payload.get("projects") or [], verdict.scored_at.date())
    duplicates: list[tuple[str, str]] = []
    for flag in verdict.flags:
        evidence = flag.get("evidence") or {}
        if flag.get("code") == "near_duplicate_resume":
            ids, externals = evidence.get("submissions", []), evidence.get("external_ids", [])
            duplicates += list(zip(ids, externals + [""] * len(ids), strict=False))
    parts = [
        (name, float(p.get("points", 0)), float(p.get("of", 0)))
        for name, p in (verdict.breakdown.get("parts") or {}).items()
    ]
    hidden = ("resume_text", "projects", "idempotency_key")
    return Case(
        verdict=verdict,
        resume=highlight(text, verdict.flags) if isinstance(text, str) else None,
        resume_filename=filename,
        profile={k: v for k, v in payload.items() if k not in hidden},
        bars=bars,
        span=(first, last),
        duplicates=duplicates,
        labels=verdicts.labels_of(submission_id),
        held_by=claim.actor if claim else None,
        held_until=claim.expires_at if claim else None,
        parts=parts,
        restricted=not analyst.may(ApiKeyScope.submit),
    )


# --- the overview ------------------------------------------------------------------------


@dataclass
class Overview:
    days: list[tuple[str, dict[str, int]]]  # (day, verdicts per band), oldest first
    most_per_day: int
    waiting: int
    oldest: dt.datetime | None
    decisions: list[tuple[str, str, int]]
    serving: str | None
    models: list[Any]
    history: list[dict[str, Any]]


def overview(days: int = 14) -> Overview:
    now = utcnow()
    since = (now - dt.timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    with session_scope() as session:
        per_day = console_db.verdicts_per_day(session, since)
        waiting, oldest = console_db.queue_size(session, console_db.QueueFilter(), now)
        decisions = console_db.decisions_per_analyst(session, now - dt.timedelta(days=30))
    table: dict[str, dict[str, int]] = {
        str((since + dt.timedelta(days=i)).date()): {b: 0 for b in RiskLevel} for i in range(days)
    }
    for day, band, n in per_day:
        table.setdefault(str(day), {b: 0 for b in RiskLevel})[band] = n
    rows = sorted(table.items())
    return Overview(
        days=rows,
        most_per_day=max([sum(c.values()) for _, c in rows] + [1]),
        waiting=waiting,
        oldest=oldest,
        decisions=decisions,
        serving=model_service.serving_version(),
        models=model_service.list_models(),
        history=model_service.history(limit=20),
    )
