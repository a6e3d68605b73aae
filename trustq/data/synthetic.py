"""An honest synthetic world of freelancer profiles with a known best possible score.

Every freelancer gets hidden traits first (a persona, a latent riskiness and a few
behaviour patterns). The label is then *drawn* from the probability those traits
imply, and that probability is kept as ``p_true``, so the ceiling of any model on
this data (ROC-AUC of ``p_true`` against the label) is known. Everything a caller can
see -- project history, resume text, links, claims -- is generated from the hidden
traits with noise, so no visible field decides the label and both classes overlap on
every signal. See ``docs/data.md`` for the rates and the measured difficulty.
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
from pathlib import Path
from typing import Any

from trustq.schemas import MAX_RESUME_CHARS

__all__ = [
    "REFERENCE_DATE",
    "Traits",
    "difficulty_report",
    "generate",
    "generate_with_traits",
    "read_jsonl",
    "signal_details",
    "write_jsonl",
]

REFERENCE_DATE: dt.date = dt.date(2026, 6, 30)

DAYS_PER_MONTH = 30.4375

# --- The hidden-trait model ---------------------------------------------------------

# p_true = sigmoid(_BASE_LOGIT + _RISK_SCALE * risk + _TAKEOVER_LOGIT * takeover).
# _RISK_SCALE sets the ceiling: the larger it is, the more extreme p_true becomes and
# the closer the drawn label follows the traits.
_BASE_LOGIT = -0.55
_RISK_SCALE = 3.4
_TAKEOVER_LOGIT = 5.0
# Accounts worth buying have a clean record, so the original owner's riskiness is
# drawn lower than the population's.
_TAKEOVER_RISK_MEAN = -0.8
_TAKEOVER_RISK_SD = 0.7
_TAKEOVER_RATE = 0.22  # among profiles with enough history to be worth taking over
_TAKEOVER_MIN_PROJECTS = 8
# A benign look-alike of the takeover: a rough start that later settled down. Similar
# whole-history totals, opposite order, no effect on p_true.
_EARLY_BUMPS_RATE = 0.2
_EARLY_BUMPS_MIN_PROJECTS = 8
# Each behaviour propensity is base + slope * risk + individual noise; the noise is
# what keeps every signal from being a clean read of the latent risk.
_INDIVIDUAL_SD = 0.6

# (base logit, slope on the latent risk) of each behaviour. A slope of 1 moves the odds
# by e for one standard deviation of risk; the individual noise (sd 0.6) comes on top.
# Signals a depth-3 tree on the six indicators or a bag of words can read are kept
# weak; the ones that need order, cross-checks or the meaning of a sentence are not.
PROPENSITIES: dict[str, tuple[float, float]] = {
    # project history, per project
    "dispute": (-3.0, 1.1),
    "cancel": (-3.2, 1.0),
    "on_time": (2.0, -1.0),
    "odd_budget": (-4.0, 0.7),
    # project history, seen by the six indicators
    "project_link": (0.5, -0.3),
    "parallel": (-2.5, 0.3),
    "off_stack": (-3.0, 0.35),
    # profile links and claims
    "github": (0.4, -0.35),
    "linkedin": (0.9, -0.3),
    "skill_dropped": (-2.2, 0.35),
    "skill_stuffing": (-2.0, 0.5),
    "level_overclaim": (-2.5, 1.0),
    "years_inflated": (-2.4, 1.0),
    # resume text: words a bag of words can see
    "superlative": (-1.2, 0.45),
    "guarantee": (-1.9, 0.5),
    "guarantee_disclaimer": (-2.3, -0.4),
    "keyword_stuffing": (-1.9, 0.45),
    # resume text: only a cross-check with the history, or the meaning, tells
    "years_text_mismatch": (-2.8, 1.0),
    "timeline_wrong": (-2.6, 1.0),
    "specific_off_history": (-2.6, 1.0),
    "implausible_numbers": (-3.0, 0.8),
    "off_platform_request": (-1.5, 1.4),
}
# The mean client rating moves with risk too, on the rating scale.
_RATING_MEAN, _RATING_SLOPE, _RATING_SD = 4.55, -0.35, 0.18


@dataclass(frozen=True)
class Persona:
    name: str
    years: tuple[float, float]
    projects: tuple[int, int]
    duration_months: tuple[float, float]
    monthly_rate_usd: tuple[float, float]


PERSONAS: tuple[Persona, ...] = (
    Persona("entry", (0.3, 2.0), (1, 6), (0.5, 4.0), (600, 2500)),
    Persona("mid", (2.0, 5.0), (4, 15), (1.0, 8.0), (1500, 5000)),
    Persona("senior", (5.0, 10.0), (10, 30), (1.0, 12.0), (3000, 9000)),
    Persona("expert", (8.0, 18.0), (20, 50), (1.5, 14.0), (5000, 16000)),
)
_PERSONA_WEIGHTS = (0.27, 0.35, 0.24, 0.14)
_LEVELS = ("entry", "mid", "senior", "expert")


@dataclass
class Traits:
    """The hidden state behind one generated profile; never part of the record."""

    persona: str
    risk: float
    takeover: bool
    early_bumps: bool
    window: int  # how many projects the takeover run or the early bumps cover
    p_true: float
    label: int
    signals: dict[str, float] = field(default_factory=dict)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _propensity(rng: random.Random, signal: str, risk: float) -> float:
    base, slope = PROPENSITIES[signal]
    return _sigmoid(base + slope * risk + rng.gauss(0.0, _INDIVIDUAL_SD))


# --- Vocabulary ---------------------------------------------------------------------


@dataclass(frozen=True)
class Domain:
    name: str
    roles: tuple[str, ...]
    techs: tuple[str, ...]
    things: tuple[str, ...]
    metrics: tuple[str, ...]
    volume: tuple[str, ...]


DOMAINS: tuple[Domain, ...] = (
    Domain(
        "backend",
        ("backend developer", "Python developer", "API developer", "Node.js developer"),
        (
            "Python",
            "Django",
            "PostgreSQL",
            "FastAPI",
            "Flask",
            "Redis",
            "Celery",
            "Docker",
            "Node.js",
            "TypeScript",
            "GraphQL",
            "MySQL",
            "RabbitMQ",
        ),
        (
            "REST API",
            "billing service",
            "booking backend",
            "inventory API",
            "authentication service",
            "reporting service",
            "webhook integration",
            "order management system",
        ),
        ("API response time", "server costs", "the error rate", "p95 latency"),
        ("requests a day", "orders a month", "API calls a day"),
    ),
    Domain(
        "frontend",
        ("frontend developer", "React developer", "web developer", "JavaScript developer"),
        (
            "React",
            "TypeScript",
            "JavaScript",
            "Next.js",
            "Vue.js",
            "Angular",
            "Redux",
            "Tailwind CSS",
            "Sass",
            "Webpack",
            "Jest",
            "Storybook",
        ),
        (
            "customer portal",
            "marketing site",
            "admin dashboard",
            "checkout flow",
            "design system",
            "single-page app",
            "booking widget",
        ),
        ("page load time", "bundle size", "checkout drop-off", "the bounce rate"),
        ("visitors a month", "sessions a day", "users"),
    ),
    Domain(
        "mobile",
        ("mobile developer", "iOS developer", "Android developer", "Flutter developer"),
        (
            "Swift",
            "Kotlin",
            "Flutter",
            "Dart",
            "React Native",
            "Firebase",
            "SwiftUI",
            "Jetpack Compose",
            "Xcode",
            "GraphQL",
        ),
        (
            "fitness app",
            "delivery app",
            "booking app",
            "loyalty app",
            "chat feature",
            "offline mode",
            "payments screen",
        ),
        ("crash rate", "app start time", "one-star reviews", "battery use"),
        ("downloads", "monthly active users", "orders a week"),
    ),
    Domain(
        "data",
        ("data engineer", "data analyst", "analytics engineer", "BI developer"),
        (
            "Python",
            "SQL",
            "pandas",
            "Airflow",
            "Spark",
            "dbt",
            "Snowflake",
            "BigQuery",
            "Tableau",
            "Power BI",
            "PostgreSQL",
            "Kafka",
        ),
        (
            "ETL pipeline",
            "sales dashboard",
            "data warehouse",
            "churn report",
            "event pipeline",
            "forecasting report",
            "KPI dashboard",
        ),
        ("report run time", "query costs", "manual reporting time", "data latency"),
        ("rows a day", "events a day", "reports a week"),
    ),
    Domain(
        "ml",
        ("machine learning engineer", "data scientist", "computer vision engineer"),
        (
            "Python",
            "PyTorch",
            "TensorFlow",
            "scikit-learn",
            "NumPy",
            "pandas",
            "Hugging Face",
            "MLflow",
            "OpenCV",
            "FastAPI",
            "Docker",
        ),
        (
            "recommendation model",
            "demand forecast",
            "document classifier",
            "defect detector",
            "search ranking model",
            "fraud model",
        ),
        ("false positives", "forecast error", "inference time", "manual review time"),
        ("predictions a day", "documents a day", "images a day"),
    ),
    Domain(
        "devops",
        ("DevOps engineer", "cloud engineer", "site reliability engineer"),
        (
            "AWS",
            "Terraform",
            "Kubernetes",
            "Docker",
            "Ansible",
            "GitHub Actions",
            "Jenkins",
            "Prometheus",
            "Grafana",
            "Linux",
            "GCP",
            "Azure",
        ),
        (
            "CI pipeline",
            "Kubernetes cluster",
            "monitoring stack",
            "cloud migration",
            "backup system",
            "deployment pipeline",
        ),
        ("cloud costs", "deploy time", "downtime", "build time"),
        ("deploys a week", "services", "servers"),
    ),
    Domain(
        "ecommerce",
        ("Shopify developer", "WordPress developer", "e-commerce developer"),
        (
            "Shopify",
            "Liquid",
            "WooCommerce",
            "WordPress",
            "PHP",
            "Magento",
            "MySQL",
            "Stripe",
            "JavaScript",
            "Klaviyo",
        ),
        (
            "online store",
            "product catalogue",
            "subscription checkout",
            "store theme",
            "payment integration",
            "store migration",
        ),
        ("cart abandonment", "page load time", "checkout errors", "return rate"),
        ("orders a month", "products", "visitors a month"),
    ),
    Domain(
        "design",
        ("UI/UX designer", "product designer", "web designer"),
        (
            "Figma",
            "Adobe XD",
            "Sketch",
            "Illustrator",
            "Photoshop",
            "Webflow",
            "InVision",
            "Framer",
            "Miro",
        ),
        (
            "onboarding flow",
            "mobile app design",
            "brand identity",
            "landing page",
            "design system",
            "dashboard redesign",
        ),
        ("onboarding drop-off", "support tickets", "the bounce rate", "task time"),
        ("users", "visitors a month", "sign-ups a month"),
    ),
)

_BUZZWORDS = (
    "AI",
    "blockchain",
    "Web3",
    "SEO",
    "ChatGPT",
    "machine learning",
    "big data",
    "cloud",
    "agile",
    "Scrum",
    "SaaS",
    "NFT",
    "crypto",
    "IoT",
    "microservices",
    "DevOps",
    "full stack",
    "UI/UX",
    "data science",
    "automation",
)
_OTHER_DOMAINS = {d.name: [x for x in DOMAINS if x is not d] for d in DOMAINS}
_ALL_TECHS = tuple(sorted({t for d in DOMAINS for t in d.techs}))

_CLIENTS = (
    "a logistics startup",
    "an online bakery",
    "a fintech company",
    "a dental clinic",
    "a real-estate agency",
    "a SaaS startup",
    "a non-profit",
    "a travel agency",
    "a university lab",
    "a marketing agency",
    "an e-commerce brand",
    "a regional bank",
    "a fitness studio",
    "a law firm",
    "a hotel group",
    "a car rental company",
    "a school district",
    "a coffee roaster",
    "a recruiting firm",
    "an insurance broker",
)
_CITIES = ("Lisbon", "Krakow", "Nairobi", "Manila", "Buenos Aires", "Toronto", "Kyiv", "Lagos")
_APPS = ("Telegram", "WhatsApp", "Skype", "Signal", "my personal email", "Discord")
_SYLLABLES = ("ka", "lo", "mi", "ra", "ten", "vo", "zu", "dev", "an", "el", "sa", "ri", "no", "tor")


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


def _period(rng: random.Random, year: int, last_year: int) -> str:
    end = min(year + _int(rng, 1, 4), last_year)
    return f"between {year} and {end}" if end > year else f"in {year}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# --- Project history -----------------------------------------------------------------


@dataclass
class _Behaviour:
    dispute: float
    cancel: float
    on_time: float
    rating_mean: float
    link: float
    parallel: float
    off_stack: float
    odd_budget: float


def _behaviour(rng: random.Random, risk: float) -> _Behaviour:
    return _Behaviour(
        dispute=_propensity(rng, "dispute", risk),
        cancel=_propensity(rng, "cancel", risk),
        on_time=_propensity(rng, "on_time", risk),
        rating_mean=_RATING_MEAN + _RATING_SLOPE * risk + rng.gauss(0.0, _RATING_SD),
        link=_propensity(rng, "project_link", risk),
        parallel=_propensity(rng, "parallel", risk),
        off_stack=_propensity(rng, "off_stack", risk),
        odd_budget=_propensity(rng, "odd_budget", risk),
    )


# What a streak of trouble (takeover run or early bumps) does to a project.
_STREAK = _Behaviour(
    dispute=0.42,
    cancel=0.28,
    on_time=0.45,
    rating_mean=3.6,
    link=0.25,
    parallel=0.3,
    off_stack=0.35,
    odd_budget=0.05,
)


def _timeline(
    rng: random.Random,
    persona: Persona,
    n: int,
    parallel_p: Sequence[float],
    dormant_before: int | None,
) -> list[tuple[float, float]]:
    """Start and end of each project, in months after the career start, in start order."""
    lo, hi = persona.duration_months
    durations = [_log_uniform(rng, lo, hi) for _ in range(n)]
    parallel = [i > 0 and rng.random() < parallel_p[i] for i in range(n)]
    span = rng.uniform(*persona.years) * 12.0
    sequential = sum(d for d, par in zip(durations, parallel, strict=True) if not par)
    if sequential > 0.9 * span:
        shrink = 0.9 * span / sequential
        durations = [max(0.25, d * shrink) for d in durations]
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
    return spans


def _budget(rng: random.Random, persona: Persona, months: float, odd: bool) -> float:
    rate = rng.uniform(*persona.monthly_rate_usd) * rng.uniform(0.3, 1.0)
    amount = rate * months * math.exp(rng.gauss(0.0, 0.35))
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


_TITLE_TEMPLATES = (
    "{Thing} for {client}",
    "{Thing} {rebuild|redesign|overhaul|refresh}",
    "{New|Custom} {thing}",
    "{Thing} ({tech})",
    "{Thing} for {client_short}",
    "{Phase 2 of the|Second phase:|MVP:|} {thing}",
    "{Fix and extend the|Maintenance of the|Speed up the} {thing}",
)
_DESCRIPTION_TEMPLATES = (
    "{Built|Developed|Delivered|Designed} the {thing} for {client} using {techs}.",
    "{Worked|Partnered} with {client} on their {thing}; stack: {techs}.",
    "{Took over|Continued} an existing {thing} and {extended it|stabilised it|cleaned it up} "
    "({techs}).",
    "{Scoped, built and handed over|Planned and shipped} {a_thing} with {techs}.",
    "{Short|Small|Fixed-price} engagement: {thing} improvements in {techs}.",
)


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


# --- Resume text ---------------------------------------------------------------------

_LEVEL_WORDS = {
    "entry": ("junior", "entry-level", "early-career", "self-taught"),
    "mid": ("mid-level", "professional", "reliable", "full-time"),
    "senior": ("senior", "seasoned", "experienced", "senior-level"),
    "expert": ("principal-level", "lead", "expert", "veteran"),
}

_INTROS = (
    "{Hi|Hello|Hey there}, I'm {a_level} {role}{years_clause}.",
    "{A_level} {role}{years_clause}.",
    "I am {a_level} {role}{years_clause}{, based in {city}|, working remotely|}.",
    "{Welcome to my profile|Thanks for stopping by}: I'm {a_level} {role}{years_clause}.",
    "{My name is {name} and|} I work as {a_level} {role}{years_clause}.",
)
_YEARS_CLAUSES = (
    " with {years} of experience",
    " with {years} of {hands-on|professional|commercial} experience",
    " with {years} {behind me|in the field|in the industry}",
    ", {years} in the {trade|business|field}",
)

_TIMELINE = (
    "I have been freelancing since {year}{, mostly for small and mid-sized teams|}.",
    "Since {year} I have completed {count} projects {here|on this platform}.",
    "{I took my first client project|My first paid project was} in {year}; "
    "{count} projects later I still {enjoy|like} the work.",
    "{Over|Across} {count} projects since {year}, I {learned|found} that clear scope saves "
    "everyone time.",
    "My {track record|history} here {starts|begins} in {year} and {covers|includes} {count} "
    "{projects|contracts}.",
)

_SPECIFICS = (
    "At {client} I {built|delivered|shipped} {a_thing} in {tech} that {cut|reduced|lowered} "
    "{metric} by {pct}%.",
    "{Migrated|Moved|Ported} {a_thing} from {tech2} to {tech} for {client}, {cutting|reducing} "
    "{metric} by {pct}%.",
    "In {year} I {built|wrote|put together} the {thing} for {client} with {tech} and {tech2}; "
    "it now handles {num} {volume}.",
    "For {client} I {rewrote|refactored|reworked} the {thing} in {tech}, and {metric} "
    "{fell|dropped|went down} by {pct}% within {weeks} weeks.",
    "My {thing} for {client} ({tech}, {year}) {went live|launched|shipped} in {weeks} weeks and "
    "{now serves|supports|handles} {num} {volume}.",
    "{Set up|Introduced|Added} {tech} for {client}'s {thing}, {which cut|cutting} {metric} "
    "by {pct}%.",
    "{Delivered|Completed} {small} {thing} projects in {tech} {period}, "
    "{each|all} {rated|reviewed at} {rating} or {higher|better}.",
)

_SUPERLATIVES = (
    "I am {the best|a world-class|a top-rated|an elite} {role} {on this platform|you will find|"
    "in the industry}.",
    "{Top 1%|Top-rated|Number one} {talent|freelancer} with {unmatched|unbeatable|exceptional} "
    "{quality|skills|results}.",
    "I deliver {world-class|top-notch|premium|outstanding|flawless} {results|work|quality} "
    "{every time|on every project|without exception}.",
    "{Ninja|Rockstar|Guru}-level {skills|expertise} in {everything you need|any technology|"
    "all modern tools}.",
    "{Highly|Extremely|Incredibly} {skilled|experienced|talented} and {passionate|dedicated|"
    "motivated} {professional|expert} {ready to exceed your expectations|you can trust}.",
    "Clients {say|tell me} I am {the best freelancer they have worked with|amazing at what I do|"
    "incredible at what I do}.",
    "{My work is always perfect|I never make mistakes|Every client is blown away by my work}.",
    "{Unparalleled|Unrivalled|Second-to-none} {expertise|dedication|attention to detail} "
    "{in every project|guaranteed by my passion|that sets me apart}.",
)

_GUARANTEES = (
    "100% satisfaction guaranteed{!|.}",
    "{Money-back|Full refund} guarantee{ if you are not happy| on every order|}.",
    "I guarantee {results|success|five-star quality} {on every project|or you don't pay}.",
    "{Guaranteed|Assured} {first-page Google rankings|delivery in 24 hours|bug-free code}.",
    "Unlimited revisions until you are 100% satisfied, {guaranteed|I promise}.",
    "{Success|Your satisfaction} is {100% guaranteed|guaranteed, always}.",
)
# Guarantee words in a sentence that means the opposite.
_GUARANTEE_DISCLAIMERS = (
    "I won't promise '100% satisfaction guaranteed'; I promise clear milestones and honest "
    "updates instead.",
    "I don't guarantee results I can't control, like rankings or sales; I do guarantee "
    "{clear|honest|prompt} communication.",
    "{Be wary of|I would avoid} anyone who guarantees bug-free code; I guarantee tests and fast "
    "fixes instead.",
    "Refunds go through the platform's own process, not a private money-back guarantee.",
    "No one can honestly guarantee success on every project, so I {won't|don't}; I explain "
    "the risks up front.",
)

_STUFFING_LEADS = ("Keywords", "Skills", "Expertise", "Tags", "I also do", "Expert in")
_SHORT_TOOLS = ("Main tools", "Tools I use most", "Core stack", "Day-to-day tools")

# Contact and payment sentences built so that the harmless and the off-platform reading
# use the same words: the two slots are swapped. A bag of words cannot tell them apart.
_PAYMENT_MIRRORS: tuple[tuple[str, str, str], ...] = (
    ("I only accept payment {0}, never {1}.", "through the platform", "outside the platform"),
    ("{Message|Write to|Contact} me {0} rather than {1}.", "here", "on {app}"),
    (
        "I prefer payment {0} to payment {1}.",
        "through escrow",
        "via wire transfer outside the platform",
    ),
    (
        "Clients who {0} get faster replies than clients who {1}.",
        "stay in the platform chat",
        "move to {app}",
    ),
    (
        "I never ask clients to pay {0}; all invoices go {1}.",
        "outside the platform",
        "through the platform",
    ),
    (
        "{Happy|Glad} to take payment {0} {rather than|instead of} {1}.",
        "through platform escrow",
        "by direct bank transfer for a discount",
    ),
    (
        "After the first message, let's {talk|continue} {0}, not {1}.",
        "in the platform chat",
        "on {app}",
    ),
    (
        "For long projects I {suggest|propose} {0} instead of {1}.",
        "milestones in the platform's escrow",
        "monthly payments to my PayPal outside the platform",
    ),
    (
        "I {share|send} {files|drafts|invoices} {0} and {never|not} {1}.",
        "through the platform chat",
        "over {app}",
    ),
)
# Off-platform requests and harmless mentions with words that differ; used in both classes.
_PAYMENT_REQUESTS = (
    "{Message|Ping|Text} me on {app} for a faster reply: @{handle}.",
    "To {avoid|skip|save} the platform fee, I {prefer|accept} payment via wire transfer outside "
    "the platform.",
    "{Happy|Willing} to take payment outside the platform for a "
    "{discount|10% discount|lower rate}.",
    "{Let's|We can} move to {app} once we agree; {it is easier|it is faster} there.",
)
_PAYMENT_HARMLESS = (
    "All {payments|contracts} {stay|run} through the platform's escrow, {which protects us both|"
    "so you are covered}.",
    "I {keep|prefer to keep} all messages on the platform so the {history|paper trail} stays in "
    "one place.",
    "{Payment|Billing} is by milestone through the platform; I never ask clients to pay "
    "outside it.",
    "Feel free to message me here any time; I {answer|reply} within {a day|a few hours}.",
)

_FILLERS = (
    "I {write|keep} {clear|short|plain} documentation so the next developer can pick things up.",
    "I {work|am available} {in the CET time zone|in US hours|with a few hours of overlap with "
    "most time zones}.",
    "{Weekly|Regular|Short} progress updates are part of every project I take.",
    "I like to start with a {short|small|paid} discovery call to agree on scope.",
    "Before writing any code I {agree|write down} {acceptance criteria|what done means} with "
    "the client.",
    "{Outside work|In my spare time} I {mentor juniors|contribute to open source|run a small "
    "meetup|write about my field}.",
    "I studied {computer science|mathematics|economics|physics|graphic design} "
    "{at university|and kept learning on the job}.",
    "I {prefer|enjoy} {long-term collaborations|projects with a clear goal|working with small "
    "teams}.",
    "{Code reviews|Design reviews|Clear specs} {matter to me|are part of how I work}.",
    "I {answer|reply to} messages within {a day|one working day|a few hours} on weekdays.",
    "I {can|am happy to} {join your stand-ups|work inside your tools|use your task tracker}.",
    "{Testing|Accessibility|Performance} is {something I check|on my checklist} before every "
    "hand-over.",
    "I speak {English|Spanish and English|Polish and English|French and English} "
    "{fluently|every day}.",
    "If a task is outside my skills I {say so early|tell you up front}.",
    "I {track|log} my hours {carefully|honestly} and share them {weekly|with each invoice}.",
    "{Small fixes|Quick changes} are welcome as well as larger builds.",
    "I {like|enjoy} turning {messy|vague} requirements into a {clear|simple} plan.",
    "{Previous|Past} clients range from {startups to agencies|solo founders to larger teams}.",
    "{Please|Do} {include|share} your timeline and budget so I can {plan|estimate} properly.",
    "I {keep|try to keep} my estimates {realistic|conservative}.",
    "I {break|split} larger jobs into {milestones|small deliveries} you can review.",
    "{Most of my|Many of my} clients {come back|return} for {follow-up work|a second project}.",
    "I {use|rely on} version control for everything, {including|even} small scripts.",
    "When something goes wrong I {report it|tell you} the same day, with a plan to fix it.",
    "I {hand over|share} {credentials|access}, {code|files} and notes at the end of every job.",
    "{Clear|Honest} communication matters more to me than {speed|clever tricks}.",
    "I {enjoy|like} {learning new tools|picking up new domains} when a project needs it.",
    "I {can|am able to} {start within a week|start next Monday|take on one more client now}.",
    "I {ask|will ask} a lot of questions at the start; it saves rework later.",
    "{Deadlines|Estimates} I agree to are deadlines I {plan|work} for.",
    "I {am comfortable|work well} both {alone|on my own} and inside an existing team.",
    "{Time zones|Different time zones} have never been a problem for my clients.",
    "I {write|add} {tests|checks} for the parts that would hurt most if they broke.",
    "I {keep|maintain} a {simple|short} changelog so you always know what changed.",
    "{Feedback|Criticism} is welcome; I would rather hear it early.",
    "I {prefer|like} {fixed-scope|well-defined} tasks but {can|am happy to} work hourly too.",
    "{For bigger projects|On longer engagements} I {suggest|recommend} a {weekly call|short "
    "weekly demo}.",
    "I {try to|aim to} leave every {codebase|project} a little cleaner than I found it.",
    "I {document|write down} decisions so {nobody|no one} has to guess later.",
    "Weekends are {usually|mostly} off, but urgent fixes {get|receive} attention.",
)
_CLOSINGS = (
    "Looking forward to hearing about your project.",
    "Feel free to send me the details.",
    "Thanks for reading{!|.}",
    "{Happy|Glad} to {talk|chat} about what you need.",
    "Let me know how I can help.",
    "{Best|Kind} regards.",
)


@dataclass
class _ResumeFacts:
    domain: Domain
    claimed_level: str
    role: str
    stated_years: float | None
    first_year: int
    n_projects: int
    project_techs: list[str]
    project_things: list[str]
    project_years: list[int]
    reference_date: dt.date


def _resume(
    rng: random.Random,
    facts: _ResumeFacts,
    risk: float,
    takeover: bool,
    words: tuple[int, int],
    signals: dict[str, float],
) -> str:
    d = facts.domain
    level_word = _pick(rng, _LEVEL_WORDS[facts.claimed_level])
    a_level = ("an " if level_word[0] in "aeiou" else "a ") + level_word
    name = _capitalise(_pick(rng, _SYLLABLES) + _pick(rng, _SYLLABLES))

    # Years in the text: usually the claimed figure, sometimes a different, larger one.
    years = facts.stated_years
    years_mismatch = rng.random() < _propensity(rng, "years_text_mismatch", risk)
    if years_mismatch:
        years = (years or 1.0) + rng.uniform(3.0, 10.0)
    years_clause = ""
    if years is not None and rng.random() < 0.8:
        whole = int(round(years))
        if whole <= 1:
            years_text = "a year" if years >= 0.75 else "under a year"
        else:
            years_text = f"{whole}{'+' if rng.random() < 0.3 else ''} years"
        years_clause = _expand(rng, _pick(rng, _YEARS_CLAUSES), years=years_text)
    else:
        years_mismatch = False
    intro = _expand(
        rng,
        _pick(rng, _INTROS),
        a_level=a_level,
        A_level=_capitalise(a_level),
        role=facts.role,
        years_clause=years_clause,
        city=_pick(rng, _CITIES),
        name=name,
    )
    intro = _capitalise(intro.strip())

    body: list[str] = []

    # A timeline that can be checked against the history, or one that cannot hold.
    timeline_wrong = False
    if rng.random() < 0.55:
        year, count = facts.first_year, facts.n_projects
        if rng.random() < _propensity(rng, "timeline_wrong", risk):
            timeline_wrong = True
            year -= _int(rng, 3, 8)
            count = int(count * rng.uniform(2.0, 4.0)) + _int(rng, 3, 20)
        body.append(_expand(rng, _pick(rng, _TIMELINE), year=year, count=count))

    # Specific, checkable claims; some name work the history does not contain.
    n_specific = min(4, _poisson(rng, 1.9 * math.exp(-0.3 * risk)))
    off_history = 0
    implausible = 0
    off_p = _propensity(rng, "specific_off_history", risk)
    implausible_p = _propensity(rng, "implausible_numbers", risk)
    for _ in range(n_specific):
        wrong = rng.random() < off_p
        if wrong:
            off_history += 1
            other = _pick(rng, _OTHER_DOMAINS[d.name])
            tech, tech2 = _sample(rng, other.techs, 2)
            year = facts.first_year - _int(rng, 1, 6)
        else:
            pool = facts.project_techs or list(d.techs)
            tech = _pick(rng, pool)
            tech2 = _pick(rng, [t for t in d.techs if t != tech])
            year = _pick(rng, facts.project_years)
        if rng.random() < implausible_p:
            implausible += 1
            pct = _pick(rng, (150, 200, 300, 400, 500, 900, 1000))
            num = _pick(rng, ("10 million", "50 million", "1 billion", "100 million"))
        else:
            pct = _int(rng, 8, 70)
            num = _pick(rng, ("2,000", "15,000", "40,000", "120,000", "300,000", "800", "5,000"))
        thing = _pick(rng, facts.project_things or list(d.things))
        body.append(
            _expand(
                rng,
                _pick(rng, _SPECIFICS),
                client=_pick(rng, _CLIENTS),
                thing=thing,
                a_thing=_article(thing),
                tech=tech,
                tech2=tech2,
                metric=_pick(rng, d.metrics),
                pct=pct,
                year=year,
                period=_period(rng, year, facts.reference_date.year),
                num=num,
                volume=_pick(rng, d.volume),
                weeks=_int(rng, 2, 14),
                small=_pick(rng, ("three", "four", "five", "six", "several")),
                rating=_pick(rng, ("4.7", "4.8", "4.9")),
            )
        )

    n_superlative = sum(rng.random() < _propensity(rng, "superlative", risk) for _ in range(3))
    body.extend(
        _expand(rng, t, role=facts.role) for t in _sample(rng, _SUPERLATIVES, n_superlative)
    )

    guarantee = rng.random() < _propensity(rng, "guarantee", risk)
    if guarantee:
        body.append(_expand(rng, _pick(rng, _GUARANTEES)))
    disclaimer = rng.random() < _propensity(rng, "guarantee_disclaimer", risk)
    if disclaimer:
        body.append(_expand(rng, _pick(rng, _GUARANTEE_DISCLAIMERS)))

    stuffing = rng.random() < _propensity(rng, "keyword_stuffing", risk)
    if stuffing:
        pool = list(_ALL_TECHS) + list(_BUZZWORDS)
        terms = _sample(rng, pool, _int(rng, 14, 32))
        sep = _pick(rng, (", ", " | ", " / ", " - "))
        body.append(f"{_pick(rng, _STUFFING_LEADS)}: {sep.join(terms)}.")
    elif rng.random() < 0.45:
        tools = facts.project_techs or list(d.techs)
        body.append(
            f"{_pick(rng, _SHORT_TOOLS)}: {', '.join(_sample(rng, tools, min(5, len(tools))))}."
        )

    # Payment and contact: the same share of each class mentions them; only the meaning
    # of what is said differs, and mostly in sentences whose words are shared.
    off_platform = False
    harmless_payment = False
    if rng.random() < 0.42:
        off_platform = rng.random() < _propensity(
            rng, "off_platform_request", risk + 1.6 * takeover
        )
        harmless_payment = not off_platform
        app = _pick(rng, _APPS)
        if rng.random() < 0.8:
            template, safe, unsafe = _pick(rng, _PAYMENT_MIRRORS)
            first, second = (unsafe, safe) if off_platform else (safe, unsafe)
            sentence = _expand(rng, _expand(rng, template, **{"0": first, "1": second}), app=app)
        else:
            pool = _PAYMENT_REQUESTS if off_platform else _PAYMENT_HARMLESS
            sentence = _expand(rng, _pick(rng, pool), app=app, handle=_handle(rng))
        body.append(_capitalise(sentence))

    rng.shuffle(body)
    closing = _expand(rng, _pick(rng, _CLOSINGS)) if rng.random() < 0.7 else ""

    target = _int(rng, *words)
    count = len(intro.split()) + sum(len(s.split()) for s in body) + len(closing.split())
    fillers = list(_FILLERS)
    rng.shuffle(fillers)
    while count < target:
        if not fillers:
            fillers = list(_FILLERS)
            rng.shuffle(fillers)
        sentence = _expand(rng, fillers.pop())
        body.insert(_int(rng, 0, len(body)), sentence)
        count += len(sentence.split())

    signals.update(
        years_text_mismatch=float(years_mismatch),
        timeline_wrong=float(timeline_wrong),
        n_specific=float(n_specific),
        specific_off_history=float(off_history > 0),
        implausible_numbers=float(implausible > 0),
        n_superlative=float(n_superlative),
        guarantee=float(guarantee),
        guarantee_disclaimer=float(disclaimer),
        keyword_stuffing=float(stuffing),
        off_platform_request=float(off_platform),
        harmless_payment_mention=float(harmless_payment),
    )
    parts = [intro, *body, closing]
    if rng.random() < 0.35:
        paragraphs: list[str] = []
        step = max(2, len(parts) // 3)
        for i in range(0, len(parts), step):
            paragraphs.append(" ".join(p for p in parts[i : i + step] if p))
        text = "\n\n".join(p for p in paragraphs if p)
    else:
        text = " ".join(p for p in parts if p)
    return text[:MAX_RESUME_CHARS]


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


# --- One profile ---------------------------------------------------------------------


def _iso(start: dt.date, months: float) -> dt.date:
    return start + dt.timedelta(days=round(months * DAYS_PER_MONTH))


def _one(
    index: int, seed: int, reference_date: dt.date, resume_words: tuple[int, int]
) -> tuple[dict[str, Any], Traits]:
    rng = random.Random(f"trustq-synthetic:{seed}:{index}")
    persona = rng.choices(PERSONAS, weights=_PERSONA_WEIGHTS)[0]
    domain = _pick(rng, DOMAINS)
    n = _int(rng, *persona.projects)

    takeover = n >= _TAKEOVER_MIN_PROJECTS and rng.random() < _TAKEOVER_RATE
    early_bumps = (
        not takeover and n >= _EARLY_BUMPS_MIN_PROJECTS and rng.random() < _EARLY_BUMPS_RATE
    )
    if takeover:
        risk = rng.gauss(_TAKEOVER_RISK_MEAN, _TAKEOVER_RISK_SD)
    else:
        risk = rng.gauss(0.0, 1.0)
    logit = _BASE_LOGIT + _RISK_SCALE * risk + _TAKEOVER_LOGIT * takeover
    p_true = _sigmoid(logit)
    label = int(rng.random() < p_true)

    window = 0
    if takeover or early_bumps:
        window = _int(rng, 3, max(3, min(6, n // 2)))
    in_streak = [(takeover and i >= n - window) or (early_bumps and i < window) for i in range(n)]
    behave = _behaviour(rng, risk)
    parallel_p = [_STREAK.parallel if s else behave.parallel for s in in_streak]
    dormant = n - window if takeover and rng.random() < 0.55 else None
    spans = _timeline(rng, persona, n, parallel_p, dormant)

    # Career end: most are active now, some went quiet a while ago.
    last_end = max(end for _, end in spans)
    ongoing_last = rng.random() < 0.35
    quiet = 0.0 if ongoing_last else _pick(rng, (0.0, 0.0, 0.5, 1.0, 2.0, 4.0, 9.0, 18.0))
    quiet *= rng.uniform(0.5, 1.0)
    career_start = reference_date - dt.timedelta(days=round((last_end + quiet) * DAYS_PER_MONTH))
    last_index = max(range(n), key=lambda i: spans[i][1])

    stack = _sample(rng, domain.techs, _int(rng, 4, min(8, len(domain.techs))))
    takeover_domain = _pick(rng, _OTHER_DOMAINS[domain.name])
    handle = _handle(rng)
    date_style = _pick(rng, ("end", "end", "duration", "mixed"))
    has_github = rng.random() < _propensity(rng, "github", risk)
    portfolio_url = f"https://{handle}.{_pick(rng, ('dev', 'design', 'studio', 'me'))}"

    projects: list[dict[str, Any]] = []
    things: list[str] = []
    used_techs: list[str] = []
    years: list[int] = []
    odd_budgets = 0
    for i, (start_m, end_m) in enumerate(spans):
        b = _STREAK if in_streak[i] else behave
        start = _iso(career_start, start_m)
        end = min(_iso(career_start, end_m), reference_date)
        if end <= start:
            end = min(start + dt.timedelta(days=7), reference_date)
        ongoing = ongoing_last and i == last_index
        if not ongoing and ongoing_last and (reference_date - end).days < 20:
            # Work that ran to the very end and was never marked done stays open.
            ongoing = rng.random() < 0.5

        own_domain = (
            takeover_domain if (takeover and in_streak[i] and rng.random() < 0.5) else domain
        )
        off_stack = rng.random() < b.off_stack
        techs = _pick_techs(rng, stack, own_domain, off_stack)
        thing = _pick(rng, own_domain.things)
        client = _pick(rng, _CLIENTS)
        title, description = _project_text(rng, own_domain, thing, client, techs)
        months = max((end - start).days, 1) / DAYS_PER_MONTH

        cancelled = (not ongoing) and rng.random() < b.cancel
        disputed = rng.random() < (b.dispute / 3 if ongoing else b.dispute)
        on_time: bool | None = None
        rating: float | None = None
        if not ongoing and not cancelled and rng.random() < 0.9:
            on_time = rng.random() < (b.on_time * (0.6 if disputed else 1.0))
        if not ongoing and rng.random() < (0.55 if cancelled else 0.9):
            value = rng.gauss(b.rating_mean, 0.35)
            value -= 1.3 * disputed + 0.9 * cancelled + 0.3 * (on_time is False)
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
        if rng.random() < 0.9:
            odd = rng.random() < b.odd_budget
            odd_budgets += odd
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
        projects.append(project)
        if not in_streak[i] or not takeover:
            things.append(thing)
            used_techs.extend(techs)
            years.append(start.year)

    # Skills: mostly what the history uses; some drop used ones, some stuff the list.
    used = list(dict.fromkeys(used_techs))
    keep_p = 1.0 - _propensity(rng, "skill_dropped", risk)
    skills = [t for t in used if rng.random() < keep_p]
    spare = [t for t in domain.techs if t not in skills]
    skills += _sample(rng, spare, min(len(spare), _int(rng, 0, 2)))
    skill_stuffing = rng.random() < _propensity(rng, "skill_stuffing", risk)
    if skill_stuffing:
        extra = [t for t in list(_ALL_TECHS) + list(_BUZZWORDS) if t not in skills]
        skills += _sample(rng, extra, _int(rng, 6, 20))
    rng.shuffle(skills)
    if not skills:
        skills = [_pick(rng, domain.techs)]

    # Claims: the level and the years, which sometimes outrun the history.
    level_index = _LEVELS.index(persona.name)
    level_up = rng.random() < _propensity(rng, "level_overclaim", risk)
    if level_up:
        level_index += 2 if rng.random() < 0.25 else 1
    elif rng.random() < 0.1:
        level_index += _pick(rng, (-1, 1))
    claimed_level = _LEVELS[min(3, max(0, level_index))]

    first_start = min(dt.date.fromisoformat(p["start_date"]) for p in projects)
    span_years = (reference_date - first_start).days / 365.25
    years_inflated = rng.random() < _propensity(rng, "years_inflated", risk)
    claimed_years: float | None
    if rng.random() < 0.15:
        claimed_years = None
    else:
        claimed = span_years
        if rng.random() < 0.35:
            claimed += rng.uniform(0.5, 6.0)  # experience from before the platform
        if years_inflated:
            claimed = claimed * rng.uniform(1.5, 3.0) + rng.uniform(2.0, 8.0)
        claimed_years = float(min(80.0, max(0.0, round(claimed * 2) / 2)))

    signals: dict[str, float] = {
        "level_overclaim": float(level_up),
        "years_inflated": float(years_inflated and claimed_years is not None),
        "skill_stuffing": float(skill_stuffing),
        "odd_budget_share": odd_budgets / n,
    }
    facts = _ResumeFacts(
        domain=domain,
        claimed_level=claimed_level,
        role=_pick(rng, domain.roles),
        stated_years=claimed_years,
        first_year=first_start.year,
        n_projects=n,
        project_techs=used or list(stack),
        project_things=things or list(domain.things),
        project_years=years or [first_start.year],
        reference_date=reference_date,
    )
    resume = _resume(rng, facts, risk, takeover, resume_words, signals)

    links: dict[str, str] = {}
    if has_github and domain.name != "design":
        links["github"] = f"https://github.com/{handle}"
    has_linkedin = rng.random() < _propensity(rng, "linkedin", risk)
    signals["github_link"] = float("github" in links)
    signals["linkedin_link"] = float(has_linkedin)
    if has_linkedin:
        links["linkedin"] = f"https://www.linkedin.com/in/{handle}-{_int(rng, 100, 999)}"
    if rng.random() < (0.7 if domain.name == "design" else 0.3):
        links["portfolio"] = portfolio_url

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
    }
    if claimed_years is None:
        del record["claimed_years_experience"]
    traits = Traits(
        persona=persona.name,
        risk=risk,
        takeover=takeover,
        early_bumps=early_bumps,
        window=window,
        p_true=p_true,
        label=label,
        signals=signals,
    )
    return record, traits


# --- Public API ----------------------------------------------------------------------


def generate_with_traits(
    n: int = 6000,
    seed: int = 0,
    *,
    reference_date: dt.date = REFERENCE_DATE,
    resume_words: tuple[int, int] = (60, 260),
) -> tuple[list[dict[str, Any]], list[Traits]]:
    """Like :func:`generate`, plus the hidden traits of each profile (for analysis only)."""
    if n < 0:
        raise ValueError("n must not be negative")
    lo, hi = resume_words
    if not 1 <= lo <= hi:
        raise ValueError("resume_words must be (low, high) with 1 <= low <= high")
    records: list[dict[str, Any]] = []
    traits: list[Traits] = []
    for i in range(n):
        record, trait = _one(i, seed, reference_date, (lo, hi))
        records.append(record)
        traits.append(trait)
    return records, traits


def generate(
    n: int = 6000,
    seed: int = 0,
    *,
    reference_date: dt.date = REFERENCE_DATE,
    resume_words: tuple[int, int] = (60, 260),
) -> list[dict[str, Any]]:
    """Generate ``n`` labelled profiles, reproducibly from ``seed``.

    Each dict validates as :class:`trustq.schemas.LabelledProfile`: the public profile
    fields plus ``label`` (1 = risky, 0 = trustworthy) and ``p_true``, the true
    probability that ``label == 1`` from which the label was drawn. Dates are ISO
    strings and no project date lies after ``reference_date``. Profile ``i`` depends
    only on ``(seed, i)``, so a smaller ``n`` gives a prefix of a larger one.
    """
    return generate_with_traits(n, seed, reference_date=reference_date, resume_words=resume_words)[
        0
    ]


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


# --- Difficulty report ---------------------------------------------------------------


def difficulty_report(
    records: Sequence[dict[str, Any]],
    *,
    reference_date: dt.date = REFERENCE_DATE,
    seed: int = 0,
) -> dict[str, float]:
    """The ceiling and the two leak guards on a generated set.

    ``ceiling_auc`` / ``ceiling_accuracy``: ``p_true`` as the score against the drawn
    label (accuracy at 0.5). ``tree_accuracy``: a depth-3 decision tree on the six
    normalised indicators; ``bow_accuracy``: a bag-of-words logistic regression on the
    resume text. Both on a stratified 70/30 split.
    """
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier

    from trustq.models.indicators import compute_indicators, normalise_indicators
    from trustq.schemas import Profile

    y = np.array([r["label"] for r in records])
    p = np.array([r["p_true"] for r in records])
    public = set(Profile.model_fields)
    x_ind = np.stack(
        [
            normalise_indicators(
                compute_indicators(
                    Profile.model_validate({k: v for k, v in r.items() if k in public}),
                    as_of=reference_date,
                )
            )
            for r in records
        ]
    )
    texts = [r["resume_text"] for r in records]
    idx = np.arange(len(records))
    train, test = train_test_split(idx, test_size=0.3, stratify=y, random_state=seed)

    tree = DecisionTreeClassifier(max_depth=3, random_state=seed).fit(x_ind[train], y[train])
    vec = CountVectorizer(binary=True, min_df=2)
    x_train = vec.fit_transform([texts[i] for i in train])
    x_test = vec.transform([texts[i] for i in test])
    bow = LogisticRegression(C=1.0, max_iter=2000).fit(x_train, y[train])

    return {
        "n": float(len(records)),
        "risky_share": float(y.mean()),
        "ceiling_auc": float(roc_auc_score(y, p)),
        "ceiling_accuracy": float(accuracy_score(y, p >= 0.5)),
        "ceiling_test_accuracy": float(accuracy_score(y[test], p[test] >= 0.5)),
        "tree_accuracy": float(accuracy_score(y[test], tree.predict(x_ind[test]))),
        "tree_auc": float(roc_auc_score(y[test], tree.predict_proba(x_ind[test])[:, 1])),
        "bow_accuracy": float(accuracy_score(y[test], bow.predict(x_test))),
        "bow_auc": float(roc_auc_score(y[test], bow.predict_proba(x_test)[:, 1])),
    }


def _history_summary(profile: Any, last: int | None = None) -> list[float]:
    """Dispute, cancel, on-time and rating summaries of a profile's (latest) projects."""
    projects = profile.projects_in_time_order()
    if last is not None:
        projects = projects[-last:]
    n = max(len(projects), 1)
    rated = [p.client_rating for p in projects if p.client_rating is not None]
    timed = [p.completed_on_time for p in projects if p.completed_on_time is not None]
    return [
        sum(p.disputed for p in projects) / n,
        sum(p.cancelled for p in projects) / n,
        sum(rated) / len(rated) if rated else 4.5,
        sum(timed) / len(timed) if timed else 0.8,
    ]


def signal_details(
    records: Sequence[dict[str, Any]],
    traits: Sequence[Traits],
    *,
    reference_date: dt.date = REFERENCE_DATE,
    seed: int = 0,
) -> dict[str, Any]:
    """Per-class rates of every signal, the order signal, and what reading order buys.

    ``order_auc_totals`` / ``order_auc_with_recent``: a logistic regression on the
    whole-history summaries (dispute, cancel, on-time and rating rates plus the six
    indicators), without and with the same summaries over the latest four projects,
    on the stratified 70/30 split.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from trustq.models.indicators import compute_indicators, normalise_indicators
    from trustq.schemas import Profile

    public = set(Profile.model_fields)
    profiles = [
        Profile.model_validate({k: v for k, v in r.items() if k in public}) for r in records
    ]
    y = np.array([r["label"] for r in records])
    rows: dict[str, tuple[float, float]] = {}

    def rate(values: Sequence[float]) -> tuple[float, float]:
        v = np.asarray(values, dtype=float)
        return float(v[y == 1].mean()), float(v[y == 0].mean())

    totals = np.array([_history_summary(p) for p in profiles])
    raw = [compute_indicators(p, as_of=reference_date) for p in profiles]
    for i, name in enumerate(("dispute_rate", "cancel_rate", "mean_rating", "on_time_rate")):
        rows[name] = rate(totals[:, i])
    for name in ("project_link_ratio", "tech_consistency", "overlap_count", "num_projects"):
        rows[name] = rate([x[name] for x in raw])
    for key in sorted(traits[0].signals):
        rows[key] = rate([t.signals[key] for t in traits])
    rows["takeover"] = rate([t.takeover for t in traits])
    rows["early_bumps"] = rate([t.early_bumps for t in traits])

    def windows(group: list[int]) -> tuple[float, float]:
        early, recent = [], []
        for i in group:
            ordered = profiles[i].projects_in_time_order()
            w = traits[i].window
            early.extend(p.disputed for p in ordered[:w])
            recent.extend(p.disputed for p in ordered[-w:])
        return float(np.mean(early)), float(np.mean(recent))

    take = [i for i, t in enumerate(traits) if t.takeover]
    bumps = [i for i, t in enumerate(traits) if t.early_bumps]
    x_ind = np.stack([normalise_indicators(x) for x in raw])
    x_tot = np.hstack([totals, x_ind])
    x_seq = np.hstack([x_tot, np.array([_history_summary(p, last=4) for p in profiles])])
    train, test = train_test_split(
        np.arange(len(records)), test_size=0.3, stratify=y, random_state=seed
    )

    def auc(x: Any) -> float:
        scaler = StandardScaler().fit(x[train])
        model = LogisticRegression(max_iter=2000).fit(scaler.transform(x[train]), y[train])
        return float(roc_auc_score(y[test], model.predict_proba(scaler.transform(x[test]))[:, 1]))

    return {
        "rates": rows,
        "takeover_share": len(take) / len(records),
        "takeover_risky_share": float(y[take].mean()) if take else float("nan"),
        "takeover_dispute_early_recent": windows(take),
        "takeover_dispute_whole": float(totals[take, 0].mean()) if take else float("nan"),
        "early_bumps_share": len(bumps) / len(records),
        "early_bumps_risky_share": float(y[bumps].mean()) if bumps else float("nan"),
        "early_bumps_dispute_early_recent": windows(bumps),
        "early_bumps_dispute_whole": float(totals[bumps, 0].mean()) if bumps else float("nan"),
        "order_auc_totals": auc(x_tot),
        "order_auc_with_recent": auc(x_seq),
    }


def _main(argv: Sequence[str] | None = None) -> None:
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Generate synthetic profiles or measure them.")
    parser.add_argument("-n", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the records here as JSON Lines")
    parser.add_argument("--report", action="store_true", help="print ceiling and leak guards")
    parser.add_argument(
        "--details", action="store_true", help="print signal rates by class and the order signal"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    records, traits = generate_with_traits(args.n, args.seed)
    elapsed = time.perf_counter() - started
    print(f"generated {len(records)} profiles in {elapsed:.2f} s")
    if args.out:
        print(f"wrote {write_jsonl(records, args.out)} records to {args.out}")
    if args.report:
        for key, value in difficulty_report(records, seed=args.seed).items():
            print(f"{key:>22}: {value:.4f}")
    if args.details:
        details = signal_details(records, traits, seed=args.seed)
        print(f"{'signal':>26}  {'risky':>8}  {'trustworthy':>11}")
        for key, (risky, trusty) in details.pop("rates").items():
            print(f"{key:>26}  {risky:8.3f}  {trusty:11.3f}")
        for key, value in details.items():
            shown = (
                ", ".join(f"{v:.3f}" for v in value) if isinstance(value, tuple) else f"{value:.4f}"
            )
            print(f"{key:>32}: {shown}")


if __name__ == "__main__":
    _main()
