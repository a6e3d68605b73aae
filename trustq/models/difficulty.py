"""How hard a generated set is: the ceiling (the best probability from the visible fields)
and the latent probability (``p_true``) against the drawn label, the two leak guards (a
shallow tree on the indicators, a bag of words on the resume), each signal's rate by
class, and the checks that the ceiling is one: calibrated, and not beaten by models
fitted to what it reads or to what it leaves out.
``python -m trustq.models.difficulty --report --details --ceiling`` prints them for a set
the generator (``trustq.data.synthetic``) makes.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from trustq.data.ceiling import Evidence
from trustq.data.synthetic import REFERENCE_DATE, Traits, generate_with_traits, public_fields
from trustq.data.world import LEVELS
from trustq.models.indicators import compute_indicators, normalise_indicators
from trustq.models.report import bootstrap_roc_auc_difference
from trustq.schemas import Profile


def difficulty_report(
    records: Sequence[dict[str, Any]],
    *,
    reference_date: dt.date = REFERENCE_DATE,
    seed: int = 0,
) -> dict[str, float]:
    """The ceiling, the latent probability and the two leak guards on a generated set.

    ``ceiling_auc`` / ``ceiling_accuracy``: ``p_ceiling`` (the best from the visible
    fields) as the score against the drawn label (accuracy at 0.5); ``latent_*`` the same
    for ``p_true``, which needs the hidden risk. ``tree_accuracy``: a depth-3 decision
    tree on the six normalised indicators; ``bow_accuracy``: a bag-of-words logistic
    regression on the resume text. Both on a stratified 70/30 split.
    """
    y = np.array([r["label"] for r in records])
    p = np.array([r["p_true"] for r in records])
    best = np.array([r["p_ceiling"] for r in records])
    x_ind = np.stack(
        [
            normalise_indicators(
                compute_indicators(
                    Profile.model_validate(public_fields(r)),
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
        "ceiling_auc": float(roc_auc_score(y, best)),
        "ceiling_accuracy": float(accuracy_score(y, best >= 0.5)),
        "latent_auc": float(roc_auc_score(y, p)),
        "latent_accuracy": float(accuracy_score(y, p >= 0.5)),
        "latent_test_accuracy": float(accuracy_score(y[test], p[test] >= 0.5)),
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
    profiles = [Profile.model_validate(public_fields(r)) for r in records]
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


_PARTS = {"all": slice(None), "first 3": slice(0, 3), "last 3": slice(-3, None)}
_PARTS |= {"first 6": slice(0, 6), "last 6": slice(-6, None)}
_RATES = ("disputed", "cancelled", "link", "off_stack", "foreign", "ongoing")


def _evidence_names(shown: Sequence[str]) -> list[str]:
    names = ["projects", "fabricated", "used techs", "kept techs", "superlatives"]
    names += ["specific claims", "off-platform request", "payment mention", "career years"]
    names += ["claimed level", *shown]
    for part in _PARTS:
        names += [f"{name} ({part})" for name in (*_RATES, "on_time", "odd_budget", "rating")]
    return names


_LEFT_OUT = ["resume words", "non-ASCII share", "skills", "portfolio link", "recent gap"]
_LEFT_OUT += ["recent gap position", "largest gap", "median budget", "median duration"]


def _evidence_features(evidence: Evidence, shown: Sequence[str]) -> list[float]:
    """What the ceiling reads, as columns a fitted model can use: the profile-level
    evidence and the project rates over the whole history and over its first and last
    three and six projects."""
    row = [
        float(len(evidence.projects)),
        float(evidence.fabricated),
        float(evidence.used_techs),
        float(evidence.kept_techs),
        float(evidence.superlatives),
        float(evidence.specific_claims),
        float(evidence.payment_talk == "request"),
        float(evidence.payment_talk == "mention"),
        evidence.career_years,
        float(LEVELS.index(evidence.claimed_level)),
    ]
    row += [float(evidence.shown.get(name, np.nan)) for name in shown]
    for part in _PARTS.values():
        projects = evidence.projects[part]
        if not projects:
            row += [np.nan] * 9
            continue
        rated = [p.rating for p in projects if p.rating is not None]
        row += [float(np.mean([getattr(p, name) for p in projects])) for name in _RATES]
        row += [
            float(np.mean([bool(p.on_time) for p in projects])),
            float(np.mean([bool(p.odd_budget) for p in projects])),
            float(np.mean(rated)) if rated else np.nan,
        ]
    return row


def _left_out_features(profile: Profile, resume: str) -> list[float]:
    """Visible fields the ceiling does not read: the resume's length and script, the
    timeline's gaps (a takeover may start after a dormant spell), project durations and
    budgets, and how many skills and links the profile lists."""
    row = [
        float(len(resume.split())),
        sum(ord(c) > 127 for c in resume) / max(1, len(resume)),
        float(len(profile.skills)),
        float(profile.links.portfolio is not None),
    ]
    projects = profile.projects_in_time_order()
    if len(projects) < 2:
        return row + [np.nan] * 5
    starts = np.array([p.start_date.toordinal() for p in projects], dtype=np.float64)
    gaps = np.diff(starts)
    typical = float(np.median(gaps)) + 1.0
    recent = gaps[-7:]
    budgets = [p.budget_usd for p in projects if p.budget_usd]
    durations = [(p.end(REFERENCE_DATE) - p.start_date).days for p in projects]
    return row + [
        float(recent.max()) / typical,
        float(len(recent) - 1 - int(np.argmax(recent))),
        float(gaps.max()) / typical,
        float(np.log(np.median(budgets))) if budgets else np.nan,
        float(np.log1p(np.median(durations))),
    ]


def evidence_matrix(traits: Sequence[Traits]) -> tuple[np.ndarray, list[str]]:
    """The ceiling's evidence of each profile as one row of columns (NaN where a fact is
    not shown), and the columns' names. For analysis: it is hidden state."""
    if any(t.evidence is None for t in traits):
        raise ValueError("every trait needs its evidence (generate_with_traits records it)")
    shown = sorted({name for t in traits if t.evidence for name in t.evidence.shown})
    rows = [_evidence_features(t.evidence, shown) for t in traits if t.evidence]
    return np.array(rows, dtype=np.float64), _evidence_names(shown)


def ceiling_check(
    records: Sequence[dict[str, Any]],
    traits: Sequence[Traits],
    *,
    train_share: float = 2 / 3,
    bins: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Whether ``p_ceiling`` behaves as the best possible score.

    Calibration: within each of ``bins`` equal-count bins of ``p_ceiling`` the mean of
    ``p_true`` (the label's own probability, so no label noise) must match the mean of
    ``p_ceiling``; ``calibration_z`` is the largest gap in standard errors. The same for
    ``p_takeover`` against the hidden takeover on full histories (standard errors from
    the predicted probabilities).

    Nothing left in the residual: ``p_true - p_ceiling`` must not correlate with any
    column a model could read (the evidence's and the left-out fields' columns below);
    ``residual_z`` is the largest such correlation in standard errors over the
    ``residual_columns`` columns checked, and ``residual_column`` names it.

    Not beaten: gradient-boosted trees fitted on the first ``train_share`` of the rows
    to (a) the evidence the ceiling reads and (b) that evidence, the ceiling's logit and
    the visible fields it leaves out. ``*_minus_ceiling_ci95`` is the paired bootstrap
    interval of their test ROC-AUC minus the ceiling's on the same rows.
    """
    y = np.array([r["label"] for r in records])
    best = np.array([t.p_ceiling for t in traits])
    latent = np.array([t.p_true for t in traits])
    out: dict[str, Any] = {"n": len(records)}

    def calibration(probs: np.ndarray, truth: np.ndarray, binary: bool) -> tuple[float, float]:
        worst_gap, worst_z = 0.0, 0.0
        for part in np.array_split(np.argsort(probs, kind="stable"), bins):
            diff = truth[part] - probs[part]
            gap = float(diff.mean())
            # A 0/1 truth scatters by p(1 - p) around a calibrated p; p_true by its own
            # spread around p_ceiling.
            if binary:
                p = np.clip(probs[part], 0.0, 1.0)
                variance = float(np.sum(p * (1 - p))) / part.size**2
            else:
                variance = float(diff.var(ddof=1)) / part.size
            se = max(float(np.sqrt(variance)), 1e-9)
            worst_gap = max(worst_gap, abs(gap))
            worst_z = max(worst_z, abs(gap) / se)
        return worst_gap, worst_z

    out["calibration_gap"], out["calibration_z"] = calibration(best, latent, binary=False)
    full = np.array([t.history == "full" for t in traits])
    taken = np.array([t.takeover for t in traits], dtype=np.float64)
    p_taken = np.array([t.p_takeover for t in traits])
    out["takeover_calibration_gap"], out["takeover_calibration_z"] = calibration(
        p_taken[full], taken[full], binary=True
    )

    evidence, evidence_names = evidence_matrix(traits)
    left_out = np.array(
        [
            _left_out_features(
                Profile.model_validate(public_fields(r)),
                r["resume_text"],
            )
            for r in records
        ]
    )
    columns = np.hstack([evidence, left_out])
    names = evidence_names + _LEFT_OUT
    residual = latent - best
    out["residual_z"], out["residual_column"], out["residual_columns"] = 0.0, "", 0
    for j, name in enumerate(names):
        known = np.isfinite(columns[:, j])
        if known.sum() < 100 or np.ptp(columns[known, j]) == 0:
            continue
        out["residual_columns"] += 1
        x = columns[known, j] - columns[known, j].mean()
        terms = residual[known] * x
        z = abs(float(terms.mean())) / (float(terms.std(ddof=1)) / float(np.sqrt(terms.size)))
        if z > out["residual_z"]:
            out["residual_z"], out["residual_column"] = z, name
    clipped = np.clip(best, 1e-9, 1 - 1e-9)
    logit = np.log(clipped / (1 - clipped))[:, None]
    cut = int(len(records) * train_share)
    train, test = np.arange(cut), np.arange(cut, len(records))
    out["ceiling_test_auc"] = float(roc_auc_score(y[test], best[test]))
    out["latent_test_auc"] = float(roc_auc_score(y[test], latent[test]))
    for name, x in (
        ("fitted_on_evidence", evidence),
        ("fitted_with_left_out", np.hstack([logit, evidence, left_out])),
    ):
        model = HistGradientBoostingClassifier(
            max_iter=300, learning_rate=0.05, early_stopping=True, random_state=seed
        ).fit(x[train], y[train])
        probs = model.predict_proba(x[test])[:, 1]
        out[f"{name}_auc"] = float(roc_auc_score(y[test], probs))
        out[f"{name}_minus_ceiling_ci95"] = bootstrap_roc_auc_difference(y[test], probs, best[test])
    return out


def _main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Measure how hard a generated set is.")
    parser.add_argument("-n", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", action="store_true", help="print ceiling and leak guards")
    parser.add_argument(
        "--details", action="store_true", help="print signal rates by class and the order signal"
    )
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="check the ceiling: calibration, and models fitted to beat it",
    )
    args = parser.parse_args(argv)
    records, traits = generate_with_traits(args.n, args.seed)
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
    if args.ceiling:
        for key, value in ceiling_check(records, traits, seed=args.seed).items():
            if isinstance(value, tuple):
                shown = ", ".join(f"{v:+.4f}" for v in value)
            elif isinstance(value, str):
                shown = value
            else:
                shown = f"{value:.4f}"
            print(f"{key:>40}: {shown}")


if __name__ == "__main__":
    _main()
