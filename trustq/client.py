"""The Python interface: submit profiles, read verdicts, give labels.

A service outside the cluster talks to the HTTP API with an API key:

>>> from trustq.client import HttpClient
>>> api = HttpClient("https://trustq.example", api_key="tq_…")
>>> sid = api.enqueue(profile_dict)
>>> api.wait_for_verdict(sid).risk_level
'LOW'

Code inside the cluster (with the database and the broker configured) can call the same
methods in process, as the CLI does, through the functions of this module or
:class:`Client`. Both clients raise the same errors: pydantic's ValidationError or
ValueError for bad input, LookupError for an unknown submission, SubmissionFailed when a
submission could not be scored, TimeoutError when a verdict does not come in time.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from trustq.schemas import EvaluationOut, LabelOut, Profile, VerdictOut
from trustq.services import labels as label_service
from trustq.services import submissions, verdicts
from trustq.services.submissions import Enqueued, default_submitter
from trustq.services.verdicts import SubmissionFailed

__all__ = [
    "ApiError",
    "Client",
    "Enqueued",
    "HttpClient",
    "SubmissionFailed",
    "decide",
    "default_actor",
    "enqueue",
    "enqueue_many",
    "get_verdict",
    "label",
    "label_many",
    "labels",
    "list_verdicts",
    "review_queue",
    "submission_status",
    "wait_for_verdict",
]

default_actor = default_submitter


class Client:
    """trustq in this process: the services themselves, on the configured database and
    broker (no API key, no rate limit: for code inside the cluster)."""

    def __init__(self, *, submitted_by: str | None = None) -> None:
        self.submitted_by = submitted_by

    def enqueue(
        self,
        profile: Profile | Mapping[str, Any],
        *,
        submitted_by: str | None = None,
        request_id: str | None = None,
        resume_file: tuple[str, bytes] | None = None,
    ) -> uuid.UUID:
        """Validate, store and queue one profile; returns its submission id.

        ``resume_file`` is (file name, bytes) of a PDF or DOCX sent instead of resume_text.
        Raises pydantic.ValidationError for an invalid profile and ResumeFileError for an
        unacceptable file (nothing stored), DatabaseUnavailable when the database is
        unreachable (nothing stored or queued). When only the queue is unreachable the
        submission is stored and a warning logged; the sweeper queues it once the broker is
        back (``enqueue_many`` says which ones, in ``Enqueued.queued``).
        """
        if not isinstance(profile, Profile):
            profile = submissions.parse_profile(profile, with_resume_file=resume_file is not None)
        [result] = submissions.enqueue(
            [profile],
            submitted_by=submitted_by or self.submitted_by or default_submitter(),
            request_id=request_id,
            resume_file=resume_file,
        )
        return result.id

    def enqueue_many(
        self,
        profiles: Iterable[Profile | Mapping[str, Any]],
        *,
        submitted_by: str | None = None,
        request_id: str | None = None,
    ) -> list[Enqueued]:
        """Validate every profile first, then store and queue them all; ``queued`` is False
        for those stored while the broker was unreachable (the sweeper queues them later)."""
        validated = [
            p if isinstance(p, Profile) else submissions.parse_profile(p) for p in profiles
        ]
        return submissions.enqueue(
            validated,
            submitted_by=submitted_by or self.submitted_by or default_submitter(),
            request_id=request_id,
        )

    def submission_status(self, submission_id: uuid.UUID | str) -> tuple[str, str | None]:
        """(status, last error) of a submission; LookupError if unknown."""
        return verdicts.submission_status(submission_id)

    def get_evaluation(self, submission_id: uuid.UUID | str) -> EvaluationOut:
        """The submission's state, its newest verdict and its labels; LookupError if unknown."""
        return verdicts.get_evaluation(submission_id)

    def get_verdict(self, submission_id: uuid.UUID | str) -> VerdictOut | None:
        """The newest verdict, or None while the submission waits; raises if it failed."""
        return verdicts.get_verdict(submission_id)

    def wait_for_verdict(
        self, submission_id: uuid.UUID | str, *, timeout: float = 120.0, poll: float = 0.25
    ) -> VerdictOut:
        """Poll until the verdict is stored; TimeoutError after ``timeout`` seconds."""
        return _wait(self, submission_id, timeout, poll)

    def list_verdicts(
        self,
        *,
        external_id: str | None = None,
        risk_level: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[VerdictOut]:
        """Verdicts newest first, filtered by freelancer, risk level and time window."""
        return verdicts.list_verdicts(
            external_id=external_id, risk_level=risk_level, since=since, until=until, limit=limit
        )

    def label(
        self,
        submission_id: uuid.UUID | str,
        value: str,
        *,
        source: str = "manual",
        by: str | None = None,
        note: str | None = None,
    ) -> LabelOut:
        """Record what is known about a submission (append-only; the newest label counts)."""
        actor = by or self.submitted_by or ""
        return label_service.add_label(submission_id, value, source=source, by=actor, note=note)

    def label_many(self, rows: Iterable[Mapping[str, Any]], *, by: str | None = None) -> int:
        """Record many labels at once, each a mapping with submission_id, label, source, by
        and note (``by`` gives a default actor). All are stored, or none: ValueError lists
        every bad row, LookupError the unknown submissions."""
        return label_service.add_label_rows(list(rows), by=by or self.submitted_by)

    def decide(
        self, submission_id: uuid.UUID | str, value: str, *, by: str | None = None,
        note: str | None = None,
    ) -> LabelOut:  # fmt: skip
        """A reviewer's decision on a submission: a label with source ``review``."""
        return self.label(submission_id, value, source="review", by=by, note=note)

    def labels(self, submission_id: uuid.UUID | str) -> list[LabelOut]:
        """Every label of a submission, newest (the current one) first."""
        return verdicts.labels_of(submission_id)

    def review_queue(self, *, limit: int = 100) -> list[VerdictOut]:
        """Verdicts that ask for a person (review or risky) awaiting a decision, oldest
        first."""
        return verdicts.review_queue(limit=limit)


class ApiError(RuntimeError):
    """The API answered with a problem that is none of the usual errors (401, 403, 429, 5xx);
    ``status`` and ``problem`` (its problem document) say which."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        detail = problem.get("detail") or problem.get("title") or f"HTTP {status}"
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.problem = problem


class HttpClient:
    """trustq through its HTTP API, with an API key: for services outside the cluster. The
    key's name is recorded as who submitted and who labelled; the key's scope and rate limit
    apply. ``label_many`` is not offered: the API takes labels one at a time."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/v1",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self._http.request(method, path, **kwargs)
        if answer.status_code < 300:
            return answer.json()
        try:
            problem = answer.json()
        except ValueError:
            problem = {"detail": answer.text[:500]}
        if not isinstance(problem, dict):
            problem = {"detail": str(problem)[:500]}
        detail = str(problem.get("detail") or problem.get("title") or "")
        if answer.status_code == 404:
            raise LookupError(detail)
        if answer.status_code in (400, 413, 415, 422):
            errors = "; ".join(
                f"{e.get('field')}: {e.get('message')}" for e in problem.get("errors") or []
            )
            raise ValueError(detail + (f" ({errors})" if errors else ""))
        raise ApiError(answer.status_code, problem)

    def enqueue(
        self,
        profile: Profile | Mapping[str, Any],
        *,
        request_id: str | None = None,
        resume_file: tuple[str, bytes] | None = None,
    ) -> uuid.UUID:
        """Submit one profile; returns its submission id. ``resume_file`` is (file name,
        bytes) of a PDF or DOCX sent instead of resume_text. ValueError names every problem
        of an invalid profile or file (nothing stored)."""
        return self._submit(profile, request_id, resume_file).id

    def enqueue_many(
        self,
        profiles: Iterable[Profile | Mapping[str, Any]],
        *,
        request_id: str | None = None,
    ) -> list[Enqueued]:
        """Submit each profile in turn (one request each); an invalid one stops there with
        ValueError, the ones before it stay submitted."""
        return [self._submit(p, request_id, None) for p in profiles]

    def _submit(
        self,
        profile: Profile | Mapping[str, Any],
        request_id: str | None,
        resume_file: tuple[str, bytes] | None,
    ) -> Enqueued:
        data = (
            profile.model_dump(mode="json", exclude_none=True)
            if isinstance(profile, Profile)
            else dict(profile)
        )
        headers = {"X-Request-ID": request_id} if request_id else {}
        if resume_file is None:
            answer = self._call("POST", "/evaluations", json=data, headers=headers)
        else:
            answer = self._call(
                "POST",
                "/evaluations",
                data={"profile": json.dumps(data)},
                files={"resume": (resume_file[0], resume_file[1])},
                headers=headers,
            )
        return Enqueued(uuid.UUID(answer["id"]), answer["created"], answer["published"])

    def get_evaluation(self, submission_id: uuid.UUID | str) -> EvaluationOut:
        """The submission's state, its newest verdict and its labels; LookupError if unknown."""
        sid = verdicts.as_submission_id(submission_id)
        return EvaluationOut.model_validate(self._call("GET", f"/evaluations/{sid}"))

    def submission_status(self, submission_id: uuid.UUID | str) -> tuple[str, str | None]:
        """(status, last error) of a submission; LookupError if unknown."""
        found = self.get_evaluation(submission_id)
        return found.status, found.error

    def get_verdict(self, submission_id: uuid.UUID | str) -> VerdictOut | None:
        """The newest verdict, or None while the submission waits; raises if it failed."""
        found = self.get_evaluation(submission_id)
        if found.verdict is None and found.status == "failed":
            raise SubmissionFailed(f"submission {found.id} failed: {found.error}")
        return found.verdict

    def wait_for_verdict(
        self, submission_id: uuid.UUID | str, *, timeout: float = 120.0, poll: float = 0.5
    ) -> VerdictOut:
        """Poll until the verdict is stored; TimeoutError after ``timeout`` seconds."""
        return _wait(self, submission_id, timeout, poll)

    def list_verdicts(
        self,
        *,
        external_id: str | None = None,
        risk_level: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[VerdictOut]:
        """Verdicts of scored submissions newest first, filtered by freelancer, risk level and
        the time the submission arrived (the API pages by that)."""
        params: dict[str, Any] = {"status": "done", "limit": min(limit, 500)}
        if external_id is not None:
            params["external_id"] = external_id
        level = verdicts.check_risk_level(risk_level)
        if level is not None:
            params["risk_level"] = level
        if since is not None:
            params["since"] = since.isoformat()
        if until is not None:
            params["until"] = until.isoformat()
        found: list[VerdictOut] = []
        while len(found) < limit:
            page = self._call("GET", "/evaluations", params=params)
            for item in page["items"]:
                if item.get("verdict") is not None and len(found) < limit:
                    found.append(VerdictOut.model_validate(item["verdict"]))
            if not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
        return found

    def label(
        self,
        submission_id: uuid.UUID | str,
        value: str,
        *,
        source: str = "manual",
        by: str | None = None,
        note: str | None = None,
    ) -> LabelOut:
        """Record what is known about a submission; ``by`` is recorded after the key's name
        (``key/by``)."""
        sid = verdicts.as_submission_id(submission_id)
        body: dict[str, Any] = {"label": value, "source": source}
        if by:
            body["actor"] = by
        if note is not None:
            body["note"] = note
        return LabelOut.model_validate(self._call("POST", f"/evaluations/{sid}/labels", json=body))

    def decide(
        self, submission_id: uuid.UUID | str, value: str, *, by: str | None = None,
        note: str | None = None,
    ) -> LabelOut:  # fmt: skip
        """A reviewer's decision on a submission: a label with source ``review``."""
        return self.label(submission_id, value, source="review", by=by, note=note)

    def labels(self, submission_id: uuid.UUID | str) -> list[LabelOut]:
        """Every label of a submission, newest (the current one) first."""
        return list(self.get_evaluation(submission_id).labels or [])

    def review_queue(self, *, limit: int = 100) -> list[VerdictOut]:
        """Verdicts that ask for a person (review or risky) awaiting a decision, oldest
        first."""
        page = self._call("GET", "/review-queue", params={"limit": min(limit, 500)})
        return [VerdictOut.model_validate(v) for v in page["items"]]


def _wait(
    client: Client | HttpClient, submission_id: uuid.UUID | str, timeout: float, poll: float
) -> VerdictOut:
    deadline = time.monotonic() + timeout
    while True:
        found = client.get_verdict(submission_id)
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            status, _ = client.submission_status(submission_id)
            raise TimeoutError(
                f"no verdict for {submission_id} after {timeout:.0f} s (status: {status}); "
                "is a worker running?"
            )
        time.sleep(poll)


_local = Client()
enqueue = _local.enqueue
enqueue_many = _local.enqueue_many
submission_status = _local.submission_status
get_verdict = _local.get_verdict
wait_for_verdict = _local.wait_for_verdict
list_verdicts = _local.list_verdicts
label = _local.label
label_many = _local.label_many
decide = _local.decide
labels = _local.labels
review_queue = _local.review_queue
