"""The decision: bands, the newcomer policy, input notices, the summary sentence."""

from __future__ import annotations

import pytest

from trustq.config import get_settings
from trustq.rules.decision import decide, summarise
from trustq.rules.flags import Flag, Severity
from trustq.rules.inputs import History, Notice
from trustq.rules.ruleset import RuleSet

RULES = RuleSet.load(None)
PAYMENT = Flag(
    "off_platform_request",
    Severity.high,
    "The resume asks to move payment off the platform.",
    {"matches": [{"kind": "payment", "phrases": ["outside the platform"], "sentence": "x"}]},
)
LANGUAGE = Notice("language", "The resume is mostly not in English.", {"english_share": 0.1})


def _decide(p: float, history: History, flags=(), notices=(), **settings):
    s = get_settings().model_copy(update=settings)
    return decide(
        p_risk=p,
        flags=list(flags),
        external_id="fl-1",
        history=history,
        notices=list(notices),
        settings=s,
        rules=RULES,
    )


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("limited", "limited"), ("review", "review"), ("score", "review")],
)
def test_a_clean_newcomer_follows_the_newcomer_policy(policy: str, expected: str) -> None:
    # p = 0.3 is MEDIUM by the bands; nothing speaks against the newcomer.
    d = _decide(0.3, History.none, newcomer_policy=policy)
    assert d.risk_level == "MEDIUM" and d.history == "none"
    assert d.recommendation == expected


def test_the_policy_applies_to_short_histories_but_not_full_ones() -> None:
    assert _decide(0.1, History.short).recommendation == "limited"
    assert _decide(0.1, History.full).recommendation == "trustworthy"
    assert _decide(0.3, History.full).recommendation == "review"


def test_a_newcomer_with_a_flag_against_them_goes_to_review() -> None:
    contact = Flag("contact_details", Severity.medium, "An e-mail address.", {})
    for policy in ("limited", "review", "score"):
        d = _decide(0.05, History.none, flags=[contact], newcomer_policy=policy)
        assert (d.risk_level, d.recommendation) == ("LOW", "review")
    # A low-severity flag does not speak against anyone.
    minor = Flag("guarantee_language", Severity.low, "A guarantee.", {})
    assert _decide(0.05, History.none, flags=[minor]).recommendation == "limited"
    # An established freelancer's record outweighs it: the band decides.
    assert _decide(0.05, History.full, flags=[contact]).recommendation == "trustworthy"
    d = _decide(0.05, History.none, flags=[PAYMENT])
    assert (d.risk_level, d.recommendation) == ("HIGH", "risky")


def test_the_model_alone_cannot_make_a_newcomer_high() -> None:
    d = _decide(0.9, History.none)
    assert d.model_risk_level == "HIGH" and d.risk_level == "MEDIUM"
    assert d.recommendation == "limited"  # nothing a reviewer could point at


def test_a_notice_sends_the_profile_to_review_whatever_the_band() -> None:
    for p in (0.01, 0.9):
        d = _decide(p, History.none, notices=[LANGUAGE])
        assert (d.risk_level, d.recommendation) == ("MEDIUM", "review")
        assert d.notices[0]["kind"] == "language"
    # Evidence still decides.
    d = _decide(0.01, History.none, flags=[PAYMENT], notices=[LANGUAGE])
    assert (d.risk_level, d.recommendation) == ("HIGH", "risky")


def test_the_summary_names_history_evidence_and_action() -> None:
    d = _decide(0.05, History.none, flags=[PAYMENT])
    text = summarise(d, n_projects=0)
    assert text == (
        "New freelancer, no history here; the resume asks to be paid outside the platform: "
        "high risk, hold and review."
    )
    clean = _decide(0.05, History.none)
    assert summarise(clean, n_projects=0) == (
        "New freelancer, no history here; no flag speaks against it: approve under "
        "new-account limits."
    )
    foreign = _decide(0.05, History.short, notices=[LANGUAGE])
    assert summarise(foreign, n_projects=2) == (
        "Short history here (2 projects); the resume is mostly not in English: review."
    )
    worry = _decide(0.3, History.full)
    assert summarise(worry, n_projects=9) == (
        "9 projects here; no flag, but the model puts the chance of risk at 30%: review."
    )
    reason = {"effect": 0.12, "text": "Project 'Shop' was disputed and cancelled."}
    assert summarise(worry, n_projects=9, reasons=[reason]) == (
        "9 projects here; the model's main concern: Project 'Shop' was disputed and "
        "cancelled: review."
    )
