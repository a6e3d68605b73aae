"""trustq.client.HttpClient against `trustq api` and a real worker: the same answers as the
in-process client, with the key's name, scope and errors of the HTTP API."""

from __future__ import annotations

import inspect
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from tests.api.conftest import Key
from tests.factories import profile
from tests.resume_docs import RESUME_LINES, docx_with_text
from trustq.client import ApiError, Client, HttpClient, SubmissionFailed

pytestmark = [pytest.mark.api, pytest.mark.integration]


@pytest.fixture(autouse=True)
def _fresh(clean_tables: None) -> None:  # noqa: ARG001
    pass


@pytest.fixture()
def api(served: str, keys: dict[str, Key]) -> Any:
    with HttpClient(served, keys["submit"].token) as client:
        yield client


def test_the_two_clients_offer_the_same_calls() -> None:
    def calls(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")
        }

    local, remote = calls(Client), calls(HttpClient)
    # The API takes labels one at a time, so the all-or-none bulk call stays in process.
    assert set(local) - set(remote) == {"label_many"}
    for name in set(local) & set(remote):
        here = set(local[name].parameters) - {"self", "submitted_by"}
        assert here == set(remote[name].parameters) - {"self"}, name


@pytest.mark.usefixtures("live_worker")
def test_a_profile_sent_over_http_gets_the_verdict_the_database_holds(
    api: HttpClient, keys: dict[str, Key]
) -> None:
    sent = profile()
    sid = api.enqueue(sent, request_id="onboarding-42")
    remote = api.wait_for_verdict(sid, timeout=120)
    local = Client().get_verdict(sid)
    assert local is not None
    assert remote == local
    assert remote.submitted_by == keys["submit"].name  # the key submits, whoever calls
    assert api.submission_status(sid) == ("done", None)
    assert [v.submission_id for v in api.list_verdicts(external_id=sent["external_id"])] == [
        str(sid)
    ]

    label = api.decide(sid, "risky", by="alice", note="same portfolio as a banned account")
    assert label.actor == f"{keys['submit'].name}/alice" and label.source == "review"
    assert api.labels(sid) == Client().labels(sid) == [label]


@pytest.mark.usefixtures("live_worker")
def test_a_resume_file_goes_over_http_as_multipart(api: HttpClient) -> None:
    sent = profile()
    del sent["resume_text"]
    sid = api.enqueue(sent, resume_file=("cv.docx", docx_with_text(RESUME_LINES)))
    verdict = api.wait_for_verdict(sid, timeout=120)
    assert verdict.external_id == sent["external_id"]


def test_bad_input_and_unknown_ids_raise_what_the_in_process_client_raises(
    api: HttpClient, served: str, keys: dict[str, Key]
) -> None:
    bad = profile(claimed_years_experience=-3)
    with pytest.raises(ValueError, match="claimed_years_experience"):
        api.enqueue(bad)
    with pytest.raises(ValidationError, match="claimed_years_experience"):
        Client().enqueue(bad)
    assert Client().list_verdicts(external_id=bad["external_id"]) == []

    unknown = uuid.uuid4()
    with pytest.raises(LookupError):
        api.get_verdict(unknown)
    with pytest.raises(LookupError):
        Client().get_verdict(unknown)
    with pytest.raises(ValueError, match="not a submission id"):
        api.get_verdict("7f1c")

    with HttpClient(served, keys["read"].token) as reader, pytest.raises(ApiError) as refused:
        reader.enqueue(profile())
    assert refused.value.status == 403
    with HttpClient(served, "tq_not-a-key") as stranger, pytest.raises(ApiError) as refused:
        stranger.review_queue()
    assert refused.value.status == 401


def test_a_failed_submission_raises_submission_failed_over_http(
    api: HttpClient,
    database: str,  # noqa: ARG001
) -> None:
    from trustq.db import submissions as submissions_db
    from trustq.db.session import session_scope

    sid = Client().enqueue(profile(), submitted_by="tests")
    with session_scope() as session:
        submissions_db.mark_failed(session, sid, "resume file unusable: encrypted")
    with pytest.raises(SubmissionFailed, match="encrypted"):
        api.get_verdict(sid)
    with pytest.raises(SubmissionFailed, match="encrypted"):
        Client().get_verdict(sid)
