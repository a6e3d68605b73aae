"""The public input schema: a freelancer profile, as callers send it."""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

MAX_RESUME_CHARS = 100_000
# Two projects overlap when one starts more than this long before the other ended;
# shorter overlaps are hand-overs, not parallel work.
OVERLAP_GRACE_DAYS = 14
MAX_PROJECTS = 500
EARLIEST_DATE = dt.date(1970, 1, 1)


def check_name(value: str, what: str = "a name") -> str:
    """``value`` if it reads as it prints: no control, format (bidirectional overrides,
    zero-width), private-use or unassigned characters, no line breaks, and unchanged by
    NFKC normalisation (no full-width or other compatibility look-alikes). ValueError
    naming ``what`` otherwise. For actors and names that the audit trail shows people."""
    for char in value:
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp"):
            raise ValueError(
                f"{what} must not contain the character U+{ord(char):04X} "
                f"({unicodedata.name(char, category)})"
            )
    if unicodedata.normalize("NFKC", value) != value:
        raise ValueError(f"{what} must be written without compatibility characters (NFKC)")
    return value


def _no_nul(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL; refusing it here keeps storage total.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (\\x00)")
    return value


def _text(min_length: int, max_length: int) -> Any:
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length),
        AfterValidator(_no_nul),
    ]


ShortText = _text(1, 300)
Url = _text(1, 2048)


class ExperienceLevel(StrEnum):
    entry = "entry"
    mid = "mid"
    senior = "senior"
    expert = "expert"


class Links(BaseModel):
    """Profile links. They are checked as text only and never fetched."""

    model_config = ConfigDict(extra="forbid")

    github: Url | None = None
    linkedin: Url | None = None
    portfolio: Url | None = None


class Project(BaseModel):
    """One entry of the freelancer's project history."""

    model_config = ConfigDict(extra="forbid")

    title: ShortText
    description: _text(0, 20_000) = ""
    start_date: dt.date
    end_date: dt.date | None = Field(
        default=None, description="Omit both end_date and duration_months for ongoing work."
    )
    duration_months: Annotated[float, Field(gt=0, le=600, allow_inf_nan=False)] | None = None
    technologies: Annotated[list[ShortText], Field(max_length=100)] = []
    budget_usd: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None
    client_rating: Annotated[float, Field(ge=1, le=5, allow_inf_nan=False)] | None = None
    completed_on_time: StrictBool | None = None
    disputed: StrictBool = False
    cancelled: StrictBool = False
    link: Url | None = None

    @model_validator(mode="after")
    def _dates(self) -> Project:
        today = dt.date.today()
        if self.start_date < EARLIEST_DATE:
            raise ValueError(f"start_date must be on or after {EARLIEST_DATE.isoformat()}")
        if self.start_date > today:
            raise ValueError("start_date must not be in the future")
        if self.end_date is not None and self.duration_months is not None:
            raise ValueError("give end_date or duration_months, not both")
        if self.end_date is not None:
            if self.end_date < self.start_date:
                raise ValueError("end_date must not be before start_date")
            if self.end_date > today + dt.timedelta(days=366):
                raise ValueError("end_date must be at most one year in the future")
        return self

    def months(self, as_of: dt.date) -> float:
        """Length of the project in months; ongoing projects run until ``as_of``."""
        if self.duration_months is not None:
            return self.duration_months
        end = self.end_date or max(as_of, self.start_date)
        return max((end - self.start_date).days, 0) / 30.4375

    def technology_set(self) -> set[str]:
        """The project's technologies, trimmed and lower-cased."""
        return {t.strip().lower() for t in self.technologies}

    def end(self, as_of: dt.date) -> dt.date:
        """The project's end date; derived from duration or ``as_of`` when not given."""
        if self.end_date is not None:
            return self.end_date
        if self.duration_months is not None:
            return self.start_date + dt.timedelta(days=round(self.duration_months * 30.4375))
        return max(as_of, self.start_date)


class Profile(BaseModel):
    """A freelancer profile submitted for evaluation."""

    model_config = ConfigDict(extra="forbid")

    external_id: _text(1, 200)
    idempotency_key: _text(1, 200) | None = None
    resume_text: _text(1, MAX_RESUME_CHARS) | None = Field(
        default=None,
        validate_default=True,
        description="Required, unless a PDF or DOCX resume file is sent with the profile.",
    )
    experience_level: ExperienceLevel
    claimed_years_experience: Annotated[float, Field(ge=0, le=80, allow_inf_nan=False)] | None = (
        None
    )
    skills: Annotated[list[ShortText], Field(max_length=200)] = []
    links: Links = Links()
    projects: Annotated[list[Project], Field(max_length=MAX_PROJECTS)] = []

    @field_validator("resume_text")
    @classmethod
    def _resume_has_text(cls, value: str | None, info: ValidationInfo) -> str | None:
        with_file = bool((info.context or {}).get("resume_file"))
        if value is None:
            if not with_file:
                raise ValueError("required unless a resume file is attached")
        elif with_file:
            raise ValueError("send resume_text or a resume file, not both")
        elif not value.strip():
            raise ValueError("must contain more than whitespace")
        return value

    @property
    def text(self) -> str:
        """The resume text; a profile waiting for its file's text has none yet."""
        if self.resume_text is None:
            raise ValueError(f"profile {self.external_id} has no resume text yet")
        return self.resume_text

    def skill_set(self) -> set[str]:
        """The profile's skills, trimmed and lower-cased."""
        return {s.strip().lower() for s in self.skills}

    def history_years(self, as_of: dt.date) -> float:
        """Years from the first project's start to the latest end (0 without projects)."""
        if not self.projects:
            return 0.0
        first = min(p.start_date for p in self.projects)
        return max((max(p.end(as_of) for p in self.projects) - first).days, 0) / 365.25

    def projects_in_time_order(self) -> list[Project]:
        """Projects sorted by start date (then end), the order the sequence model reads."""
        today = dt.date.today()
        return sorted(self.projects, key=lambda p: (p.start_date, p.end(today)))


class LabelledProfile(Profile):
    """A profile with a known outcome, as training files carry it."""

    label: Annotated[int, Field(ge=0, le=1)] = Field(description="1 = risky, 0 = trustworthy")
    p_true: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None, description="synthetic data: the latent probability the label was drawn from"
    )
    p_ceiling: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None,
        description="synthetic data: the best probability any model can give from the profile",
    )


def profile_json_schema() -> dict[str, Any]:
    """The published JSON Schema of :class:`Profile`."""
    schema = Profile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://trustq.dev/schemas/profile.json"
    return schema


def describe_errors(exc: Exception) -> list[str]:
    """Turn a pydantic ValidationError into lines naming the field and the rule."""
    errors = getattr(exc, "errors", None)
    if errors is None:
        return [str(exc)]
    lines = []
    for err in errors(include_url=False):
        where = ".".join(_field_name(p) for p in err["loc"]) or "(profile)"
        lines.append(f"{where}: {err['msg']}")
    return lines


def _field_name(part: str | int) -> str:
    # An unknown key is the sender's text: escaped and cut, so an error stays one clear line.
    text = str(part)
    if not text.isprintable() or len(text) > 60:
        text = ascii(text[:60]) + ("…" if len(text) > 60 else "")
    return text


class VerdictOut(BaseModel):
    """A stored verdict with the audit trail of its submission."""

    submission_id: str
    external_id: str
    status: str
    p_risk: float
    trust_score: float
    risk_level: str
    model_risk_level: str
    recommendation: str
    label: str
    flags: list[dict[str, Any]]
    rule_hits: list[dict[str, Any]]
    reasons: list[dict[str, Any]]
    breakdown: dict[str, Any]
    history: str | None
    notices: list[dict[str, Any]]
    summary: str | None
    base_rate: float | None
    indicators: dict[str, float]
    model_version: str
    encoder_name: str
    encoder_revision: str
    input_sha256: str
    latency_ms: float
    worker_host: str
    submitted_by: str
    request_id: str | None
    submitted_at: dt.datetime
    scored_at: dt.datetime


class LabelOut(BaseModel):
    """One label of a submission, as stored (append-only)."""

    id: int
    submission_id: str
    label: str
    source: str
    actor: str
    note: str | None
    created_at: dt.datetime


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


def sha256_text(text: str) -> str:
    """The hex SHA-256 of ``text`` as UTF-8: how a resume is known in the database and the
    embedding cache."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


WEBHOOK_EVENTS = ("verdict.ready", "submission.failed")


class WebhookEndpointIn(BaseModel):
    """An endpoint to register: where to post, and which events."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="https, on a public address (an operator may allow http and private ones)."
    )
    events: list[Literal["verdict.ready", "submission.failed"]] = Field(
        default_factory=lambda: list(WEBHOOK_EVENTS), min_length=1, max_length=2
    )
    description: (
        Annotated[
            str,
            StringConstraints(max_length=300),
            AfterValidator(lambda v: check_name(v, "description")),
        ]
        | None
    ) = None


class WebhookEndpointOut(BaseModel):
    id: str
    owner: str = Field(description="The API key whose submissions' events it receives.")
    url: str
    events: list[str]
    description: str | None
    created_at: dt.datetime
    created_by: str
    failures: int = Field(description="Consecutive failed attempts (0 once one succeeds).")
    paused_until: dt.datetime | None = Field(
        description="While failing, its deliveries wait until then."
    )


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(
        description="Signs every delivery (Trustq-Signature); shown this once, keep it now."
    )


class WebhookAttemptOut(BaseModel):
    at: dt.datetime
    status_code: int | None
    error: str | None = Field(description="Why it failed; null when it was delivered.")
    duration_ms: float


class WebhookDeliveryOut(BaseModel):
    id: str
    event_id: str = Field(description="The same in every delivery and replay of the event.")
    event: str
    endpoint_id: str
    evaluation_id: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    replays: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None = Field(description="Pending deliveries only.")
    delivered_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    attempt_log: list[WebhookAttemptOut] | None = Field(
        default=None, description="Every attempt, oldest first (single deliveries only)."
    )


class WebhookDeliveryPage(BaseModel):
    items: list[WebhookDeliveryOut]


class WebhookEndpointList(BaseModel):
    items: list[WebhookEndpointOut]


class ReplayOut(BaseModel):
    replayed: list[str] = Field(description="The deliveries due again now.")
