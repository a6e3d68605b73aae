"""What every rule speaks in: risk levels, flags (code, severity, message, evidence), the
known codes, and the flags as a fixed-length feature vector."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np


class RiskLevel(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"

    @property
    def rank(self) -> int:
        """0, 1 or 2; higher is riskier."""
        return _RISK_RANK[self]


_RISK_RANK = {RiskLevel.LOW: 0, RiskLevel.MEDIUM: 1, RiskLevel.HIGH: 2}


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
    "overlapping_timelines",
    "weak_technical_consistency",
    "perfect_ratings_with_disputes",
    "resume_years_inflated",
    "link_malformed",
    "link_wrong_site",
    "link_identity_mismatch",
    "off_platform_request",
    "contact_details",
    "guarantee_language",
    "keyword_stuffing",
    "near_duplicate_resume",
)
# Flags of one family read the same evidence, so two of them are not two independent
# signs (rules count "high flags of unrelated kinds" by family). Codes not listed here
# are each a family of their own.
FLAG_FAMILIES: dict[str, str] = {
    "off_platform_request": "contact",
    "contact_details": "contact",
    "experience_mismatch": "claimed_years",
    "resume_years_inflated": "claimed_years",
    "link_malformed": "links",
    "link_wrong_site": "links",
    "link_identity_mismatch": "links",
}
# Raised by the scoring task, which looks other resumes up in the database; listed here
# so that rules can name it and the flag features have a slot for it.
NEAR_DUPLICATE_CODE = "near_duplicate_resume"

_CODE_INDEX = {code: i for i, code in enumerate(FLAG_CODES)}


def flags_to_features(flags: list[Flag]) -> np.ndarray:
    """Per code in ``FLAG_CODES`` order, the worst severity raised: 0 none, 1-3 low-high."""
    out = np.zeros(len(FLAG_CODES), dtype=np.float32)
    for flag in flags:
        i = _CODE_INDEX.get(flag.code)
        if i is not None:  # a code without a slot (a model's own flag) adds nothing here
            out[i] = max(out[i], Severity(flag.severity).rank)
    return out
