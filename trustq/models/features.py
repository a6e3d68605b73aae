"""Per-project step features for the sequence model, computed one way for training and serving."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import numpy as np

from trustq.models.indicators import INDICATOR_NAMES, compute_indicators, tech_consistency
from trustq.models.profile_features import claims_and_flags, profile_vector
from trustq.rules.checks import evaluate_flags
from trustq.schemas import OVERLAP_GRACE_DAYS, Profile, Project

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
_GAP = _INDEX["gap_months"]
_POSITION = _INDEX["position_from_end"]


def project_steps(profile: Profile, as_of: dt.date) -> np.ndarray:
    """The (steps, features) array of the most recent projects, oldest first."""
    projects = profile.projects_in_time_order()
    steps = np.zeros((max(1, min(len(projects), MAX_STEPS)), len(STEP_FEATURES)), np.float32)
    if not projects:
        return steps

    skills = profile.skill_set()
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
        steps[row] = _own_row(project, skills, as_of)
        steps[row, _GAP] = _gap_feature(gap)
        steps[row, _POSITION] = (len(kept) - 1 - row) / MAX_STEPS
    return steps


def _gap_feature(gap_months: float) -> float:
    return max(-GAP_CLIP_MONTHS, min(gap_months, GAP_CLIP_MONTHS)) / GAP_CLIP_MONTHS


def _own_row(project: Project, skills: set[str], as_of: dt.date) -> np.ndarray:
    """A project's step features that depend on that project alone (all but the gap to
    the work before it and its position)."""
    f = np.zeros(len(STEP_FEATURES), np.float32)
    f[_INDEX["duration_log"]] = math.log1p(project.months(as_of)) / math.log1p(DURATION_REF_MONTHS)
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
    techs = project.technology_set()
    f[_INDEX["technologies_log"]] = math.log1p(len(techs)) / math.log1p(TECHNOLOGIES_REF)
    # The tech_consistency indicator, per project.
    f[_INDEX["technologies_in_skills"]] = tech_consistency(techs, skills)
    f[_INDEX["is_real_project"]] = 1.0
    return f


def leave_one_out(
    profile: Profile,
    as_of: dt.date,
    candidates: Sequence[int],
    steps: np.ndarray | None = None,
) -> list[tuple[np.ndarray, dict[str, float]]]:
    """For each ``k`` in ``candidates`` (positions in ``profile.projects_in_time_order()``),
    the step array and the raw indicators of the profile without project ``k``.

    The same values as :func:`project_steps` and :func:`compute_indicators` of that
    smaller profile, bit for bit, without building it: each project's own features are
    computed once, and only what depends on the neighbours (gaps, positions, overlaps,
    the span and the averages) is recomputed per variant, for all variants at once.
    ``steps``, the profile's own :func:`project_steps`, holds those features already
    when the profile has no more projects than the sequence model reads.
    """
    projects = profile.projects_in_time_order()
    n = len(projects)
    if any(not 0 <= k < n for k in candidates):
        raise IndexError(f"candidates must be positions among the {n} projects")
    if not candidates:
        return []
    if n == 1:
        empty = np.zeros((1, len(STEP_FEATURES)), np.float32)
        return [(empty.copy(), dict.fromkeys(INDICATOR_NAMES, 0.0)) for _ in candidates]

    skills = profile.skill_set()
    if steps is not None and n <= MAX_STEPS and steps.shape == (n, len(STEP_FEATURES)):
        own = steps  # its gap and position columns are replaced below, in copies
    else:
        own = np.stack([_own_row(p, skills, as_of) for p in projects])
    starts = np.array([p.start_date.toordinal() for p in projects], np.int64)
    ends = np.array([p.end(as_of).toordinal() for p in projects], np.int64)
    months = np.array([p.months(as_of) for p in projects], np.float64)
    consistency = np.array([tech_consistency(p.technology_set(), skills) for p in projects])
    links = np.array([bool(p.link) for p in projects], np.int64)

    # Row v: the positions of the projects variant v keeps, in time order.
    keep = np.array([[j for j in range(n) if j != k] for k in candidates], np.int64)
    latest = np.maximum.accumulate(ends[keep], axis=1)
    # Days from the latest end so far to each project's start (the first has none).
    gap_days = starts[keep][:, 1:] - latest[:, :-1]

    m = min(n - 1, MAX_STEPS)
    variant_steps = own[keep[:, -m:]]
    gaps = np.zeros((len(candidates), n - 1), np.float64)
    gaps[:, 1:] = gap_days / DAYS_PER_MONTH
    variant_steps[:, :, _GAP] = (
        np.clip(gaps[:, -m:], -GAP_CLIP_MONTHS, GAP_CLIP_MONTHS) / GAP_CLIP_MONTHS
    )
    variant_steps[:, :, _POSITION] = (m - 1 - np.arange(m)) / MAX_STEPS

    span_days = np.maximum(latest[:, -1] - starts[keep[:, 0]], 0)
    overlaps = (-gap_days > OVERLAP_GRACE_DAYS).sum(axis=1)
    # Running sums add left to right, as the indicators' own sums do.
    month_sums = np.cumsum(months[keep], axis=1)[:, -1]
    consistency_sums = np.cumsum(consistency[keep], axis=1)[:, -1]
    link_counts = links[keep].sum(axis=1)
    out = []
    for v in range(len(candidates)):
        raw = {
            "num_projects": float(n - 1),
            "total_years": int(span_days[v]) / 365.25,
            "avg_project_duration": float(month_sums[v]) / (n - 1),
            "overlap_count": float(overlaps[v]),
            "tech_consistency": float(consistency_sums[v]) / (n - 1),
            "project_link_ratio": int(link_counts[v]) / (n - 1),
        }
        out.append((variant_steps[v], raw))
    return out


def profile_features(profile: Profile, as_of: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """The step array and the profile vector (indicators, claims, flags) of one profile."""
    static = claims_and_flags(profile, evaluate_flags(profile, as_of))
    return project_steps(profile, as_of), profile_vector(compute_indicators(profile, as_of), static)
