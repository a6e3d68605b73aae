"""Baselines and the run report, on small hand-made data (no encoder, no database)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random

import numpy as np
import pytest

from trustq.models import baselines, report
from trustq.models.training import (
    ECE_BINS,
    Calibration,
    TrainConfig,
    build_dataset,
    expected_calibration_error,
    fit_calibration,
    metrics,
    stratified_split,
)
from trustq.schemas import Profile, Project

AS_OF = dt.date(2025, 6, 1)


def _project(start: dt.date, **kw) -> Project:
    return Project(title="work", start_date=start, duration_months=2.0, **kw)


def _profile(projects: list[Project], i: int = 0, level: str = "mid") -> Profile:
    return Profile(
        external_id=f"p{i}",
        resume_text="Backend developer.",
        experience_level=level,
        skills=["python"],
        projects=projects,
    )


def test_history_aggregates_count_trouble_overall_and_in_the_latest_projects() -> None:
    start = dt.date(2015, 1, 1)
    # Listed newest first on purpose: the aggregates must follow start dates.
    flags = [
        {"disputed": True, "client_rating": 2.0},
        {"cancelled": True, "completed_on_time": False},
        {},
        {"client_rating": 5.0},
        {"disputed": True, "completed_on_time": False, "client_rating": 3.0},
        {},
    ]
    projects = [_project(start + dt.timedelta(days=90 * k), **f) for k, f in enumerate(flags)][::-1]
    values = dict(
        zip(
            baselines.aggregate_names(),
            baselines.history_aggregates(_profile(projects)),
            strict=True,
        )
    )
    assert len(values) == len(baselines.history_aggregates(_profile(projects)))
    assert values["all_projects"] == 6
    assert values["all_disputed_count"] == 2 and values["all_disputed_rate"] == pytest.approx(2 / 6)
    assert values["all_cancelled_count"] == 1
    assert values["all_late_count"] == 2
    assert values["all_low_rating_count"] == 2  # 2.0 and 3.0; 5.0 is not low
    assert values["all_mean_rating"] == pytest.approx(10 / 3)
    # The last three by start date are flags[3:], the last five flags[1:].
    assert values["last3_projects"] == 3
    assert values["last3_disputed_count"] == 1 and values["last3_disputed_rate"] == pytest.approx(
        1 / 3
    )
    assert values["last3_cancelled_count"] == 0
    assert values["last3_low_rating_count"] == 1
    assert values["last3_mean_rating"] == pytest.approx(4.0)
    assert values["last5_cancelled_count"] == 1 and values["last5_disputed_count"] == 1

    empty = dict(
        zip(baselines.aggregate_names(), baselines.history_aggregates(_profile([])), strict=True)
    )
    assert empty["all_projects"] == 0 and empty["all_disputed_rate"] == 0.0
    assert math.isnan(empty["last3_mean_rating"])


def _recent_trouble_data(n: int, seed: int):
    """Risky iff two of the last three projects were disputed; the same number of disputes
    sits early in the history of half the trustworthy profiles, so totals cannot tell."""
    rng = random.Random(seed)
    profiles, labels = [], []
    for i in range(n):
        risky = i % 2
        k = rng.randint(6, 10)
        disputed = [False] * k
        if risky:
            disputed[k - 1] = disputed[k - 3] = True
        elif rng.random() < 0.7:
            disputed[0] = disputed[1] = True
        start = dt.date(2012, 1, 1) + dt.timedelta(days=rng.randint(0, 300))
        projects = [
            _project(start + dt.timedelta(days=75 * j), disputed=d, client_rating=4.5)
            for j, d in enumerate(disputed)
        ]
        profiles.append(_profile(projects, i))
        labels.append(risky)
    # A constant embedding: the resume carries nothing here.
    emb = np.ones((n, 8), dtype=np.float32)
    ds = build_dataset(profiles, labels, emb, AS_OF)
    return profiles, ds, *stratified_split(ds.labels, seed=0)


def test_baselines_fit_on_train_and_return_calibrated_test_probabilities() -> None:
    profiles, ds, train_idx, val_idx, test_idx = _recent_trouble_data(400, seed=1)
    y_test = ds.labels[test_idx]
    probs = {
        name: fit(profiles, ds, train_idx, val_idx, test_idx)
        for name, (fit, _) in baselines.standard(AS_OF).items()
    }
    for p in probs.values():
        assert p.shape == (len(test_idx),) and np.all((p >= 0) & (p <= 1))
    # Only the trees see the latest projects separately from the whole history.
    assert metrics(y_test, probs["gbt_history_embedding"])["roc_auc"] > 0.95
    assert metrics(y_test, probs["logreg_indicators"])["roc_auc"] < 0.8


def test_baselines_never_look_at_test_labels() -> None:
    profiles, ds, train_idx, val_idx, test_idx = _recent_trouble_data(200, seed=2)
    before = {
        name: fit(profiles, ds, train_idx, val_idx, test_idx)
        for name, (fit, _) in baselines.standard(AS_OF).items()
    }
    ds.labels[test_idx] = 1 - ds.labels[test_idx]
    for name, (fit, _) in baselines.standard(AS_OF).items():
        np.testing.assert_allclose(fit(profiles, ds, train_idx, val_idx, test_idx), before[name])


def test_ablations_switch_off_all_but_one_input() -> None:
    cfg = TrainConfig(max_epochs=1, hidden=(8,), progress=False)
    table = baselines.ablations(cfg)
    assert set(table) == {"net_text_only", "net_sequence_only", "net_indicators_only"}
    switches = {
        name: (c.config.use_text, c.config.use_sequence, c.config.use_indicators)
        for name, (c, _) in table.items()
    }
    assert switches == {
        "net_text_only": (True, False, False),
        "net_sequence_only": (False, True, False),
        "net_indicators_only": (False, False, True),
    }
    assert all(c.config.hidden == (8,) and c.config.max_epochs == 1 for c, _ in table.values())
    profiles, ds, train_idx, val_idx, test_idx = _recent_trouble_data(60, seed=3)
    fit, _ = table["net_indicators_only"]
    assert fit(profiles, ds, train_idx, val_idx, test_idx).shape == (len(test_idx),)


# --- report ------------------------------------------------------------------------


def _run(n: int = 600, seed: int = 0) -> report.RunEvaluation:
    rng = np.random.default_rng(seed)
    true = rng.normal(0, 2, 2 * n)
    y = (rng.random(2 * n) < 1 / (1 + np.exp(-true))).astype(int)
    logits = 3 * true + 1  # over-confident and shifted
    val, test = slice(0, n), slice(n, 2 * n)
    cal = fit_calibration(logits[val], y[val])
    p_true = 1 / (1 + np.exp(-true[test]))
    weak = 1 / (1 + np.exp(-(0.3 * true[test] + rng.normal(0, 1, n))))
    better = 1 / (1 + np.exp(-(0.8 * true[test] + rng.normal(0, 0.5, n))))
    return report.RunEvaluation(
        test_labels=y[test],
        val_labels=y[val],
        val_logits=logits[val],
        test_logits=logits[test],
        calibration=cal,
        ceiling=p_true,
        latent=1 / (1 + np.exp(-(true[test] + rng.normal(0, 0.3, n)))),
        baselines={
            "weak": report.Scores(weak, "a weak baseline", 0.5),
            "better": report.Scores(better, "a better baseline", 1.5),
        },
        ablations={"net_text_only": report.Scores(weak, "text only")},
        candidates={"mean": report.Scores((p_true + better) / 2, "an average")},
        slices={"first half": np.arange(n) < n // 2, "second half": np.arange(n) >= n // 2},
    )


def test_reliability_bins_add_up_to_the_ece() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(500)
    y = (rng.random(500) < p**2).astype(int)
    bins = report.reliability_bins(y, p)
    assert sum(b["count"] for b in bins) == 500 and len(bins) <= ECE_BINS
    ece = sum(b["count"] / 500 * abs(b["observed"] - b["mean_p"]) for b in bins)
    assert ece == pytest.approx(expected_calibration_error(y, p))


def test_results_compare_the_model_with_every_reference() -> None:
    run = _run()
    results = report.build_results(run, {"n_test": 600, "timings": {"network_seconds": 1.0}})
    json.dumps(results, allow_nan=False)
    assert results["test"] == metrics(run.test_labels, run.test_probs)
    assert set(results["baselines"]) == {"weak", "better"}
    assert results["baselines"]["better"]["seconds"] == 1.5
    assert "seconds" not in results["ablations"]["net_text_only"]
    assert results["ceiling"] == metrics(run.test_labels, run.ceiling)
    assert results["latent"] == metrics(run.test_labels, run.latent)

    comparison = results["comparison"]
    assert comparison["best_baseline"] == "better"
    assert comparison["roc_auc_minus_best_baseline"] == pytest.approx(
        results["test"]["roc_auc"] - results["baselines"]["better"]["test"]["roc_auc"]
    )
    assert comparison["gap_to_ceiling"] == pytest.approx(
        results["ceiling"]["roc_auc"] - results["test"]["roc_auc"]
    )
    assert comparison["ceiling_ece"] == results["ceiling"]["ece"]

    calibration = results["calibration"]
    assert calibration["chosen"] == run.calibration.to_meta()
    assert set(calibration["val"]) == {"uncalibrated", "temperature", "platt"}
    val = calibration["val"]
    assert val["platt"]["nll"] <= val["temperature"]["nll"] <= val["uncalibrated"]["nll"]
    assert calibration["test"]["platt"]["ece"] < calibration["test"]["uncalibrated"]["ece"]

    halves = results["slices"]
    assert halves["first half"]["n"] == 300
    assert set(halves["first half"]["roc_auc"]) == {
        "trustnet",
        "weak",
        "better",
        "ceiling",
        "latent",
    }


def test_the_model_card_states_the_numbers_and_the_verdict() -> None:
    results = report.build_results(_run(), {"n_test": 600, "best_epoch": 3, "epochs": 9})
    card = report.model_card(
        results,
        {
            "version": "v7",
            "data": "synthetic, seed 0",
            "n_profiles": 4000,
            "encoder": {"name": "minilm", "revision": "abc", "max_tokens": 256},
            "net": {"hidden": [256, 128, 64], "dropout": 0.4},
            "config": {"lr": 0.001, "seed": 0},
        },
    )
    assert card.startswith("# Model card: trustq v7")
    for section in ("Intended use", "Data", "Architecture", "Training recipe", "Limits"):
        assert f"## {section}" in card
    for name in ("trustnet", "weak", "better", "net_text_only", "mean", "ceiling", "latent"):
        assert f"| {name} | " in card
    assert f"| better | {results['baselines']['better']['test']['roc_auc']:.3f} |" in card
    assert "256 → 128 → 64" in card
    assert "best baseline `better`" in card


def test_calibration_plot_and_predictions_are_written(tmp_path) -> None:
    run = _run(200)
    report.plot_calibration(
        run.test_labels,
        {"before": 1 / (1 + np.exp(-run.test_logits)), "after": run.test_probs},
        tmp_path / "calibration.png",
    )
    assert (tmp_path / "calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    ids = [f"fl-{i}" for i in range(200)]
    report.write_predictions(tmp_path / "p.csv", ids, run.test_labels, {"trustnet": run.test_probs})
    with (tmp_path / "p.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["external_id"] for r in rows] == ids
    assert [int(r["label"]) for r in rows] == run.test_labels.tolist()
    np.testing.assert_allclose([float(r["trustnet"]) for r in rows], run.test_probs, atol=1e-6)


def test_calibration_summary_lists_platt_only_with_a_positive_slope() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 400)
    y = (rng.random(400) < 1 / (1 + np.exp(z))).astype(int)  # anti-correlated
    summary = report.calibration_summary(z, y, z, y, Calibration())
    assert "platt" not in summary["val"] and "temperature" in summary["test"]


def test_bootstrap_interval_of_a_roc_auc_difference() -> None:
    from sklearn.metrics import roc_auc_score

    run = _run(400)
    y = run.test_labels
    strong, weak = run.baselines["better"].probs, run.baselines["weak"].probs
    rows = np.vstack([y, y[::-1]])
    np.testing.assert_allclose(
        report._roc_auc_rows(rows, np.vstack([strong, strong[::-1]])),
        [roc_auc_score(y, strong)] * 2,
    )
    lo, hi = report.bootstrap_roc_auc_difference(y, strong, weak)
    assert 0 < lo < roc_auc_score(y, strong) - roc_auc_score(y, weak) < hi
    assert report.bootstrap_roc_auc_difference(y, strong, strong) == (0.0, 0.0)
    assert report.bootstrap_roc_auc_difference(y, strong, weak) == (lo, hi)

    comparison = report.build_results(run)["comparison"]
    low, high = comparison["roc_auc_minus_best_baseline_ci95"]
    assert low <= comparison["roc_auc_minus_best_baseline"] <= high
    assert comparison["gap_to_ceiling_ci95"][0] <= comparison["gap_to_ceiling"]


def test_the_ece_noise_floor_is_what_perfect_calibration_still_shows() -> None:
    p = np.random.default_rng(0).random(900)
    floor = report.ece_noise_floor(p)
    assert 0.02 < floor < 0.05
    assert report.ece_noise_floor(p, draws=50) == report.ece_noise_floor(p, draws=50)
    assert report.ece_noise_floor(np.random.default_rng(0).random(20000)) < floor / 3
    assert report.build_results(_run())["comparison"]["ece_noise_floor"] > 0


def test_hidden_trait_slices_from_a_predictions_file(tmp_path, capsys) -> None:
    from trustq.data.synthetic import generate_with_traits

    records, traits = generate_with_traits(80, seed=0)
    ids = [r["external_id"] for r in records][::-1]
    labels = np.array([r["label"] for r in records])[::-1]
    p_true = np.array([r["p_true"] for r in records])[::-1]
    report.write_predictions(tmp_path / "p.csv", ids, labels, {"ceiling": p_true})
    read_ids, read_labels, scores = report.read_predictions(tmp_path / "p.csv")
    assert read_ids == ids and read_labels.tolist() == labels.tolist()

    masks = report.trait_masks(read_ids, 80, 0)
    assert masks["all"].all()
    assert masks["takeover"].sum() == sum(t.takeover for t in traits)
    assert masks["persona entry"].sum() == sum(t.persona == "entry" for t in traits)
    assert not (masks["takeover"] & masks["full history, neither trait"]).any()
    assert masks["history none"].sum() == sum(t.history == "none" for t in traits)
    assert (masks["history none"] | masks["history short"] | masks["history full"]).all()
    with pytest.raises(ValueError, match="not in generate"):
        report.trait_masks(["fl-999999"], 80, 0)

    report.main([str(tmp_path / "p.csv"), "--size", "80", "--seed", "0"])
    table = capsys.readouterr().out
    assert table.startswith("| slice | n | risky share | ceiling |")
    assert "| all | 80 |" in table


def test_band_shares_reweight_the_test_rows_to_each_base_rate() -> None:
    from trustq.models.report import band_shares, band_shares_table, capacity_table

    rng = np.random.default_rng(5)
    labels = (rng.random(4000) < 0.4).astype(int)
    probs = np.clip(0.4 + 0.35 * (labels - 0.4) + rng.normal(0, 0.15, 4000), 0.01, 0.99)
    shares = band_shares(labels, probs, base_rates=(0.03, float(labels.mean())))
    same = shares[f"{labels.mean():g}"]["bands"]
    # At the test set's own share nothing moves: the bands are the plain shares.
    score = 100 * (1 - probs)
    assert same["HIGH"]["traffic_share"] == pytest.approx(np.mean(score < 55))
    assert same["LOW"]["traffic_share"] == pytest.approx(np.mean(score >= 80))
    low = shares["0.03"]["bands"]
    assert sum(b["traffic_share"] for b in low.values()) == pytest.approx(1.0)
    assert sum(b["risky_held"] for b in low.values()) == pytest.approx(1.0)
    # A rarer risk makes every band safer and the HIGH band far smaller.
    assert low["HIGH"]["traffic_share"] < same["HIGH"]["traffic_share"] / 5
    capacity = shares["0.03"]["capacity"]
    caught = [row["risky_caught"] for row in capacity]
    assert caught == sorted(caught) and 0 < caught[0] <= caught[-1] <= 1
    assert [row["low_risk_min_score"] for row in capacity] == sorted(
        row["low_risk_min_score"] for row in capacity
    )
    assert "| 3% |" in band_shares_table(shares)
    assert "of traffic" in capacity_table(shares, "0.03")
