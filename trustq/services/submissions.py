"""Taking profiles in: validate, store, then publish the id, in that order."""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from trustq.broker import names
from trustq.broker.app import producer
from trustq.config import get_settings
from trustq.db import submissions as submissions_db
from trustq.db.session import session_scope
from trustq.db.tables import SubmissionStatus
from trustq.schemas import Profile, check_name, describe_errors, sha256_text
from trustq.scoring.resume_files import FileLimits, check_file

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """The broker did not take a message; ``published`` lists the ids it took before."""

    def __init__(self, message: str, published: Sequence[uuid.UUID] = ()) -> None:
        super().__init__(message)
        self.published = list(published)


class IdempotencyKeyReused(ValueError):
    """An idempotency key this submitter sent before came with another profile or file;
    nothing of the chunk it came in was stored."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was sent before with a different profile; use a new "
            "idempotency key for a new request"
        )
        self.key = key


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached; what the message says was not stored was not."""


@dataclass(frozen=True)
class Enqueued:
    id: uuid.UUID
    created: bool  # False when the idempotency key was seen before: nothing was queued
    # False when the broker was unreachable: the submission is stored (status queued) and
    # the sweeper publishes it once the broker is back.
    queued: bool = True


@dataclass
class BadLine:
    line: int
    errors: list[str]

    def __str__(self) -> str:
        return f"line {self.line}: " + "; ".join(self.errors)


@dataclass
class ParsedBatch:
    profiles: list[tuple[int, Profile]] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)


def default_submitter() -> str:
    """Who submits when nobody says: the user running the process."""
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


def parse_profile(data: Any, *, with_resume_file: bool = False) -> Profile:
    """Validate one profile; raises pydantic's ValidationError naming field and rule."""
    return Profile.model_validate(data, context={"resume_file": with_resume_file})


def parse_document(text: str, *, with_resume_file: bool = False) -> ParsedBatch:
    """Parse a JSON profile or a JSONL file of profiles, collecting every bad line."""
    batch = ParsedBatch()
    stripped = text.strip()
    if not stripped:
        batch.bad.append(BadLine(1, ["the input is empty"]))
        return batch
    try:
        whole = json.loads(stripped)
    except (json.JSONDecodeError, RecursionError):
        whole = None
    if isinstance(whole, dict):
        _parse_one(batch, 1, whole, with_resume_file)
        return batch
    if with_resume_file:
        batch.bad.append(BadLine(1, ["a resume file goes with exactly one JSON profile"]))
        return batch
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            batch.bad.append(BadLine(number, [f"not valid JSON: {exc.msg} at column {exc.colno}"]))
            continue
        except RecursionError:
            batch.bad.append(BadLine(number, ["JSON nested too deeply to read"]))
            continue
        _parse_one(batch, number, data)
    if not batch.profiles and not batch.bad:
        batch.bad.append(BadLine(1, ["no profile found"]))
    return batch


def _parse_one(batch: ParsedBatch, number: int, data: Any, with_resume_file: bool = False) -> None:
    if not isinstance(data, dict):
        batch.bad.append(BadLine(number, [f"expected a JSON object, got {type(data).__name__}"]))
        return
    try:
        batch.profiles.append((number, parse_profile(data, with_resume_file=with_resume_file)))
    except ValidationError as exc:
        batch.bad.append(BadLine(number, describe_errors(exc)))


def publish(submission_ids: Iterable[uuid.UUID]) -> None:
    """Put one scoring message per id on the queue; BrokerUnavailable names what was sent."""
    sent: list[uuid.UUID] = []
    try:
        with producer.producer_or_acquire() as connection:
            for submission_id in submission_ids:
                producer.send_task(
                    names.SCORE_SUBMISSION,
                    args=[str(submission_id)],
                    queue=names.SCORING_QUEUE,
                    producer=connection,
                    retry=True,
                    retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
                )
                sent.append(submission_id)
    except Exception as exc:  # connection refused, Redis out of memory, timeouts: all the same
        raise BrokerUnavailable(f"the broker did not take the message: {exc}", sent) from exc


def _database_error(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def enqueue(
    profiles: Iterable[Profile],
    *,
    submitted_by: str,
    request_id: str | None = None,
    client_request_id: str | None = None,
    chunk_size: int = 200,
    on_progress: Callable[[int], None] | None = None,
    resume_file: tuple[str, bytes] | None = None,
    api_key_id: int | None = None,
) -> list[Enqueued]:
    """Store each profile and queue its id; returns one result per profile, in order.
    ``api_key_id``: the API key that sent them (its webhook endpoints hear of them).

    ``resume_file`` (file name, bytes) goes with a single profile that has no resume_text;
    the worker extracts its text.

    Rows are committed before their messages are published, so a submission is never
    queued without being stored. If the broker is unreachable the submissions stay stored
    with ``queued=False`` (a warning is logged) and the sweeper publishes them once it is
    back. If the database is unreachable, DatabaseUnavailable says which were stored. An
    idempotency key sent before with another profile raises IdempotencyKeyReused.
    """
    results: list[Enqueued] = []
    check_name(submitted_by, "submitted_by")
    if resume_file is not None:
        profiles = list(profiles)
        if len(profiles) != 1 or profiles[0].resume_text is not None:
            raise ValueError("a resume file goes with one profile that has no resume_text")
        check_file(resume_file[1], resume_file[0], FileLimits.from_settings(get_settings()))
    profiles = list(profiles)
    _check_keys(profiles, submitted_by, resume_file)
    broker_down: BrokerUnavailable | None = None
    for chunk in _chunks(profiles, chunk_size):
        try:
            stored = _store(
                chunk, submitted_by, (request_id, client_request_id), resume_file, api_key_id
            )
        except (OperationalError, InterfaceError) as exc:
            raise DatabaseUnavailable(
                f"the database is unreachable ({_database_error(exc)}); "
                + (
                    f"the first {len(results)} submission(s) were stored, the rest were not"
                    if results
                    else "nothing was stored or queued"
                )
            ) from exc
        new_ids = [item.id for item in stored if item.created]
        if broker_down is None and new_ids:
            try:
                publish(new_ids)
            except BrokerUnavailable as exc:
                broker_down = exc
                log.warning(
                    "%s; %d submission(s) stay stored and the sweeper will queue them",
                    exc,
                    len(new_ids) - len(exc.published),
                )
        if broker_down is not None:
            sent = set(broker_down.published)
            stored = [
                replace(item, queued=False) if item.created and item.id not in sent else item
                for item in stored
            ]
        results.extend(stored)
        if on_progress is not None:
            on_progress(len(stored))
    return results


def _store(
    chunk: list[Profile],
    submitted_by: str,
    request_ids: tuple[str | None, str | None],
    resume_file: tuple[str, bytes] | None,
    api_key_id: int | None,
) -> list[Enqueued]:
    """Insert one chunk in one transaction: all of it is stored, or none of it."""
    stored: list[Enqueued] = []
    with session_scope() as session:
        for profile in chunk:
            row, created = submissions_db.add_submission(
                session,
                external_id=profile.external_id,
                idempotency_key=profile.idempotency_key,
                payload=profile.model_dump(mode="json"),
                resume_sha256=(
                    hashlib.sha256(resume_file[1]).hexdigest()
                    if resume_file is not None
                    else sha256_text(profile.text)
                ),
                submitted_by=submitted_by,
                request_id=request_ids[0],
                client_request_id=request_ids[1],
                resume_file=resume_file,
                api_key_id=api_key_id,
            )
            if not created and not _same_request(session, row, profile, resume_file):
                assert profile.idempotency_key is not None
                raise IdempotencyKeyReused(profile.idempotency_key)
            stored.append(Enqueued(row.id, created))
    return stored


def _check_keys(
    profiles: Sequence[Profile], submitted_by: str, resume_file: tuple[str, bytes] | None
) -> None:
    """IdempotencyKeyReused, before anything is stored, when a key this submitter sent
    before comes with another profile (``_store`` checks again, for a request racing this
    one)."""
    keyed = {p.idempotency_key: p for p in profiles if p.idempotency_key is not None}
    if not keyed:
        return
    with session_scope() as session:
        seen = submissions_db.submissions_by_key(session, submitted_by, keyed)
        for key, row in seen.items():
            if not _same_request(session, row, keyed[key], resume_file):
                raise IdempotencyKeyReused(key)


def _stripped(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != "resume_text"}


def _same_request(
    session: Any, row: Any, profile: Profile, resume_file: tuple[str, bytes] | None
) -> bool:
    """Whether a profile repeating an idempotency key is the one first sent with it (its
    resume compared by hash, as retention may have erased the text)."""
    if _stripped(row.payload) != _stripped(profile.model_dump(mode="json")):
        return False
    if resume_file is None:
        return profile.resume_text is not None and row.resume_sha256 == (
            sha256_text(profile.resume_text)
        )
    stored = submissions_db.resume_file_of(session, row.id)
    if stored is None:  # erased by retention: the rest matched
        return row.erased_at is not None
    return hashlib.sha256(stored[1]).digest() == hashlib.sha256(resume_file[1]).digest()


def _chunks(items: Iterable[Profile], size: int) -> Iterator[list[Profile]]:
    chunk: list[Profile] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- retrying the dead letters -----------------------------------------------------------


class NotRetryable(ValueError):
    """A named submission is not failed; nothing was changed."""


@dataclass(frozen=True)
class Retried:
    ids: list[uuid.UUID]
    # False when the broker was unreachable: they are queued in the database and the
    # sweeper publishes them once it is back.
    queued: bool


def retry_failed(submission_ids: Sequence[uuid.UUID] | None = None) -> Retried:
    """Queue failed submissions again with a fresh attempt count (every failed one if None).

    Named submissions must all exist and be failed, or LookupError / NotRetryable is raised
    and nothing changes. The rows are queued (committed) before their messages are sent.
    """
    with session_scope() as session:
        if submission_ids is not None:
            known = submissions_db.statuses_of(session, submission_ids)
            unknown = [str(sid) for sid in submission_ids if sid not in known]
            if unknown:
                raise LookupError("no submission " + ", ".join(unknown))
            busy = [
                f"{sid} is {status}"
                for sid, status in known.items()
                if status != SubmissionStatus.failed
            ]
            if busy:
                raise NotRetryable(
                    "only failed submissions are retried: " + "; ".join(busy) + "; nothing changed"
                )
        ids = submissions_db.requeue_failed(session, submission_ids)
    try:
        publish(ids)
    except BrokerUnavailable as exc:
        log.warning(
            "%s; %d retried submission(s) are queued in the database for the sweeper",
            exc,
            len(ids) - len(exc.published),
        )
        return Retried(ids, queued=False)
    return Retried(ids, queued=True)
