"""What the HTTP API sends and takes, beyond the profile itself (``trustq.schemas``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from trustq.schemas import LabelOut, VerdictOut, check_name


class EvaluationAccepted(BaseModel):
    """The answer to a submitted profile: where to read its evaluation."""

    id: str
    status: str
    location: str
    created: bool = Field(
        description="False when the Idempotency-Key was seen before: nothing new was queued."
    )
    published: bool = Field(
        default=True,
        description="False when the broker was unreachable: the submission is stored and "
        "the sweeper queues it once the broker is back.",
    )


class EvaluationOut(BaseModel):
    """A submission's state and, once scored, its verdict."""

    id: str
    external_id: str
    status: Literal["queued", "processing", "done", "failed"]
    attempts: int
    error: str | None = Field(description="Why it failed (status failed only).")
    submitted_by: str
    request_id: str | None
    client_request_id: str | None = None  # the X-Request-ID the caller sent, if any
    submitted_at: dt.datetime
    updated_at: dt.datetime
    resume_erased_at: dt.datetime | None = Field(
        description="When retention erased the resume text and file (the verdict stays)."
    )
    verdict: VerdictOut | None
    labels: list[LabelOut] | None = Field(
        default=None, description="Every label, newest first (single evaluations only)."
    )


class EvaluationPage(BaseModel):
    items: list[EvaluationOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page.")


class VerdictPage(BaseModel):
    items: list[VerdictOut]


class LabelIn(BaseModel):
    """A label: what became known about a submission. The API key's name is the actor."""

    model_config = ConfigDict(extra="forbid")

    label: Literal["risky", "trustworthy"]
    source: Literal["review", "chargeback", "dispute", "manual"] = "manual"
    actor: (
        Annotated[
            str,
            StringConstraints(min_length=1, max_length=99, pattern=r"^[^/]+$"),
            AfterValidator(lambda v: check_name(v, "actor")),
        ]
        | None
    ) = Field(
        default=None,
        description="The person behind the key, if any; recorded as '<key name>/<actor>'.",
    )
    note: Annotated[str, StringConstraints(max_length=4000, pattern=r"^[^\x00]*$")] | None = None


class ModelOut(BaseModel):
    version: str
    status: str
    created_at: dt.datetime
    created_by: str
    encoder_name: str
    encoder_revision: str
    artifact_sha256: str
    training_data_sha256: str
    labels_used: int
    test_metrics: dict[str, Any]


class ModelList(BaseModel):
    items: list[ModelOut]


class PromoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")] | None = None


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]
