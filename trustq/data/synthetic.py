"""An honest synthetic world of freelancer profiles with a known best possible score.

Every freelancer gets hidden traits first: a career stage, how much of their record this
marketplace has seen (none, a short or a full history), a latent riskiness and a few
behaviour patterns. The label is then *drawn* from the probability those traits imply, and
that probability is kept as ``p_true``, so the ceiling of any model on this data (ROC-AUC
of ``p_true`` against the label) is known. Everything a caller can see -- project history,
resume text, links, claims -- is generated from the hidden traits with noise, so no visible
field decides the label and both classes overlap on every signal.

The world is shaped like a marketplace's: most profiles are newcomers with no history here
(and the riskiest group); risk does not grow with the number of projects (accounts that
last were the less risky ones to begin with); resumes are real-length documents with
sections and bullets, some in other languages (``trustq.data.resumes``), where honest
people write superlatives too. See ``docs/data.md`` for the rates and the measured
difficulty.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from trustq.data.ceiling import Evidence, ProjectEvidence, posterior
from trustq.data.resumes import ResumeFacts, TextSignals, render
from trustq.data.world import (
    BASE_LOGIT,
    BLURB_SHARE,
    BLURB_WORDS,
    BUDGET_SHARE,
    DISPUTED_ON_TIME_FACTOR,
    EARLY_BUMPS_RATE,
    FABRICATED_DISPUTE,
    FABRICATED_RATING,
    HISTORY_RISK_MEAN,
    HISTORY_SHARES,
    HONEST_GUARANTEE_RATE,
    INDIVIDUAL_SD,
    LANGUAGE_SHARES,
    LEVEL_DRIFT,
    LEVELS,
    ON_TIME_RECORDED_SHARE,
    ONGOING_DISPUTE_DIVISOR,
    OVERCLAIM_TWO_LEVELS,
    PAYMENT_TALK_RATE,
    PERSONA_WEIGHTS,
    PERSONAS,
    PROPENSITIES,
    RATED_SHARE,
    RATED_SHARE_CANCELLED,
    RATING_DROP,
    RATING_MEAN,
    RATING_NOISE,
    RATING_SD,
    RATING_SLOPE,
    RESUME_WORDS,
    RISK_SCALE,
    RISK_SD,
    SHORT_PROJECTS,
    SPECIFIC_CLAIMS_CAP,
    SPECIFIC_CLAIMS_MEAN,
    SPECIFIC_CLAIMS_SLOPE,
    STREAK,
    SUPERLATIVE_DRAWS,
    TAKEOVER_FOREIGN_SHARE,
    TAKEOVER_LOGIT,
    TAKEOVER_OFF_PLATFORM_SHIFT,
    TAKEOVER_RATE,
    TAKEOVER_RISK_MEAN,
    TAKEOVER_RISK_SD,
    WORK_STYLE_WEIGHTS,
    WORK_STYLES,
    Behaviour,
    Persona,
    WorkStyle,
    sigmoid,
    window_range,
)

__all__ = [
    "HIDDEN_FIELDS",
    "REFERENCE_DATE",
    "Traits",
    "generate",
    "generate_with_traits",
    "public_fields",
    "read_jsonl",
    "write_jsonl",
]

REFERENCE_DATE: dt.date = dt.date(2026, 6, 30)

# What a record carries beside the profile: what only the generator knows.
HIDDEN_FIELDS = ("label", "p_true", "p_ceiling")

DAYS_PER_MONTH = 30.4375


@dataclass
class Traits:
    """The hidden state behind one generated profile; never part of the record."""

    persona: str
    history: str  # "none", "short" or "full"
    risk: float
    takeover: bool
    early_bumps: bool
    window: int  # how many projects the takeover run or the early bumps cover
    p_true: float
    label: int
    signals: dict[str, float] = field(default_factory=dict)
    # What a perfect reader of the record sees, and the best probabilities from it
    # (``trustq.data.ceiling``).
    evidence: Evidence | None = None
    p_ceiling: float = math.nan
    p_takeover: float = math.nan


def _propensity(rng: random.Random, signal: str, risk: float) -> float:
    base, slope = PROPENSITIES[signal]
    return sigmoid(base + slope * risk + rng.gauss(0.0, INDIVIDUAL_SD))


# --- Vocabulary ---------------------------------------------------------------------


@dataclass(frozen=True)
class Domain:
    name: str
    roles: tuple[str, ...]
    techs: tuple[str, ...]
    things: tuple[str, ...]
    metrics: tuple[str, ...]
    volume: tuple[str, ...]


@functools.cache
def _vocabulary() -> dict[str, Any]:
    text = (resources.files("trustq") / "data" / "vocabulary.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _domains() -> tuple[Domain, ...]:
    return tuple(
        Domain(d["name"], *(tuple(d[k]) for k in ("roles", "techs", "things", "metrics", "volume")))
        for d in _vocabulary()["domains"]
    )


DOMAINS: tuple[Domain, ...] = _domains()
_BUZZWORDS: tuple[str, ...] = tuple(_vocabulary()["buzzwords"])
_OTHER_DOMAINS = {d.name: [x for x in DOMAINS if x is not d] for d in DOMAINS}
_ALL_TECHS = tuple(sorted({t for d in DOMAINS for t in d.techs}))
_CLIENTS: tuple[str, ...] = tuple(_vocabulary()["clients"])
_CITIES: tuple[str, ...] = tuple(_vocabulary()["cities"])
_SYLLABLES: tuple[str, ...] = tuple(_vocabulary()["syllables"])
_TITLE_TEMPLATES: tuple[str, ...] = tuple(_vocabulary()["title_templates"])
_DESCRIPTION_TEMPLATES: tuple[str, ...] = tuple(_vocabulary()["description_templates"])

# --- Small helpers -------------------------------------------------------------------

# A template is text with ``{slot}`` fields and ``{a|b|c}`` choices; choices may hold
# slots. Templates are parsed once, since the generator renders ~40 per profile.
_TEXT, _SLOT, _WORDS, _CHOICE = range(4)
_Part = tuple[int, Any]


@functools.lru_cache(maxsize=4096)
def _parse(template: str) -> tuple[_Part, ...]:
    parts: list[_Part] = []
    i = 0
    while i < len(template):
        open_at = template.find("{", i)
        if open_at < 0:
            parts.append((_TEXT, template[i:]))
            break
        if open_at > i:
            parts.append((_TEXT, template[i:open_at]))
        depth, j, splits = 0, open_at, []
        while True:
            c = template[j]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            elif c == "|" and depth == 1:
                splits.append(j)
            j += 1
        if splits:
            bounds = [open_at, *splits, j]
            options = [template[a + 1 : b] for a, b in zip(bounds, bounds[1:], strict=False)]
            if any("{" in o for o in options):
                parts.append((_CHOICE, tuple(_parse(o) for o in options)))
            else:
                parts.append((_WORDS, tuple(options)))
        else:
            parts.append((_SLOT, template[open_at + 1 : j]))
        i = j + 1
    return tuple(parts)


def _render(rng: random.Random, parts: tuple[_Part, ...], slots: dict[str, Any]) -> str:
    out = []
    for kind, value in parts:
        if kind == _TEXT:
            out.append(value)
        elif kind == _WORDS:
            out.append(value[int(rng.random() * len(value))])
        elif kind == _SLOT:
            out.append(str(slots[value]) if value in slots else "{" + value + "}")
        else:
            out.append(_render(rng, value[int(rng.random() * len(value))], slots))
    return "".join(out)


def _expand(rng: random.Random, template: str, **slots: Any) -> str:
    """Render a template: fill the ``{slot}`` fields, pick one option of every ``{a|b}``."""
    return _render(rng, _parse(template), slots)


def _pick(rng: random.Random, seq: Sequence[Any]) -> Any:
    return seq[int(rng.random() * len(seq))]


def _int(rng: random.Random, lo: int, hi: int) -> int:
    """A uniform integer in [lo, hi]; cheaper than Random.randint in the hot loop."""
    return lo + int(rng.random() * (hi - lo + 1))


def _sample(rng: random.Random, seq: Sequence[Any], k: int) -> list[Any]:
    """``k`` distinct items of ``seq`` in random order (a partial Fisher-Yates shuffle)."""
    pool = list(seq)
    k = min(k, len(pool))
    for i in range(k):
        j = i + int(rng.random() * (len(pool) - i))
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:k]


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _handle(rng: random.Random) -> str:
    name = "".join(_pick(rng, _SYLLABLES) for _ in range(_int(rng, 2, 3)))
    return name + (str(_int(rng, 1, 99)) if rng.random() < 0.4 else "")


def _article(noun: str) -> str:
    vowel_sound = noun[:1].lower() in "aeiou" or noun.split(" ", 1)[0] in ("ETL", "SEO", "API")
    return ("an " if vowel_sound else "a ") + noun


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# --- Project history -----------------------------------------------------------------


# --- Project history -----------------------------------------------------------------


def _behaviour(rng: random.Random, risk: float) -> Behaviour:
    return Behaviour(
        dispute=_propensity(rng, "dispute", risk),
        cancel=_propensity(rng, "cancel", risk),
        on_time=_propensity(rng, "on_time", risk),
        rating_mean=RATING_MEAN + RATING_SLOPE * risk + rng.gauss(0.0, RATING_SD),
        link=_propensity(rng, "project_link", risk),
        parallel=_propensity(rng, "parallel", risk),
        off_stack=_propensity(rng, "off_stack", risk),
        odd_budget=_propensity(rng, "odd_budget", risk),
    )


def _timeline(
    rng: random.Random,
    n: int,
    durations_range: tuple[float, float],
    span_months: float,
    parallel_p: Sequence[float],
    dormant_before: int | None,
) -> tuple[list[tuple[float, float]], list[bool]]:
    """Start and end of each project, in months after the first one started, in start
    order, and which projects ran in parallel with the one before."""
    lo, hi = durations_range
    durations = [_log_uniform(rng, lo, hi) for _ in range(n)]
    parallel = [i > 0 and rng.random() < parallel_p[i] for i in range(n)]
    span = span_months
    sequential = sum(d for d, par in zip(durations, parallel, strict=True) if not par)
    if sequential > 0.9 * span:
        shrink = 0.9 * span / sequential
        durations = [max(0.03, d * shrink) for d in durations]
        sequential = sum(d for d, par in zip(durations, parallel, strict=True) if not par)
    slack = max(span - sequential, 0.0)
    weights = [rng.expovariate(1.0) for _ in range(n)]
    if dormant_before is not None:
        weights[dormant_before] += rng.uniform(2.0, 6.0) * (sum(weights) / n)
    total_w = sum(weights)
    gaps = [slack * w / total_w for w in weights]

    spans: list[tuple[float, float]] = []
    cursor = 0.0
    for i in range(n):
        if parallel[i]:
            prev_start, prev_end = spans[-1]
            start = prev_start + rng.uniform(0.1, 0.8) * (prev_end - prev_start)
        else:
            gap = gaps[i] if i > 0 else 0.0
            if rng.random() < 0.15:
                gap -= rng.uniform(0.0, 0.3)  # a short hand-over, not parallel work
            start = cursor + gap
            if spans:
                start = max(start, spans[-1][0])
        end = start + durations[i]
        spans.append((start, end))
        cursor = max(cursor, end)
    return spans, parallel


def _fabricated_timeline(rng: random.Random, n: int) -> list[tuple[float, float]]:
    """A history made up in one go: every project started within a month or two."""
    window = rng.uniform(0.5, 2.0)
    starts = sorted(rng.uniform(0.0, window) for _ in range(n))
    return [(s, s + rng.uniform(1.0, 4.0)) for s in starts]


def _budget(rng: random.Random, persona: Persona, months: float, odd: bool) -> float:
    rate = rng.uniform(*persona.monthly_rate_usd) * rng.uniform(0.3, 1.0)
    amount = rate * max(months, 0.1) * math.exp(rng.gauss(0.0, 0.35))
    if odd:
        # Budgets that make no sense for the work: inflated to look big, or token sums.
        amount *= rng.uniform(8.0, 30.0) if rng.random() < 0.6 else rng.uniform(0.01, 0.05)
    return float(max(5, round(amount / 10.0) * 10))


def _pick_techs(
    rng: random.Random, stack: Sequence[str], domain: Domain, off_stack: bool
) -> list[str]:
    k = _int(rng, 2, 5)
    if off_stack:
        other = _pick(rng, _OTHER_DOMAINS[domain.name])
        pool = list(other.techs)
        own = _int(rng, 0, 1)
        techs = _sample(rng, list(stack), min(own, len(stack))) + _sample(
            rng, pool, min(k, len(pool))
        )
    else:
        pool = list(stack) if rng.random() < 0.85 else list(domain.techs)
        techs = _sample(rng, pool, min(k, len(pool)))
    return list(dict.fromkeys(techs))


def _project_text(
    rng: random.Random, domain: Domain, thing: str, client: str, techs: Sequence[str]
) -> tuple[str, str]:
    client_short = client.split(" ", 1)[1] if " " in client else client
    title = _expand(
        rng,
        _pick(rng, _TITLE_TEMPLATES),
        Thing=_capitalise(thing),
        thing=thing,
        client=client,
        client_short=client_short,
        tech=techs[0] if techs else domain.techs[0],
    ).strip()
    title = _capitalise(re.sub(r"\s+", " ", title))
    if rng.random() < 0.2:
        return title, ""
    tech_text = ", ".join(techs[:-1]) + f" and {techs[-1]}" if len(techs) > 1 else techs[0]
    description = _expand(
        rng,
        _pick(rng, _DESCRIPTION_TEMPLATES),
        thing=thing,
        a_thing=_article(thing),
        client=client,
        techs=tech_text,
    )
    return title, description


def _iso(start: dt.date, months: float) -> dt.date:
    return start + dt.timedelta(days=round(months * DAYS_PER_MONTH))


@dataclass
class _History:
    projects: list[dict[str, Any]]
    things: list[str]
    used_techs: list[str]
    takeover: bool = False
    early_bumps: bool = False
    window: int = 0
    fabricated: bool = False
    evidence: list[ProjectEvidence] = field(default_factory=list)


def _history(
    rng: random.Random,
    n: int,
    style: WorkStyle,
    persona: Persona,
    domain: Domain,
    stack: Sequence[str],
    risk: float,
    takeover: bool,
    early_bumps: bool,
    tenure_years: float,
    reference_date: dt.date,
    handle: str,
    has_github: bool,
    portfolio_url: str,
) -> _History:
    """The project history on the platform, oldest first."""
    fabricated = rng.random() < _propensity(rng, "fabricated", risk)
    window = 0
    if takeover or early_bumps:
        windows = window_range(n)
        window = _int(rng, windows.start, windows.stop - 1)
    in_streak = [(takeover and i >= n - window) or (early_bumps and i < window) for i in range(n)]
    behave = _behaviour(rng, risk)
    parallel: list[bool | None] = [None] * n
    if fabricated:
        spans = _fabricated_timeline(rng, n)
    else:
        parallel_p = [STREAK.parallel if s else behave.parallel for s in in_streak]
        dormant = n - window if takeover and rng.random() < 0.55 else None
        spans, drawn = _timeline(
            rng, n, style.duration_months, tenure_years * 12.0, parallel_p, dormant
        )
        parallel[1:] = drawn[1:]

    # Career end: most are active now, some went quiet a while ago.
    last_end = max(end for _, end in spans)
    ongoing_last = rng.random() < 0.35
    quiet = 0.0 if ongoing_last else _pick(rng, (0.0, 0.0, 0.5, 1.0, 2.0, 4.0, 9.0))
    quiet *= rng.uniform(0.5, 1.0)
    first_start = reference_date - dt.timedelta(days=round((last_end + quiet) * DAYS_PER_MONTH))
    last_index = max(range(n), key=lambda i: spans[i][1])
    takeover_domain = _pick(rng, _OTHER_DOMAINS[domain.name])
    date_style = _pick(rng, ("end", "end", "duration", "mixed"))

    out = _History([], [], [], takeover, early_bumps, window, fabricated)
    for i, (start_m, end_m) in enumerate(spans):
        b = STREAK if in_streak[i] else behave
        start = _iso(first_start, start_m)
        end = min(_iso(first_start, end_m), reference_date)
        if end <= start:
            end = min(start + dt.timedelta(days=2), reference_date)
        ongoing = ongoing_last and i == last_index
        if not ongoing and ongoing_last and (reference_date - end).days < 20:
            # Work that ran to the very end and was never marked done stays open.
            ongoing = rng.random() < 0.5

        own_domain = (
            takeover_domain
            if (takeover and in_streak[i] and rng.random() < TAKEOVER_FOREIGN_SHARE)
            else domain
        )
        off_stack = rng.random() < b.off_stack
        techs = _pick_techs(rng, stack, own_domain, off_stack)
        thing = _pick(rng, own_domain.things)
        client = _pick(rng, _CLIENTS)
        title, description = _project_text(rng, own_domain, thing, client, techs)
        months = max((end - start).days, 1) / DAYS_PER_MONTH

        cancelled = (not ongoing) and rng.random() < b.cancel
        dispute_p = FABRICATED_DISPUTE if fabricated else b.dispute
        disputed = rng.random() < (dispute_p / ONGOING_DISPUTE_DIVISOR if ongoing else dispute_p)
        on_time: bool | None = None
        rating: float | None = None
        if not ongoing and not cancelled and rng.random() < ON_TIME_RECORDED_SHARE:
            on_time = rng.random() < (b.on_time * (DISPUTED_ON_TIME_FACTOR if disputed else 1.0))
        if fabricated and not ongoing:
            rating = FABRICATED_RATING  # reviews written by the account itself
        elif not ongoing and rng.random() < (RATED_SHARE_CANCELLED if cancelled else RATED_SHARE):
            value = rng.gauss(b.rating_mean, RATING_NOISE)
            value -= (
                RATING_DROP["disputed"] * disputed
                + RATING_DROP["cancelled"] * cancelled
                + RATING_DROP["late"] * (on_time is False)
            )
            rating = round(min(5.0, max(1.0, value)), 1)

        project: dict[str, Any] = {
            "title": title[:300],
            "description": description,
            "start_date": start.isoformat(),
            "technologies": techs,
        }
        if not ongoing:
            use_duration = date_style == "duration" or (
                date_style == "mixed" and rng.random() < 0.5
            )
            duration = round(months, 1)
            if use_duration and duration > 0 and _iso(start, duration) <= reference_date:
                project["duration_months"] = duration
            else:
                project["end_date"] = end.isoformat()
        odd: bool | None = None
        if rng.random() < BUDGET_SHARE:
            odd = rng.random() < b.odd_budget
            project["budget_usd"] = _budget(rng, persona, months, odd)
        if rating is not None:
            project["client_rating"] = rating
        if on_time is not None:
            project["completed_on_time"] = on_time
        project["disputed"] = disputed
        project["cancelled"] = cancelled
        if rng.random() < b.link:
            slug = _slug(thing)
            if domain.name == "design" or not has_github or rng.random() < 0.3:
                project["link"] = f"{portfolio_url}/work/{slug}"
            else:
                project["link"] = f"https://github.com/{handle}/{slug}"
        out.projects.append(project)
        out.evidence.append(
            ProjectEvidence(
                ongoing=ongoing,
                cancelled=cancelled,
                disputed=disputed,
                on_time=on_time,
                rating=rating,
                link="link" in project,
                off_stack=off_stack,
                foreign=own_domain is not domain,
                odd_budget=odd,
                parallel=parallel[i],
            )
        )
        if not in_streak[i] or not takeover:
            out.things.append(title)
            out.used_techs.extend(techs)
    return out


# --- Text signals ----------------------------------------------------------------------


def _text_signals(rng: random.Random, risk: float, takeover: bool) -> TextSignals:
    """What the resume says, decided by the latent risk; the renderer words it."""
    off_platform: str | None = None
    disclaimer = platform_mention = False
    if rng.random() < PAYMENT_TALK_RATE:
        # The same share of each class talks about payment or contact; what is said differs.
        shift = TAKEOVER_OFF_PLATFORM_SHIFT * takeover
        if rng.random() < _propensity(rng, "off_platform_request", risk + shift):
            off_platform = "payment" if rng.random() < 0.6 else "contact"
        else:
            platform_mention = True
    disclaimer = rng.random() < _propensity(rng, "disclaimer", risk)
    return TextSignals(
        off_platform=off_platform,
        contact_details=rng.random() < _propensity(rng, "contact_details", risk),
        outcome_guarantee=rng.random() < _propensity(rng, "outcome_guarantee", risk),
        honest_guarantee=rng.random() < HONEST_GUARANTEE_RATE,
        disclaimer=disclaimer,
        platform_mention=platform_mention,
        superlatives=sum(
            rng.random() < _propensity(rng, "superlative", risk) for _ in range(SUPERLATIVE_DRAWS)
        ),
        keyword_stuffing=rng.random() < _propensity(rng, "keyword_stuffing", risk),
        implausible_numbers=rng.random() < _propensity(rng, "implausible_numbers", risk),
        specific_claims=min(
            SPECIFIC_CLAIMS_CAP,
            _poisson(rng, SPECIFIC_CLAIMS_MEAN * math.exp(SPECIFIC_CLAIMS_SLOPE * risk)),
        ),
        timeline_wrong=rng.random() < _propensity(rng, "timeline_wrong", risk),
    )


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


# --- One profile ---------------------------------------------------------------------


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    r = rng.random() * sum(weights.values())
    for key, weight in weights.items():
        r -= weight
        if r < 0:
            return key
    return key


def _one(
    index: int, seed: int, reference_date: dt.date, resume_words: tuple[int, int] | None
) -> tuple[dict[str, Any], Traits]:
    rng = random.Random(f"trustq-synthetic:{seed}:{index}")
    persona = rng.choices(PERSONAS, weights=PERSONA_WEIGHTS)[0]
    domain = _pick(rng, DOMAINS)
    history = _weighted(rng, HISTORY_SHARES)
    career_years = rng.uniform(*persona.career_years)
    style = rng.choices(WORK_STYLES, weights=WORK_STYLE_WEIGHTS)[0]
    if history == "none":
        n = 0
    elif history == "short":
        n = _int(rng, *SHORT_PROJECTS)
    else:
        n = _int(rng, *style.projects)

    takeover = history == "full" and rng.random() < TAKEOVER_RATE
    early_bumps = history == "full" and not takeover and rng.random() < EARLY_BUMPS_RATE
    if takeover:
        risk = rng.gauss(TAKEOVER_RISK_MEAN, TAKEOVER_RISK_SD)
    else:
        risk = rng.gauss(HISTORY_RISK_MEAN[history], RISK_SD)
    logit = BASE_LOGIT + RISK_SCALE * risk + TAKEOVER_LOGIT * takeover
    p_true = sigmoid(logit)
    label = int(rng.random() < p_true)

    stack = _sample(rng, domain.techs, _int(rng, 4, min(8, len(domain.techs))))
    handle = _handle(rng)
    has_github = rng.random() < _propensity(rng, "github", risk)
    portfolio_url = f"https://{handle}.{_pick(rng, ('dev', 'design', 'studio', 'me'))}"

    signals: dict[str, float] = {}
    projects: list[dict[str, Any]] = []
    used_techs: list[str] = []
    titles: list[tuple[str, int]] = []
    if n:
        # Time on the platform: a short history is recent; a full one up to eight years,
        # never longer than the career.
        if history == "short":
            tenure = rng.uniform(0.2, 2.0)
        else:
            tenure = rng.uniform(0.5, 8.0)
        tenure = min(tenure, max(career_years, 0.3))
        made = _history(
            rng, n, style, persona, domain, stack, risk, takeover, early_bumps,
            tenure, reference_date, handle, has_github, portfolio_url,
        )  # fmt: skip
        projects, used_techs = made.projects, made.used_techs
        project_evidence, fabricated = made.evidence, made.fabricated
        titles = [
            (title, dt.date.fromisoformat(p["start_date"]).year)
            for title, p in zip(made.things, made.projects, strict=False)
        ]
        window, takeover, early_bumps = made.window, made.takeover, made.early_bumps
        signals["odd_budget_share"] = sum(bool(p.odd_budget) for p in project_evidence) / n
    else:
        window = 0
        project_evidence, fabricated = [], False
        signals["odd_budget_share"] = 0.0
    signals["fabricated"] = float(fabricated)

    # Skills: mostly what the history (or the stack) uses; some drop used ones, some stuff
    # the list.
    used = list(dict.fromkeys(used_techs)) or list(stack)
    keep_p = 1.0 - _propensity(rng, "skill_dropped", risk)
    skills = [t for t in used if rng.random() < keep_p]
    kept_techs = len(skills)
    spare = [t for t in domain.techs if t not in skills]
    skills += _sample(rng, spare, min(len(spare), _int(rng, 0, 2)))
    skill_stuffing = rng.random() < _propensity(rng, "skill_stuffing", risk)
    if skill_stuffing:
        extra = [t for t in list(_ALL_TECHS) + list(_BUZZWORDS) if t not in skills]
        skills += _sample(rng, extra, _int(rng, 6, 20))
    rng.shuffle(skills)
    if not skills:
        skills = [_pick(rng, domain.techs)]

    # Claims: the level and the career years, which sometimes outrun the career.
    level_index = LEVELS.index(persona.name)
    level_up = rng.random() < _propensity(rng, "level_overclaim", risk)
    if level_up:
        level_index += 2 if rng.random() < OVERCLAIM_TWO_LEVELS else 1
    elif rng.random() < LEVEL_DRIFT:
        level_index += _pick(rng, (-1, 1))
    claimed_level = LEVELS[min(3, max(0, level_index))]
    years_inflated = rng.random() < _propensity(rng, "years_inflated", risk)
    claimed_years: float | None
    if rng.random() < 0.15:
        claimed_years = None
    else:
        claimed = career_years
        if years_inflated:
            claimed = claimed * rng.uniform(1.5, 3.0) + rng.uniform(2.0, 8.0)
        claimed_years = float(min(60.0, max(0.0, round(claimed * 2) / 2)))
    # The resume states the claim, or more than the claim.
    years_mismatch = rng.random() < _propensity(rng, "years_text_mismatch", risk)
    stated = claimed_years if rng.random() < 0.7 else None
    if years_mismatch:
        stated = (claimed_years or career_years) + rng.uniform(3.0, 10.0)

    text = _text_signals(rng, risk, takeover)
    language = _weighted(rng, LANGUAGE_SHARES)
    if resume_words is None:
        words = BLURB_WORDS if rng.random() < BLURB_SHARE else RESUME_WORDS
    else:
        words = resume_words
    facts = ResumeFacts(
        language=language,
        role=_pick(rng, domain.roles),
        level=claimed_level,
        stated_years=None if stated is None else round(stated, 1),
        career_start_year=reference_date.year - max(0, round(career_years)),
        reference_date=reference_date,
        techs=tuple(skills if not skill_stuffing else used[:10] or stack),
        things=domain.things,
        metrics=domain.metrics,
        platform_projects=tuple(titles[-8:]),
        name=_capitalise(_pick(rng, _SYLLABLES) + _pick(rng, _SYLLABLES)),
        city=_pick(rng, _CITIES),
        handle=handle,
    )
    resume = render(rng, facts, text, words)

    links: dict[str, str] = {}
    if has_github and domain.name != "design":
        links["github"] = f"https://github.com/{handle}"
    has_linkedin = rng.random() < _propensity(rng, "linkedin", risk)
    if has_linkedin:
        links["linkedin"] = f"https://www.linkedin.com/in/{handle}-{_int(rng, 100, 999)}"
    if rng.random() < (0.7 if domain.name == "design" else 0.3):
        links["portfolio"] = portfolio_url
    lookalike = rng.random() < _propensity(rng, "lookalike_link", risk)
    lookalike_key: str | None = None
    if lookalike:
        host = _pick(rng, ("github.com.dev-hub.io", "githubb.com", "linkedin-profiles.net"))
        key = "linkedin" if "linkedin" in host else "github"
        lookalike_key = key
        links[key] = f"https://{host}/{handle}"
    mismatch = rng.random() < _propensity(rng, "identity_mismatch", risk)
    names_comparable = "github" in links and not lookalike
    if mismatch and names_comparable:
        other = _handle(rng)
        links["linkedin"] = f"https://www.linkedin.com/in/{other}-{_int(rng, 100, 999)}"

    shown = {
        "skill_stuffing": skill_stuffing,
        "years_text_mismatch": years_mismatch,
        "lookalike_link": lookalike,
        "contact_details": text.contact_details,
        "outcome_guarantee": text.outcome_guarantee,
        "disclaimer": text.disclaimer,
        "keyword_stuffing": text.keyword_stuffing,
        "implausible_numbers": text.implausible_numbers,
        "timeline_wrong": text.timeline_wrong,
    }
    if n:
        shown["fabricated"] = fabricated
    if claimed_years is not None:
        shown["years_inflated"] = years_inflated
    if domain.name != "design":
        shown["github"] = has_github
    if not (mismatch and names_comparable) and lookalike_key != "linkedin":
        shown["linkedin"] = has_linkedin
    if names_comparable:
        shown["identity_mismatch"] = mismatch
    evidence = Evidence(
        history=history,
        career_years=career_years,
        claimed_level=claimed_level,
        used_techs=len(used),
        kept_techs=kept_techs,
        shown=shown,
        payment_talk=(
            "request" if text.off_platform else "mention" if text.platform_mention else None
        ),
        superlatives=text.superlatives,
        specific_claims=text.specific_claims,
        fabricated=fabricated,
        projects=project_evidence,
    )
    ceiling = posterior(evidence)

    signals.update(
        level_overclaim=float(level_up),
        years_inflated=float(years_inflated and claimed_years is not None),
        years_text_mismatch=float(years_mismatch),
        skill_stuffing=float(skill_stuffing),
        github_link=float("github" in links),
        linkedin_link=float("linkedin" in links),
        lookalike_link=float(lookalike),
        identity_mismatch=float(mismatch),
        off_platform_request=float(text.off_platform is not None),
        off_platform_payment=float(text.off_platform == "payment"),
        harmless_payment_mention=float(text.platform_mention),
        contact_details=float(text.contact_details),
        outcome_guarantee=float(text.outcome_guarantee),
        honest_guarantee=float(text.honest_guarantee),
        guarantee_disclaimer=float(text.disclaimer),
        n_superlative=float(text.superlatives),
        keyword_stuffing=float(text.keyword_stuffing),
        implausible_numbers=float(text.implausible_numbers),
        n_specific=float(text.specific_claims),
        timeline_wrong=float(text.timeline_wrong),
        non_english=float(language != "en"),
    )

    if rng.random() < 0.5:
        projects.reverse()  # profile pages often list the newest work first

    record: dict[str, Any] = {
        "external_id": f"fl-{index:06d}",
        "resume_text": resume,
        "experience_level": claimed_level,
        "claimed_years_experience": claimed_years,
        "skills": skills,
        "links": links,
        "projects": projects,
        "label": label,
        "p_true": round(p_true, 6),
        "p_ceiling": round(ceiling.p_risky, 6),
    }
    if claimed_years is None:
        del record["claimed_years_experience"]
    traits = Traits(
        persona=persona.name,
        history=history,
        risk=risk,
        takeover=takeover,
        early_bumps=early_bumps,
        window=window,
        p_true=p_true,
        label=label,
        signals=signals,
        evidence=evidence,
        p_ceiling=ceiling.p_risky,
        p_takeover=ceiling.p_takeover,
    )
    return record, traits


# --- Public API ----------------------------------------------------------------------


def generate_with_traits(
    n: int = 6000,
    seed: int = 0,
    *,
    reference_date: dt.date = REFERENCE_DATE,
    resume_words: tuple[int, int] | None = None,
) -> tuple[list[dict[str, Any]], list[Traits]]:
    """Like :func:`generate`, plus the hidden traits of each profile (for analysis only)."""
    if n < 0:
        raise ValueError("n must not be negative")
    if resume_words is not None and not 1 <= resume_words[0] <= resume_words[1]:
        raise ValueError("resume_words must be (low, high) with 1 <= low <= high")
    records: list[dict[str, Any]] = []
    traits: list[Traits] = []
    for i in range(n):
        record, trait = _one(i, seed, reference_date, resume_words)
        records.append(record)
        traits.append(trait)
    return records, traits


def generate(
    n: int = 6000,
    seed: int = 0,
    *,
    reference_date: dt.date = REFERENCE_DATE,
    resume_words: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Generate ``n`` labelled profiles, reproducibly from ``seed``.

    Each dict validates as :class:`trustq.schemas.LabelledProfile`: the public profile
    fields plus ``label`` (1 = risky, 0 = trustworthy) and ``p_true``, the true
    probability that ``label == 1`` from which the label was drawn. Dates are ISO
    strings and no project date lies after ``reference_date``. Profile ``i`` depends
    only on ``(seed, i)``, so a smaller ``n`` gives a prefix of a larger one.
    ``resume_words``: the resume length range in words; by default most resumes are
    300-2,000 words and a share are short profile blurbs.
    """
    return generate_with_traits(n, seed, reference_date=reference_date, resume_words=resume_words)[
        0
    ]


def public_fields(record: dict[str, Any]) -> dict[str, Any]:
    """A generated record without what only the generator knows: the profile as a
    marketplace would submit it."""
    return {k: v for k, v in record.items() if k not in HIDDEN_FIELDS}


def write_jsonl(records: Iterable[dict[str, Any]], path: Path | str) -> int:
    """Write one JSON object per line; returns the number of records written."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False, sort_keys=False))
            fh.write("\n")
            count += 1
    return count


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    """Read a JSON Lines file into a list of dicts, skipping blank lines."""
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _main(argv: Sequence[str] | None = None) -> None:
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Generate synthetic profiles.")
    parser.add_argument("-n", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the records here as JSON Lines")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    records, _ = generate_with_traits(args.n, args.seed)
    elapsed = time.perf_counter() - started
    print(f"generated {len(records)} profiles in {elapsed:.2f} s")
    if args.out:
        print(f"wrote {write_jsonl(records, args.out)} records to {args.out}")


if __name__ == "__main__":
    _main()
