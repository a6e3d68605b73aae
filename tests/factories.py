"""Profiles built by hand for tests, and generated ones as a caller would send them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from trustq.data.synthetic import public_fields

# The resume lengths (words) of most of the run's model's training set and of the base set
# its retraining tests train on: one encoder window each, so training embeds in seconds.
# Scoring tests keep the generator's real-length resumes.
MODEL_RESUME_WORDS = (60, 130)


def project(start: str = "2021-01-01", months: float = 4, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "Checkout service",
        "description": "Built a payment checkout with Stripe.",
        "start_date": start,
        "duration_months": months,
        "technologies": ["python", "django"],
        "budget_usd": 4000,
        "client_rating": 4.8,
        "completed_on_time": True,
        "link": "https://github.com/ana-dev/checkout",
    }
    data.update(extra)
    return data


def profile(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "external_id": f"fl-{uuid.uuid4().hex[:8]}",
        "resume_text": (
            "Backend developer. Built a Django checkout for a retailer that cut failed "
            "payments by 18% in 2022; maintained PostgreSQL schemas for three clients."
        ),
        "experience_level": "mid",
        "claimed_years_experience": 3,
        "skills": ["python", "django", "postgresql"],
        "links": {"github": "https://github.com/ana-dev"},
        "projects": [
            project("2021-01-01", 5),
            project("2021-07-01", 6, title="Inventory sync"),
            project("2022-02-01", 8, title="Reporting API", disputed=False),
            project(
                "2023-01-01",
                end_date=None,
                duration_months=None,
                title="Ongoing maintenance",
            ),
        ],
    }
    data.update(extra)
    return data


TODAY = dt.date.today()


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A generated record without what only the generator knows."""
    return public_fields(record)


def copy_model_version(version: str, copy: str) -> str:
    """Register ``copy``, a candidate with the artifact of model ``version``: a second
    version to promote and roll back to without training one."""
    from trustq.db import models as models_db
    from trustq.db.session import session_scope
    from trustq.db.tables import ModelStatus, ModelVersion

    with session_scope() as session:
        source = models_db.get_model_version(session, version)
        assert source is not None, version
        session.add(
            ModelVersion(
                version=copy,
                status=ModelStatus.candidate,
                training_data_sha256=source.training_data_sha256,
                encoder_name=source.encoder_name,
                encoder_revision=source.encoder_revision,
                metrics=source.metrics,
                artifact=source.artifact,
                artifact_sha256=source.artifact_sha256,
                created_by="tests",
            )
        )
    return copy
