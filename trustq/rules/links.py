"""Checks on the profile's links, read as text: nothing is ever fetched, so a profile cannot
make the service open a connection anywhere (``urllib.parse`` only)."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from trustq.rules.common import EVIDENCE_LIST_MAX, SNIPPET_CHARS, project_ref
from trustq.rules.flags import Flag, Severity
from trustq.schemas import Profile, Project

_GITHUB_HOSTS = frozenset({"github.com", "www.github.com"})
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


def link_flags(profile: Profile, projects: list[Project]) -> Iterator[Flag]:
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
                {"field": f"links.{name}", "url": url[:SNIPPET_CHARS], "problem": problem},
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
                    {**project_ref(i, project), "url": project.link[:200], "problem": problem}
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
                "projects": bad_projects[:EVIDENCE_LIST_MAX],
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
