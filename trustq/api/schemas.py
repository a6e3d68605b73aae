"""What the HTTP API sends and takes, beyond the profile itself (``trustq.schemas``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from trustq.schemas import EvaluationOut, EvaluationPage, ModelOut, VerdictPage, check_name

__all__ = [
    "EvaluationAccepted",
    "EvaluationOut",
    "EvaluationPage",
    "ModelOut",
    "VerdictPage",
]


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
