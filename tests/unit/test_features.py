"""Leave-one-out inputs equal the inputs of the smaller profile, bit for bit."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from tests.factories import profile, project
from trustq.data.synthetic import generate
from trustq.models.features import MAX_STEPS, leave_one_out, project_steps
from trustq.models.indicators import compute_indicators
from trustq.schemas import LabelledProfile, Profile

AS_OF = dt.date(2026, 6, 1)


def _check(p: Profile) -> int:
    ordered = p.projects_in_time_order()
    candidates = list(range(len(ordered)))
    variants = leave_one_out(p, AS_OF, candidates)
    assert len(variants) == len(candidates)
    for k, (steps, raw) in zip(candidates, variants, strict=True):
        smaller = p.model_copy(update={"projects": ordered[:k] + ordered[k + 1 :]})
        expected = project_steps(smaller, AS_OF)
        assert steps.dtype == expected.dtype
        assert np.array_equal(steps, expected), f"steps differ without project {k}"
        assert raw == compute_indicators(smaller, AS_OF), f"indicators differ without {k}"
    return len(candidates)


def test_synthetic_profiles() -> None:
    records = generate(150, seed=11, resume_words=(10, 20))
    profiles = [LabelledProfile.model_validate(r) for r in records]
    assert sum(_check(p) for p in profiles) > 500


def test_overlaps_ongoing_work_ties_and_missing_fields() -> None:
    p = Profile.model_validate(
        profile(
            skills=["Python", "SQL"],
            projects=[
                project("2020-01-01", 12, technologies=["python"], link="https://github.com/a/b"),
                project("2020-03-01", 2, technologies=["go"], budget_usd=None),
                project("2020-03-01", 30, client_rating=None, completed_on_time=None),
                project("2023-05-01", 1, technologies=[]),
                {"title": "ongoing", "start_date": "2025-01-01", "description": "still going"},
            ],
        )
    )
    assert _check(p) == 5


def test_one_project_leaves_the_empty_history() -> None:
    p = Profile.model_validate(profile(projects=[project("2022-01-01", 3)]))
    [(steps, raw)] = leave_one_out(p, AS_OF, [0])
    assert np.array_equal(steps, project_steps(p.model_copy(update={"projects": []}), AS_OF))
    assert set(raw.values()) == {0.0}


def test_longer_histories_than_the_sequence_model_reads() -> None:
    start = dt.date(2010, 1, 1)
    projects = [
        project((start + dt.timedelta(days=30 * i)).isoformat(), 1 + i % 5, disputed=i % 7 == 0)
        for i in range(MAX_STEPS + 2)
    ]
    p = Profile.model_validate(profile(projects=projects))
    assert _check(p) == MAX_STEPS + 2


def test_positions_outside_the_history_are_refused() -> None:
    p = Profile.model_validate(profile(projects=[project("2022-01-01", 3)]))
    with pytest.raises(IndexError, match="positions among the 1 projects"):
        leave_one_out(p, AS_OF, [1])
    assert leave_one_out(p, AS_OF, []) == []
