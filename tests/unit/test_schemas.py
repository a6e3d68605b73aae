"""The public profile schema refuses what it must, naming field and rule."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from pydantic import ValidationError

from tests.factories import profile, project
from trustq.schemas import Profile, describe_errors, profile_json_schema


def errors_of(data: dict) -> list[str]:
    with pytest.raises(ValidationError) as info:
        Profile.model_validate(data)
    return describe_errors(info.value)


def test_a_good_profile_validates_and_keeps_time_order() -> None:
    p = Profile.model_validate(profile())
    assert [x.title for x in p.projects_in_time_order()][0] == "Checkout service"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"resume_text": ""}, "resume_text: String should have at least 1 character"),
        ({"resume_text": "   \n "}, "resume_text: Value error, must contain more than whitespace"),
        ({"resume_text": "x" * 100_001}, "resume_text: String should have at most 100000"),
        ({"resume_text": "nul \x00 inside"}, "resume_text: Value error, must not contain the NUL"),
        ({"experience_level": "guru"}, "experience_level: Input should be 'entry', 'mid'"),
        ({"claimed_years_experience": -1}, "claimed_years_experience: Input should be greater"),
        (
            {"claimed_years_experience": float("nan")},
            "claimed_years_experience: Input should be a finite",
        ),
        ({"external_id": ""}, "external_id: String should have at least 1 character"),
        ({"unknown_field": 1}, "unknown_field: Extra inputs are not permitted"),
        (
            {"links": {"github": "x", "twitter": "y"}},
            "links.twitter: Extra inputs are not permitted",
        ),
        ({"projects": [project()] * 501}, "projects: List should have at most 500 items"),
        (
            {"projects": [project(client_rating=5.5)]},
            "projects.0.client_rating: Input should be less",
        ),
        (
            {"projects": [project(client_rating=0)]},
            "projects.0.client_rating: Input should be greater",
        ),
        ({"projects": [project(budget_usd=-5)]}, "projects.0.budget_usd: Input should be greater"),
        (
            {"projects": [project(disputed="yes")]},
            "projects.0.disputed: Input should be a valid boolean",
        ),
        ({"projects": [project(start="1960-01-01")]}, "start_date must be on or after 1970-01-01"),
        (
            {"projects": [project(start=(dt.date.today() + dt.timedelta(days=3)).isoformat())]},
            "start_date must not be in the future",
        ),
        (
            {"projects": [project(end_date="2021-06-01")]},
            "give end_date or duration_months, not both",
        ),
        (
            {"projects": [project(duration_months=None, end_date="2020-06-01")]},
            "end_date must not be before start_date",
        ),
        (
            {"projects": [project(start="not a date")]},
            "projects.0.start_date: Input should be a valid date",
        ),
        ({"projects": [{"title": "x"}]}, "projects.0.start_date: Field required"),
    ],
)
def test_each_rule_is_refused_with_the_field_named(change: dict, expected: str) -> None:
    lines = errors_of(profile(**change))
    assert any(expected in line for line in lines), lines


def test_missing_required_fields_are_all_named() -> None:
    lines = errors_of({"external_id": "a"})
    assert any(
        line.startswith("resume_text: Value error, required unless a resume") for line in lines
    )
    assert any(line.startswith("experience_level: Field required") for line in lines)


def test_published_json_schema_forbids_extra_fields() -> None:
    schema = profile_json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"external_id", "experience_level"}
    assert "resume file" in schema["properties"]["resume_text"]["description"]
    assert schema["$defs"]["Project"]["additionalProperties"] is False


def test_a_resume_file_replaces_resume_text() -> None:
    data = profile()
    del data["resume_text"]
    assert Profile.model_validate(data, context={"resume_file": True}).resume_text is None
    both = profile()
    with pytest.raises(ValidationError, match="not both"):
        Profile.model_validate(both, context={"resume_file": True})


@pytest.mark.parametrize(
    "name",
    [
        "alice\u202egnp.exe",  # right-to-left override
        "bob\u200b",  # zero-width space
        "eve\x1b[31m",  # a terminal escape
        "ｍallory",  # full-width look-alike
        "line\u2028break",
    ],
)
def test_names_people_read_in_the_audit_trail_refuse_hidden_characters(name: str) -> None:
    from trustq.api.schemas import LabelIn
    from trustq.schemas import check_name
    from trustq.services.labels import check_row

    with pytest.raises(ValueError, match="must"):
        check_name(name, "actor")
    with pytest.raises(ValueError, match="actor"):
        LabelIn.model_validate({"label": "risky", "actor": name})
    with pytest.raises(ValueError, match="by must"):
        check_row({"submission_id": str(uuid.uuid4()), "label": "risky", "by": name})


def test_ordinary_names_in_any_script_pass() -> None:
    from trustq.schemas import check_name

    for name in ("Zoë Müller", "李雷", "O'Brien-Smith", "ops team 2", "Łukasz"):
        assert check_name(name) == name
