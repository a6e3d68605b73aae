"""Rule flags: each check fires on profiles built for it, stays quiet on ones built not to."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from typing import Any

import numpy as np
import pytest

from tests.factories import profile, project
from trustq.models.indicators import compute_indicators
from trustq.rules.checks import evaluate_flags, flag_features
from trustq.rules.flags import FLAG_CODES, NEAR_DUPLICATE_CODE, Flag, Severity, flags_to_features
from trustq.schemas import Profile

AS_OF = dt.date(2025, 6, 1)
BASE = dt.date(2015, 1, 1)


def build(**changes: Any) -> Profile:
    return Profile.model_validate(profile(**changes))


def flags_of(p: Profile, code: str) -> list[Flag]:
    return [f for f in evaluate_flags(p, AS_OF) if f.code == code]


def one_flag(p: Profile, code: str) -> Flag:
    found = flags_of(p, code)
    assert len(found) == 1, [f.to_dict() for f in evaluate_flags(p, AS_OF)]
    return found[0]


def sequence(n: int, every_days: int = 60, months: float = 1.0, **extra: Any) -> list[dict]:
    """``n`` projects one after another, without overlap unless ``months`` is long."""
    return [
        project(
            (BASE + dt.timedelta(days=every_days * i)).isoformat(),
            months,
            title=f"Project {i}",
            **extra,
        )
        for i in range(n)
    ]


def with_text(text: str) -> Profile:
    return build(resume_text=text)


# --- The flag type and the clean case ------------------------------------------------


def test_a_consistent_profile_raises_no_flag() -> None:
    assert evaluate_flags(build(), AS_OF) == []


def test_flag_codes_are_unique_and_flags_serialise_to_json() -> None:
    assert len(set(FLAG_CODES)) == len(FLAG_CODES)
    assert NEAR_DUPLICATE_CODE in FLAG_CODES
    p = build(
        experience_level="expert",
        resume_text="Message me on Telegram. 100% satisfaction guaranteed!",
        links={"github": "https://gitlab.com/ana"},
    )
    flags = evaluate_flags(p, AS_OF)
    assert flags
    for f in flags:
        assert f.code in FLAG_CODES
        assert f.source == "rule"
        d = f.to_dict()
        assert set(d) == {"code", "severity", "message", "evidence", "source"}
        assert d["severity"] in ("low", "medium", "high")
        assert f.message.endswith((".", '"'))
        json.dumps(d)


# --- Experience level ------------------------------------------------------------------


def test_an_expert_claim_with_a_short_small_history_is_flagged_on_both_counts() -> None:
    p = build(experience_level="expert", claimed_years_experience=3)
    found = {f.evidence["dimension"]: f for f in flags_of(p, "experience_mismatch")}
    assert set(found) == {"years", "projects"}
    years, projects = found["years"], found["projects"]
    assert years.evidence["value"] == 3 and years.evidence["expected_min"] == 8
    assert years.evidence["source"] == "claimed_years_experience"
    assert years.severity == Severity.high  # 3 of the 8 years needed
    assert projects.evidence["value"] == 4 and projects.evidence["expected_min"] == 20
    assert projects.severity == Severity.high
    assert "Expert" in years.message


@pytest.mark.parametrize(
    ("level", "claimed", "expected"),
    [
        ("mid", 2.0, None),  # range ends are inclusive
        ("mid", 5.0, None),
        ("mid", 1.9, Severity.low),  # just below: low
        ("mid", 1.0, Severity.medium),  # half of the minimum
        ("mid", 0.5, Severity.high),
        ("mid", 5.5, Severity.low),  # understating the level is not the risky direction
        ("senior", 5.0, None),
        ("entry", 0.0, None),
        ("expert", 40.0, None),  # no upper bound for experts
    ],
)
def test_years_against_the_level_range(
    level: str, claimed: float, expected: Severity | None
) -> None:
    projects = sequence(12 if level == "senior" else 5)
    if level == "expert":
        projects = sequence(25)
    elif level == "entry":
        projects = sequence(3)
    p = build(experience_level=level, claimed_years_experience=claimed, projects=projects)
    found = [f for f in flags_of(p, "experience_mismatch") if f.evidence["dimension"] == "years"]
    assert [f.severity for f in found] == ([] if expected is None else [expected])


def test_without_a_claim_the_span_of_the_history_counts() -> None:
    # Four projects over 4.4 years for an expert: the history is the evidence.
    p = build(experience_level="expert", claimed_years_experience=None)
    years = next(
        f for f in flags_of(p, "experience_mismatch") if f.evidence["dimension"] == "years"
    )
    assert years.evidence["source"] == "project history span"
    assert years.evidence["value"] == pytest.approx(
        compute_indicators(p, AS_OF)["total_years"], abs=0.01
    )


def test_a_profile_without_projects_is_not_called_inconsistent_on_the_count() -> None:
    p = build(experience_level="senior", claimed_years_experience=7, projects=[])
    assert flags_of(p, "experience_mismatch") == []


# --- History: counts, overlaps, rate, technology -------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [(39, None), (40, Severity.medium), (59, Severity.medium), (60, Severity.high)],
)
def test_unrealistic_project_counts(n: int, expected: Severity | None) -> None:
    p = build(experience_level="expert", claimed_years_experience=10, projects=sequence(n))
    found = flags_of(p, "unrealistic_projects")
    assert [f.severity for f in found] == ([] if expected is None else [expected])
    if found:
        assert found[0].evidence["num_projects"] == n


def overlapping(n: int, overlaps: set[int]) -> list[dict]:
    """``n`` projects 60 days apart; the project after each index in ``overlaps`` overlaps it."""
    return [
        project(
            (BASE + dt.timedelta(days=60 * i)).isoformat(),
            3.0 if i in overlaps else 1.0,  # three months run a month into the next one
            title=f"Project {i}",
        )
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("overlaps", "expected"),
    [
        ({1, 4}, None),  # 2 of 10
        ({1, 4, 7}, Severity.medium),  # 3 of 10 = 0.3
        ({0, 2, 4, 6}, Severity.medium),  # 0.4
        ({0, 2, 4, 6, 8}, Severity.high),  # 0.5
    ],
)
def test_overlapping_timelines_at_the_ratio_boundaries(
    overlaps: set[int], expected: Severity | None
) -> None:
    p = build(projects=overlapping(10, overlaps))
    assert compute_indicators(p, AS_OF)["overlap_count"] == len(overlaps)
    found = flags_of(p, "overlapping_timelines")
    assert [f.severity for f in found] == ([] if expected is None else [expected])


def test_overlap_evidence_names_the_projects_in_time_order() -> None:
    projects = overlapping(10, {1, 4, 7})
    projects.reverse()  # submitted newest first; evidence still counts in time order
    f = one_flag(build(projects=projects), "overlapping_timelines")
    assert f.evidence["overlap_ratio"] == 0.3
    named = [(x["index"], x["title"], x["overlaps"]["index"]) for x in f.evidence["projects"]]
    assert named == [(2, "Project 2", 1), (5, "Project 5", 4), (8, "Project 8", 7)]


def test_two_projects_that_overlap_are_too_few_to_judge() -> None:
    assert flags_of(build(projects=overlapping(2, {0})), "overlapping_timelines") == []


@pytest.mark.parametrize(
    ("n", "expected"), [(7, None), (8, Severity.medium), (11, Severity.medium), (12, Severity.high)]
)
def test_projects_per_year_of_history(n: int, expected: Severity | None) -> None:
    # Under a year of history counts as one year, so n projects is n a year.
    p = build(projects=sequence(n, every_days=28, months=0.5))
    assert compute_indicators(p, AS_OF)["total_years"] < 1
    found = flags_of(p, "inflated_experience")
    assert [f.severity for f in found] == ([] if expected is None else [expected])
    if found:
        assert found[0].evidence["projects_per_year"] == n


def test_a_long_history_spreads_the_projects_out() -> None:
    # 24 projects over about four years is six a year.
    p = build(projects=sequence(24, every_days=60, months=1))
    assert flags_of(p, "inflated_experience") == []


def tech_profile(n: int, consistent: int) -> Profile:
    projects = [
        project(
            (BASE + dt.timedelta(days=60 * i)).isoformat(),
            1,
            title=f"Project {i}",
            technologies=["python"] if i < consistent else ["cobol", "fortran"],
        )
        for i in range(n)
    ]
    return build(skills=["Python"], projects=projects)


@pytest.mark.parametrize(
    ("n", "consistent", "expected"),
    [
        (5, 3, None),  # 0.6
        (6, 3, None),  # 0.5 is not below 0.5
        (5, 2, Severity.medium),  # 0.4
        (8, 2, Severity.medium),  # 0.25 is not below 0.25
        (5, 1, Severity.high),  # 0.2
        (4, 0, None),  # too few projects to judge
    ],
)
def test_weak_technical_consistency(n: int, consistent: int, expected: Severity | None) -> None:
    found = flags_of(tech_profile(n, consistent), "weak_technical_consistency")
    assert [f.severity for f in found] == ([] if expected is None else [expected])


def test_weak_consistency_evidence_lists_the_off_stack_projects() -> None:
    f = one_flag(tech_profile(5, 1), "weak_technical_consistency")
    assert f.evidence["tech_consistency"] == 0.2
    assert [x["index"] for x in f.evidence["projects"]] == [1, 2, 3, 4]
    assert f.evidence["projects"][0]["technologies"] == ["cobol", "fortran"]


# --- Claimed years against the history -----------------------------------------------


def years_profile(claimed: float) -> Profile:
    return build(experience_level="senior", claimed_years_experience=claimed)


def test_claimed_years_far_above_the_history() -> None:
    span = compute_indicators(years_profile(3), AS_OF)["total_years"]  # about 4.4
    f = one_flag(years_profile(20), "claimed_years_inflated")
    assert f.severity == Severity.high  # 15.6 years more and 4.5 times
    assert f.evidence["claimed_years"] == 20
    assert f.evidence["history_years"] == pytest.approx(span, abs=0.01)
    assert f.evidence["first_project"] == {"index": 0, "title": "Checkout service"}


def test_claimed_years_boundaries() -> None:
    span = compute_indicators(years_profile(3), AS_OF)["total_years"]
    # Honest profiles add a few years from before the platform: up to 6 more is fine.
    assert flags_of(years_profile(span + 5.99), "claimed_years_inflated") == []
    assert one_flag(years_profile(span + 6.001), "claimed_years_inflated").severity == Severity.low
    assert (
        one_flag(years_profile(span + 8.001), "claimed_years_inflated").severity == Severity.medium
    )
    # Below the span is not a risk at all.
    assert flags_of(years_profile(1), "claimed_years_inflated") == []


def test_claimed_years_need_some_history() -> None:
    p = build(claimed_years_experience=20, projects=sequence(2))
    assert flags_of(p, "claimed_years_inflated") == []


def test_years_stated_in_the_text_beyond_claim_and_history() -> None:
    text = "Backend developer with 15 years of professional experience in Django."
    f = one_flag(with_text(text), "resume_years_inflated")
    assert f.severity == Severity.high
    assert f.evidence["stated_years"] == 15
    assert f.evidence["phrase"] == "15 years of professional experience"
    assert flags_of(with_text("Backend developer with 4 years of experience."), f.code) == []


# --- Links -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("github.com/ana-dev", "is not an http(s) address"),
        ("ftp://github.com/ana-dev", "is not an http(s) address"),
        ("javascript:alert(1)", "is not an http(s) address"),
        ("https://", "has no host"),
        ("https://git hub.com/ana-dev", "contains spaces"),
        ("https://github.com@evil.example/ana-dev", "carries a user name before the host"),
        ("http://127.0.0.1/ana-dev", "points at a bare IP address"),
        ("http://[::1]/ana-dev", "points at a bare IP address"),
        ("https://localhost/ana-dev", "has no valid domain name"),
        ("https://github.com:99999/ana-dev", "cannot be parsed"),
    ],
)
def test_malformed_links(url: str, problem: str) -> None:
    f = one_flag(build(links={"github": url}), "link_malformed")
    assert f.evidence == {"field": "links.github", "url": url, "problem": problem}
    assert f.severity == Severity.medium
    assert flags_of(build(links={"github": url}), "link_wrong_site") == []


@pytest.mark.parametrize(
    ("links", "severity", "field"),
    [
        ({"github": "https://gitlab.com/ana-dev"}, Severity.medium, "links.github"),
        ({"github": "https://github.com.evil.io/ana-dev"}, Severity.high, "links.github"),
        ({"github": "https://my-github.dev/ana-dev"}, Severity.high, "links.github"),
        ({"github": "https://github.com/"}, Severity.low, "links.github"),
        ({"github": "https://github.com/login"}, Severity.low, "links.github"),
        ({"github": "https://gist.github.com/ana-dev"}, Severity.low, "links.github"),
        ({"linkedin": "https://example.com/in/ana-dev"}, Severity.medium, "links.linkedin"),
        ({"linkedin": "https://linkedin.com.example.io/in/ana"}, Severity.high, "links.linkedin"),
        ({"linkedin": "https://www.linkedin.com/company/acme"}, Severity.low, "links.linkedin"),
    ],
)
def test_links_on_the_wrong_site(links: dict, severity: Severity, field: str) -> None:
    f = one_flag(build(links=links), "link_wrong_site")
    assert f.severity == severity
    assert f.evidence["field"] == field
    assert f.evidence["url"] == next(iter(links.values()))


@pytest.mark.parametrize(
    "links",
    [
        {"github": "https://github.com/ana-dev"},
        {"github": "http://www.github.com/Ana-Dev/"},
        {"linkedin": "https://www.linkedin.com/in/ana-dev-4b2a1c9d"},
        {"linkedin": "https://de.linkedin.com/in/ana-silva"},
        {"portfolio": "https://ana.design/work?x=1"},
    ],
)
def test_good_links_raise_nothing(links: dict) -> None:
    assert evaluate_flags(build(links=links), AS_OF) == []


@pytest.mark.parametrize(
    "links",
    [
        # The same person, spelt the ways people do.
        {
            "github": "https://github.com/ana-dev",
            "linkedin": "https://linkedin.com/in/ana-silva-1a2b3c",
        },
        {"github": "https://github.com/jsmith", "linkedin": "https://linkedin.com/in/john-smith"},
        {"github": "https://github.com/kalomi12", "portfolio": "https://kalomi12.dev"},
        {"github": "https://github.com/ana-dev", "portfolio": "https://ana-dev.github.io/cv"},
        {"github": "https://github.com/ana-dev", "portfolio": "https://www.behance.net/anadev"},
        {"github": "https://github.com/ab", "linkedin": "https://linkedin.com/in/zz"},  # too short
    ],
)
def test_link_names_that_agree_raise_nothing(links: dict) -> None:
    assert flags_of(build(links=links), "link_identity_mismatch") == []


def test_link_names_that_clearly_disagree() -> None:
    links = {
        "github": "https://github.com/octocat",
        "linkedin": "https://www.linkedin.com/in/maria-gonzalez-8b1c2d3e",
    }
    f = one_flag(build(links=links), "link_identity_mismatch")
    assert f.severity == Severity.medium
    assert f.evidence["names"] == {"github": "octocat", "linkedin": "maria-gonzalez"}
    assert f.evidence["mismatched_pairs"] == [["github", "linkedin"]]
    # A portfolio under a brand name is common: alone it is a weak sign.
    brand = build(
        links={"github": "https://github.com/octocat", "portfolio": "https://pixelforge.studio"}
    )
    assert one_flag(brand, "link_identity_mismatch").severity == Severity.low


def test_malformed_project_links_name_the_project() -> None:
    projects = [
        project("2021-01-01", 5),
        project("2021-07-01", 6, title="Inventory sync", link="www.example.com/inventory"),
    ]
    f = one_flag(build(projects=projects), "link_malformed")
    assert f.severity == Severity.low
    assert f.evidence["field"] == "projects.link"
    assert f.evidence["projects"] == [
        {
            "index": 1,
            "title": "Inventory sync",
            "url": "www.example.com/inventory",
            "problem": "is not an http(s) address",
        }
    ]


def test_no_socket_is_opened_while_evaluating(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("evaluate_flags tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "gethostbyname", refuse)
    links = {
        "github": "https://github.com.evil.io/octocat",
        "linkedin": "http://169.254.169.254/latest/meta-data/",
        "portfolio": "http://localhost:8080/admin",
    }
    projects = [project("2021-01-01", 5, link="http://10.0.0.1/internal")]
    flags = evaluate_flags(build(links=links, projects=projects), AS_OF)
    assert {"link_wrong_site", "link_malformed"} <= {f.code for f in flags}


# --- Off-platform requests -------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "kind"),
    [
        ("Message me on Telegram rather than here.", "contact"),
        ("Contact me on WhatsApp for a faster answer.", "contact"),
        ("After the first call, let's continue on Skype, not in the platform chat.", "contact"),
        ("Let's move this conversation to Telegram.", "contact"),
        ("Please reach me at my personal email so we can talk freely.", "contact"),
        ("My Telegram: @ana_builds.", "contact"),
        ("I send drafts over Discord and never through the platform chat.", "contact"),
        ("Don't hesitate to message me on WhatsApp.", "contact"),
        ("I only accept payment outside the platform, never through the platform.", "payment"),
        ("To skip the platform fee, I take payment via bank transfer.", "payment"),
        ("Happy to get paid in crypto outside the platform for a lower rate.", "payment"),
        ("For long jobs I suggest monthly payments to my PayPal instead of escrow.", "payment"),
        ("Pay me directly and we both save.", "payment"),
        ("We can work off-platform and split the fee you save.", "payment"),
        (
            "I prefer payment by wire transfer outside the platform to payment through escrow.",
            "payment",
        ),
    ],
)
def test_requests_to_move_off_the_platform(sentence: str, kind: str) -> None:
    text = f"Backend developer who ships on time. {sentence} I write tests first."
    f = one_flag(with_text(text), "off_platform_request")
    assert f.severity == (Severity.high if kind == "payment" else Severity.medium)
    (match,) = f.evidence["matches"]
    assert match["kind"] == kind
    assert match["sentence"] == sentence
    assert all(phrase.lower() in sentence.lower() for phrase in match["phrases"])


@pytest.mark.parametrize(
    "sentence",
    [
        # Negated or contrasted: the same words with the opposite meaning.
        "I never ask clients to pay outside the platform.",
        "I never ask clients to pay outside the platform; all invoices go through the platform.",
        "I only accept payment through the platform, never outside the platform.",
        "Message me here rather than on Telegram.",
        "After the first call, let's continue in the platform chat, not on Skype.",
        "I share drafts through the platform chat and never over Discord.",
        "I prefer payment through escrow to payment by wire transfer outside the platform.",
        "Happy to take payment through platform escrow instead of by direct bank transfer.",
        "Clients who stay in the platform chat get faster replies than clients who move to "
        "Telegram.",
        "I do not accept payments outside the platform, ever.",
        "Payments outside the platform are against the rules, so I don't take them.",
        "Be careful with anyone who asks you to pay outside the platform.",
        "Scammers ask you to move to WhatsApp; I never will.",
        # Harmless mentions of payment and contact.
        "All payments stay on the platform.",
        "All payments stay through the platform's escrow, which protects us both.",
        "Payment is by milestone through the platform; I answer messages here within a day.",
        "Feel free to message me here any time.",
        # Payment and messaging technology in a developer's work.
        "Integrated PayPal and Stripe payments for an online shop.",
        "Built a checkout that lets customers pay via PayPal or bank transfer.",
        "Built a Telegram bot that sends alerts to the on-call engineer.",
        "We built a support chat in WhatsApp for a dental clinic.",
        "Wrote the payout service that moves money to sellers' bank accounts.",
    ],
)
def test_negated_and_harmless_sentences_do_not_fire(sentence: str) -> None:
    text = f"Backend developer who ships on time. {sentence} I write tests first."
    assert flags_of(with_text(text), "off_platform_request") == []


def test_several_contact_requests_are_high() -> None:
    text = "Message me on Telegram. Later, let's move to WhatsApp for calls."
    f = one_flag(with_text(text), "off_platform_request")
    assert f.severity == Severity.high
    assert f.evidence["count"] == 2


# --- Guarantees ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentence",
    [
        "100% guaranteed results!",
        "100% satisfaction guaranteed.",
        "Money-back guarantee on every order.",
        "Guaranteed results in 30 days.",
        "I guarantee first-page Google rankings.",
        "Your satisfaction is guaranteed.",
        "Hiring me is risk-free.",
        "Five-star work or your money back.",
    ],
)
def test_guarantee_language(sentence: str) -> None:
    f = one_flag(with_text(f"Designer for small brands. {sentence}"), "guarantee_language")
    assert f.severity == Severity.low
    assert f.evidence["matches"][0]["sentence"] == sentence


@pytest.mark.parametrize(
    "sentence",
    [
        "I won't promise '100% satisfaction guaranteed'; I promise clear milestones.",
        "I don't guarantee results I can't control, like rankings or sales.",
        "No one can honestly guarantee success on every project.",
        "Be wary of anyone who guarantees bug-free code.",
        "Refunds go through the platform's own process, not a private money-back guarantee.",
        "I guarantee clear communication and weekly updates.",
        "Implemented exactly-once delivery guarantees in Kafka.",
    ],
)
def test_disclaimers_and_technical_guarantees_do_not_fire(sentence: str) -> None:
    text = f"Designer for small brands. {sentence}"
    assert flags_of(with_text(text), "guarantee_language") == []


def test_several_guarantees_are_medium() -> None:
    text = "Guaranteed results. Money-back guarantee. Ask me anything."
    f = one_flag(with_text(text), "guarantee_language")
    assert f.severity == Severity.medium
    assert f.evidence["count"] == 2


# --- Keyword stuffing ------------------------------------------------------------------

PROSE = (
    "Full-stack developer for startups. I built booking systems, dashboards and payment "
    "flows for clinics, shops and agencies, and I keep clients informed every week about "
    "what changed and why. Most of my work is long-term maintenance and careful refactoring "
    "of older code bases that still earn money, which means reading a lot of code before "
    "changing any of it. I care about tests, small pull requests and plain documentation. "
    "Before a project starts I write down what done means, agree on milestones and name the "
    "risks I can see. In Django projects I usually start with the data model; in React "
    "projects with the slowest screen. I have mentored juniors at two agencies and still "
    "review code for a small open-source library. When something goes wrong I say so the "
    "same day, with a plan to fix it."
)
TERMS = (
    "AI, blockchain, Web3, SEO, ChatGPT, machine learning, big data, cloud, agile, Scrum, "
    "SaaS, NFT, crypto, IoT, microservices, DevOps, full stack, UI/UX, data science, "
    "automation, React, Vue, Angular, Svelte, Django, Flask, Rails, Laravel, Spring, Go"
).split(", ")


@pytest.mark.parametrize(
    ("n", "separator", "expected"),
    [
        (10, ", ", None),
        (14, ", ", None),
        (15, ", ", Severity.medium),
        (15, " | ", Severity.medium),
        (24, " / ", Severity.medium),
        (25, ", ", Severity.high),
    ],
)
def test_a_long_run_of_listed_terms(n: int, separator: str, expected: Severity | None) -> None:
    run = separator.join(TERMS[:n])
    text = f"{PROSE} {run}. Thanks for reading."
    found = flags_of(with_text(text), "keyword_stuffing")
    assert [f.severity for f in found] == ([] if expected is None else [expected])
    if found:
        assert found[0].evidence["kind"] == "list"
        assert found[0].evidence["items"] == n
        assert found[0].evidence["phrase"] == run


def test_a_list_that_is_most_of_the_resume_is_high() -> None:
    text = "Skills: " + ", ".join(TERMS[:16]) + "."
    f = one_flag(with_text(text), "keyword_stuffing")
    assert f.severity == Severity.high
    assert f.evidence["share_of_words"] > 0.3


def test_one_term_repeated_through_the_text() -> None:
    filler = "I help small shops grow with careful work and honest reports every week".split()
    words = []
    for i in range(100):
        words.append(filler[i % len(filler)])
        if i % 8 == 0:
            words.append("SEO")
    f = one_flag(with_text(" ".join(words) + "."), "keyword_stuffing")
    assert f.evidence["kind"] == "repetition"
    assert f.evidence["term"] == "seo"
    assert f.evidence["count"] == 13
    assert f.evidence["ratio"] == pytest.approx(13 / 113, abs=1e-3)
    assert f.severity == Severity.medium
    assert "SEO" in f.evidence["phrase"]


def test_ordinary_prose_is_not_stuffing() -> None:
    text = (
        f"{PROSE} Main tools: Python, Django, PostgreSQL, Redis, Docker, Celery, React. "
        "Languages: English, Portuguese, Spanish."
    )
    assert flags_of(with_text(text), "keyword_stuffing") == []


# --- Ratings ---------------------------------------------------------------------------


def rated(ratings: list[float | None], disputed: set[int]) -> list[dict]:
    return [
        project(
            (BASE + dt.timedelta(days=60 * i)).isoformat(),
            1,
            title=f"Project {i}",
            client_rating=r,
            disputed=i in disputed,
        )
        for i, r in enumerate(ratings)
    ]


def test_perfect_ratings_on_disputed_projects() -> None:
    projects = rated([5.0] * 6, {2})
    projects.reverse()  # submitted newest first
    f = one_flag(build(projects=projects), "perfect_ratings_with_disputes")
    assert f.severity == Severity.medium  # one of six
    assert f.evidence["projects"] == [{"index": 2, "title": "Project 2"}]
    assert f.evidence["rated_projects"] == 6
    high = one_flag(build(projects=rated([5.0] * 6, {2, 4})), "perfect_ratings_with_disputes")
    assert high.severity == Severity.high
    assert [x["index"] for x in high.evidence["projects"]] == [2, 4]


@pytest.mark.parametrize(
    ("ratings", "disputed"),
    [
        ([5.0] * 6, set()),  # perfect and clean: nothing to square
        ([5.0] * 5 + [4.9], {2}),  # not all perfect
        ([5.0] * 4, {1}),  # too few rated projects
        ([5.0] * 5 + [None], {5}),  # the disputed one has no rating
    ],
)
def test_ratings_that_are_not_suspicious(ratings: list, disputed: set[int]) -> None:
    assert flags_of(build(projects=rated(ratings, disputed)), "perfect_ratings_with_disputes") == []


# --- Features --------------------------------------------------------------------------


def test_flag_features_hold_the_worst_severity_per_code() -> None:
    p = build(
        experience_level="expert",
        claimed_years_experience=3,
        resume_text="Message me on Telegram. Guaranteed results.",
    )
    vector = flag_features(p, AS_OF)
    assert vector.shape == (len(FLAG_CODES),) and vector.dtype == np.float32
    by_code = dict(zip(FLAG_CODES, vector.tolist(), strict=True))
    assert by_code["experience_mismatch"] == 3
    assert by_code["off_platform_request"] == 2
    assert by_code["guarantee_language"] == 1
    assert by_code["unrealistic_projects"] == 0
    assert set(vector.tolist()) <= {0, 1, 2, 3}


def test_flags_to_features_skips_codes_without_a_slot() -> None:
    flags = [
        Flag("a_model_only_code", Severity.high, "x.", {}, source="model"),
        Flag(NEAR_DUPLICATE_CODE, Severity.medium, "y.", {}),
    ]
    vector = flags_to_features(flags)
    assert vector.sum() == 2 and vector[FLAG_CODES.index(NEAR_DUPLICATE_CODE)] == 2


# --- Speed -----------------------------------------------------------------------------


def test_a_maximal_profile_evaluates_fast() -> None:
    sentences = [
        "I built a Django checkout for a retailer and cut failed payments by 18% in 2022.",
        "Message me on Telegram rather than here.",
        "I never ask clients to pay outside the platform.",
        "100% satisfaction guaranteed.",
        "Skills: " + ", ".join(TERMS[:20]) + ".",
        "With 25 years of professional experience I keep estimates honest.",
        "Weekly progress updates are part of every project I take.",
    ]
    text = ""
    i = 0
    while len(text) < 100_000:
        text += sentences[i % len(sentences)] + (" " if i % 5 else "\n")
        i += 1
    projects = [
        project(
            (BASE - dt.timedelta(days=9 * k)).isoformat(),
            1 + k % 4,
            title=f"Project {k}",
            client_rating=5.0,
            disputed=k % 40 == 0,
            technologies=["python", "react", "kubernetes"][: 1 + k % 3],
            link=f"https://github.com/ana-dev/p{k}" if k % 3 else f"ftp://example.com/p{k}",
        )
        for k in range(500)
    ]
    p = build(
        resume_text=text[:100_000],
        projects=projects,
        links={"github": "https://github.com/octocat", "linkedin": "https://linkedin.com/in/mia"},
    )
    evaluate_flags(p, AS_OF)  # warm up
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        flags = evaluate_flags(p, AS_OF)
        timings.append(time.perf_counter() - started)
    best = min(timings)
    print(f"\n100,000 chars, 500 projects: {best * 1000:.1f} ms ({len(flags)} flags)")
    assert {"off_platform_request", "guarantee_language", "keyword_stuffing"} <= {
        f.code for f in flags
    }
    assert best < 1.0
