"""From a calibrated probability and the flags to what a trust team reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trustq.config import Settings
from trustq.rules.flags import Flag, RiskLevel
from trustq.rules.ruleset import RuleSet, apply_rules

RECOMMENDATION = {
    RiskLevel.LOW: "trustworthy",
    RiskLevel.MEDIUM: "review",
    RiskLevel.HIGH: "risky",
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


@dataclass
class Decision:
    trust_score: float
    model_risk_level: str
    risk_level: str
    recommendation: str
    label: str
    flags: list[dict[str, Any]] = field(default_factory=list)
    rule_hits: list[dict[str, Any]] = field(default_factory=list)


def decide(
    *,
    p_risk: float,
    flags: list[Flag],
    external_id: str,
    settings: Settings,
    rules: RuleSet,
) -> Decision:
    """Score and band from the model, then the configured rules, each hit recorded."""
    score = trust_score(p_risk)
    model_level = risk_level(score, settings)
    final, hits = apply_rules(
        rules, external_id=external_id, risk_level=model_level.value, p_risk=p_risk, flags=flags
    )
    return Decision(
        trust_score=score,
        model_risk_level=model_level.value,
        risk_level=final,
        recommendation=RECOMMENDATION[RiskLevel(final)],
        label=label(p_risk),
        flags=[f.to_dict() for f in flags],
        rule_hits=[{"name": h.name, "action": h.action, "detail": h.detail} for h in hits],
    )
