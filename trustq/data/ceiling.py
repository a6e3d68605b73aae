"""The best probability any model can give from what a profile shows: the Bayes posterior
P(risky | visible evidence) under the generator's own distributions.

``p_true`` (the probability each label was drawn from) is a function of the hidden latent
risk, which no model sees; every visible field is that risk read through its own noise.
The ceiling is therefore E[p_true | evidence]: the generator's likelihood of everything
the profile shows, for every value of the latent risk (a grid) and every hidden state
that changes what is shown (takeover or early bumps, and their window length), times the
prior, integrated. Nothing is fitted: every number comes from ``trustq.data.world``, the
parameters the generator draws with.

What it reads (``Evidence``, recorded by the generator as it renders each fact):

- per project, in start order: ongoing, cancelled, disputed, on time, the client rating,
  a project link, technologies off the usual stack, a project from another domain, an odd
  budget, and whether it ran in parallel with the one before;
- per profile: the history group, a made-up history, the claimed level against the
  career years, inflated years, the years the text states, skills dropped or stuffed,
  the links (GitHub, LinkedIn, look-alike hosts, names that disagree) and the resume's
  text signals (payment or contact requests, guarantees, disclaimers, superlatives,
  keyword stuffing, implausible numbers, timeline errors, specific claims).

Each behaviour's individual noise is shared by all of a freelancer's projects, so it is
integrated once per profile (Gauss-Hermite); the rating's mean has its own noise, and
ratings clipped at 1.0 or 5.0 count as censored.

It reads every rendered fact exactly, as a perfect reader of the record would; where
the record shows a fact with some ambiguity (an odd budget among real ones, an off-stack
technology, a text signal in a phrase bank's wording) that makes the ceiling slightly
higher than what the record allows, never lower. What it leaves out, because its
likelihood is not practical to write: the timeline's shape beyond parallel work (the
dormant gap some takeovers leave before their window, project durations and gaps), the
budgets' amounts beyond the odd ones (they hint at the career stage), the resume's length
and language, and which skills a stuffed list adds. ``docs/data.md`` measures how much
a fitted model gains from those on top of the ceiling.

The hand-written integration is deliberate: no library computes a posterior over this
generator's mixture of hidden states; numpy and scipy do the arithmetic.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, log_ndtr

from trustq.data import world

__all__ = ["Evidence", "ProjectEvidence", "Posterior", "posterior"]

# The latent risk's grid and the Gauss-Hermite nodes of the individual noise.
_GRID = np.linspace(-6.0, 6.0, 97)
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(32)
_LOG_WEIGHTS = np.log(_WEIGHTS / _WEIGHTS.sum())
# A rating is shown to one decimal: the density of an uncensored one times the step.
_RATING_STEP = 0.1
_RATING_TOP, _RATING_BOTTOM = 5.0, 1.0


@dataclass
class ProjectEvidence:
    """What one project shows, as the generator rendered it."""

    ongoing: bool
    cancelled: bool
    disputed: bool
    on_time: bool | None  # None: not recorded
    rating: float | None  # None: not rated
    link: bool
    off_stack: bool
    foreign: bool  # the work is from another domain than the profile's
    odd_budget: bool | None  # None: no budget shown
    parallel: bool | None  # None: the first project, or a made-up timeline


@dataclass
class Evidence:
    """Everything a profile shows that the generator's likelihoods reach."""

    history: str  # "none", "short" or "full": visible from the number of projects
    career_years: float
    claimed_level: str
    used_techs: int  # technologies the history (or the stack) uses
    kept_techs: int  # of those, how many the skills list keeps
    # Yes/no behaviours that the record shows, by their PROPENSITIES name; one the record
    # hides (a GitHub account on a design profile, say) is absent.
    shown: dict[str, bool] = field(default_factory=dict)
    payment_talk: str | None = None  # None, "request" (off-platform) or "mention"
    superlatives: int = 0
    specific_claims: int = 0
    fabricated: bool = False
    projects: list[ProjectEvidence] = field(default_factory=list)


@dataclass(frozen=True)
class Posterior:
    """The ceiling's probability that the label is risky, and that the account was taken
    over."""

    p_risky: float
    p_takeover: float


# --- Tables over the grid ---------------------------------------------------------------


def _logits(name: str, shift: float = 0.0) -> np.ndarray:
    """base + slope * (risk + shift) + noise, over (grid, nodes)."""
    base, slope = world.PROPENSITIES[name]
    return base + slope * (_GRID[:, None] + shift) + world.INDIVIDUAL_SD * _NODES[None, :]


@functools.cache
def _mean_curve(name: str, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """log E[p] and log E[1 - p] over the grid, the noise integrated, for a behaviour
    drawn once."""
    p = expit(_logits(name, shift)) @ (_WEIGHTS / _WEIGHTS.sum())
    return np.log(p), np.log1p(-p)


@functools.cache
def _shared_table(name: str, factor: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """log p and log(1 - p) over (grid, nodes) for a behaviour drawn per project with
    one noise per freelancer; ``factor`` scales p (work still open is disputed less)."""
    p = factor * expit(_logits(name))
    return np.log(p), np.log1p(-p)


def _offset(disputed: bool, cancelled: bool, late: bool) -> float:
    drop = world.RATING_DROP
    return drop["disputed"] * disputed + drop["cancelled"] * cancelled + drop["late"] * late


def _rating_log_likelihood(
    rating: float, offset: float, mean: np.ndarray | float
) -> np.ndarray | float:
    """log P(shown rating | the freelancer's mean rating) for one project."""
    sd = world.RATING_NOISE
    if rating >= _RATING_TOP:
        return log_ndtr((mean - offset - (_RATING_TOP - _RATING_STEP / 2)) / sd)
    if rating <= _RATING_BOTTOM:
        return log_ndtr(((_RATING_BOTTOM + _RATING_STEP / 2) + offset - mean) / sd)
    z = (rating + offset - mean) / sd
    return -0.5 * z * z - math.log(sd * math.sqrt(2 * math.pi)) + math.log(_RATING_STEP)


@functools.cache
def _rating_means() -> np.ndarray:
    """The freelancer's mean rating over (grid, nodes)."""
    return (
        world.RATING_MEAN + world.RATING_SLOPE * _GRID[:, None] + world.RATING_SD * _NODES[None, :]
    )


@functools.cache
def _censored_table(top: bool, offset: float) -> np.ndarray:
    rating = _RATING_TOP if top else _RATING_BOTTOM
    return np.asarray(_rating_log_likelihood(rating, offset, _rating_means()))


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """log(sum(exp(x))) along ``axis`` (scipy's own costs more than the sum at this size)."""
    top = x.max(axis=axis, keepdims=True)
    top[~np.isfinite(top)] = 0.0
    shifted = np.exp(x - top)
    return np.log(shifted.sum(axis=axis)) + top.squeeze(axis)


def _prior(mean: float, sd: float) -> np.ndarray:
    z = (_GRID - mean) / sd
    log_pdf = -0.5 * z * z
    return log_pdf - _logsumexp(log_pdf, axis=0)


# --- The posterior ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hypothesis:
    takeover: bool
    streak: np.ndarray  # bool per project
    log_prior: float
    risk_prior: np.ndarray  # log prior over the grid


def _hypotheses(history: str, n: int) -> list[_Hypothesis]:
    none = np.zeros(n, dtype=bool)
    if history != "full":
        return [
            _Hypothesis(False, none, 0.0, _prior(world.HISTORY_RISK_MEAN[history], world.RISK_SD))
        ]
    plain = _prior(world.HISTORY_RISK_MEAN["full"], world.RISK_SD)
    taken = _prior(world.TAKEOVER_RISK_MEAN, world.TAKEOVER_RISK_SD)
    t, e = world.TAKEOVER_RATE, world.EARLY_BUMPS_RATE
    windows = world.window_range(n)
    out = [_Hypothesis(False, none, math.log((1 - t) * (1 - e)), plain)]
    index = np.arange(n)
    for w in windows:
        out.append(_Hypothesis(True, index >= n - w, math.log(t / len(windows)), taken))
        out.append(_Hypothesis(False, index < w, math.log((1 - t) * e / len(windows)), plain))
    return out


def _bernoulli(log_p: np.ndarray, log_q: np.ndarray, yes: bool) -> np.ndarray:
    return log_p if yes else log_q


def _payment_log_likelihood(ev: Evidence, takeover: bool) -> np.ndarray | float:
    """log P(what the resume says about payment | risk, takeover): whether it talks about
    payment does not depend on risk; what it says does, and more so after a takeover."""
    talk = world.PAYMENT_TALK_RATE
    if ev.payment_talk is None:
        return math.log(1 - talk)
    shift = world.TAKEOVER_OFF_PLATFORM_SHIFT if takeover else 0.0
    return math.log(talk) + _bernoulli(
        *_mean_curve("off_platform_request", shift), ev.payment_talk == "request"
    )


def _profile_log_likelihood(ev: Evidence) -> np.ndarray:
    """log P(profile-level evidence but the payment talk | risk) over the grid."""
    total = np.zeros_like(_GRID)
    for name, yes in ev.shown.items():
        total += _bernoulli(*_mean_curve(name), yes)
    log_p, log_q = _mean_curve("superlative")
    k, m = ev.superlatives, world.SUPERLATIVE_DRAWS
    total += math.log(math.comb(m, k)) + k * log_p + (m - k) * log_q
    lam = world.SPECIFIC_CLAIMS_MEAN * np.exp(world.SPECIFIC_CLAIMS_SLOPE * _GRID)
    k = ev.specific_claims
    if k < world.SPECIFIC_CLAIMS_CAP:
        total += k * np.log(lam) - lam - math.lgamma(k + 1)
    else:
        below = sum(np.exp(j * np.log(lam) - lam - math.lgamma(j + 1)) for j in range(k))
        total += np.log1p(-np.minimum(below, 1 - 1e-12))
    total += _level_log_likelihood(ev.career_years, ev.claimed_level)
    if ev.used_techs:
        log_drop, log_keep = _shared_table("skill_dropped")
        kept, used = ev.kept_techs, ev.used_techs
        total += _logsumexp(kept * log_keep + (used - kept) * log_drop + _LOG_WEIGHTS, axis=1)
    return total


def _level_log_likelihood(career_years: float, claimed: str) -> np.ndarray:
    """log P(claimed level | career years, risk): the career stage is hidden, so its
    posterior given the career years is summed over."""
    weights = []
    for persona, prior in zip(world.PERSONAS, world.PERSONA_WEIGHTS, strict=True):
        lo, hi = persona.career_years
        weights.append(prior / (hi - lo) if lo <= career_years <= hi else 0.0)
    if not sum(weights):
        raise ValueError(f"career years {career_years} fit no career stage")
    c = world.LEVELS.index(claimed)
    log_p, log_q = _mean_curve("level_overclaim")
    p_over, p_honest = np.exp(log_p), np.exp(log_q)
    out = np.zeros_like(_GRID)
    two, drift = world.OVERCLAIM_TWO_LEVELS, world.LEVEL_DRIFT
    for j, weight in enumerate(weights):
        if not weight:
            continue
        up = (1 - two) * (c == min(3, j + 1)) + two * (c == min(3, j + 2))
        honest = (
            (1 - drift) * (c == j)
            + drift / 2 * (c == max(0, j - 1))
            + drift / 2 * (c == min(3, j + 1))
        )
        out = out + weight * (p_over * up + p_honest * honest)
    return np.log(np.maximum(out / sum(weights), 1e-300))


def _counts(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    return mask.astype(np.float64) @ values.astype(np.float64)


def _history_log_likelihood(ev: Evidence, hyps: list[_Hypothesis]) -> np.ndarray:
    """log P(project evidence | risk, hypothesis) over (hypotheses, grid)."""
    projects = ev.projects
    n = len(projects)
    h = len(hyps)
    out = np.zeros((h, _GRID.size))
    if not n:
        return out
    streak = np.stack([hyp.streak for hyp in hyps])
    plain = ~streak

    def col(get) -> np.ndarray:
        return np.array([get(p) for p in projects], dtype=np.float64)

    ongoing = col(lambda p: p.ongoing).astype(bool)
    disputed = col(lambda p: p.disputed).astype(bool)
    # Per behaviour (its PROPENSITIES name and its Behaviour field), the (trials,
    # successes, factor on p) of each group of projects; one noise per freelancer.
    groups: list[tuple[str, str, list[tuple[np.ndarray, np.ndarray, float]]]] = [
        ("cancel", "cancel", [(~ongoing, col(lambda p: p.cancelled).astype(bool), 1.0)]),
        ("project_link", "link", [(np.ones(n, bool), col(lambda p: p.link).astype(bool), 1.0)]),
        (
            "off_stack",
            "off_stack",
            [(np.ones(n, bool), col(lambda p: p.off_stack).astype(bool), 1.0)],
        ),
    ]
    shown_on_time = col(lambda p: p.on_time is not None).astype(bool)
    on_time = col(lambda p: bool(p.on_time)).astype(bool)
    factor = world.DISPUTED_ON_TIME_FACTOR
    groups.append(
        (
            "on_time",
            "on_time",
            [
                (shown_on_time & ~disputed, on_time, 1.0),
                (shown_on_time & disputed, on_time, factor),
            ],
        )
    )
    budget = col(lambda p: p.odd_budget is not None).astype(bool)
    groups.append(
        (
            "odd_budget",
            "odd_budget",
            [(budget, col(lambda p: bool(p.odd_budget)).astype(bool), 1.0)],
        )
    )
    if not ev.fabricated:
        slower = 1.0 / world.ONGOING_DISPUTE_DIVISOR
        groups.append(
            ("dispute", "dispute", [(~ongoing, disputed, 1.0), (ongoing, disputed, slower)])
        )
        shown_parallel = col(lambda p: p.parallel is not None).astype(bool)
        parallel = col(lambda p: bool(p.parallel)).astype(bool)
        groups.append(("parallel", "parallel", [(shown_parallel, parallel, 1.0)]))

    streak_ll = np.zeros(n)
    # Per behaviour, log-likelihood = counts @ tables: (k, m - k) of each part against
    # (log p, log(1 - p)) over (grid, nodes), all behaviours in one batched product.
    width = 2 * max(len(parts) for _, _, parts in groups)
    cells = _GRID.size * _NODES.size
    coefficients = np.zeros((len(groups), h, width))
    tables = np.zeros((len(groups), width, cells))
    for b, (name, behaviour, parts) in enumerate(groups):
        for j, (trials, yes, f) in enumerate(parts):
            log_p, log_q = _shared_table(name, f)
            k = _counts(plain, trials & yes)
            coefficients[b, :, 2 * j] = k
            coefficients[b, :, 2 * j + 1] = _counts(plain, trials) - k
            tables[b, 2 * j] = log_p.ravel()
            tables[b, 2 * j + 1] = log_q.ravel()
            p = f * getattr(world.STREAK, behaviour)
            streak_ll += np.where(trials, np.where(yes, math.log(p), math.log1p(-p)), 0.0)
    per_behaviour = np.matmul(coefficients, tables).reshape(len(groups), h, _GRID.size, _NODES.size)
    per_behaviour += _LOG_WEIGHTS
    out += _logsumexp(per_behaviour, axis=3).sum(axis=0)

    if not ev.fabricated:
        out += _ratings_log_likelihood(projects, plain, streak_ll)

    # A project from another domain belongs to a takeover run (half of whose projects
    # are); anywhere else it cannot happen.
    foreign = col(lambda p: p.foreign).astype(bool)
    for j, hyp in enumerate(hyps):
        if hyp.takeover:
            extra = hyp.streak.sum() * math.log(world.TAKEOVER_FOREIGN_SHARE)
            possible = not (foreign & ~hyp.streak).any()
        else:
            extra = 0.0
            possible = not foreign.any()
        out[j] += _counts(hyp.streak, streak_ll) + extra if possible else -np.inf
    return out


def _ratings_log_likelihood(
    projects: list[ProjectEvidence], plain: np.ndarray, streak_ll: np.ndarray
) -> np.ndarray:
    """log P(the ratings of each hypothesis's plain projects | risk) over (hypotheses,
    grid); adds each rating's likelihood under a streak to ``streak_ll``."""
    h, n = plain.shape
    sd = world.RATING_NOISE
    shown = np.zeros(n, dtype=bool)
    value = np.zeros(n)  # the rating before the trouble's drop, for uncensored ratings
    censored: dict[tuple[bool, float], np.ndarray] = {}
    for i, p in enumerate(projects):
        if p.rating is None:
            continue
        offset = _offset(p.disputed, p.cancelled, p.on_time is False)
        streak_ll[i] += _rating_log_likelihood(p.rating, offset, world.STREAK.rating_mean)
        if p.rating >= _RATING_TOP or p.rating <= _RATING_BOTTOM:
            key = (p.rating >= _RATING_TOP, offset)
            censored.setdefault(key, np.zeros(n, dtype=bool))[i] = True
        else:
            shown[i] = True
            value[i] = p.rating + offset
    means = _rating_means()
    m = _counts(plain, shown)[:, None, None]
    s1 = _counts(plain, value)[:, None, None]
    s2 = _counts(plain, value * value)[:, None, None]
    const = math.log(_RATING_STEP / (sd * math.sqrt(2 * math.pi)))
    ll = m * const - (s2 - 2 * means * s1 + m * means * means) / (2 * sd * sd)
    for (top, offset), which in censored.items():
        ll = ll + _counts(plain, which)[:, None, None] * _censored_table(top, offset)
    return _logsumexp(ll + _LOG_WEIGHTS, axis=2)


def posterior(ev: Evidence) -> Posterior:
    """P(risky | evidence) and P(takeover | evidence) under the generator's distributions."""
    hyps = _hypotheses(ev.history, len(ev.projects))
    log_post = _history_log_likelihood(ev, hyps)
    profile = _profile_log_likelihood(ev)
    p_label = np.empty_like(log_post)
    for j, hyp in enumerate(hyps):
        payment = _payment_log_likelihood(ev, hyp.takeover)
        log_post[j] += profile + payment + hyp.risk_prior + hyp.log_prior
        logit = world.BASE_LOGIT + world.RISK_SCALE * _GRID + world.TAKEOVER_LOGIT * hyp.takeover
        p_label[j] = expit(logit)
    top = log_post.max()
    if not np.isfinite(top):
        raise ValueError(
            "this evidence cannot come from the generator (a project from another domain "
            "outside any takeover window)"
        )
    weights = np.exp(log_post - top)
    weights /= weights.sum()
    taken = np.array([hyp.takeover for hyp in hyps])
    return Posterior(
        p_risky=float((weights * p_label).sum()),
        p_takeover=float(weights[taken].sum()),
    )
