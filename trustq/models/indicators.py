"""The six project indicators, computed one way for training and serving alike."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from trustq.schemas import OVERLAP_GRACE_DAYS, Profile

INDICATOR_NAMES: tuple[str, ...] = (
    "num_projects",
    "total_years",
    "avg_project_duration",
    "overlap_count",
    "tech_consistency",
    "project_link_ratio",
)


def compute_indicators(profile: Profile, as_of: dt.date) -> dict[str, float]:
    """The raw indicators of a profile, in natural units (counts, years, months, ratios)."""
    projects = profile.projects_in_time_order()
    n = len(projects)
    if n == 0:
        return dict.fromkeys(INDICATOR_NAMES, 0.0)

    ends = [p.end(as_of) for p in projects]
    first_start = projects[0].start_date
    span_days = max((max(ends) - first_start).days, 0)

    overlaps = 0
    latest_end: dt.date | None = None
    for project, end in zip(projects, ends, strict=True):
        if latest_end is not None and (latest_end - project.start_date).days > OVERLAP_GRACE_DAYS:
            overlaps += 1
        latest_end = end if latest_end is None else max(latest_end, end)

    skills = profile.skill_set()
    consistency = [tech_consistency(p.technology_set(), skills) for p in projects]

    return {
        "num_projects": float(n),
        "total_years": span_days / 365.25,
        "avg_project_duration": sum(p.months(as_of) for p in projects) / n,
        "overlap_count": float(overlaps),
        "tech_consistency": sum(consistency) / n,
        "project_link_ratio": sum(1 for p in projects if p.link) / n,
    }


def tech_consistency(techs: set[str], skills: set[str]) -> float:
    """The share of a project's technologies that are among the skills (0 without any)."""
    return len(techs & skills) / len(techs) if techs else 0.0


def normalise_indicators(raw: dict[str, float]) -> np.ndarray:
    """A fixed transform to roughly [0, 1]; no statistics are fitted, so nothing can drift."""
    return np.array(
        [
            math.log1p(raw["num_projects"]) / math.log1p(50),
            min(raw["total_years"], 40.0) / 20.0,
            min(raw["avg_project_duration"], 36.0) / 12.0,
            math.log1p(raw["overlap_count"]) / math.log1p(50),
            raw["tech_consistency"],
            raw["project_link_ratio"],
        ],
        dtype=np.float32,
    )
