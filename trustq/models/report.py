"""What a training run reports: results.json, the reliability diagram and the model card."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trustq.models.training import (
    ECE_BINS,
    Calibration,
    expected_calibration_error,
    fit_platt,
    fit_temperature,
    logit_nll,
    metrics,
)
from trustq.rules.flags import RiskLevel

# The name the served network goes by in comparisons.
MODEL = "trustnet"
# The best probability any model can give from the visible fields (the generator's Bayes
# posterior, ``trustq.data.ceiling``), and the latent probability each label was drawn
# from, which needs the hidden risk and which no model can reach.
CEILING = "ceiling"
LATENT = "latent"
# The targets a run is held to; it states whether it met them.
TARGET_CEILING_GAP = 0.01
TARGET_ECE = 0.02
# Paired bootstrap of ROC-AUC differences on the test rows.
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0
# Label draws used to estimate the ECE a perfectly calibrated model would still show.
ECE_FLOOR_DRAWS = 200


@dataclass
class Scores:
    """Test-split P(risky) of one scorer, with what it is."""

    probs: np.ndarray
    description: str
    seconds: float | None = None


@dataclass
class RunEvaluation:
    """Everything measured on one training run's validation and test splits."""

    test_labels: np.ndarray
    val_labels: np.ndarray
    val_logits: np.ndarray  # the network's, before calibration
    test_logits: np.ndarray
    calibration: Calibration
    ceiling: np.ndarray | None = None
    latent: np.ndarray | None = None
    baselines: dict[str, Scores] = field(default_factory=dict)
    ablations: dict[str, Scores] = field(default_factory=dict)
    candidates: dict[str, Scores] = field(default_factory=dict)
    # Boolean masks over the test rows, for per-slice ROC-AUC.
    slices: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def test_probs(self) -> np.ndarray:
        return self.calibration.proba(self.test_logits)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def calibration_summary(
    val_logits: np.ndarray,
    val_labels: np.ndarray,
    test_logits: np.ndarray,
    test_labels: np.ndarray,
    chosen: Calibration,
) -> dict[str, Any]:
    """NLL and ECE on validation and test, without calibration and with each method."""
    temperature = Calibration.from_temperature(fit_temperature(val_logits, val_labels))
    a, b = fit_platt(val_logits, val_labels)
    variants: dict[str, Calibration] = {"uncalibrated": Calibration()}
    variants["temperature"] = temperature
    if a > 0:
        variants["platt"] = Calibration("platt", a, b)
    summary: dict[str, Any] = {"chosen": chosen.to_meta(), "temperature": temperature.temperature}
    for split, logits, labels in (
        ("val", val_logits, val_labels),
        ("test", test_logits, test_labels),
    ):
        summary[split] = {
            name: {
                "nll": logit_nll(cal.logits(logits), labels),
                "ece": expected_calibration_error(labels, cal.proba(logits)),
            }
            for name, cal in variants.items()
        }
    return summary


def slice_roc_auc(
    labels: np.ndarray, scores: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray]
) -> dict[str, dict[str, Any]]:
    """Per slice: its size, risky share and each scorer's ROC-AUC (None with one class)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels)
    out: dict[str, dict[str, Any]] = {}
    for name, mask in masks.items():
        m = np.asarray(mask, dtype=bool)
        both = len(np.unique(y[m])) == 2
        out[name] = {
            "n": int(m.sum()),
            "risky_share": float(y[m].mean()) if m.any() else None,
            "roc_auc": {
                scorer: float(roc_auc_score(y[m], np.asarray(p)[m])) if both else None
                for scorer, p in scores.items()
            },
        }
    return out


def _roc_auc_rows(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC-AUC of each row of ``scores`` against the same row of ``labels`` (ties count half)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores, axis=1)
    positives = labels.sum(axis=1)
    negatives = labels.shape[1] - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((ranks * labels).sum(axis=1) - positives * (positives + 1) / 2) / (
            positives * negatives
        )


def bootstrap_roc_auc_difference(
    labels: np.ndarray,
    probs_a: np.ndarray,
    probs_b: np.ndarray,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """A 95% interval of ROC-AUC(a) − ROC-AUC(b), resampling the same rows for both."""
    y = np.asarray(labels)
    rows = np.random.default_rng(seed).integers(0, len(y), size=(samples, len(y)))
    yb = y[rows]
    diff = _roc_auc_rows(yb, np.asarray(probs_a)[rows]) - _roc_auc_rows(
        yb, np.asarray(probs_b)[rows]
    )
    diff = diff[np.isfinite(diff)]
    lo, hi = np.percentile(diff, [2.5, 97.5])
    return float(lo), float(hi)


def build_results(run: RunEvaluation, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The results.json document: test metrics of the model, its references and a verdict."""
    y = run.test_labels
    results: dict[str, Any] = {"test": metrics(y, run.test_probs)}
    results["test_uncalibrated"] = metrics(y, _sigmoid(run.test_logits))
    results["calibration"] = calibration_summary(
        run.val_logits, run.val_labels, run.test_logits, y, run.calibration
    )
    if run.ceiling is not None:
        results[CEILING] = metrics(y, run.ceiling)
    if run.latent is not None:
        results[LATENT] = metrics(y, run.latent)
    for group in ("baselines", "ablations", "candidates"):
        results[group] = {
            name: {
                "description": s.description,
                "test": metrics(y, s.probs),
                **({"seconds": round(s.seconds, 2)} if s.seconds is not None else {}),
            }
            for name, s in getattr(run, group).items()
        }
    results["comparison"] = _comparison(results)
    _add_intervals(results["comparison"], run)
    if run.slices:
        scores = {MODEL: run.test_probs}
        scores.update({name: s.probs for name, s in run.baselines.items()})
        if run.ceiling is not None:
            scores[CEILING] = run.ceiling
        if run.latent is not None:
            scores[LATENT] = run.latent
        results["slices"] = slice_roc_auc(y, scores, run.slices)
    results["band_shares"] = band_shares(y, run.test_probs)
    results.update(extra or {})
    return results


# Shares of risky traffic a marketplace may see, and shares of traffic its analysts may
# be able to review: the band-share table is computed for each.
BASE_RATES = (0.01, 0.03, 0.10)
REVIEW_SHARES = (0.005, 0.01, 0.02, 0.05, 0.10)
DEFAULT_BAND_SCORES = (80.0, 55.0)  # LOW at or above the first, MEDIUM at or above the second


def band_shares(
    labels: np.ndarray,
    probs: np.ndarray,
    *,
    base_rates: Sequence[float] = BASE_RATES,
    band_scores: tuple[float, float] = DEFAULT_BAND_SCORES,
) -> dict[str, Any]:
    """What each band would hold at each base rate, read off the test rows.

    The calibrated probabilities are moved to the base rate by the prior-shift correction
    the workers apply, and the rows are reweighted so that risky ones make up the base
    rate. Per band: its share of traffic, the share of risky profiles within it, and the
    share of all risky profiles it holds. ``capacity``: for a share of traffic analysts
    can review, the LOW threshold (trust score) below which that share falls, riskiest
    first, and the share of risky profiles that review then sees. The model's bands only:
    rules that act on flags move some profiles further.
    """
    y = np.asarray(labels, dtype=np.int64)
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-9, 1 - 1e-9)
    share = float(y.mean())
    if not 0 < share < 1:
        return {}
    low_score, medium_score = band_scores
    out: dict[str, Any] = {"band_scores": list(band_scores), "test_risky_share": share}
    for rate in base_rates:
        offset = math.log(rate / (1 - rate)) - math.log(share / (1 - share))
        shifted = _sigmoid(np.log(p / (1 - p)) + offset)
        score = 100.0 * (1.0 - shifted)
        weight = np.where(y == 1, rate / share, (1 - rate) / (1 - share))
        weight /= weight.sum()
        risky_weight = weight * (y == 1)
        masks = {
            RiskLevel.LOW.value: score >= low_score,
            RiskLevel.MEDIUM.value: (score >= medium_score) & (score < low_score),
            RiskLevel.HIGH.value: score < medium_score,
        }
        bands = {}
        for band, mask in masks.items():
            traffic = float(weight[mask].sum())
            risky = float(risky_weight[mask].sum())
            bands[band] = {
                "traffic_share": traffic,
                "risky_within": risky / traffic if traffic > 0 else None,
                "risky_held": risky / float(risky_weight.sum()),
            }
        order = np.argsort(score, kind="stable")  # riskiest first
        cumulative = np.cumsum(weight[order])
        caught = np.cumsum(risky_weight[order]) / float(risky_weight.sum())
        capacity = []
        for review in REVIEW_SHARES:
            k = min(int(np.searchsorted(cumulative, review)), len(order) - 1)
            capacity.append(
                {
                    "review_share": review,
                    "low_risk_min_score": round(float(score[order][k]), 1),
                    "risky_caught": float(caught[k]),
                }
            )
        out[f"{rate:g}"] = {"bands": bands, "capacity": capacity}
    return out


def band_shares_table(shares: Mapping[str, Any]) -> str:
    """The band-share table in Markdown: per base rate, each band's share of traffic."""
    rates = [k for k in shares if k not in ("band_scores", "test_risky_share")]
    lines = [
        "| Base rate | LOW share | MEDIUM share | HIGH share | risky in HIGH | "
        "risky held by MEDIUM + HIGH |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for rate in rates:
        b = shares[rate]["bands"]
        high, medium = b[RiskLevel.HIGH.value], b[RiskLevel.MEDIUM.value]
        held = medium["risky_held"] + high["risky_held"]
        within = high["risky_within"]
        lines.append(
            f"| {float(rate):.0%} | {b[RiskLevel.LOW.value]['traffic_share']:.1%} | "
            f"{medium['traffic_share']:.1%} | {high['traffic_share']:.1%} | "
            # A share from a handful of rows says nothing.
            f"{'-' if within is None or high['traffic_share'] < 0.001 else f'{within:.0%}'} | "
            f"{held:.0%} |"
        )
    return "\n".join(lines)


def capacity_table(shares: Mapping[str, Any], rate: str) -> str:
    """For one base rate: the LOW threshold that fills a given review capacity."""
    lines = [
        "| Analysts review | set LOW_RISK_MIN_SCORE to | risky profiles they see |",
        "| --- | --- | --- |",
    ]
    for row in shares[rate]["capacity"]:
        lines.append(
            f"| {row['review_share']:.1%} of traffic | {row['low_risk_min_score']:.1f} | "
            f"{row['risky_caught']:.0%} |"
        )
    return "\n".join(lines)


def _comparison(results: Mapping[str, Any]) -> dict[str, Any]:
    model_auc = results["test"]["roc_auc"]
    out: dict[str, Any] = {"roc_auc": model_auc}
    baselines = {
        name: r["test"]["roc_auc"]
        for name, r in results["baselines"].items()
        if r["test"]["roc_auc"] is not None
    }
    if baselines and model_auc is not None:
        best = max(baselines, key=lambda k: baselines[k])
        out["best_baseline"] = best
        out["best_baseline_roc_auc"] = baselines[best]
        out["roc_auc_minus_best_baseline"] = model_auc - baselines[best]
        out["beats_best_baseline"] = model_auc >= baselines[best]
    ceiling = results.get(CEILING, {}).get("roc_auc")
    if ceiling is not None and model_auc is not None:
        out["ceiling_roc_auc"] = ceiling
        out["gap_to_ceiling"] = ceiling - model_auc
        out["within_ceiling_target"] = ceiling - model_auc <= TARGET_CEILING_GAP
    out["ece"] = results["test"]["ece"]
    out["ece_target_met"] = results["test"]["ece"] <= TARGET_ECE
    if CEILING in results:
        # The ECE of the ceiling's probabilities (calibrated by construction) on the same
        # rows: how much of the ECE is the sampling noise of a finite test split rather
        # than miscalibration.
        out["ceiling_ece"] = results[CEILING]["ece"]
    return out


def ece_noise_floor(
    probs: np.ndarray, draws: int = ECE_FLOOR_DRAWS, seed: int = BOOTSTRAP_SEED
) -> float:
    """The mean ECE of ``probs`` against labels drawn from ``probs`` themselves.

    Even perfectly calibrated probabilities show this much ECE on a split of this size,
    because each bin's observed share is a sample.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.size == 0:
        return 0.0
    rng = np.random.default_rng(seed)
    return float(
        np.mean(
            [
                expected_calibration_error((rng.random(p.size) < p).astype(np.int64), p)
                for _ in range(draws)
            ]
        )
    )


def _add_intervals(comparison: dict[str, Any], run: RunEvaluation) -> None:
    comparison["ece_noise_floor"] = ece_noise_floor(run.test_probs)
    if len(np.unique(run.test_labels)) < 2:
        return
    best = comparison.get("best_baseline")
    if best is not None:
        comparison["roc_auc_minus_best_baseline_ci95"] = bootstrap_roc_auc_difference(
            run.test_labels, run.test_probs, run.baselines[best].probs
        )
    if run.ceiling is not None and "gap_to_ceiling" in comparison:
        comparison["gap_to_ceiling_ci95"] = bootstrap_roc_auc_difference(
            run.test_labels, run.ceiling, run.test_probs
        )


# --- reliability diagram -----------------------------------------------------------


def reliability_bins(
    labels: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """The non-empty equal-width bins ECE uses: mean P(risky), observed risky share, count."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append(
                {
                    "mean_p": float(p[mask].mean()),
                    "observed": float(y[mask].mean()),
                    "count": int(mask.sum()),
                }
            )
    return out


def plot_calibration(
    labels: np.ndarray,
    curves: Mapping[str, np.ndarray],
    path: Path,
    bins: int = ECE_BINS,
) -> None:
    """A reliability diagram of each set of probabilities (e.g. before and after calibration)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_hist) = plt.subplots(
        2, 1, figsize=(6, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    edges = np.linspace(0, 1, bins + 1)
    for name, probs in curves.items():
        points = reliability_bins(labels, probs, bins)
        ece = expected_calibration_error(labels, probs, bins)
        ax.plot(
            [pt["mean_p"] for pt in points],
            [pt["observed"] for pt in points],
            marker="o",
            label=f"{name} (ECE {ece:.3f})",
        )
        ax_hist.hist(np.asarray(probs), bins=edges, histtype="step", label=name)
    ax.set_ylabel("observed risky share")
    ax.set_title(f"reliability on the test split ({len(labels)} profiles, {bins} bins)")
    ax.legend(loc="upper left")
    ax_hist.set_xlabel("predicted P(risky)")
    ax_hist.set_ylabel("profiles")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- per-row predictions -----------------------------------------------------------


def write_predictions(
    path: Path,
    ids: Sequence[str],
    labels: np.ndarray,
    columns: Mapping[str, np.ndarray],
) -> None:
    """One row per test profile: id, label and each scorer's P(risky), for later slicing."""
    names = list(columns)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "label", *names])
        for i, external_id in enumerate(ids):
            writer.writerow(
                [external_id, int(labels[i]), *(f"{float(columns[n][i]):.6f}" for n in names)]
            )


# --- model card --------------------------------------------------------------------


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _metric_rows(results: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    rows = [(MODEL, "the served network (calibrated)", results["test"])]
    rows.append(
        (
            f"{MODEL} uncalibrated",
            "the same network before calibration",
            results["test_uncalibrated"],
        )
    )
    for group in ("baselines", "ablations", "candidates"):
        for name, r in results.get(group, {}).items():
            rows.append((name, r["description"], r["test"]))
    if CEILING in results:
        rows.append(
            (
                CEILING,
                "the best probability any model can give from the visible fields: the "
                "generator's Bayes posterior (`trustq.data.ceiling`)",
                results[CEILING],
            )
        )
    if LATENT in results:
        rows.append(
            (
                LATENT,
                "p_true, the latent probability the label was drawn from; it needs the "
                "hidden risk, so no model reaches it",
                results[LATENT],
            )
        )
    return rows


def metrics_table(results: Mapping[str, Any]) -> str:
    """A Markdown table of the test metrics of the model and every reference."""
    header = (
        "| scorer | ROC-AUC | PR-AUC | accuracy | F1 risky | log-loss | Brier | ECE |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    lines = [header]
    for name, _, m in _metric_rows(results):
        lines.append(
            f"| {name} | {_fmt(m['roc_auc'])} | {_fmt(m['pr_auc'])} | {_fmt(m['accuracy'])} | "
            f"{_fmt(m['per_class']['risky']['f1'])} | {_fmt(m['log_loss'])} | "
            f"{_fmt(m['brier'])} | {_fmt(m['ece'])} |"
        )
    return "\n".join(lines)


def model_card(results: Mapping[str, Any], info: Mapping[str, Any]) -> str:
    """MODEL_CARD.md for one run.

    ``info`` names the version, the data (description, size, sha256), the encoder, the
    network config and the training config.
    """
    comparison = results.get("comparison", {})
    calibration = results["calibration"]
    chosen = calibration["chosen"]
    net = info.get("net", {})
    cfg = info.get("config", {})
    timings = results.get("timings", {})
    lines = [
        f"# Model card: trustq {info.get('version', '?')}",
        "",
        "## Intended use",
        "",
        "Estimates P(risky) for a freelancer profile (resume text, claims and project history) "
        "so that a marketplace can decide which profiles a person should review before money "
        "moves. It is one input to that decision, not the decision: the verdict's score also "
        "carries rule-based parts, and a HIGH risk band means *look closer*, not *reject*. "
        "It is not meant for hiring, credit or any decision about a person without review.",
        "",
        "## Data",
        "",
        f"- {info.get('data', 'labelled profiles')}; {info.get('n_profiles', '?')} profiles, "
        f"sha256 `{info.get('data_sha256', '?')}`.",
        f"- Stratified split {results.get('n_train')}/{results.get('n_val')}/"
        f"{results.get('n_test')} (train/validation/test, seed {cfg.get('seed')}). The "
        "validation split chooses the epoch, the calibration and every baseline's settings; "
        "the test split is used only for the numbers below.",
        f"- Features as of {info.get('as_of', '?')}.",
        "",
        "## Architecture",
        "",
        f"- Resume: encoder `{info.get('encoder', {}).get('name')}` (revision "
        f"`{info.get('encoder', {}).get('revision')}`), mean-pooled over overlapping "
        f"{info.get('encoder', {}).get('max_tokens')}-token windows, frozen; a "
        "linear + ReLU projection feeds the head."
        if net.get("use_text", True)
        else "- Resume: not used.",
        f"- Project history: {len(net.get('hidden', []))} stacked LSTMs "
        f"{' → '.join(str(h) for h in net.get('hidden', []))} over per-project step features "
        f"(oldest first), dropout {net.get('dropout')}; the last step's state feeds the head."
        if net.get("use_sequence", True)
        else "- Project history: not used.",
        "- The profile vector (six indicators, claims, rule flags) feeds the head directly."
        if net.get("use_indicators", True)
        else "- Indicators: not used.",
        "- Head: linear → ReLU → dropout → linear, one logit of P(risky).",
        "",
        "## Training recipe",
        "",
        f"BCE loss, Adam (lr {cfg.get('lr')}, weight decay {cfg.get('weight_decay')}), batch "
        f"{cfg.get('batch_size')}, at most {cfg.get('max_epochs')} epochs, early stopping on "
        f"validation loss (patience {cfg.get('patience')}), ReduceLROnPlateau (factor "
        f"{cfg.get('lr_factor')}, patience {cfg.get('lr_patience')}), gradient clipping "
        f"{cfg.get('clip')}. Best epoch {results.get('best_epoch')} of "
        f"{results.get('epochs')}.",
        "",
        "## Calibration",
        "",
        f"Chosen on validation NLL: **{chosen['method']}** "
        f"(P = sigmoid({chosen['a']:.4f} · logit + {chosen['b']:.4f})). "
        "The reliability diagram is `calibration.png`.",
        "",
        "| split | method | NLL | ECE |",
        "| --- | --- | --- | --- |",
    ]
    for split in ("val", "test"):
        for method, v in calibration[split].items():
            lines.append(f"| {split} | {method} | {_fmt(v['nll'])} | {_fmt(v['ece'])} |")
    lines += [
        "",
        "## Test metrics",
        "",
        "Threshold 0.5 for accuracy and F1. Every baseline is fitted on the same training "
        "rows and tuned and calibrated on the same validation rows as the network.",
        "",
        metrics_table(results),
        "",
    ]
    for name, description, _ in _metric_rows(results):
        lines.append(f"- `{name}`: {description}.")
    lines += ["", "## Verdict", ""]
    if "best_baseline" in comparison:
        diff = comparison["roc_auc_minus_best_baseline"]
        interval = comparison.get("roc_auc_minus_best_baseline_ci95")
        lines.append(
            f"- ROC-AUC {_fmt(comparison['roc_auc'])} vs best baseline "
            f"`{comparison['best_baseline']}` {_fmt(comparison['best_baseline_roc_auc'])} "
            f"({diff:+.3f}"
            + (
                f"; 95% bootstrap interval {interval[0]:+.3f} to {interval[1]:+.3f}"
                if interval
                else ""
            )
            + ")."
        )
    if "gap_to_ceiling" in comparison:
        interval = comparison.get("gap_to_ceiling_ci95")
        lines.append(
            f"- Gap to the ceiling: {comparison['gap_to_ceiling']:.3f} ROC-AUC"
            + (f" (95% interval {interval[0]:.3f} to {interval[1]:.3f})" if interval else "")
            + f"; target ≤ {TARGET_CEILING_GAP}: "
            + ("met." if comparison["within_ceiling_target"] else "missed.")
        )
    ece_line = f"- Test ECE {_fmt(comparison.get('ece'))} (target ≤ {TARGET_ECE}: " + (
        "met)." if comparison.get("ece_target_met") else "missed)."
    )
    noise = []
    if "ceiling_ece" in comparison:
        noise.append(
            f"the ceiling's probabilities score {_fmt(comparison['ceiling_ece'])} on these rows"
        )
    if "ece_noise_floor" in comparison:
        noise.append(
            "labels drawn from the model's own probabilities would give "
            f"{_fmt(comparison['ece_noise_floor'])} on average"
        )
    if noise:
        ece_line += (
            " For scale: "
            + "; ".join(noise)
            + ". That much ECE is the sampling noise of a test split this size."
        )
    lines.append(ece_line)
    if results.get("slices"):
        lines += ["", "## Slices (test ROC-AUC)", "", slices_table(results["slices"])]
    if results.get("band_shares"):
        lines += [
            "",
            "## Band shares at real base rates",
            "",
            "The model's bands (before rules) on the test split, moved to each base rate:",
            "",
            band_shares_table(results["band_shares"]),
        ]
    if timings:
        lines += ["", "## Time", ""]
        lines += [f"- {name.replace('_', ' ')}: {value:.1f}" for name, value in timings.items()]
    lines += [
        "",
        "## Limits",
        "",
        "- Trained and tested on synthetic profiles unless the data line above says "
        "otherwise: the numbers say how well the model recovers the generator's hidden "
        "risk, not how it will do on real marketplace data. Validate on labelled real "
        "outcomes before relying on it.",
        "- On synthetic data the labels are drawn at random from a known probability, so "
        "no model can be expected to beat the ceiling row. Every number comes from one "
        f"{results.get('n_test')}-profile test split; the bootstrap intervals under Verdict "
        "show how large a difference it can resolve.",
        "- The encoder is frozen and reads English; verdicts on resumes mostly in other "
        "languages, far outside the training lengths or mostly not prose carry a notice and "
        "go to review.",
        "- Of the profile links only which ones are given, and the rule flags on them, are "
        "model inputs; of a project's link only its presence counts; nothing is ever fetched.",
        "- Calibration holds for data like the validation split. Workers move it to the "
        "configured base rate by the prior-shift correction, which assumes that only the "
        "share of risky profiles differs, not what risky and honest profiles look like.",
        "",
    ]
    return "\n".join(lines)


# --- hidden-trait slices (synthetic data only) --------------------------------------


def read_predictions(path: Path) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """The ids, labels and per-scorer probabilities of a predictions.csv."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path} holds no predictions")
    names = [c for c in rows[0] if c not in ("external_id", "label")]
    ids = [r["external_id"] for r in rows]
    labels = np.array([int(r["label"]) for r in rows], dtype=np.int64)
    return ids, labels, {n: np.array([float(r[n]) for r in rows]) for n in names}


def trait_masks(ids: Sequence[str], size: int, seed: int) -> dict[str, np.ndarray]:
    """Slices of synthetic test rows by their hidden traits (history, takeover, early bumps,
    language, persona).

    The traits are regenerated from (size, seed); they are for analysis only and never
    reach a model.
    """
    from trustq.data.synthetic import generate_with_traits

    records, traits = generate_with_traits(size, seed)
    by_id = {r["external_id"]: (r, t) for r, t in zip(records, traits, strict=True)}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ValueError(
            f"{len(missing)} ids are not in generate({size}, {seed}), e.g. {missing[0]}"
        )
    chosen = [by_id[i] for i in ids]
    takeover = np.array([t.takeover for _, t in chosen])
    bumps = np.array([t.early_bumps for _, t in chosen])
    full = np.array([t.history == "full" for _, t in chosen])
    masks = {"all": np.ones(len(ids), dtype=bool)}
    for history in ("none", "short", "full"):
        masks[f"history {history}"] = np.array([t.history == history for _, t in chosen])
    masks["takeover"] = takeover
    masks["early bumps"] = bumps
    masks["full history, neither trait"] = full & ~takeover & ~bumps
    masks["not in English"] = np.array([t.signals["non_english"] > 0 for _, t in chosen])
    for persona in ("entry", "mid", "senior", "expert"):
        masks[f"persona {persona}"] = np.array([t.persona == persona for _, t in chosen])
    return masks


def slices_table(slices: Mapping[str, Mapping[str, Any]]) -> str:
    """A Markdown table of :func:`slice_roc_auc`'s output."""
    scorers = list(next(iter(slices.values()))["roc_auc"])
    lines = [
        "| slice | n | risky share | " + " | ".join(scorers) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in scorers) + " |",
    ]
    for name, s in slices.items():
        lines.append(
            f"| {name} | {s['n']} | {_fmt(s['risky_share'], 2)} | "
            + " | ".join(_fmt(s["roc_auc"][k]) for k in scorers)
            + " |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Per-trait test ROC-AUC of a run on synthetic data, from its predictions.csv."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m trustq.models.report", description=main.__doc__
    )
    parser.add_argument("predictions", type=Path, help="a run folder's predictions.csv")
    parser.add_argument("--size", type=int, default=6000, help="the run's synthetic size")
    parser.add_argument("--seed", type=int, default=0, help="the run's synthetic seed")
    args = parser.parse_args(argv)
    ids, labels, scores = read_predictions(args.predictions)
    print(slices_table(slice_roc_auc(labels, scores, trait_masks(ids, args.size, args.seed))))


if __name__ == "__main__":
    main()
