"""Hostile profiles: each is refused at enqueue with a clear error naming the field, or stored
as sent and scored; the worker never crashes and logs no resume text."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cli import trustq
from tests.conftest import WorkerProcess
from tests.hostile.conftest import EXAMPLES, HOSTILE, assert_alive, settle
from tests.hostile.strategies import (
    deeply_nested_document,
    extreme_valid_profiles,
    hostile_profiles,
)
from tests.reliability import record
from trustq.db import submissions as submissions_db
from trustq.db.session import session_scope
from trustq.schemas import Profile
from trustq.services.submissions import IdempotencyKeyReused, enqueue, parse_document

pytestmark = [pytest.mark.hostile, pytest.mark.integration]


DOCUMENT_ERRORS = ("expected a JSON object, got ", "not valid JSON: ", "JSON nested too deeply")


def _clear(line: str) -> bool:
    """An error line names a place ("field.0.sub" or "(profile)") and a rule, or says what is
    wrong with the whole document; always on one short line."""
    where, sep, rule = line.partition(": ")
    named = bool(sep and where and rule) or line.startswith(DOCUMENT_ERRORS)
    return named and "\n" not in line and len(line) < 400


def _leaked(log: str, texts: list[str]) -> list[str]:
    # A 40-character slice of a resume is specific enough to mean the text was logged.
    probes = [t.strip()[:40] for t in texts if len(t.strip()) >= 40]
    return [p for p in probes if p in log]


def test_hostile_profiles_are_refused_clearly_or_stored_and_scored(
    hostile_worker: WorkerProcess,
) -> None:
    counts: Counter[str] = Counter()
    refused_by: Counter[str] = Counter()
    accepted: list[uuid.UUID] = []
    resumes: list[str] = []

    @HOSTILE
    @given(data=hostile_profiles())
    def attempt(data: object) -> None:
        counts["generated"] += 1
        document = json.dumps(data)  # NaN and Infinity as Python's json writes them
        batch = parse_document(document)
        if batch.bad:
            assert not batch.profiles
            lines = [line for bad in batch.bad for line in bad.errors]
            assert lines and all(_clear(line) for line in lines), lines
            counts["refused"] += 1
            refused_by[lines[0].partition(": ")[0].split(".")[0]] += 1
            return
        [(_, profile)] = batch.profiles
        try:
            [result] = enqueue([profile], submitted_by="hostile-tests")
        except IdempotencyKeyReused as exc:  # a key seen before, with another profile
            assert exc.key == profile.idempotency_key
            counts["refused"] += 1
            counts["key_reused"] += 1
            refused_by["idempotency_key"] += 1
            return
        with session_scope() as session:
            stored = submissions_db.get_submission(session, result.id)
            assert stored is not None
            payload, key = stored.payload, stored.idempotency_key
        counts["accepted"] += 1
        if not result.created:  # an idempotency key seen before: the first profile stays
            assert key == profile.idempotency_key
            counts["same_key_again"] += 1
            return
        # Stored exactly as validated, and storable as strict JSON (no NaN, no infinity).
        assert payload == profile.model_dump(mode="json")
        json.dumps(payload, allow_nan=False)
        assert Profile.model_validate(payload) == profile
        accepted.append(result.id)
        resumes.append(profile.text)

    attempt()
    outcome = settle(accepted)
    record(
        "hostile",
        "profiles",
        examples=counts["generated"],
        refused_at_enqueue=counts["refused"],
        accepted=counts["accepted"],
        idempotency_key_seen_before=counts["same_key_again"],
        scored=outcome["scored"],
        failed_with_reason=outcome["failed_with_reason"],
        lost=len(outcome["lost"]),
        duplicated=outcome["duplicated"],
        refused_by_field=dict(refused_by.most_common()),
    )
    assert counts["refused"] and counts["accepted"], counts  # both paths were exercised
    assert not outcome["lost"], outcome["lost"]
    assert outcome["duplicated"] == 0
    assert outcome["scored"] == len(accepted), outcome["failed_reasons"]
    assert_alive(hostile_worker)
    assert not _leaked(hostile_worker.output(), resumes)


def test_profiles_at_every_limit_are_scored(hostile_worker: WorkerProcess) -> None:
    """100,000-character resumes of any script, 500 projects, dates from 1970 to today,
    budgets of 0 and 1e9, ratings of 1 and 5: valid, so every one gets a verdict."""
    ids: list[uuid.UUID] = []
    resumes: list[str] = []

    @settings(HOSTILE, max_examples=max(1, EXAMPLES // 40))
    @given(profiles=st.lists(extreme_valid_profiles(), min_size=4, max_size=4))
    def attempt(profiles: list[dict]) -> None:
        parsed = [Profile.model_validate(p) for p in profiles]
        ids.extend(r.id for r in enqueue(parsed, submitted_by="hostile-tests"))
        resumes.extend(p.text for p in parsed)

    attempt()
    outcome = settle(ids, timeout=300)
    record(
        "hostile",
        "limits",
        examples=len(ids),
        refused_at_enqueue=0,
        accepted=len(ids),
        scored=outcome["scored"],
        failed_with_reason=outcome["failed_with_reason"],
        lost=len(outcome["lost"]),
        duplicated=outcome["duplicated"],
    )
    assert not outcome["lost"], outcome["lost"]
    assert outcome["scored"] == len(ids), outcome["failed_reasons"]
    assert_alive(hostile_worker)
    assert not _leaked(hostile_worker.output(), resumes)


def test_json_nested_too_deeply_is_refused_with_a_clear_error() -> None:
    deep = deeply_nested_document(100_000)
    batch = parse_document(deep)
    assert not batch.profiles
    assert batch.bad[0].errors == ["JSON nested too deeply to read"]
    shallow = parse_document(deeply_nested_document(50))
    assert shallow.bad[0].errors[0].startswith("skills.0: ")

    refused = trustq("enqueue", "-", stdin=deep)
    assert refused.returncode == 2, refused.stderr
    assert "JSON nested too deeply to read" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_an_unknown_key_full_of_control_characters_stays_one_clear_line() -> None:
    batch = parse_document(
        json.dumps(
            {
                "external_id": "x",
                "resume_text": "y",
                "experience_level": "mid",
                "\x1b[2J\nowned": 1,
                "k" * 5000: 2,
            }
        )
    )
    lines = batch.bad[0].errors
    assert "'\\x1b[2J\\nowned': Extra inputs are not permitted" in lines
    assert all(_clear(line) for line in lines), lines
