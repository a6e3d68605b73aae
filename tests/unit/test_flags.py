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


def sequence(n: int, every_days: float = 60, months: float = 1.0, **extra: Any) -> list[dict]:
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


def test_an_expert_claim_with_two_years_is_flagged() -> None:
    p = build(experience_level="expert", claimed_years_experience=2)
    f = one_flag(p, "experience_mismatch")
    assert f.evidence["claimed_years"] == 2 and f.evidence["expected_min_years"] == 8
    assert f.severity == Severity.high  # 2 of the 8 years needed
    assert "Expert" in f.message


@pytest.mark.parametrize(
    ("level", "claimed", "expected"),
    [
        ("mid", 2.0, None),
        ("mid", 1.3, None),  # within rounding of the minimum
        ("mid", 1.0, Severity.medium),  # half of the minimum
        ("mid", 0.5, Severity.high),
        ("mid", 12.0, None),  # understating the level is not the risky direction
        ("senior", 5.0, None),
        ("senior", 25.0, None),  # no upper bound: a senior with 25 years is a senior
        ("entry", 0.0, None),
        ("entry", 14.0, None),
        ("expert", 40.0, None),
    ],
)
def test_claimed_years_against_the_level(
    level: str, claimed: float, expected: Severity | None
) -> None:
    p = build(experience_level=level, claimed_years_experience=claimed, projects=sequence(1))
    found = flags_of(p, "experience_mismatch")
    assert [f.severity for f in found] == ([] if expected is None else [expected])


def test_time_on_the_platform_is_not_a_career() -> None:
    # A veteran who has just arrived: one project here, 15 years of career.
    p = build(experience_level="expert", claimed_years_experience=15, projects=sequence(1))
    assert flags_of(p, "experience_mismatch") == []
    # Without a claim there is nothing to hold the level against.
    assert flags_of(build(experience_level="expert", claimed_years_experience=None), "x") == []
    p = build(experience_level="expert", claimed_years_experience=None, projects=[])
    assert flags_of(p, "experience_mismatch") == []


# --- History: simultaneous projects, technology ---------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"), [(7, None), (8, Severity.medium), (14, Severity.medium), (15, Severity.high)]
)
def test_projects_running_at_the_same_time(n: int, expected: Severity | None) -> None:
    # n projects of three months, one started every two days.
    p = build(projects=sequence(n, every_days=2, months=3))
    found = flags_of(p, "overlapping_timelines")
    assert [f.severity for f in found] == ([] if expected is None else [expected])
    if found:
        assert found[0].evidence["simultaneous_projects"] == n
        assert len(found[0].evidence["projects"]) == min(n, 10)


def test_sixty_projects_started_in_one_month_are_impossible() -> None:
    p = build(projects=sequence(60, every_days=0.5, months=4))
    f = one_flag(p, "overlapping_timelines")
    assert f.severity == Severity.high and f.evidence["simultaneous_projects"] == 60


def test_hundreds_of_small_gigs_are_not_a_workload_problem() -> None:
    # 300 jobs of two or three days, two a week for three years: a top gig worker.
    p = build(projects=sequence(300, every_days=3.5, months=0.08))
    assert flags_of(p, "overlapping_timelines") == []
    # A few long retainers beside the gigs still stay under the bar.
    retainers = [project((BASE + dt.timedelta(days=30 * k)).isoformat(), 30) for k in range(4)]
    p = build(projects=sequence(120, every_days=3, months=0.1) + retainers)
    assert flags_of(p, "overlapping_timelines") == []


def test_a_hand_over_is_not_parallel_work() -> None:
    # Each project starts ten days before the previous one ends (under the 14-day grace).
    projects = [
        project((BASE + dt.timedelta(days=50 * i)).isoformat(), 2.0, title=f"P{i}")
        for i in range(12)
    ]
    assert flags_of(build(projects=projects), "overlapping_timelines") == []


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


# --- Years in the text ---------------------------------------------------------------


def test_years_stated_in_the_text_beyond_claim_and_history() -> None:
    text = "Backend developer with 15 years of professional experience in Django."
    f = one_flag(build(resume_text=text, claimed_years_experience=3), "resume_years_inflated")
    assert f.severity == Severity.high
    assert f.evidence["stated_years"] == 15
    assert f.evidence["phrase"] == "15 years of professional experience"
    close = "Backend developer with 4 years of experience."
    p = build(resume_text=close, claimed_years_experience=3)
    assert flags_of(p, f.code) == []
    # "1.5 years" is read whole, not as "5 years".
    half = build(resume_text="Junior with 1.5 years of experience.", claimed_years_experience=1.5)
    assert flags_of(half, f.code) == []
    # Without a claim, a career figure in the text has nothing to disagree with.
    assert flags_of(build(resume_text=text, claimed_years_experience=None), f.code) == []


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
        # Seen in hand-written fraud cases.
        ("To avoid delay kindly reach out to me on WhatsApp and we discuss there.", "contact"),
        ("Working with me directly means no 20% service fee.", "payment"),
        ("Payment info: I accept Amazon, Apple or Steam gift cards.", "payment"),
        ("payment: CASH APP ONLY, full payment upfront.", "payment"),
        ("Please do not use the platform milestone, the factory does not accept it.", "payment"),
        ("i dont use the site payments bc they hold my money for 2 weeks.", "payment"),
        ("Add me on Telegram: t.me/ana_builds for quotes.", "contact"),
        ("Every new client must pay a one-time registration fee of $85.", "payment"),
        # Found by review: a denial earlier in the sentence, in another clause.
        ("I never miss a deadline and you pay me via PayPal friends and family.", "payment"),
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
        # Payments in someone's job, from real resumes.
        "Paid approximately 100,000K in funds via wire transfers to suppliers on a weekly basis.",
        "Reconciled incoming wire payments and PayPal settlements for the finance team.",
        "Supervised crews that work under the contract performed ON or OFF site.",
        # Found by review: work descriptions that name a payment channel.
        "Set up payments via PayPal and Stripe for an e-commerce client.",
        "Built a checkout where clients can pay via PayPal or Venmo.",
        "Payments are sent via wire transfer to international vendors.",
        "Helped sellers move off Amazon and onto Shopify, saving platform fees.",
        "Developed a crypto wallet app; users get paid in crypto.",
        "Updating of Processing Fee of Entire South Portfolio Clients & prepare the MIS.",
        "I only work through the platform's escrow, never outside it.",
        "Please keep all communication here on the platform.",
    ],
)
def test_negated_and_harmless_sentences_do_not_fire(sentence: str) -> None:
    text = f"Backend developer who ships on time. {sentence} I write tests first."
    assert flags_of(with_text(text), "off_platform_request") == []


def test_several_contact_requests_stay_medium() -> None:
    # Moving the conversation is the step before moving payment: a person should look,
    # however often it is asked; only payment off the platform is decisive.
    text = "Message me on Telegram. Later, let's move to WhatsApp for calls."
    f = one_flag(with_text(text), "off_platform_request")
    assert f.severity == Severity.medium
    assert f.evidence["count"] == 2


# --- Other languages and contact details ---------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "severity"),
    [
        ("Acepto pagos por PayPal fuera de la plataforma con un 10% de descuento.", "high"),
        ("Te hago descuento si pagas por transferencia bancaria, sin comisión.", "high"),
        ("Ich bevorzuge Zahlung per Überweisung, ohne Plattformgebühr.", "high"),
        ("Zahlung gerne direkt an mich, außerhalb der Plattform.", "high"),
        ("Pagamento direto via Pix, fora da plataforma, sai mais barato.", "high"),
        ("Me chama no zap que te passo o Pix.", "high"),
        ("Solo acepto pagos por Binance Pay o USDT directo a mi billetera.", "high"),
        ("El depósito no pasa por la plataforma.", "high"),
        ("Paiement direct par virement bancaire, hors plateforme.", "high"),
        ("Escríbeme por WhatsApp y lo hablamos.", "medium"),
        ("Schreib mir auf Telegram, dort antworte ich schneller.", "medium"),
    ],
)
def test_off_platform_requests_in_other_languages(sentence: str, severity: str) -> None:
    f = one_flag(with_text(f"Desarrolladora web. {sentence}"), "off_platform_request")
    assert f.severity == severity


@pytest.mark.parametrize(
    "sentence",
    [
        "Nunca pido pagos fuera de la plataforma.",
        "Ich arbeite nie außerhalb der Plattform.",
        "Não aceito pagamento fora da plataforma.",
        "Je ne demande jamais de paiement hors plateforme.",
        "Integré pagos con PayPal y Stripe para una tienda online.",
        "Entwicklung einer App mit Banküberweisung für einen Kunden.",
    ],
)
def test_denials_and_work_descriptions_in_other_languages_do_not_fire(sentence: str) -> None:
    assert flags_of(with_text(sentence), "off_platform_request") == []


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("Reach me at ana.silva@gmail.com for anything.", {"email"}),
        ("ana.silva (at) gmail (dot) com", {"email"}),
        ("ana at gmail dot com", {"email"}),
        ("Phone: (555) 123-4567", {"phone"}),
        ("WhatsApp +44 7700 900123 or ana@proton.me", {"email", "phone"}),
        ("Teléfono: 600 123 456", {"phone"}),
    ],
)
def test_contact_details_in_the_resume(text: str, kinds: set[str]) -> None:
    f = one_flag(with_text(f"Designer. {text}"), "contact_details")
    assert {m["kind"] for m in f.evidence["matches"]} == kinds
    assert f.severity == Severity.medium


@pytest.mark.parametrize(
    "text",
    [
        "Senior engineer at Booking.com, 2015-2019 and 2020-2023.",
        "Grew revenue from 1,250,000 to 3,400,000 in 2019.",
        "Lead developer at Acme Corp (2012 - 2016), 120 000 users.",
        "Contact me through the platform messages.",
        "Template placeholder: name@example.com",
    ],
)
def test_dates_amounts_and_employers_are_not_contact_details(text: str) -> None:
    assert flags_of(with_text(text), "contact_details") == []


# --- Guarantees ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentence",
    [
        "5-star reviews guaranteed!",
        "Guaranteed first page of Google in 30 days.",
        "I guarantee first-page Google rankings.",
        "I guarantee you will double your income.",
        "Sales are guaranteed.",
        "Guaranteed 10x ROI on every campaign.",
        "Top 3 positions, or you don't pay.",
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
        # What honest people promise about their own service is not an outcome guarantee.
        "100% satisfaction guaranteed.",
        "Your satisfaction is guaranteed.",
        "Money-back guarantee on every order.",
        "Unlimited revisions until you are happy, guaranteed.",
        "On-time delivery guaranteed.",
    ],
)
def test_disclaimers_and_technical_guarantees_do_not_fire(sentence: str) -> None:
    text = f"Designer for small brands. {sentence}"
    assert flags_of(with_text(text), "guarantee_language") == []


def test_several_guarantees_are_medium() -> None:
    text = "Guaranteed 5-star reviews. Rankings guaranteed. Ask me anything."
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


def test_a_skills_section_is_not_stuffing() -> None:
    # Thirty skills after a paragraph of prose: how honest CVs are written.
    text = f"{PROSE} Skills: {', '.join(TERMS[:30])}. Thanks for reading."
    assert flags_of(with_text(text), "keyword_stuffing") == []


@pytest.mark.parametrize(
    ("n", "separator", "expected"),
    [
        (19, ", ", None),  # too few terms, whatever their share
        (20, ", ", Severity.medium),
        (24, " | ", Severity.medium),
    ],
)
def test_a_list_that_makes_up_much_of_the_resume(
    n: int, separator: str, expected: Severity | None
) -> None:
    run = separator.join(TERMS[:n])
    intro = " ".join(PROSE.split()[:59])  # a list of 20 terms is then about a quarter
    text = f"{intro} {run}."
    found = flags_of(with_text(text), "keyword_stuffing")
    assert [f.severity for f in found] == ([] if expected is None else [expected])
    if found:
        assert found[0].evidence["kind"] == "list"
        assert found[0].evidence["items"] == n
        assert found[0].evidence["phrase"] == run


def test_a_list_that_is_most_of_the_resume_is_high() -> None:
    f = one_flag(with_text("Skills: " + ", ".join(TERMS[:28]) + "."), "keyword_stuffing")
    assert f.severity == Severity.high
    assert f.evidence["share_of_words"] > 0.4


def test_a_run_far_past_any_skills_section() -> None:
    terms = TERMS + [f"{t} 2" for t in TERMS[:14]]  # 45 terms
    text = f"{PROSE} {PROSE} {PROSE} {', '.join(terms)}."
    f = one_flag(with_text(text), "keyword_stuffing")
    assert f.evidence["items"] >= 40 and f.severity == Severity.medium
    assert f.evidence["share_of_words"] < 0.25


def test_one_term_repeated_through_the_text() -> None:
    filler = "I help small shops grow with careful work and honest reports every week".split()
    words = []
    for i in range(100):
        words.append(filler[i % len(filler)])
        if i % 6 == 0:
            words.append("SEO")
    f = one_flag(with_text(" ".join(words) + "."), "keyword_stuffing")
    assert f.evidence["kind"] == "repetition"
    assert f.evidence["term"] == "seo"
    assert f.evidence["count"] == 17
    assert f.evidence["ratio"] == pytest.approx(17 / 117, abs=1e-3)
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
        claimed_years_experience=2,
        resume_text="Message me on Telegram. Guaranteed first-page rankings.",
    )
    vector = flag_features(p, AS_OF)
    assert vector.shape == (len(FLAG_CODES),) and vector.dtype == np.float32
    by_code = dict(zip(FLAG_CODES, vector.tolist(), strict=True))
    assert by_code["experience_mismatch"] == 3
    assert by_code["off_platform_request"] == 2
    assert by_code["guarantee_language"] == 1
    assert by_code["overlapping_timelines"] == 0
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
        "Top rankings guaranteed.",
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
    assert {"off_platform_request", "guarantee_language"} <= {f.code for f in flags}
    assert best < 1.0


# --- Written to get past the rules ------------------------------------------------------


@pytest.mark.parametrize(
    "sentence",
    [
        "Pay me via Pay\u200bPal fri\u200bends and family.",  # zero-width spaces
        "Pay me via P\u0430yP\u0430l friends and family.",  # Cyrillic a
        "Ｐａｙ ｍｅ ｖｉａ ＰａｙＰａｌ friends and family.",  # full-width letters
        "Pay me via Pay\u00adPal friends and family.",  # soft hyphen
    ],
)
def test_invisible_and_look_alike_characters_do_not_hide_a_request(sentence: str) -> None:
    f = one_flag(with_text(f"Designer for small brands. {sentence}"), "off_platform_request")
    assert f.severity == Severity.high


def test_an_earlier_mention_of_the_same_word_does_not_hide_a_request() -> None:
    filler = " and ".join(["careful documentation of every step"] * 8)
    text = f"I integrated paypal checkout for shops, {filler}, so please pay me via paypal."
    assert one_flag(with_text(text), "off_platform_request").severity == Severity.high


def test_spaces_after_a_label_cost_linear_time() -> None:
    text = ("phone" + " " * 290 + "x ") * 340
    started = time.perf_counter()
    evaluate_flags(with_text(text[:100_000]), AS_OF)
    assert time.perf_counter() - started < 2.0
