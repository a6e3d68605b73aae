"""Rule-based flags: plain checks on a profile that a person can read and verify.

Every check works on the submitted data only. Links are judged by their text
(``urllib.parse``); nothing is ever fetched, so a profile cannot make the service
open a connection anywhere.
"""

from __future__ import annotations

import bisect
import datetime as dt
import difflib
import ipaddress
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from trustq.models.indicators import (
    OVERLAP_GRACE_DAYS,
    compute_indicators,
    skill_set,
    technologies,
)
from trustq.schemas import ExperienceLevel, Profile, Project


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"

    @property
    def rank(self) -> int:
        """1, 2 or 3; higher is worse."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.low: 1, Severity.medium: 2, Severity.high: 3}


@dataclass(frozen=True)
class Flag:
    code: str
    severity: Severity
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    source: str = "rule"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "evidence": self.evidence,
            "source": self.source,
        }


FLAG_CODES: tuple[str, ...] = (
    "experience_mismatch",
    "unrealistic_projects",
    "overlapping_timelines",
    "inflated_experience",
    "weak_technical_consistency",
    "claimed_years_inflated",
    "resume_years_inflated",
    "link_malformed",
    "link_wrong_site",
    "link_identity_mismatch",
    "off_platform_request",
    "guarantee_language",
    "keyword_stuffing",
    "perfect_ratings_with_disputes",
    "near_duplicate_resume",
)
# Raised by the scoring task, which looks other resumes up in the database; listed here
# so that rules can name it and the flag features have a slot for it.
NEAR_DUPLICATE_CODE = "near_duplicate_resume"

# --- Thresholds ------------------------------------------------------------------------

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
STUFFING_LIST_ITEMS = (15, 25)  # medium, high
STUFFING_LIST_SHARE_HIGH = 0.3
STUFFING_REPEAT_MIN_COUNT = 8
STUFFING_REPEAT_RATIO = (0.08, 0.15)  # medium, high
STUFFING_WINDOW_WORDS = 200
PERFECT_RATINGS_MIN_PROJECTS = 5

_EVIDENCE_LIST_MAX = 10
_SNIPPET_CHARS = 300
# Negation and clause scope never look further back than this; it also bounds the work
# per match on text without punctuation.
_LOOKBACK_CHARS = 300


def _project_ref(index: int, project: Project) -> dict[str, Any]:
    return {"index": index, "title": project.title}


def _round(x: float, digits: int = 3) -> float:
    return round(float(x), digits)


# --- Profile-history checks ----------------------------------------------------------


def _experience_flags(profile: Profile, raw: dict[str, float], n_projects: int) -> Iterator[Flag]:
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
                "value": _round(years, 2),
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


def _by_threshold(value: float, thresholds: tuple[float, float]) -> Severity | None:
    if value >= thresholds[1]:
        return Severity.high
    if value >= thresholds[0]:
        return Severity.medium
    return None


def _history_flags(
    profile: Profile,
    projects: list[Project],
    raw: dict[str, float],
    as_of: dt.date,
) -> Iterator[Flag]:
    n = len(projects)
    if n == 0:
        return

    severity = _by_threshold(n, UNREALISTIC_PROJECTS)
    if severity:
        yield Flag(
            "unrealistic_projects",
            severity,
            f"Lists {n} projects; {UNREALISTIC_PROJECTS[0]} or more is rarely a real history.",
            {"num_projects": n, "thresholds": list(UNREALISTIC_PROJECTS)},
        )

    ratio = raw["overlap_count"] / n
    severity = _by_threshold(ratio, OVERLAP_RATIO) if n >= OVERLAP_MIN_PROJECTS else None
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
                "overlap_ratio": _round(ratio),
                "thresholds": list(OVERLAP_RATIO),
                "projects": overlapping[:_EVIDENCE_LIST_MAX],
            },
        )

    years = raw["total_years"]
    per_year = n / max(years, MIN_HISTORY_YEARS)
    severity = _by_threshold(per_year, PROJECTS_PER_YEAR)
    if severity:
        yield Flag(
            "inflated_experience",
            severity,
            f"{n} projects in {years:.1f} years of history is {per_year:.1f} projects a year.",
            {
                "num_projects": n,
                "history_years": _round(years, 2),
                "projects_per_year": _round(per_year, 2),
                "thresholds": list(PROJECTS_PER_YEAR),
            },
        )

    tc = raw["tech_consistency"]
    if n >= TECH_MIN_PROJECTS and tc < TECH_CONSISTENCY[0]:
        severity = Severity.high if tc < TECH_CONSISTENCY[1] else Severity.medium
        skills = skill_set(profile)
        off_stack = [
            {**_project_ref(i, p), "technologies": p.technologies[:10]}
            for i, p in enumerate(projects)
            if not technologies(p) & skills
        ]
        yield Flag(
            "weak_technical_consistency",
            severity,
            f"Only {tc:.0%} of the technologies used in projects are among the listed skills.",
            {
                "tech_consistency": _round(tc),
                "thresholds": list(TECH_CONSISTENCY),
                "projects_without_listed_skills": len(off_stack),
                "projects": off_stack[:_EVIDENCE_LIST_MAX],
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
                    "history_years": _round(years, 2),
                    "excess_years": _round(excess, 2),
                    "ratio": _round(ratio, 2),
                    "first_project": _project_ref(0, projects[0]),
                },
            )

    rated = [(i, p) for i, p in enumerate(projects) if p.client_rating is not None]
    if len(rated) >= PERFECT_RATINGS_MIN_PROJECTS and all(p.client_rating == 5 for _, p in rated):
        disputed = [_project_ref(i, p) for i, p in rated if p.disputed]
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
                    "projects": disputed[:_EVIDENCE_LIST_MAX],
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
                    **_project_ref(i, project),
                    "overlaps": _project_ref(latest_index, projects[latest_index]),
                }
            )
        if latest_end is None or end > latest_end:
            latest_end, latest_index = end, i
    return out


# --- Links -----------------------------------------------------------------------------

_GITHUB_HOSTS = frozenset({"github.com", "www.github.com"})
_GITHUB_USER_URL = "github.com/<user>"
_GITHUB_USER = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38})$", re.IGNORECASE)
# Paths on github.com that are site pages, not user names.
_GITHUB_RESERVED = frozenset(
    {"about", "features", "login", "join", "orgs", "settings", "topics", "explore", "pricing"}
)
_LINKEDIN_SLUG_SUFFIX = re.compile(r"-(?:[0-9a-f]{6,}|\d+)$")
# Hosting where the user name is the first label: ana.github.io, ana.netlify.app.
_SUBDOMAIN_HOSTS = (
    "github.io",
    "gitlab.io",
    "netlify.app",
    "vercel.app",
    "herokuapp.com",
    "wordpress.com",
    "wixsite.com",
    "pages.dev",
    "webflow.io",
    "carrd.co",
    "blogspot.com",
    "substack.com",
)
# Sites where the user name is the first path segment: behance.net/ana.
_PATH_HOSTS = frozenset(
    {
        "behance.net",
        "dribbble.com",
        "medium.com",
        "about.me",
        "gitlab.com",
        "github.com",
        "artstation.com",
        "codepen.io",
        "linktr.ee",
    }
)
_SECOND_LEVEL_SUFFIXES = frozenset({"co", "com", "org", "net", "ac", "gov", "edu"})


_SPACE = re.compile(r"\s")


_URL_HEAD = re.compile(r"[^:/?#]*:(?://[^/?#]*)?")


def _url_problem(url: str, memo: dict[str, str | None] | None = None) -> str | None:
    """Why ``url`` is not a usable http(s) address, or None.

    Only the scheme and host decide beyond spaces, so ``memo`` keyed on them spares
    re-parsing hundreds of project links on the same site.
    """
    if _SPACE.search(url):
        return "contains spaces"
    if memo is None:
        return _url_head_problem(url)
    head_match = _URL_HEAD.match(url)
    head = head_match.group() if head_match else url
    if head not in memo:
        memo[head] = _url_head_problem(url)
    return memo[head]


def _url_head_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        return "cannot be parsed"
    if parts.scheme.lower() not in ("http", "https"):
        return "is not an http(s) address"
    host = parts.hostname or ""
    if not host:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        # https://github.com@evil.example/ names evil.example as the host.
        return "carries a user name before the host"
    if ":" in host or host.replace(".", "").isdigit():
        try:
            ipaddress.ip_address(host)
            return "points at a bare IP address"
        except ValueError:
            pass
    labels = host.rstrip(".").split(".")
    if len(labels) < 2 or not all(labels) or not labels[-1].isalpha():
        return "has no valid domain name"
    return None


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").rstrip(".").lower()


def _path_segments(url: str) -> list[str]:
    return [s for s in urlsplit(url).path.split("/") if s]


def _link_flags(profile: Profile, projects: list[Project]) -> Iterator[Flag]:
    links = profile.links
    usable: dict[str, str] = {}
    for name in ("github", "linkedin", "portfolio"):
        url = getattr(links, name)
        if url is None:
            continue
        problem = _url_problem(url)
        if problem:
            yield Flag(
                "link_malformed",
                Severity.medium,
                f"The {name} link {problem}.",
                {"field": f"links.{name}", "url": url[:_SNIPPET_CHARS], "problem": problem},
            )
        else:
            usable[name] = url

    identities: dict[str, str] = {}
    if "github" in usable:
        url = usable["github"]
        host = _host(url)
        segments = _path_segments(url)
        if host not in _GITHUB_HOSTS and host.endswith((".github.com", ".github.io")):
            yield Flag(
                "link_wrong_site",
                Severity.low,
                f"The github link points at {host}, a GitHub page but not a user profile.",
                {
                    "field": "links.github",
                    "url": url,
                    "host": host,
                    "expected": "github.com/<user>",
                },
            )
        elif host not in _GITHUB_HOSTS:
            yield _wrong_site("github", url, host, "GitHub", ("github.com", "github.io"))
        elif (
            not segments
            or not _GITHUB_USER.match(segments[0])
            or segments[0].lower() in _GITHUB_RESERVED
        ):
            yield Flag(
                "link_wrong_site",
                Severity.low,
                "The github link is on github.com but does not name a user.",
                {
                    "field": "links.github",
                    "url": url,
                    "host": host,
                    "expected": "github.com/<user>",
                },
            )
        else:
            identities["github"] = segments[0]

    if "linkedin" in usable:
        url = usable["linkedin"]
        host = _host(url)
        segments = _path_segments(url)
        if host != "linkedin.com" and not host.endswith(".linkedin.com"):
            yield _wrong_site("linkedin", url, host, "LinkedIn", ("linkedin.com",))
        elif len(segments) < 2 or segments[0].lower() != "in":
            yield Flag(
                "link_wrong_site",
                Severity.low,
                "The linkedin link is on linkedin.com but is not a personal profile (/in/...).",
                {
                    "field": "links.linkedin",
                    "url": url,
                    "host": host,
                    "expected": "linkedin.com/in/<name>",
                },
            )
        else:
            identities["linkedin"] = _LINKEDIN_SLUG_SUFFIX.sub("", segments[1].lower())

    if "portfolio" in usable:
        name = _portfolio_identity(usable["portfolio"])
        if name:
            identities["portfolio"] = name

    yield from _identity_flags(identities)

    bad_projects = []
    memo: dict[str, str | None] = {}
    for i, project in enumerate(projects):
        if project.link is not None:
            problem = _url_problem(project.link, memo)
            if problem:
                bad_projects.append(
                    {**_project_ref(i, project), "url": project.link[:200], "problem": problem}
                )
    if bad_projects:
        first = bad_projects[0]
        yield Flag(
            "link_malformed",
            Severity.low if len(bad_projects) == 1 else Severity.medium,
            f"{len(bad_projects)} project link(s) are not usable addresses; the first, on "
            f"project {first['index']} ({first['title']!r}), {first['problem']}.",
            {
                "field": "projects.link",
                "count": len(bad_projects),
                "projects": bad_projects[:_EVIDENCE_LIST_MAX],
            },
        )


def _wrong_site(field_name: str, url: str, host: str, site: str, domains: tuple[str, ...]) -> Flag:
    # A host that borrows the site's name (github.com.example.io, my-github.dev) is
    # built to pass a glance, which is worse than an honest wrong link.
    domain = domains[0]
    lookalike = domain.split(".")[0] in host and not any(
        host == d or host.endswith("." + d) for d in domains
    )
    return Flag(
        "link_wrong_site",
        Severity.high if lookalike else Severity.medium,
        f"The {field_name} link points at {host}, "
        + ("which imitates " if lookalike else "not ")
        + f"{site} ({domain}).",
        {
            "field": f"links.{field_name}",
            "url": url,
            "host": host,
            "expected": domain,
            "lookalike": lookalike,
        },
    )


def _portfolio_identity(url: str) -> str | None:
    host = _host(url)
    if host.startswith("www."):
        host = host[4:]
    for suffix in _SUBDOMAIN_HOSTS:
        if host.endswith("." + suffix):
            return host[: -len(suffix) - 1].split(".")[-1]
    if host in _PATH_HOSTS:
        segments = _path_segments(url)
        return segments[0].lstrip("@") if segments else None
    labels = host.split(".")
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL_SUFFIXES:
        return labels[-3]
    return labels[-2] if len(labels) >= 2 else None


def _letters(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def _clearly_different(a: str, b: str) -> bool:
    la, lb = _letters(a), _letters(b)
    if len(la) < 3 or len(lb) < 3:
        return False  # too short to say anything
    if la in lb or lb in la:
        return False
    tokens_a = {t for t in re.split(r"[^a-z]+", a.lower()) if len(t) >= 3}
    tokens_b = {t for t in re.split(r"[^a-z]+", b.lower()) if len(t) >= 3}
    if tokens_a & tokens_b:
        return False
    return difflib.SequenceMatcher(None, la, lb).ratio() < 0.5


def _identity_flags(identities: dict[str, str]) -> Iterator[Flag]:
    pairs = [
        (x, y)
        for x, y in (("github", "linkedin"), ("github", "portfolio"), ("linkedin", "portfolio"))
        if x in identities and y in identities
    ]
    different = [(x, y) for x, y in pairs if _clearly_different(identities[x], identities[y])]
    if not different:
        return
    # Portfolios often carry a brand name; a GitHub user and a LinkedIn name that share
    # nothing is the stronger sign of borrowed accounts.
    personal = ("github", "linkedin") in different
    severity = Severity.medium if personal and len(different) == len(pairs) else Severity.low
    desc = "; ".join(f"{x} '{identities[x]}' vs {y} '{identities[y]}'" for x, y in different)
    yield Flag(
        "link_identity_mismatch",
        severity,
        f"The profile links name different people: {desc}.",
        {
            "names": dict(identities),
            "mismatched_pairs": [[x, y] for x, y in different],
        },
    )


# --- Text ------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+|\n+")
_HARD_BREAK = re.compile(
    r"[;:()\[\]]|\s[-–—]\s|—|\b(?:but|however|though|although|whereas|while)\b"
)
# Sentence-level negation. "don't hesitate to ..." is an invitation, not a negation.
_NEGATOR = re.compile(
    r"\b(?:never|not|no|nor|neither|none|nobody|nothing|cannot|\w+n't|avoid\w*|refus\w*|"
    r"declin\w*|forbid\w*|prohibit\w*|against|wary|beware|careful|warn\w*|scam\w*)\b"
    r"(?!\s+hesitate)"
)
# Contrast that only reaches the phrase right after it: "here rather than on Telegram".
_CONTRAST = re.compile(
    r"\brather\s+than\b|\binstead\s+of\b|\bthan\b(?!\s+\$?\d)|"
    r"\bprefer\w*\s+(?!to\b)[^,]*?\bto\s+(?=(?:the|a|an|my|your|payments?|\w+ing)\b)"
)
# "Payments outside the platform are against the rules": the denial follows the phrase.
_DENIED_AFTER = re.compile(
    r"\b(?:is|are)\s+(?:not\s+allowed|against|forbidden|prohibited|banned|a\s+scam|"
    r"risky|unsafe)\b|"
    r"\bviolat\w*|\bbreak\w*\s+the\s+(?:rules|terms)"
)
# After a comma, these start a new statement, so an earlier "never" stops applying.
_CLAUSE_RESTART = re.compile(
    r",\s*(?:i|we|you|let's|let|please|just|only|so|then|instead|pay|message|contact|text|"
    r"ping|write|send|reach|call|email|add|dm|feel|happy|glad|willing)\b"
)


class _Text:
    """Resume text with the positions needed to judge a match inside its sentence."""

    def __init__(self, text: str) -> None:
        self.raw = text
        # Same length as the original, so match offsets stay valid for both; the few
        # characters whose lower case is longer ("İ") are kept as they are.
        low = text.lower()
        if len(low) != len(text):
            low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        self.low = low.replace("’", "'").replace("‘", "'")
        self.starts = [0] + [m.end() for m in _SENTENCE_END.finditer(self.low)]

    def sentence(self, pos: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.starts, pos) - 1
        start = self.starts[i]
        end = self.starts[i + 1] if i + 1 < len(self.starts) else len(self.low)
        return max(start, pos - _LOOKBACK_CHARS), min(end, pos + _LOOKBACK_CHARS)

    def snippet(self, pos: int) -> str:
        s0, s1 = self.sentence(pos)
        return self.raw[s0:s1].strip()[:_SNIPPET_CHARS]

    def negated(self, pos: int, end: int | None = None) -> bool:
        """Whether the phrase at ``pos:end`` is denied or contrasted away in its sentence."""
        s0, s1 = self.sentence(pos)
        if end is not None:
            post = self.low[end:s1]
            stop = _HARD_BREAK.search(post)
            if _DENIED_AFTER.search(post, 0, stop.start() if stop else len(post)):
                return True
        pre = self.low[s0:pos]
        last_break = _last(_HARD_BREAK, pre)
        if last_break is not None:
            pre = pre[last_break.end() :]
        contrast = _last(_CONTRAST, pre)
        if contrast is not None and "," not in pre[contrast.end() :]:
            return True
        negator = _last(_NEGATOR, pre)
        return negator is not None and not _CLAUSE_RESTART.search(pre, negator.end())


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    found = None
    for found in pattern.finditer(text):  # noqa: B007 - only the last match is wanted
        pass
    return found


_APP = (
    r"(?:telegram|whats\s?app|skype|signal|discord|wechat|viber|imessage|sms|"
    r"(?:my\s+)?(?:personal\s+|private\s+)?(?:e-?mail|gmail|phone(?:\s+number)?|cell))"
)
_CONTACT_PATTERNS = (
    # "message me on Telegram", "reach us via WhatsApp", "hit me up on Skype"
    re.compile(
        r"\b(?:message|msg|text|ping|dm|contact|reach|call|add|find|hit|write(?:\s+to)?|"
        r"e-?mail)\s+(?:me|us)\b[^.!?;\n]{0,40}?"
        rf"(?P<ch>\b(?:on|via|over|through|at|in|using|by)\s+{_APP})\b"
    ),
    # "let's move to WhatsApp", "continue on Telegram"; needs someone addressed (below).
    re.compile(
        r"\b(?:talk|continue|move|switch|connect|communicate|speak|discuss|stay|"
        r"(?:(?<=let's )|(?<=to )|(?<=can )|(?<=we )|(?<=i )|(?<=and )|(?<=please ))chat)\b"
        rf"[^.!?;\n]{{0,40}}?(?P<ch>\b(?:on|via|over|to|through|in|onto)\s+{_APP})\b"
    ),
    # "I send drafts over Telegram"
    re.compile(
        r"\b(?:share|send|sending|sharing)\s+(?:me\s+|you\s+)?(?:the\s+|your\s+|my\s+|all\s+)?"
        r"(?:files?|drafts?|invoices?|details|messages|updates|documents|docs|requirements|"
        r"briefs?|designs?|code|work)\b[^.!?;\n]{0,40}?"
        rf"(?P<ch>\b(?:on|via|over|through|to|in|by)\s+{_APP})\b"
    ),
    # "WhatsApp: +44 7700 900123", "my Telegram is @ana"
    re.compile(
        r"(?P<ch>\b(?:telegram|whats\s?app|skype|signal|discord|wechat|viber)\b"
        r"(?:\s+(?:id|handle|number|is))?\s*[:\-]?\s*(?:@\w{2,}(?:\.\w+)*|\+?\d[\d\s().-]{6,}\d))"
    ),
)
# The conversational patterns above fire only when someone is being addressed, so
# "a support chat in Telegram" in a project description does not count.
_ADDRESSEE = re.compile(r"\b(?:me|us|let's|let\s+us|we|you|your|clients?\s+who)\b")

_PAY_CHANNEL = (
    r"(?:paypal|crypto(?:currency)?|bitcoin|btc|usdt|ethereum|western\s+union|moneygram|"
    r"payoneer|venmo|zelle|cash\s?app|gift\s+cards?|wise|"
    r"(?:direct\s+)?(?:bank|wire)\s+transfer|direct\s+(?:payment|deposit)|bank\s+account|"
    r"wallet)"
)
_PAYMENT_PATTERNS = (
    # "outside the platform", "avoid the platform fee", "off-platform"
    re.compile(
        r"(?P<ch>\b(?:outside|off|around|bypass(?:ing)?|circumvent(?:ing)?|avoid(?:ing)?|"
        r"skip(?:ping)?|save|saving|without)\s+(?:of\s+)?(?:the\s+|this\s+)?"
        r"(?:platform|site|marketplace|website|upwork|fiverr)(?:'s)?"
        r"(?:\s+(?:fees?|commission|cut))?\b|\boff-platform\b)"
    ),
    # "payment via wire transfer", "to my PayPal", "paid in crypto"
    re.compile(
        r"(?P<ch>\b(?:via|by|through|over|to|with|using|in|into)\s+(?:my\s+)?(?:own\s+)?"
        rf"(?:personal\s+|private\s+)?(?:a\s+)?{_PAY_CHANNEL})\b"
    ),
    re.compile(r"(?P<ch>\bpay\s+me\s+directly\b|\bpaid\s+directly\b)"),
)
# Off-platform phrasing counts when the sentence is about paying or talking.
_PAY_OR_CONTACT_CUE = re.compile(
    r"\b(?:pay|paid|paying|payments?|invoic\w*|bill\w*|fees?|money|transfer\w*|deposit\w*|"
    r"discount|rates?|contact|message\w*|talk|chat|e-?mail|call|text|deal|hire|contracts?|"
    r"communicat\w*|reach|meet|escrow)\b"
)
# A payment channel is a request only when the writer is the one being paid; a
# developer's "built a checkout with PayPal" is not.
_RECEIVING_FRAME = re.compile(
    r"\b(?:i|we)\s+(?:only\s+|also\s+|can\s+|will\s+|'d\s+|would\s+)?"
    r"(?:accept|take|prefer|receive|require|ask\s+for|charge|invoice|suggest|propose)\b|"
    r"\bpay\s+me\b|\bpaid\b|\bto\s+my\b|\bmy\s+(?:paypal|wallet|bank)|"
    r"\b(?:happy|glad|willing|ok|okay|fine|open)\s+to\s+(?:take|accept|receive|get\s+paid)\b|"
    r"\bfor\s+a\s+(?:\d+\s?%\s+)?discount\b|\blower\s+rate\b|\bclients?\s+(?:can|may|should)\s+pay"
)

_GUARANTEE_PATTERNS = (
    re.compile(r"\b100\s?%\s+(?:\w+\s+)?guarantee[ds]?\b"),
    re.compile(r"\bguarantee[ds]?\s*,?\s+100\s?%"),
    re.compile(r"\b(?:money[- ]back|full[- ]refund|refund)\s+guarantee[ds]?\b"),
    re.compile(r"\b(?:or\s+)?your\s+money\s+back\b"),
    re.compile(
        r"\bguarantee[ds]?\s+(?:you\s+)?(?:[\w'-]+\s+){0,2}?(?:results?|success|satisfaction|"
        r"rankings?|sales|traffic|revenue|roi|profits?|income|leads|followers|approval|"
        r"five[- ]star|5[- ]star|first[- ]page|page\s+one|top\s+(?:rankings?|positions?|spots?)|"
        r"#1|number\s+one|bug[- ]free|error[- ]free|delivery|\d+x)"
    ),
    re.compile(
        r"\b(?:results?|success|satisfaction)\s+(?:is\s+|are\s+)?(?:always\s+)?(?:100\s?%\s+)?"
        r"guaranteed\b"
    ),
    re.compile(r"\bassured\s+(?:first[- ]page|results?|success|rankings?|bug[- ]free|delivery)"),
    re.compile(r"\b100\s?%\s+satisfied\b[^.!?;\n]{0,20}?\b(?:guaranteed|i\s+promise)\b"),
    re.compile(r"\b(?:risk|worry)[- ]free\b|\bzero[- ]risk\b"),
)


# Literal words that every match of a pattern group contains. Finding them with
# str.find and running the full patterns only on the sentences around them keeps a
# long resume cheap: Python's regex engine has no fast path for leading alternations.
_CONTACT_ANCHORS = (
    "telegram",
    "whats",
    "skype",
    "signal",
    "discord",
    "wechat",
    "viber",
    "imessage",
    "sms",
    "mail",
    "phone",
    "cell",
)
_PAYMENT_ANCHORS = (
    "platform",
    "site",
    "marketplace",
    "upwork",
    "fiverr",
    "paypal",
    "crypto",
    "bitcoin",
    "btc",
    "usdt",
    "ethereum",
    "union",
    "moneygram",
    "payoneer",
    "venmo",
    "zelle",
    "cash",
    "gift card",
    "wise",
    "transfer",
    "direct",
    "account",
    "wallet",
)
_GUARANTEE_ANCHORS = ("guarant", "money back", "risk", "worry", "assured", "100")
# A resume of nothing but trigger phrases should not cost more than a normal one.
_MAX_MATCHES = 200


def _find_phrases(
    text: _Text, patterns: tuple[re.Pattern[str], ...], anchors: tuple[str, ...]
) -> Iterator[tuple[int, re.Match[str]]]:
    low = text.low
    windows: list[tuple[int, int]] = []
    for anchor in anchors:
        at = low.find(anchor)
        while at != -1:
            windows.append(text.sentence(at))
            at = low.find(anchor, windows[-1][1])
    if not windows:
        return
    windows.sort()
    merged = [windows[0]]
    for w0, w1 in windows[1:]:
        m0, m1 = merged[-1]
        if w0 <= m1:
            merged[-1] = (m0, max(m1, w1))
        else:
            merged.append((w0, w1))
    found = 0
    for index, pattern in enumerate(patterns):
        for w0, w1 in merged:
            for match in pattern.finditer(low, w0, w1):
                yield index, match
                found += 1
                if found >= _MAX_MATCHES:
                    return


def _off_platform_flags(text: _Text) -> Iterator[Flag]:
    hits: dict[int, dict[str, Any]] = {}  # by sentence start, so one sentence counts once

    def record(kind: str, match: re.Match[str]) -> None:
        pos = match.start("ch")
        s0, _ = text.sentence(pos)
        hit = hits.setdefault(
            s0, {"sentence": text.snippet(pos), "phrases": [], "kind": kind, "pos": pos}
        )
        phrase = text.raw[match.start("ch") : match.end("ch")]
        if phrase not in hit["phrases"]:
            hit["phrases"].append(phrase)
        if kind == "payment":
            hit["kind"] = "payment"

    for index, match in _find_phrases(text, _CONTACT_PATTERNS, _CONTACT_ANCHORS):
        pos = match.start("ch")
        s0, s1 = text.sentence(pos)
        if index == 1 and not _ADDRESSEE.search(text.low, s0, s1):
            continue
        if not text.negated(pos, match.end("ch")):
            record("contact", match)
    for index, match in _find_phrases(text, _PAYMENT_PATTERNS, _PAYMENT_ANCHORS):
        pos = match.start("ch")
        s0, s1 = text.sentence(pos)
        if index == 0 and not _PAY_OR_CONTACT_CUE.search(text.low, s0, s1):
            continue
        if index == 1 and not _RECEIVING_FRAME.search(text.low, s0, s1):
            continue
        if not text.negated(pos, match.end("ch")):
            record("payment", match)

    if not hits:
        return
    found = sorted(hits.values(), key=lambda h: h["pos"])
    payment = any(h["kind"] == "payment" for h in found)
    severity = Severity.high if payment or len(found) >= 2 else Severity.medium
    what = "payment" if payment else "contact"
    yield Flag(
        "off_platform_request",
        severity,
        f'The resume asks to move {what} off the platform: "{found[0]["sentence"]}"',
        {
            "count": len(found),
            "matches": [
                {"kind": h["kind"], "phrases": h["phrases"], "sentence": h["sentence"]}
                for h in found[:_EVIDENCE_LIST_MAX]
            ],
        },
    )


def _guarantee_flags(text: _Text) -> Iterator[Flag]:
    hits: dict[int, dict[str, Any]] = {}
    for _, match in _find_phrases(text, _GUARANTEE_PATTERNS, _GUARANTEE_ANCHORS):
        pos = match.start()
        if text.negated(pos, match.end()):
            continue
        s0, _ = text.sentence(pos)
        hit = hits.setdefault(s0, {"sentence": text.snippet(pos), "phrases": [], "pos": pos})
        phrase = text.raw[match.start() : match.end()]
        if phrase not in hit["phrases"]:
            hit["phrases"].append(phrase)
    if not hits:
        return
    found = sorted(hits.values(), key=lambda h: h["pos"])
    yield Flag(
        "guarantee_language",
        Severity.medium if len(found) >= 2 else Severity.low,
        f'The resume promises guaranteed outcomes: "{found[0]["phrases"][0]}".',
        {
            "count": len(found),
            "matches": [
                {"phrases": h["phrases"], "sentence": h["sentence"]}
                for h in found[:_EVIDENCE_LIST_MAX]
            ],
        },
    )


_SEPARATOR_MARK = re.compile(r"[,|•·:;]|\s[-–—/]\s")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_LIST_SEPARATOR = re.compile(r"\s*[,|•·:;]\s*|\s+[-–—/]\s+")
_WORD = re.compile(r"[a-z][a-z0-9+#]*(?:[.'-][a-z0-9+#]+)*")
_STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as into over under about than
    then so that this these those it its i me my we our us you your he she they them their is
    am are was were be been being have has had do does did not no never can could will would
    shall should may might must just also very more most less all any each every some such
    only own same other both few many much per via who whom which what when where why how
    there here up out off again further once while during before after above below
    between""".split()
)


def _stuffing_flags(text: _Text) -> Iterator[Flag]:
    words = _WORD.findall(text.low)
    if not words:
        return
    total_words = len(words)

    best: tuple[int, int, int, int] | None = None  # items, words, start, end
    low = text.low
    separators = [m.start() for m in _SEPARATOR_MARK.finditer(low)]
    bounds = [*text.starts, len(low)]
    for seg_start, seg_end in zip(bounds, bounds[1:], strict=False):
        n_separators = bisect.bisect_left(separators, seg_end) - bisect.bisect_left(
            separators, seg_start
        )
        if n_separators < STUFFING_LIST_ITEMS[0] - 1:
            continue  # cannot hold a run long enough; skips ordinary sentences cheaply
        segment = low[seg_start:seg_end]
        run_items = run_words = 0
        run_start = 0
        offset = 0
        for piece in _LIST_SEPARATOR.split(segment):
            n_words = len(piece.split())
            short = 1 <= n_words <= 3 and len(piece) <= 40 and _HAS_LETTER.search(piece)
            item_start = segment.find(piece, offset) if piece else offset
            offset = item_start + len(piece)
            if short:
                if run_items == 0:
                    run_start = item_start
                run_items += 1
                run_words += n_words
                if best is None or run_items > best[0]:
                    best = (run_items, run_words, seg_start + run_start, seg_start + offset)
            else:
                run_items = run_words = 0
    if best is not None and best[0] >= STUFFING_LIST_ITEMS[0]:
        items, run_words, start, end = best
        share = run_words / total_words
        high = items >= STUFFING_LIST_ITEMS[1] or share >= STUFFING_LIST_SHARE_HIGH
        yield Flag(
            "keyword_stuffing",
            Severity.high if high else Severity.medium,
            f"The resume holds a run of {items} listed terms ({share:.0%} of its words).",
            {
                "kind": "list",
                "items": items,
                "share_of_words": _round(share),
                "thresholds": list(STUFFING_LIST_ITEMS),
                "phrase": text.raw[start:end].strip(" \t\n.!?;:")[:_SNIPPET_CHARS],
            },
        )

    # Windows of two consecutive blocks, each block counted once: a stuffed paragraph
    # stands out even inside a long resume, at linear cost.
    step = STUFFING_WINDOW_WORDS // 2
    content = [w if w not in _STOPWORDS and len(w) > 1 else "" for w in words]
    blocks = []
    for b in range(0, len(content), step):
        counts = Counter(content[b : b + step])
        counts.pop("", None)
        best_count = max(counts.values(), default=0)
        blocks.append((min(step, len(content) - b), counts, best_count))
    pairs = list(zip(blocks, blocks[1:], strict=False)) or [(blocks[0], (0, Counter(), 0))]
    top: tuple[float, str, int, int] | None = None  # ratio, term, count, window
    for (n_a, counts_a, best_a), (n_b, counts_b, best_b) in pairs:
        n = n_a + n_b
        bound = best_a + best_b  # no term can do better than both blocks' best together
        if bound < STUFFING_REPEAT_MIN_COUNT or bound / n < STUFFING_REPEAT_RATIO[0]:
            continue
        if top is not None and bound / n <= top[0]:
            continue
        for term in counts_a.keys() | counts_b.keys():
            count = counts_a.get(term, 0) + counts_b.get(term, 0)
            ratio = count / n
            if count >= STUFFING_REPEAT_MIN_COUNT and (top is None or ratio > top[0]):
                top = (ratio, term, count, n)
    if top is None:
        return
    ratio, term, count, window_words = top
    severity = _by_threshold(ratio, STUFFING_REPEAT_RATIO)
    if severity is None:
        return
    at = re.search(rf"(?<![a-z0-9]){re.escape(term)}(?![a-z0-9])", text.low)
    yield Flag(
        "keyword_stuffing",
        severity,
        f"The term {term!r} makes up {ratio:.0%} of a {window_words}-word stretch ({count} times).",
        {
            "kind": "repetition",
            "term": term,
            "count": count,
            "window_words": window_words,
            "ratio": _round(ratio),
            "thresholds": list(STUFFING_REPEAT_RATIO),
            "phrase": text.snippet(at.start()) if at else term,
        },
    )


_TEXT_YEARS = (
    re.compile(
        r"\b(?P<n>\d{1,2})\s*\+?\s*(?:years?|yrs?)\b(?:\s+of)?(?:\s+[a-z-]+){0,2}?\s+"
        r"(?:experience|in\s+the\s+(?:field|industry|trade|business)|behind\s+me)\b"
    ),
    re.compile(r"\bexperience\s+of\s+(?P<n>\d{1,2})\s*\+?\s*(?:years?|yrs?)\b"),
)
_YEARS_ANCHORS = ("year", "yrs", "yr ")


def _resume_years_flags(text: _Text, profile: Profile, history_years: float) -> Iterator[Flag]:
    best: re.Match[str] | None = None
    best_years = 0
    for _, match in _find_phrases(text, _TEXT_YEARS, _YEARS_ANCHORS):
        years = int(match.group("n"))
        if years > best_years and not text.negated(match.start(), match.end()):
            best, best_years = match, years
    if best is None:
        return
    claimed = profile.claimed_years_experience
    reference = max(claimed or 0.0, history_years)
    excess = best_years - reference
    ratio = best_years / max(reference, MIN_HISTORY_YEARS)
    severity = None
    for sev, (min_excess, min_ratio) in zip(
        (Severity.medium, Severity.high), RESUME_YEARS, strict=True
    ):
        if excess >= min_excess and ratio >= min_ratio:
            severity = sev
    if severity is None:
        return
    yield Flag(
        "resume_years_inflated",
        severity,
        f"The resume states {best_years} years of experience, more than the claim "
        f"({'none' if claimed is None else f'{claimed:g}'}) and the history "
        f"({history_years:.1f} years) support.",
        {
            "stated_years": best_years,
            "claimed_years": claimed,
            "history_years": _round(history_years, 2),
            "phrase": text.raw[best.start() : best.end()],
            "sentence": text.snippet(best.start()),
        },
    )


# --- Entry points ----------------------------------------------------------------------


def evaluate_flags(
    profile: Profile, as_of: dt.date, indicators: dict[str, float] | None = None
) -> list[Flag]:
    """All rule flags for ``profile``, judged as of ``as_of``. Pure: no I/O of any kind.

    ``indicators``: the profile's ``compute_indicators(profile, as_of)``, when the caller
    has them already."""
    projects = profile.projects_in_time_order()
    raw = indicators if indicators is not None else compute_indicators(profile, as_of)
    text = _Text(profile.text)
    flags: list[Flag] = []
    flags.extend(_experience_flags(profile, raw, len(projects)))
    flags.extend(_history_flags(profile, projects, raw, as_of))
    flags.extend(_resume_years_flags(text, profile, raw["total_years"]))
    flags.extend(_link_flags(profile, projects))
    flags.extend(_off_platform_flags(text))
    flags.extend(_guarantee_flags(text))
    flags.extend(_stuffing_flags(text))
    return flags


_CODE_INDEX = {code: i for i, code in enumerate(FLAG_CODES)}


def flags_to_features(flags: list[Flag]) -> np.ndarray:
    """Per code in ``FLAG_CODES`` order, the worst severity raised: 0 none, 1-3 low-high."""
    out = np.zeros(len(FLAG_CODES), dtype=np.float32)
    for flag in flags:
        i = _CODE_INDEX.get(flag.code)
        if i is not None:  # a code without a slot (a model's own flag) adds nothing here
            out[i] = max(out[i], Severity(flag.severity).rank)
    return out


def flag_features(profile: Profile, as_of: dt.date) -> np.ndarray:
    """The flags of ``profile`` as a fixed-length vector (see :func:`flags_to_features`)."""
    return flags_to_features(evaluate_flags(profile, as_of))
