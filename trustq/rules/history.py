"""Checks on the claims and the project history: experience, workload, consistency, ratings.

Each check compares like with like. A claimed level is a career claim, so it is held
against the claimed career years, never against the time spent on this platform (most
people bring a career with them). A project count is not a risk on its own (top
freelancers have hundreds of small jobs); what cannot be real is many projects running
at the same time, so the workload check counts simultaneous projects.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterator

from trustq.rules.common import EVIDENCE_LIST_MAX, by_threshold, project_ref, rounded
from trustq.rules.flags import Flag, Severity
from trustq.schemas import OVERLAP_GRACE_DAYS, ExperienceLevel, Profile, Project

# The fewest career years each level means (the original design's ranges); there is no
# upper end: a senior with 25 years is still a senior.
LEVEL_MIN_YEARS: dict[ExperienceLevel, float] = {
    ExperienceLevel.entry: 0.0,
    ExperienceLevel.mid: 2.0,
    ExperienceLevel.senior: 5.0,
    ExperienceLevel.expert: 8.0,
}
# Claimed years as a share of the level's minimum: below the first, medium; below the
# second, high. A mid with 1.5 years is a rounding matter, an expert with 2 years is not.
LEVEL_SHORTFALL = (0.6, 0.3)
# Projects running at the same moment: medium, high. A freelancer with a few retainers
# and some small gigs rarely has more than five at once; fifteen is no one person's work.
SIMULTANEOUS_PROJECTS = (8, 15)
TECH_CONSISTENCY = (0.5, 0.25)  # below: medium, below: high
TECH_MIN_PROJECTS = 5
PERFECT_RATINGS_MIN_PROJECTS = 5


def experience_flags(profile: Profile) -> Iterator[Flag]:
    """The claimed level against the claimed career years (nothing to compare without them)."""
    claimed = profile.claimed_years_experience
    if claimed is None:
        return
    level = profile.experience_level
    floor = LEVEL_MIN_YEARS[level]
    if floor == 0 or claimed >= floor * LEVEL_SHORTFALL[0]:
        return
    severity = Severity.high if claimed < floor * LEVEL_SHORTFALL[1] else Severity.medium
    name = level.value.capitalize()
    yield Flag(
        "experience_mismatch",
        severity,
        f"Claims the {name} level with {claimed:g} years of experience; {name} means at "
        f"least {floor:g} years.",
        {
            "level": level.value,
            "claimed_years": claimed,
            "expected_min_years": floor,
            "shortfall_thresholds": list(LEVEL_SHORTFALL),
        },
    )


def history_flags(profile: Profile, projects: list[Project], as_of: dt.date) -> Iterator[Flag]:
    """Workload, technical consistency and ratings of the project history (in time order)."""
    n = len(projects)
    if n == 0:
        return
    yield from _workload_flags(projects, as_of)

    # Projects that list no technologies (writing, design, support) say nothing here.
    skills = profile.skill_set()
    with_tech = [(i, p, p.technology_set()) for i, p in enumerate(projects) if p.technologies]
    if len(with_tech) >= TECH_MIN_PROJECTS:
        tc = sum(len(techs & skills) / len(techs) for _, _, techs in with_tech) / len(with_tech)
        if tc < TECH_CONSISTENCY[0]:
            severity = Severity.high if tc < TECH_CONSISTENCY[1] else Severity.medium
            off_stack = [
                {**project_ref(i, p), "technologies": p.technologies[:10]}
                for i, p, techs in with_tech
                if not techs & skills
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


def _workload_flags(projects: list[Project], as_of: dt.date) -> Iterator[Flag]:
    peak, at, running = peak_simultaneous(projects, as_of)
    severity = by_threshold(peak, SIMULTANEOUS_PROJECTS)
    if severity is None:
        return
    yield Flag(
        "overlapping_timelines",
        severity,
        f"{peak} projects were running at the same time on {at.isoformat()}.",
        {
            "simultaneous_projects": peak,
            "date": at.isoformat(),
            "thresholds": list(SIMULTANEOUS_PROJECTS),
            "projects": [project_ref(i, projects[i]) for i in running[:EVIDENCE_LIST_MAX]],
        },
    )


def peak_simultaneous(projects: list[Project], as_of: dt.date) -> tuple[int, dt.date, list[int]]:
    """The most projects running at one moment, the first day it happened, and which ones
    (positions in ``projects``, which are in start order).

    A project runs from its start to its end, less the hand-over grace (a project that
    starts a few days before the previous one ends is a hand-over, not parallel work), at
    most half its length; ongoing work runs until ``as_of``.
    """
    ends: list[tuple[dt.date, int]] = []  # a heap of (last running day + 1, position)
    peak, peak_day, peak_set = 0, as_of, []
    for i, project in enumerate(projects):
        start = project.start_date
        end = project.end(as_of)
        # A hand-over takes at most half of a short project.
        grace = min(dt.timedelta(days=OVERLAP_GRACE_DAYS), (end - start) / 2)
        stop = max(start + dt.timedelta(days=1), end - grace)
        while ends and ends[0][0] <= start:
            heapq.heappop(ends)
        heapq.heappush(ends, (stop, i))
        if len(ends) > peak:
            peak, peak_day, peak_set = len(ends), start, sorted(j for _, j in ends)
    return peak, peak_day, peak_set
