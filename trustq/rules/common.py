"""Small helpers the checks share: evidence references and thresholds."""

from __future__ import annotations

from typing import Any

from trustq.rules.flags import Severity
from trustq.schemas import Project

EVIDENCE_LIST_MAX = 10
SNIPPET_CHARS = 300


def project_ref(index: int, project: Project) -> dict[str, Any]:
    return {"index": index, "title": project.title}


def rounded(x: float, digits: int = 3) -> float:
    return round(float(x), digits)


def by_threshold(value: float, thresholds: tuple[float, float]) -> Severity | None:
    if value >= thresholds[1]:
        return Severity.high
    if value >= thresholds[0]:
        return Severity.medium
    return None
