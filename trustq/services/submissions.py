"""Taking profiles in: validate, store, then publish the id, in that order."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from trustq.config import get_settings
from trustq.db import repo
from trustq.db.session import session_scope
from trustq.schemas import Profile, describe_errors
from trustq.services.resume_files import check_file
from trustq.tasks import names


class BrokerUnavailable(RuntimeError):
    """The broker refused the message; the submission was not kept."""


@dataclass(frozen=True)
class Enqueued:
    id: uuid.UUID
    created: bool  # False when the idempotency key was seen before: nothing was queued


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


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    except json.JSONDecodeError:
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


def _publish(submission_ids: Iterable[uuid.UUID]) -> None:
    from trustq.worker.app import app

    with app.producer_or_acquire() as producer:
        for submission_id in submission_ids:
            app.send_task(
                names.SCORE_SUBMISSION,
                args=[str(submission_id)],
                queue=names.SCORING_QUEUE,
                producer=producer,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
            )


def enqueue(
    profiles: Iterable[Profile],
    *,
    submitted_by: str,
    request_id: str | None = None,
    chunk_size: int = 200,
    on_progress: Callable[[int], None] | None = None,
    resume_file: tuple[str, bytes] | None = None,
) -> list[Enqueued]:
    """Store each profile and queue its id; returns one result per profile, in order.

    ``resume_file`` (file name, bytes) goes with a single profile that has no resume_text;
    the worker extracts its text.

    Rows are committed before their messages are published. If the broker refuses, the
    rows of the failed chunk are deleted again and BrokerUnavailable is raised: a
    submission is either stored and queued, or not stored at all.
    """
    results: list[Enqueued] = []
    if resume_file is not None:
        profiles = list(profiles)
        if len(profiles) != 1 or profiles[0].resume_text is not None:
            raise ValueError("a resume file goes with one profile that has no resume_text")
        check_file(resume_file[1], resume_file[0], get_settings().max_resume_file_bytes)
    for chunk in _chunks(profiles, chunk_size):
        stored: list[Enqueued] = []
        with session_scope() as session:
            for profile in chunk:
                row, created = repo.add_submission(
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
                    request_id=request_id,
                    resume_file=resume_file,
                )
                stored.append(Enqueued(row.id, created))
        new_ids = [item.id for item in stored if item.created]
        try:
            _publish(new_ids)
        except Exception as exc:
            with session_scope() as session:
                for submission_id in new_ids:
                    repo.delete_submission(session, submission_id)
            raise BrokerUnavailable(
                f"the broker did not take the message ({exc}); "
                f"{len(results)} earlier submission(s) were queued, the rest were not stored"
            ) from exc
        results.extend(stored)
        if on_progress is not None:
            on_progress(len(stored))
    return results


def _chunks(items: Iterable[Profile], size: int) -> Iterator[list[Profile]]:
    chunk: list[Profile] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
