"""How hard a generated set is: the ceiling (``p_true`` against the drawn label), the two
leak guards (a shallow tree on the indicators, a bag of words on the resume), and each
signal's rate by class. ``python -m trustq.models.difficulty --report --details`` prints
them for a set the generator (``trustq.data.synthetic``) makes.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from trustq.data.synthetic import REFERENCE_DATE, Traits, generate_with_traits
from trustq.models.indicators import compute_indicators, normalise_indicators
from trustq.schemas import Profile


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
    parser = argparse.ArgumentParser(description="Measure how hard a generated set is.")
    parser.add_argument("-n", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", action="store_true", help="print ceiling and leak guards")
    parser.add_argument(
        "--details", action="store_true", help="print signal rates by class and the order signal"
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


if __name__ == "__main__":
    _main()
