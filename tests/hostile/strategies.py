"""Hypothesis strategies for hostile profiles: unicode of every kind, control characters,
enormous and negative numbers, NaN and infinity, dates far in the past and future, 500
projects, 100,000-character resumes, deeply nested or wrong-typed JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from trustq.schemas import MAX_PROJECTS, MAX_RESUME_CHARS

TODAY = dt.date.today()

# Every code point, surrogate halves, NUL and other control characters included.
ANY_CHAR = st.characters(exclude_categories=())
CONTROL = st.characters(categories=["Cc", "Cf", "Zl", "Zp"])
NASTY_TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=40),
    st.text(CONTROL, min_size=1, max_size=10),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\u202eevil\u202c",  # right-to-left override
            "Z\u0351\u0307\u0304\u0327a\u0352\u0310lgo",  # stacked combining marks
            "👩‍💻🏳️‍🌈",  # joiner sequences
            "\ufeffBOM",
            "'; DROP TABLE submissions; --",
            "{{7*7}} ${jndi:ldap://x}",
            "\ud83d",  # half of a surrogate pair
        ]
    ),
)


def _repeat(text: str, size: int) -> str:
    return (text * (size // max(1, len(text)) + 1))[:size]


# Whole resumes: short and odd, or right at (and just over) the 100,000-character limit.
RESUMES = st.one_of(
    NASTY_TEXT,
    st.builds(
        _repeat,
        st.text(ANY_CHAR, min_size=1, max_size=30),
        st.sampled_from([1, 5_000, MAX_RESUME_CHARS - 1, MAX_RESUME_CHARS, MAX_RESUME_CHARS + 1]),
    ),
)

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, -1, 1e308, -1e308, 5e-324, 2**63, 2**64, 1e9, 1e9 + 1, 600, 601, 80]),
    st.booleans(),
    st.text(max_size=5),
)

DATES = st.one_of(
    st.dates().map(dt.date.isoformat),  # 0001-01-01 to 9999-12-31
    st.sampled_from(
        [
            "1969-12-31",
            "1970-01-01",
            TODAY.isoformat(),
            (TODAY + dt.timedelta(days=1)).isoformat(),
            (TODAY + dt.timedelta(days=366)).isoformat(),
            (TODAY + dt.timedelta(days=367)).isoformat(),
            "2021-02-30",
            "2021-1-1",
            "",
            "yesterday",
            "2021-01-01T25:00:00",
        ]
    ),
    st.integers(min_value=-(10**12), max_value=10**12),
)

# Arbitrary JSON: the wrong type for any field, nested a few levels.
ANY_JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(ANY_CHAR, max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


PAST = st.dates(min_value=dt.date(1970, 1, 1), max_value=TODAY).map(dt.date.isoformat)
# Text a careful client could send: any printable character, combining marks, emoji, RTL.
LEGAL_TEXT = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=60)


def _plausible_project() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"title": LEGAL_TEXT, "start_date": PAST},
        optional={
            "description": st.text(max_size=200),
            "duration_months": st.floats(0.01, 600),
            "technologies": st.lists(st.text(min_size=1, max_size=10), max_size=4),
            "budget_usd": st.floats(0, 1e9),
            "client_rating": st.floats(1, 5),
            "completed_on_time": st.booleans(),
            "disputed": st.booleans(),
            "link": st.just("https://example.com/p"),
        },
    )


def _plausible_profile() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "external_id": LEGAL_TEXT,
            "resume_text": LEGAL_TEXT.filter(str.strip),
            "experience_level": st.sampled_from(["entry", "mid", "senior", "expert"]),
        },
        optional={
            "claimed_years_experience": st.floats(0, 80),
            "skills": st.lists(st.text(min_size=1, max_size=10), max_size=5),
            "links": st.fixed_dictionaries({}, optional={"github": st.just("https://g.com/x")}),
            "projects": st.lists(_plausible_project(), max_size=4),
        },
    )


# What a hostile client may put in each place.
PROFILE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "external_id": NASTY_TEXT,
    "idempotency_key": NASTY_TEXT,
    "resume_text": RESUMES,
    "experience_level": st.one_of(NASTY_TEXT, st.just("wizard")),
    "claimed_years_experience": NUMBERS,
    "skills": st.one_of(st.lists(NASTY_TEXT, max_size=3), ANY_JSON),
    "links": st.one_of(st.fixed_dictionaries({"github": NASTY_TEXT}), ANY_JSON),
    "projects": st.one_of(
        # Right at and just over the 500-project limit: one project repeated.
        st.builds(
            lambda p, n: [p] * n,
            _plausible_project(),
            st.sampled_from([MAX_PROJECTS, MAX_PROJECTS + 1]),
        ),
        ANY_JSON,
    ),
    "unknown_field": ANY_JSON,
}
PROJECT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "title": NASTY_TEXT,
    "description": RESUMES,
    "start_date": DATES,
    "end_date": DATES,
    "duration_months": NUMBERS,
    "technologies": st.one_of(st.lists(NASTY_TEXT, max_size=3), ANY_JSON),
    "budget_usd": NUMBERS,
    "client_rating": NUMBERS,
    "completed_on_time": ANY_JSON,
    "disputed": NUMBERS,
    "link": NASTY_TEXT,
}


@st.composite
def hostile_profiles(draw: st.DrawFn) -> Any:
    """A plausible profile with up to three fields made hostile, or not a profile at all."""
    if draw(st.integers(0, 11)) == 0:
        return draw(ANY_JSON)
    profile = draw(_plausible_profile())
    for _ in range(draw(st.integers(0, 3))):
        if (
            profile.get("projects")
            and isinstance(profile["projects"], list)
            and draw(st.booleans())
        ):
            k = draw(st.integers(0, len(profile["projects"]) - 1))
            name = draw(st.sampled_from(sorted(PROJECT_FIELDS)))
            original = profile["projects"][k]
            project = dict(original) if isinstance(original, dict) else {}
            project[name] = draw(PROJECT_FIELDS[name])
            profile["projects"] = [*profile["projects"][:k], project, *profile["projects"][k + 1 :]]
        else:
            name = draw(st.sampled_from(sorted(PROFILE_FIELDS)))
            profile[name] = draw(PROFILE_FIELDS[name])
    return profile


def deeply_nested_document(depth: int) -> str:
    """A JSON profile whose skills nest ``depth`` lists deep."""
    return (
        '{"external_id": "deep", "resume_text": "x", "experience_level": "mid", "skills": '
        + "[" * depth
        + "]" * depth
        + "}"
    )


def extreme_valid_profiles() -> st.SearchStrategy[dict[str, Any]]:
    """Profiles at the edges of what the schema accepts: every one of them must be scored."""
    past = st.dates(min_value=dt.date(1970, 1, 1), max_value=TODAY)
    printable = st.characters(exclude_categories=["Cs", "Cc"])
    project = st.builds(
        lambda title, start, months, budget, rating, tech: {
            "title": title,
            "start_date": start.isoformat(),
            "duration_months": months,
            "budget_usd": budget,
            "client_rating": rating,
            "technologies": tech,
        },
        st.text(printable, min_size=1, max_size=300).filter(str.strip),
        past,
        st.sampled_from([0.001, 1, 600]),
        st.sampled_from([0, 1e9, 12.5]),
        st.sampled_from([1, 5, 3.3]),
        st.lists(st.text(printable, min_size=1, max_size=30), max_size=3),
    )
    return st.fixed_dictionaries(
        {
            "external_id": st.text(printable, min_size=1, max_size=200),
            "resume_text": st.builds(
                _repeat,
                st.text(printable, min_size=1, max_size=40).filter(str.strip),
                st.sampled_from([1, 2_000, MAX_RESUME_CHARS]),
            ).filter(str.strip),
            "experience_level": st.sampled_from(["entry", "mid", "senior", "expert"]),
            "claimed_years_experience": st.sampled_from([0, 80, 7.5]),
            "projects": st.one_of(
                st.lists(project, max_size=5),
                st.builds(lambda p: [p] * MAX_PROJECTS, project),
            ),
        }
    )
