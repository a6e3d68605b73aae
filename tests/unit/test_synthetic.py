"""The synthetic generator: valid, reproducible, honest about how hard it is."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import roc_auc_score

from trustq.data import synthetic
from trustq.data.synthetic import (
    REFERENCE_DATE,
    generate,
    generate_with_traits,
    read_jsonl,
    write_jsonl,
)
from trustq.models.difficulty import ceiling_check, difficulty_report, signal_details
from trustq.models.indicators import compute_indicators
from trustq.schemas import LabelledProfile, Profile

N = 6000


@pytest.fixture(scope="module")
def world() -> tuple[list[dict], list[synthetic.Traits]]:
    return generate_with_traits(N, 0)


@pytest.fixture(scope="module")
def records(world) -> list[dict]:
    return world[0]


@pytest.fixture(scope="module")
def labels(records) -> np.ndarray:
    return np.array([r["label"] for r in records])


@pytest.fixture(scope="module")
def report(records) -> dict[str, float]:
    return difficulty_report(records, seed=0)


def test_every_record_validates_and_is_json_ready(records):
    ids = set()
    for record in records:
        profile = LabelledProfile.model_validate(record)
        assert profile.idempotency_key is None
        assert re.fullmatch(r"fl-\d{6}", profile.external_id)
        assert profile.p_true is not None
        ids.add(profile.external_id)
        for project in profile.projects:
            assert project.start_date <= REFERENCE_DATE
            assert project.end_date is None or project.end_date <= REFERENCE_DATE
            assert project.end(REFERENCE_DATE) <= REFERENCE_DATE
            assert not (project.end_date is not None and project.duration_months is not None)
        assert json.loads(json.dumps(record)) == record
    assert len(ids) == len(records)


def test_all_personas_histories_and_date_forms_occur(world):
    records, traits = world
    assert {t.persona for t in traits} == {"entry", "mid", "senior", "expert"}
    assert {t.history for t in traits} == {"none", "short", "full"}
    forms = {("end_date" in p, "duration_months" in p) for r in records for p in r["projects"]}
    assert forms == {(True, False), (False, True), (False, False)}


def test_most_profiles_are_newcomers_or_short_histories(world):
    records, traits = world
    counts = np.array([len(r["projects"]) for r in records])
    assert 0.35 <= np.mean(counts == 0) <= 0.45
    assert 0.15 <= np.mean((counts >= 1) & (counts <= 4)) <= 0.25
    # Gig workers with a hundred jobs and more are part of the world.
    assert counts.max() >= 100


def test_newcomers_are_the_riskiest_and_risk_does_not_grow_with_projects(world, labels):
    records, traits = world
    history = np.array([t.history for t in traits])
    share = {h: labels[history == h].mean() for h in ("none", "short", "full")}
    assert share["none"] > share["short"] > share["full"]
    counts = np.array([len(r["projects"]) for r in records])
    full = history == "full"
    few, many = full & (counts < 20), full & (counts >= 20)
    assert abs(labels[few].mean() - labels[many].mean()) < 0.06


def test_resumes_have_real_lengths_and_some_are_not_in_english(world):
    records, traits = world
    words = np.array([len(r["resume_text"].split()) for r in records])
    assert 400 <= np.median(words) <= 1100
    assert np.mean(words < 300) < 0.2 and words.max() <= 2300
    assert 0.05 <= np.mean([t.signals["non_english"] for t in traits]) <= 0.15


def test_same_seed_same_output_and_different_seed_different():
    first = generate(150, seed=7)
    assert first == generate(150, seed=7)
    assert first != generate(150, seed=8)
    # Profile i depends only on (seed, i), so a smaller n is a prefix.
    assert generate(40, seed=7) == first[:40]


def test_reference_date_and_resume_length_are_honoured():
    ref = dt.date(2020, 1, 31)
    records = generate(200, seed=3, reference_date=ref, resume_words=(300, 320))
    for record in records:
        profile = LabelledProfile.model_validate(record)
        assert all(p.end(ref) <= ref for p in profile.projects)
        assert 270 <= len(profile.resume_text.split()) <= 360


def test_class_balance(labels):
    assert 0.30 <= labels.mean() <= 0.50


def test_latent_auc_is_in_the_agreed_band_and_above_the_ceiling(records, labels, report):
    p_true = np.array([r["p_true"] for r in records])
    auc = roc_auc_score(labels, p_true)
    assert 0.90 <= auc <= 0.97
    assert report["latent_auc"] == pytest.approx(auc)
    # The visible fields read the latent risk through noise: the best any model can do
    # from them is well below p_true, and well above the weak guards.
    assert 0.80 <= report["ceiling_auc"] <= auc - 0.04


def test_leak_guard_indicators_and_bag_of_words_stay_weak(report):
    assert report["tree_accuracy"] <= 0.95
    assert report["bow_accuracy"] <= 0.95
    # Not merely under the bar: clearly weaker than what p_true itself reaches.
    assert report["tree_accuracy"] <= report["latent_test_accuracy"] - 0.10
    assert report["bow_accuracy"] <= report["latent_test_accuracy"] - 0.10


def test_the_ceiling_is_calibrated_and_no_fitted_model_beats_it(world):
    records, traits = world
    for record, trait in zip(records, traits, strict=True):
        assert record["p_ceiling"] == pytest.approx(trait.p_ceiling, abs=1e-6)
    check = ceiling_check(records, traits, seed=0)
    # E[p_true | evidence] = p_ceiling: within every tenth of the scores, p_true's mean
    # matches p_ceiling's to sampling noise; the takeover posterior likewise.
    assert check["calibration_z"] < 4 and check["calibration_gap"] < 0.03
    assert check["takeover_calibration_z"] < 4
    # Nothing a model could read is left in p_true - p_ceiling (a ceiling that skips the
    # ratings scores z = 16.5 here, on the mean rating).
    assert check["residual_z"] < 4.5, check["residual_column"]
    # Trees fitted to what the ceiling reads, or to it plus its own logit and every
    # visible field it leaves out, do not beat it beyond the bootstrap's noise.
    assert check["fitted_on_evidence_minus_ceiling_ci95"][0] < 0
    assert check["fitted_with_left_out_minus_ceiling_ci95"][0] < 0
    assert check["fitted_on_evidence_auc"] > 0.75


def test_leak_guard_catches_a_leak(records):
    # The original system's rule, and a label-bearing token, must both trip the guard.
    sample = [dict(r) for r in records[:2000]]
    for record in sample:
        profile = Profile.model_validate(
            {k: v for k, v in record.items() if k in Profile.model_fields}
        )
        ratio = compute_indicators(profile, REFERENCE_DATE)["project_link_ratio"]
        record["label"] = int(ratio < 0.6)
        if record["label"]:
            record["resume_text"] += " Zqxleak."
    leaky = difficulty_report(sample, seed=0)
    assert leaky["tree_accuracy"] > 0.95
    assert leaky["bow_accuracy"] > 0.95


def test_no_word_decides_the_label(records, labels):
    texts = [r["resume_text"] for r in records]
    for ngrams, bound in (((1, 1), 0.8), ((2, 3), 0.92)):
        vec = CountVectorizer(binary=True, min_df=N // 100, ngram_range=ngrams)
        x = vec.fit_transform(texts)
        present = np.asarray(x.sum(axis=0)).ravel()
        risky = np.asarray(x[labels == 1].sum(axis=0)).ravel()
        share = risky / present
        assert share.max() <= bound
        assert share.min() >= 1.0 - bound


def test_every_signal_appears_in_both_classes(world, labels):
    _, traits = world
    for key in traits[0].signals:
        present = np.array([t.signals[key] for t in traits]) > 0
        assert present[labels == 1].mean() > 0.002, key
        assert present[labels == 0].mean() > 0.002, key
    for flag in ("takeover", "early_bumps"):
        values = np.array([getattr(t, flag) for t in traits])
        assert 0 < labels[values].mean() < 1


def test_takeover_risk_is_visible_only_in_the_order(world):
    records, traits = world
    take_early, take_recent, bump_early, bump_recent = [], [], [], []
    for record, trait in zip(records, traits, strict=True):
        if not (trait.takeover or trait.early_bumps):
            continue
        ordered = LabelledProfile.model_validate(record).projects_in_time_order()
        early, recent = ordered[: trait.window], ordered[-trait.window :]
        if trait.takeover:
            take_early.extend(p.disputed for p in early)
            take_recent.extend(p.disputed for p in recent)
        else:
            bump_early.extend(p.disputed for p in early)
            bump_recent.extend(p.disputed for p in recent)
    assert np.mean(take_recent) > np.mean(take_early) + 0.2
    assert np.mean(bump_early) > np.mean(bump_recent) + 0.2

    p_take = np.mean([t.p_true for t in traits if t.takeover])
    p_bump = np.mean([t.p_true for t in traits if t.early_bumps])
    p_all = np.mean([t.p_true for t in traits])
    assert p_take > p_all + 0.15
    assert p_bump < p_all + 0.05


def test_reading_recent_projects_beats_reading_totals(world):
    records, traits = world
    details = signal_details(records, traits, seed=0)
    assert details["order_auc_with_recent"] > details["order_auc_totals"] + 0.005


def test_jsonl_round_trip(tmp_path):
    records = generate(25, seed=2)
    path = tmp_path / "profiles.jsonl"
    assert write_jsonl(records, path) == 25
    assert read_jsonl(path) == records
    assert read_jsonl(str(path)) == records
