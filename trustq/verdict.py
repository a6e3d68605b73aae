"""From a calibrated probability to what a trust team reads: score, risk level, label."""

from __future__ import annotations

from enum import StrEnum

from trustq.config import Settings


class RiskLevel(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


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
