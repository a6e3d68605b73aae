"""Reference models and network ablations, all fitted and scored under one protocol.

A baseline is a function ``(profiles, ds, train_idx, val_idx, test_idx) -> P(risky)`` for the
test rows. It fits on the train rows only and uses the validation rows only to choose its
settings (regularisation, number of trees) and to calibrate, exactly as the network does, so
their test numbers compare like with like.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from trustq.models import training
from trustq.models.training import Dataset, TrainConfig, dates_of, fit_calibration
from trustq.rules.checks import flag_features
from trustq.schemas import Profile

Baseline = Callable[[Sequence[Profile], Dataset, np.ndarray, np.ndarray, np.ndarray], np.ndarray]

# Inverse regularisation strengths tried for the logistic regressions; the one with the
# lowest validation log-loss is kept.
LOGREG_C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
# "Recent" windows: the synthetic takeovers change hands 3-6 projects before the end.
RECENT_WINDOWS = (3, 5)
# A client rating at or below this counts as a low one.
LOW_RATING = 3.0
GBT_MAX_ITER = 500
GBT_PARAMS = {
    "learning_rate": 0.05,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 20,
    "l2_regularization": 1.0,
}

_EVENTS = ("disputed", "cancelled", "late", "low_rating")
# The fits are small; with another busy process on the cores, OpenMP and BLAS threads that
# spin waiting for each other made the trees 7x slower than one thread (41 s vs 278 s).
SKLEARN_THREADS = 1


def aggregate_names() -> list[str]:
    """Names of :func:`history_aggregates`' columns, in order."""
    names = []
    for window in ("all", *(f"last{k}" for k in RECENT_WINDOWS)):
        names.append(f"{window}_projects")
        for event in _EVENTS:
            names += [f"{window}_{event}_count", f"{window}_{event}_rate"]
        names.append(f"{window}_mean_rating")
    return names


def history_aggregates(profile: Profile) -> np.ndarray:
    """Counts and rates of trouble over the whole history and over the latest projects.

    A missing rating or on-time value counts as neither low nor late; a window without any
    rating has a NaN mean rating, which the gradient-boosted trees treat as missing.
    """
    projects = profile.projects_in_time_order()
    rows = []
    for window in (None, *RECENT_WINDOWS):
        chosen = projects if window is None else projects[-window:]
        n = len(chosen)
        rows.append(float(n))
        ratings = [p.client_rating for p in chosen if p.client_rating is not None]
        counts = (
            sum(p.disputed for p in chosen),
            sum(p.cancelled for p in chosen),
            sum(p.completed_on_time is False for p in chosen),
            sum(r <= LOW_RATING for r in ratings),
        )
        for count in counts:
            rows += [float(count), count / n if n else 0.0]
        rows.append(float(np.mean(ratings)) if ratings else math.nan)
    return np.array(rows, dtype=np.float64)


def aggregates_matrix(profiles: Sequence[Profile]) -> np.ndarray:
    return np.stack([history_aggregates(p) for p in profiles]) if profiles else np.zeros((0, 0))


def _calibrated(
    val_scores: np.ndarray, test_scores: np.ndarray, ds: Dataset, val_idx: np.ndarray
) -> np.ndarray:
    """Test probabilities after the calibration fitted on the validation logits."""
    return fit_calibration(val_scores, ds.labels[val_idx]).proba(test_scores)


def _logistic_regression(
    x: np.ndarray, ds: Dataset, train_idx: np.ndarray, val_idx: np.ndarray, test_idx: np.ndarray
) -> np.ndarray:
    with threadpool_limits(SKLEARN_THREADS):
        return _fit_logistic_regression(x, ds, train_idx, val_idx, test_idx)


def _fit_logistic_regression(
    x: np.ndarray, ds: Dataset, train_idx: np.ndarray, val_idx: np.ndarray, test_idx: np.ndarray
) -> np.ndarray:
    scaler = StandardScaler().fit(x[train_idx])
    xs = scaler.transform(x)
    y = ds.labels
    best: tuple[float, LogisticRegression] = (math.inf, LogisticRegression())
    for c in LOGREG_C_GRID:
        model = LogisticRegression(C=c, max_iter=5000)
        with warnings.catch_warnings():
            # A grid point that converges slowly is simply a worse candidate.
            warnings.simplefilter("ignore")
            model.fit(xs[train_idx], y[train_idx])
        loss = training.logit_nll(model.decision_function(xs[val_idx]), y[val_idx])
        if loss < best[0]:
            best = (loss, model)
    model = best[1]
    return _calibrated(
        model.decision_function(xs[val_idx]), model.decision_function(xs[test_idx]), ds, val_idx
    )


def logreg_indicators(
    profiles: Sequence[Profile],  # noqa: ARG001
    ds: Dataset,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    test_idx: np.ndarray,
) -> np.ndarray:
    """Logistic regression on the profile vector (indicators, claims, flags)."""
    return _logistic_regression(ds.indicators.astype(np.float64), ds, train_idx, val_idx, test_idx)


def logreg_embedding_indicators(
    profiles: Sequence[Profile],  # noqa: ARG001
    ds: Dataset,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    test_idx: np.ndarray,
) -> np.ndarray:
    """Logistic regression on the resume embedding and the profile vector."""
    x = np.hstack([ds.embeddings, ds.indicators]).astype(np.float64)
    return _logistic_regression(x, ds, train_idx, val_idx, test_idx)


def gbt_history(
    profiles: Sequence[Profile],
    ds: Dataset,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    test_idx: np.ndarray,
) -> np.ndarray:
    """Gradient-boosted trees on the profile vector, history aggregates and the embedding.

    Trees are added up to ``GBT_MAX_ITER``; the count with the lowest validation log-loss
    is kept (early stopping on the validation split, not on a slice of the training rows).
    """
    x = np.hstack([ds.indicators, aggregates_matrix(profiles), ds.embeddings]).astype(np.float64)
    with threadpool_limits(SKLEARN_THREADS):
        return _fit_gbt(x, ds, train_idx, val_idx, test_idx)


def _fit_gbt(
    x: np.ndarray, ds: Dataset, train_idx: np.ndarray, val_idx: np.ndarray, test_idx: np.ndarray
) -> np.ndarray:
    y = ds.labels
    model = HistGradientBoostingClassifier(
        max_iter=GBT_MAX_ITER, early_stopping=False, random_state=0, **GBT_PARAMS
    )
    model.fit(x[train_idx], y[train_idx])
    val_stages = np.array([s.ravel() for s in model.staged_decision_function(x[val_idx])])
    losses = [training.logit_nll(s, y[val_idx]) for s in val_stages]
    best = int(np.argmin(losses))
    stages = model.staged_decision_function(x[test_idx])
    test_scores = next(itertools.islice(stages, best, None)).ravel()
    return _calibrated(val_stages[best], test_scores, ds, val_idx)


@dataclass
class _Ablation:
    """TrustNet with some inputs switched off, trained with the given recipe."""

    config: TrainConfig

    def __call__(
        self,
        profiles: Sequence[Profile],  # noqa: ARG002
        ds: Dataset,
        train_idx: np.ndarray,
        val_idx: np.ndarray,
        test_idx: np.ndarray,
    ) -> np.ndarray:
        result = training.train(ds, train_idx, val_idx, self.config)
        return training.predict_proba(result.model, result.calibration, ds, test_idx)


def network_ablation(
    config: TrainConfig, *, use_text: bool, use_sequence: bool, use_indicators: bool
) -> Baseline:
    """A baseline that trains TrustNet on a subset of its inputs with ``config``'s recipe."""
    return _Ablation(
        dataclasses.replace(
            config,
            use_text=use_text,
            use_sequence=use_sequence,
            use_indicators=use_indicators,
        )
    )


@dataclass
class _RuleFlags:
    """Logistic regression on the rule-based flags (worst severity per flag code)."""

    as_of: dt.date | Sequence[dt.date]

    def __call__(
        self,
        profiles: Sequence[Profile],
        ds: Dataset,
        train_idx: np.ndarray,
        val_idx: np.ndarray,
        test_idx: np.ndarray,
    ) -> np.ndarray:
        dates = dates_of(self.as_of, len(profiles))
        x = np.stack([flag_features(p, d) for p, d in zip(profiles, dates, strict=True)]).astype(
            np.float64
        )
        return _logistic_regression(x, ds, train_idx, val_idx, test_idx)


def standard(as_of: dt.date | Sequence[dt.date]) -> dict[str, tuple[Baseline, str]]:
    """The baselines every training run reports, for features computed as of ``as_of``."""
    return {
        "logreg_indicators": (
            logreg_indicators,
            "logistic regression on the profile vector (the six indicators, the claims and the "
            "rule flags)",
        ),
        "logreg_embedding_indicators": (
            logreg_embedding_indicators,
            "logistic regression on the resume embedding plus the profile vector",
        ),
        "logreg_rule_flags": (
            _RuleFlags(as_of),
            "logistic regression on the rule-based flags alone (trustq.rules.checks, "
            "worst severity per flag code)",
        ),
        "gbt_history_embedding": (
            gbt_history,
            "gradient-boosted trees (HistGradientBoosting) on the profile vector, counts and rates "
            "of disputes, cancellations, late deliveries and low ratings over the whole "
            f"history and the last {' and '.join(map(str, RECENT_WINDOWS))} projects, and the "
            "resume embedding",
        ),
    }


def ablations(config: TrainConfig) -> dict[str, tuple[Baseline, str]]:
    """The network on one input at a time, with the same recipe as the full model."""
    return {
        "net_text_only": (
            network_ablation(config, use_text=True, use_sequence=False, use_indicators=False),
            "TrustNet on the resume embedding only",
        ),
        "net_sequence_only": (
            network_ablation(config, use_text=False, use_sequence=True, use_indicators=False),
            "TrustNet on the project sequence only (the LSTM)",
        ),
        "net_indicators_only": (
            network_ablation(config, use_text=False, use_sequence=False, use_indicators=True),
            "TrustNet on the profile vector only (indicators, claims, flags)",
        ),
    }
