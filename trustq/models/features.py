"""Per-project step features for the sequence model, computed one way for training and serving."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from trustq.models.indicators import compute_indicators, normalise_indicators
from trustq.schemas import Profile

STEP_FEATURES: tuple[str, ...] = (
    "duration_log",
    "budget_log",
    "budget_missing",
    "client_rating",
    "client_rating_missing",
    "completed_on_time",
    "completed_on_time_missing",
    "disputed",
    "cancelled",
    "has_link",
    "technologies_log",
    "technologies_in_skills",
    "gap_months",
    "position_from_end",
    "is_real_project",
)

# The sequence model reads only this many of the most recent projects; the indicators
# still summarise the whole history.
MAX_STEPS: int = 100

DAYS_PER_MONTH = 30.4375
# Reference scales: a value at the reference maps to 1.0. The schema's upper limits
# (600 months, $1e9, 100 technologies) land at about 1.5, so nothing is clipped away.
DURATION_REF_MONTHS = 120.0
BUDGET_REF_USD = 1e6
TECHNOLOGIES_REF = 20.0
# Gaps and overlaps beyond two years tell the model nothing more.
GAP_CLIP_MONTHS = 24.0

_INDEX = {name: i for i, name in enumerate(STEP_FEATURES)}


def project_steps(profile: Profile, as_of: dt.date) -> np.ndarray:
    """The (steps, features) array of the most recent projects, oldest first."""
    projects = profile.projects_in_time_order()
    steps = np.zeros((max(1, min(len(projects), MAX_STEPS)), len(STEP_FEATURES)), np.float32)
    if not projects:
        return steps

    skills = {s.strip().lower() for s in profile.skills}
    # Gaps are measured against every earlier project, not only the kept ones, so the
    # first kept step still knows whether it overlapped older work.
    gaps: list[float] = []
    latest_end: dt.date | None = None
    for project in projects:
        if latest_end is None:
            gaps.append(0.0)
        else:
            gaps.append((project.start_date - latest_end).days / DAYS_PER_MONTH)
        end = project.end(as_of)
        latest_end = end if latest_end is None else max(latest_end, end)

    kept = projects[-MAX_STEPS:]
    kept_gaps = gaps[-MAX_STEPS:]
    for row, (project, gap) in enumerate(zip(kept, kept_gaps, strict=True)):
        f = steps[row]
        f[_INDEX["duration_log"]] = math.log1p(project.months(as_of)) / math.log1p(
            DURATION_REF_MONTHS
        )
        if project.budget_usd is None:
            f[_INDEX["budget_missing"]] = 1.0
        else:
            f[_INDEX["budget_log"]] = math.log1p(project.budget_usd) / math.log1p(BUDGET_REF_USD)
        if project.client_rating is None:
            f[_INDEX["client_rating_missing"]] = 1.0
        else:
            f[_INDEX["client_rating"]] = (project.client_rating - 1.0) / 4.0
        if project.completed_on_time is None:
            f[_INDEX["completed_on_time_missing"]] = 1.0
        else:
            f[_INDEX["completed_on_time"]] = float(project.completed_on_time)
        f[_INDEX["disputed"]] = float(project.disputed)
        f[_INDEX["cancelled"]] = float(project.cancelled)
        f[_INDEX["has_link"]] = float(bool(project.link))
        techs = {t.strip().lower() for t in project.technologies}
        f[_INDEX["technologies_log"]] = math.log1p(len(techs)) / math.log1p(TECHNOLOGIES_REF)
        # Same definition as the tech_consistency indicator, per project.
        f[_INDEX["technologies_in_skills"]] = len(techs & skills) / len(techs) if techs else 0.0
        f[_INDEX["gap_months"]] = max(-GAP_CLIP_MONTHS, min(gap, GAP_CLIP_MONTHS)) / GAP_CLIP_MONTHS
        f[_INDEX["position_from_end"]] = (len(kept) - 1 - row) / MAX_STEPS
        f[_INDEX["is_real_project"]] = 1.0
    return steps


def profile_features(profile: Profile, as_of: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """The step array and the normalised indicators of one profile."""
    return project_steps(profile, as_of), normalise_indicators(compute_indicators(profile, as_of))
