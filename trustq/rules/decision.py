"""From a calibrated probability, the flags and what the input is, to what a trust team reads:
the score, the band, the recommendation and one plain sentence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from trustq.config import Settings
from trustq.rules.flags import Flag, RiskLevel, Severity
from trustq.rules.inputs import History, Notice
from trustq.rules.ruleset import Facts, RuleSet, apply_rules


class Recommendation(StrEnum):
    trustworthy = "trustworthy"
    # A newcomer with nothing against them: approve under the platform's new-account limits.
    limited = "limited"
    review = "review"
    risky = "risky"


RECOMMENDATION = {
    RiskLevel.LOW: Recommendation.trustworthy,
    RiskLevel.MEDIUM: Recommendation.review,
    RiskLevel.HIGH: Recommendation.risky,
}


def trust_score(p_risk: float) -> float:
    """0–100, higher is more trustworthy: the calibrated chance of *not* being risky."""
    return round(100.0 * (1.0 - p_risk), 1)


def risk_level(score: float, settings: Settings) -> RiskLevel:
    if score >= settings.low_risk_min_score:
        return RiskLevel.LOW
    if score >= settings.medium_risk_min_score:
        return RiskLevel.MEDIUM
    return RiskLevel.HIGH


def label(p_risk: float) -> str:
    """The model's yes/no call at even odds."""
    return "risky" if p_risk >= 0.5 else "trustworthy"


def speaks_against(flags: Sequence[Flag]) -> list[Flag]:
    """The flags that tell against a profile: medium severity or more."""
    return [f for f in flags if Severity(f.severity).rank >= Severity.medium.rank]


@dataclass
class Decision:
    trust_score: float
    model_risk_level: str
    risk_level: str
    recommendation: str
    label: str
    history: str = History.full.value
    flags: list[dict[str, Any]] = field(default_factory=list)
    rule_hits: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    summary: str = ""


def decide(
    *,
    p_risk: float,
    flags: list[Flag],
    external_id: str,
    history: History,
    notices: Sequence[Notice],
    settings: Settings,
    rules: RuleSet,
) -> Decision:
    """Score and band from the model, then the configured rules, each hit recorded, then
    the recommendation: a newcomer's follows ``settings.newcomer_policy`` when no flag
    speaks against them and goes to a person when one does, and input the model cannot
    read well goes to a person."""
    score = trust_score(p_risk)
    model_level = risk_level(score, settings)
    facts = Facts(
        p_risk=p_risk,
        flags=tuple(flags),
        history=history.value,
        notices=frozenset(n.kind for n in notices),
    )
    final, hits = apply_rules(
        rules, external_id=external_id, risk_level=model_level.value, facts=facts
    )
    level = RiskLevel(final)
    recommendation = RECOMMENDATION[level]
    listed = any(h.action in ("block", "allow") for h in hits)
    if level != RiskLevel.HIGH and not listed:
        if notices:
            recommendation = Recommendation.review
        elif history != History.full:
            # A newcomer has no record to outweigh a flag: one that speaks against them
            # asks for a person; without one, the newcomer policy decides.
            policy = settings.newcomer_policy
            if speaks_against(flags) or policy == "review":
                recommendation = Recommendation.review
            elif policy == "limited":
                recommendation = Recommendation.limited
    return Decision(
        trust_score=score,
        model_risk_level=model_level.value,
        risk_level=final,
        recommendation=recommendation.value,
        label=label(p_risk),
        history=history.value,
        flags=[f.to_dict() for f in flags],
        rule_hits=[{"name": h.name, "action": h.action, "detail": h.detail} for h in hits],
        notices=[n.to_dict() for n in notices],
    )


# --- The sentence for support staff ----------------------------------------------------

_ACTION = {
    Recommendation.trustworthy: "approve",
    Recommendation.limited: "approve under new-account limits",
    Recommendation.review: "review",
    Recommendation.risky: "high risk, hold and review",
}
_NOTICE = {
    "length": "the resume is far {} than those the model learned from",
    "language": "the resume is mostly not in English",
    "not_prose": "the resume is mostly not prose",
}


def _flag_phrase(flag: dict[str, Any]) -> str:
    code, evidence = flag["code"], flag.get("evidence") or {}
    if code == "off_platform_request":
        kinds = {m.get("kind") for m in evidence.get("matches", [])}
        return (
            "the resume asks to be paid outside the platform"
            if "payment" in kinds
            else "the resume asks to move the conversation off the platform"
        )
    if code == "overlapping_timelines":
        return f"{evidence.get('simultaneous_projects', 'many')} projects ran at the same time"
    if code == "link_wrong_site" and evidence.get("lookalike"):
        return f"a profile link imitates {evidence.get('expected', 'a known site')}"
    return {
        "experience_mismatch": "the claimed level is above the claimed years",
        "resume_years_inflated": "the resume states more years than the claim",
        "weak_technical_consistency": "the projects use technologies missing from the skills",
        "perfect_ratings_with_disputes": "perfect ratings sit beside disputed projects",
        "link_malformed": "a profile link is not a usable address",
        "link_wrong_site": "a profile link points at the wrong site",
        "link_identity_mismatch": "the profile links name different people",
        "contact_details": "the resume gives direct contact details",
        "guarantee_language": "the resume promises outcomes nobody can guarantee",
        "keyword_stuffing": "the resume is stuffed with keywords",
        "near_duplicate_resume": "another freelancer submitted the same resume",
    }.get(code, code.replace("_", " "))


def summarise(
    decision: Decision, *, n_projects: int, reasons: Sequence[dict[str, Any]] = ()
) -> str:
    """One plain sentence: the history, what speaks against the profile (or that nothing
    does), and what to do."""
    if decision.history == History.none:
        parts = ["New freelancer, no history here"]
    elif decision.history == History.short:
        parts = [f"Short history here ({n_projects} project{'s' if n_projects != 1 else ''})"]
    else:
        parts = [f"{n_projects} projects here"]
    ranked = sorted(decision.flags, key=lambda f: -Severity(f["severity"]).rank)
    strong = [f for f in ranked if Severity(f["severity"]).rank >= Severity.medium.rank]
    phrases = list(dict.fromkeys(_flag_phrase(f) for f in strong))  # one flag may fire twice
    parts.extend(phrases[:2])
    for notice in decision.notices:
        phrase = _NOTICE.get(notice["kind"], notice["kind"])
        if notice["kind"] == "length":
            shorter = notice["evidence"].get("tokens", 0) < notice["evidence"].get("trained_p01", 0)
            phrase = phrase.format("shorter" if shorter else "longer")
        parts.append(phrase)
    raising = [r for r in reasons if r.get("effect", 0) > 0]
    if not strong and not decision.notices:
        if decision.risk_level == RiskLevel.LOW:
            parts.append("no flag speaks against it")
        elif raising:
            concern = str(raising[0].get("text", "")).rstrip(" .;:")
            parts.append(f"the model's main concern: {concern}")
        else:
            risk = (100.0 - decision.trust_score) / 100.0
            parts.append(f"no flag, but the model puts the chance of risk at {risk:.0%}")
    action = _ACTION[Recommendation(decision.recommendation)]
    return "; ".join(parts) + f": {action}."
