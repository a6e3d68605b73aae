"""Checks on the claims and the project history: experience, workload, consistency, ratings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from trustq.models.indicators import OVERLAP_GRACE_DAYS, skill_set, technologies
from trustq.rules.common import EVIDENCE_LIST_MAX, by_threshold, project_ref, rounded
from trustq.rules.flags import Flag, Severity
from trustq.schemas import ExperienceLevel, Profile, Project

# (years lo, years hi or None), (projects lo, projects hi): the original design's ranges.
LEVEL_RANGES: dict[ExperienceLevel, tuple[tuple[float, float | None], tuple[int, int]]] = {
    ExperienceLevel.entry: ((0.0, 2.0), (1, 6)),
    ExperienceLevel.mid: ((2.0, 5.0), (4, 15)),
    ExperienceLevel.senior: ((5.0, 10.0), (10, 30)),
    ExperienceLevel.expert: ((8.0, None), (20, 50)),
}
UNREALISTIC_PROJECTS = (40, 60)  # medium, high
OVERLAP_RATIO = (0.3, 0.5)
# Two projects, one of them overlapping, is a ratio of 0.5 that says nothing.
OVERLAP_MIN_PROJECTS = 3
PROJECTS_PER_YEAR = (8.0, 12.0)
# A history shorter than a year is counted as one year, so a few short gigs in the
# first months do not read as dozens of projects a year.
MIN_HISTORY_YEARS = 1.0
TECH_CONSISTENCY = (0.5, 0.25)  # below: medium, below: high
TECH_MIN_PROJECTS = 5
# Claimed years against the span of the history: (excess years, ratio) per severity.
# Honest profiles often claim a few years from before the platform, so the bar is high.
CLAIMED_YEARS = ((6.0, 1.5), (8.0, 2.0), (15.0, 3.0))  # low, medium, high
CLAIMED_MIN_PROJECTS = 3
RESUME_YEARS = ((3.0, 1.5), (8.0, 2.0))  # medium, high
PERFECT_RATINGS_MIN_PROJECTS = 5


def experience_flags(profile: Profile, raw: dict[str, float], n_projects: int) -> Iterator[Flag]:
    level = profile.experience_level
    (y_lo, y_hi), (p_lo, p_hi) = LEVEL_RANGES[level]
    claimed = profile.claimed_years_experience
    years = claimed if claimed is not None else raw["total_years"]
    years_source = "claimed_years_experience" if claimed is not None else "project history span"
    name = level.value.capitalize()
    range_text = f"{y_lo:g}-{y_hi:g}" if y_hi is not None else f"at least {y_lo:g}"

    if years < y_lo or (y_hi is not None and years > y_hi):
        below = years < y_lo
        severity = _shortfall_severity(years, y_lo) if below else Severity.low
        yield Flag(
            "experience_mismatch",
            severity,
            f"Claims the {name} level with {years:.1f} years of experience "
            f"({years_source}); {name} means {range_text} years.",
            {
                "dimension": "years",
                "level": level.value,
                "value": rounded(years, 2),
                "source": years_source,
                "expected_min": y_lo,
                "expected_max": y_hi,
                "direction": "below" if below else "above",
            },
        )

    # A profile without any history is new, not inconsistent; the count check needs one.
    if n_projects and (n_projects < p_lo or n_projects > p_hi):
        below = n_projects < p_lo
        severity = _shortfall_severity(n_projects, p_lo) if below else Severity.low
        yield Flag(
            "experience_mismatch",
            severity,
            f"Claims the {name} level with {n_projects} projects; {name} means "
            f"{p_lo}-{p_hi} projects.",
            {
                "dimension": "projects",
                "level": level.value,
                "value": n_projects,
                "expected_min": p_lo,
                "expected_max": p_hi,
                "direction": "below" if below else "above",
            },
        )


def _shortfall_severity(value: float, lo: float) -> Severity:
    # Claiming a level above the record is the risky direction; how far below decides.
    share = value / lo
    if share >= 0.75:
        return Severity.low
    if share >= 0.4:
        return Severity.medium
    return Severity.high


def history_flags(
    profile: Profile,
    projects: list[Project],
    raw: dict[str, float],
    as_of: dt.date,
) -> Iterator[Flag]:
    n = len(projects)
    if n == 0:
        return

    severity = by_threshold(n, UNREALISTIC_PROJECTS)
    if severity:
        yield Flag(
            "unrealistic_projects",
            severity,
            f"Lists {n} projects; {UNREALISTIC_PROJECTS[0]} or more is rarely a real history.",
            {"num_projects": n, "thresholds": list(UNREALISTIC_PROJECTS)},
        )

    ratio = raw["overlap_count"] / n
    severity = by_threshold(ratio, OVERLAP_RATIO) if n >= OVERLAP_MIN_PROJECTS else None
    if severity:
        overlapping = _overlapping_projects(projects, as_of)
        yield Flag(
            "overlapping_timelines",
            severity,
            f"{int(raw['overlap_count'])} of {n} projects started before earlier work had "
            f"ended (ratio {ratio:.2f}).",
            {
                "overlap_count": int(raw["overlap_count"]),
                "num_projects": n,
                "overlap_ratio": rounded(ratio),
                "thresholds": list(OVERLAP_RATIO),
                "projects": overlapping[:EVIDENCE_LIST_MAX],
            },
        )

    years = raw["total_years"]
    per_year = n / max(years, MIN_HISTORY_YEARS)
    severity = by_threshold(per_year, PROJECTS_PER_YEAR)
    if severity:
        yield Flag(
            "inflated_experience",
            severity,
            f"{n} projects in {years:.1f} years of history is {per_year:.1f} projects a year.",
            {
                "num_projects": n,
                "history_years": rounded(years, 2),
                "projects_per_year": rounded(per_year, 2),
                "thresholds": list(PROJECTS_PER_YEAR),
            },
        )

    tc = raw["tech_consistency"]
    if n >= TECH_MIN_PROJECTS and tc < TECH_CONSISTENCY[0]:
        severity = Severity.high if tc < TECH_CONSISTENCY[1] else Severity.medium
        skills = skill_set(profile)
        off_stack = [
            {**project_ref(i, p), "technologies": p.technologies[:10]}
            for i, p in enumerate(projects)
            if not technologies(p) & skills
        ]
        yield Flag(
            "weak_technical_consistency",
            severity,
            f"Only {tc:.0%} of the technologies used in projects are among the listed skills.",
            {
                "tech_consistency": rounded(tc),
                "thresholds": list(TECH_CONSISTENCY),
                "projects_without_listed_skills": len(off_stack),
                "projects": off_stack[:EVIDENCE_LIST_MAX],
            },
        )

    claimed = profile.claimed_years_experience
    if claimed is not None and n >= CLAIMED_MIN_PROJECTS:
        excess = claimed - years
        ratio = claimed / max(years, MIN_HISTORY_YEARS)
        severity = None
        for sev, (min_excess, min_ratio) in zip(
            (Severity.low, Severity.medium, Severity.high), CLAIMED_YEARS, strict=True
        ):
            if excess >= min_excess and ratio >= min_ratio:
                severity = sev
        if severity:
            yield Flag(
                "claimed_years_inflated",
                severity,
                f"Claims {claimed:g} years of experience, but the {n} listed projects span "
                f"{years:.1f} years.",
                {
                    "claimed_years": claimed,
                    "history_years": rounded(years, 2),
                    "excess_years": rounded(excess, 2),
                    "ratio": rounded(ratio, 2),
                    "first_project": project_ref(0, projects[0]),
                },
            )

    rated = [(i, p) for i, p in enumerate(projects) if p.client_rating is not None]
    if len(rated) >= PERFECT_RATINGS_MIN_PROJECTS and all(p.client_rating == 5 for _, p in rated):
        disputed = [project_ref(i, p) for i, p in rated if p.disputed]
        if disputed:
            share = len(disputed) / len(rated)
            severity = Severity.high if len(disputed) >= 2 or share >= 0.2 else Severity.medium
            yield Flag(
                "perfect_ratings_with_disputes",
                severity,
                f"All {len(rated)} rated projects have a perfect 5.0 rating, yet "
                f"{len(disputed)} of them were disputed.",
                {
                    "rated_projects": len(rated),
                    "disputed_projects": len(disputed),
                    "projects": disputed[:EVIDENCE_LIST_MAX],
                },
            )


def _overlapping_projects(projects: list[Project], as_of: dt.date) -> list[dict[str, Any]]:
    # The same sweep as compute_indicators, keeping which projects overlapped what.
    out = []
    latest_end: dt.date | None = None
    latest_index = -1
    for i, project in enumerate(projects):
        end = project.end(as_of)
        if latest_end is not None and (latest_end - project.start_date).days > OVERLAP_GRACE_DAYS:
            out.append(
                {
                    **project_ref(i, project),
                    "overlaps": project_ref(latest_index, projects[latest_index]),
                }
            )
        if latest_end is None or end > latest_end:
            latest_end, latest_index = end, i
    return out
