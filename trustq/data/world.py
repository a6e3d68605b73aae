"""The parameters of the synthetic world: the hidden traits, how the label is drawn from
them and how every visible behaviour depends on them.

The generator (``trustq.data.synthetic``) draws profiles with these numbers and the
ceiling (``trustq.data.ceiling``) writes its likelihoods with the same ones, so the two
cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# p_true = sigmoid(BASE_LOGIT + RISK_SCALE * risk + TAKEOVER_LOGIT * takeover).
# RISK_SCALE sets how closely the drawn label follows the traits.
BASE_LOGIT = -1.0
RISK_SCALE = 3.4
TAKEOVER_LOGIT = 5.0
# How much of each freelancer's record the platform has seen, and the latent risk's mean
# in each group: newcomers are the riskiest, accounts that lasted were the less risky
# ones to begin with (the others were closed).
HISTORY_SHARES: dict[str, float] = {"none": 0.40, "short": 0.20, "full": 0.40}
HISTORY_RISK_MEAN: dict[str, float] = {"none": 0.35, "short": 0.15, "full": -0.2}
RISK_SD = 1.0
SHORT_PROJECTS = (1, 4)
# Accounts worth buying have a clean record, so the original owner's riskiness is
# drawn lower than the population's. Any full history can be taken over, whatever its
# length, so the number of projects says nothing about it.
TAKEOVER_RISK_MEAN = -0.8
TAKEOVER_RISK_SD = 0.7
TAKEOVER_RATE = 0.12
# A benign look-alike of the takeover: a rough start that later settled down. Similar
# whole-history totals, opposite order, no effect on p_true.
EARLY_BUMPS_RATE = 0.12
# How many projects a takeover run or the early bumps cover: WINDOW[0] up to
# min(WINDOW[1], n // 2), never fewer than WINDOW[0].
WINDOW = (3, 6)
# A takeover run's project is from another domain this often.
TAKEOVER_FOREIGN_SHARE = 0.5
# Each behaviour propensity is base + slope * risk + individual noise; the noise is
# what keeps every signal from being a clean read of the latent risk.
INDIVIDUAL_SD = 0.6

# (base logit, slope on the latent risk) of each behaviour. A slope of 1 moves the odds
# by e for one standard deviation of risk; the individual noise (sd 0.6) comes on top.
PROPENSITIES: dict[str, tuple[float, float]] = {
    # project history, per project
    "dispute": (-3.0, 1.1),
    "cancel": (-3.2, 1.0),
    "on_time": (2.0, -1.0),
    "odd_budget": (-4.0, 0.7),
    "project_link": (0.5, -0.3),
    "parallel": (-2.0, 0.3),
    "off_stack": (-3.0, 0.35),
    # a history made up: many projects started at once, perfect ratings, some disputes
    "fabricated": (-5.0, 1.3),
    # profile links and claims
    "github": (0.4, -0.35),
    "linkedin": (0.9, -0.3),
    "lookalike_link": (-5.0, 1.0),
    "identity_mismatch": (-4.5, 0.8),
    "skill_dropped": (-2.2, 0.35),
    "skill_stuffing": (-2.0, 0.5),
    "level_overclaim": (-2.5, 1.0),
    "years_inflated": (-2.4, 1.0),
    # resume text
    "superlative": (-1.0, 0.25),
    "outcome_guarantee": (-2.8, 0.8),
    "disclaimer": (-2.3, -0.4),
    "keyword_stuffing": (-2.4, 0.55),
    "contact_details": (-3.3, 0.9),
    "years_text_mismatch": (-2.8, 1.0),
    "timeline_wrong": (-3.0, 1.0),
    "implausible_numbers": (-3.0, 0.8),
    "off_platform_request": (-1.6, 1.4),
}
# A taken-over account asks to move off the platform as if its risk were this much higher.
TAKEOVER_OFF_PLATFORM_SHIFT = 1.6
# Shares that do not move with risk: honest service promises, and how often a resume
# talks about payment or contact at all (what is said then depends on risk).
HONEST_GUARANTEE_RATE = 0.15
PAYMENT_TALK_RATE = 0.35
# How many superlatives a resume may carry (each one drawn on its own), and the mean
# number of specific, checkable claims (Poisson, falling with risk, capped).
SUPERLATIVE_DRAWS = 4
SPECIFIC_CLAIMS_MEAN = 2.5
SPECIFIC_CLAIMS_SLOPE = -0.3
SPECIFIC_CLAIMS_CAP = 6
# Claimed level: an overclaim is one level up, two levels this often; an honest claim
# drifts one level either way this often.
OVERCLAIM_TWO_LEVELS = 0.25
LEVEL_DRIFT = 0.1

# The mean client rating moves with risk too, on the rating scale; each project's rating
# scatters around it and drops with trouble on that project.
RATING_MEAN, RATING_SLOPE, RATING_SD = 4.55, -0.35, 0.18
RATING_NOISE = 0.35
RATING_DROP = {"disputed": 1.3, "cancelled": 0.9, "late": 0.3}
# Work still open is disputed a third as often; a disputed project is on time less often;
# a cancelled project is rated less often; a made-up history disputes a fixed share.
ONGOING_DISPUTE_DIVISOR = 3.0
DISPUTED_ON_TIME_FACTOR = 0.6
RATED_SHARE = 0.9
RATED_SHARE_CANCELLED = 0.55
ON_TIME_RECORDED_SHARE = 0.9
FABRICATED_DISPUTE = 0.2
FABRICATED_RATING = 5.0
BUDGET_SHARE = 0.9

# The language a resume is written in; the rest of the profile is the same.
LANGUAGE_SHARES: dict[str, float] = {"en": 0.90, "es": 0.03, "pt": 0.03, "de": 0.02, "fr": 0.02}
# Resume lengths in words: most are full documents, some short profile blurbs.
RESUME_WORDS = (300, 2000)
BLURB_WORDS = (40, 250)
BLURB_SHARE = 0.12


@dataclass(frozen=True)
class Persona:
    """A career stage: claimed years and the pay that goes with them."""

    name: str
    career_years: tuple[float, float]
    monthly_rate_usd: tuple[float, float]


PERSONAS: tuple[Persona, ...] = (
    Persona("entry", (0.3, 2.0), (600, 2500)),
    Persona("mid", (2.0, 6.0), (1500, 5000)),
    Persona("senior", (5.0, 15.0), (3000, 9000)),
    Persona("expert", (10.0, 30.0), (5000, 16000)),
)
PERSONA_WEIGHTS = (0.30, 0.35, 0.22, 0.13)
LEVELS = ("entry", "mid", "senior", "expert")


@dataclass(frozen=True)
class WorkStyle:
    """How a freelancer works on the platform: many small gigs, projects, or retainers."""

    name: str
    projects: tuple[int, int]
    duration_months: tuple[float, float]


WORK_STYLES: tuple[WorkStyle, ...] = (
    WorkStyle("gigs", (20, 150), (0.05, 1.0)),
    WorkStyle("projects", (5, 30), (0.5, 6.0)),
    WorkStyle("retainers", (5, 15), (2.0, 18.0)),
)
WORK_STYLE_WEIGHTS = (0.3, 0.5, 0.2)


@dataclass
class Behaviour:
    """How one freelancer (or a streak of trouble) behaves on each project."""

    dispute: float
    cancel: float
    on_time: float
    rating_mean: float
    link: float
    parallel: float
    off_stack: float
    odd_budget: float


# What a streak of trouble (takeover run or early bumps) does to a project.
STREAK = Behaviour(
    dispute=0.42,
    cancel=0.28,
    on_time=0.45,
    rating_mean=3.6,
    link=0.25,
    parallel=0.3,
    off_stack=0.35,
    odd_budget=0.05,
)


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def window_range(n: int) -> range:
    """The window lengths a takeover run or early bumps over ``n`` projects can have."""
    return range(WINDOW[0], max(WINDOW[0], min(WINDOW[1], n // 2)) + 1)
