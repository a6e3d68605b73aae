"""Encoder, step features, network, artifacts, training and scoring, on real encoder weights."""

from __future__ import annotations

import datetime as dt
import random
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)
from transformers import AutoTokenizer, BertConfig, BertModel

from trustq.models.artifact import ArtifactError, deserialise, serialise, sha256_hex
from trustq.models.breakdown import MASKS, PARTS, allocate, breakdown, shapley
from trustq.models.encoder import Encoder, default_encoder_path
from trustq.models.features import MAX_STEPS, STEP_FEATURES, profile_features, project_steps
from trustq.models.indicators import compute_indicators
from trustq.models.network import TrustNet
from trustq.models.profile_features import PROFILE_FEATURES
from trustq.models.scorer import Scorer
from trustq.models.training import (
    Calibration,
    TrainConfig,
    build_dataset,
    expected_calibration_error,
    fit_calibration,
    fit_platt,
    fit_temperature,
    metrics,
    predict_logits,
    predict_proba,
    stratified_split,
    train,
)
from trustq.schemas import Profile, Project

AS_OF = dt.date(2025, 6, 1)
F = {name: i for i, name in enumerate(STEP_FEATURES)}

SOFTWARE = [
    "Built a payment service in Python and PostgreSQL that settles card transactions nightly.",
    "Designed REST APIs with Django and wrote integration tests for every endpoint.",
    "Moved a monolith to Kubernetes, with Helm charts and blue-green deployments.",
    "Tuned slow SQL queries and added indexes, cutting report times from minutes to seconds.",
    "Wrote a React dashboard that streams metrics over websockets from a Go backend.",
    "Set up continuous integration with GitHub Actions, linting and container builds.",
]
COOKING = [
    "Knead the dough for ten minutes, then let it rise in a warm kitchen until doubled.",
    "Roast the tomatoes with garlic and olive oil before blending them into a soup.",
    "Simmer the onions slowly in butter until they turn sweet and golden brown.",
    "Fold the whipped egg whites gently into the chocolate batter and bake at once.",
    "Season the stew with thyme, bay leaves and a splash of red wine.",
    "Slice the bread thinly and toast it over the open fire for the bruschetta.",
]
RESUMES = [
    "Backend engineer, eight years of Python, Django and PostgreSQL for fintech clients.",
    "Frontend developer focused on React, TypeScript and accessible design systems.",
    "Data engineer building Spark pipelines and Airflow schedules on AWS.",
    "Mobile developer shipping Kotlin and Swift apps with offline sync.",
    "DevOps consultant automating Terraform, Kubernetes and observability stacks.",
    "Full-stack freelancer delivering Node.js services and Vue front ends.",
    "Machine-learning engineer training recommendation models in PyTorch.",
    "QA automation specialist writing Playwright and pytest suites.",
]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder()


@pytest.fixture(scope="module")
def resume_embeddings(encoder: Encoder) -> np.ndarray:
    return encoder.encode(RESUMES)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _profile(projects: list[Project], *, skills: list[str] | None = None, i: int = 0) -> Profile:
    return Profile(
        external_id=f"p{i}",
        resume_text=RESUMES[i % len(RESUMES)],
        experience_level="mid",
        skills=skills if skills is not None else ["python", "django"],
        projects=projects,
    )


def _project(start: dt.date, months: float = 3.0, **kw) -> Project:
    return Project(title="work", start_date=start, duration_months=months, **kw)


# --- encoder -------------------------------------------------------------------------


def test_long_text_is_read_in_overlapping_windows_to_the_end(encoder: Encoder) -> None:
    text = " ".join(SOFTWARE * 5) + " " + " ".join(COOKING * 5)
    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path(), local_files_only=True)
    ids = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
    assert len(ids) > 600

    windows = encoder.windows(text)
    cls, sep = encoder.windows("")[0]
    assert len(windows) >= 3
    assert all(len(w) <= 256 and w[0] == cls and w[-1] == sep for w in windows)
    # Consecutive windows share 32 tokens, and together they cover every token once more.
    rebuilt = windows[0][1:-1]
    for prev, cur in zip(windows, windows[1:], strict=False):
        assert prev[1:-1][-32:] == cur[1:33]
        rebuilt += cur[33:-1]
    assert rebuilt == ids

    whole = encoder.encode([text])[0]
    head_text = tokenizer.decode(windows[0][1:-1])
    head = encoder.encode([head_text])[0]
    assert _cos(whole, head) < 0.95
    # The cooking half only appears after the first window; the whole-text vector sees it.
    cooking = encoder.encode([" ".join(COOKING)])[0]
    assert _cos(whole, cooking) > _cos(head, cooking) + 0.1


def test_embeddings_are_deterministic_unit_vectors(encoder: Encoder) -> None:
    texts = [SOFTWARE[0], COOKING[0], SOFTWARE[0], " ".join(SOFTWARE * 4)]
    out = encoder.encode(texts)
    assert out.shape == (4, encoder.dim) and out.dtype == np.float32
    assert encoder.dim == 384
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out[0], out[2])
    # Batch company and padding must not change a text's vector beyond float noise.
    np.testing.assert_allclose(encoder.encode([SOFTWARE[0]])[0], out[0], atol=1e-5)
    assert encoder.encode([]).shape == (0, encoder.dim)


def test_close_meanings_are_closer_than_unrelated_ones(encoder: Encoder) -> None:
    web, web2, bread = encoder.encode(
        [
            "I build web applications with React and Node.js for small businesses.",
            "Frontend developer creating websites using JavaScript frameworks.",
            "The recipe calls for two cups of flour, an egg and a pinch of salt.",
        ]
    )
    assert _cos(web, web2) > _cos(web, bread) + 0.2


def test_encoder_identity_names_the_weights(encoder: Encoder) -> None:
    assert encoder.name and encoder.name != "model"
    assert len(encoder.revision) == 16 and int(encoder.revision, 16) >= 0


def test_encoder_refuses_a_folder_that_is_not_a_checkpoint(tmp_path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=str(missing)):
        Encoder(missing)
    with pytest.raises(ValueError, match=str(tmp_path)):
        Encoder(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ValueError, match="not a BERT-like"):
        Encoder(tmp_path)


def test_encoder_takes_its_size_from_the_checkpoint(tmp_path) -> None:
    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=48, num_hidden_layers=1, num_attention_heads=4, intermediate_size=96
    )
    BertModel(config).save_pretrained(tmp_path / "tiny-bert")
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(default_encoder_path() / name, tmp_path / "tiny-bert" / name)
    tiny = Encoder(tmp_path / "tiny-bert", max_tokens=64, overlap_tokens=8)
    assert tiny.dim == 48 and tiny.name == "tiny-bert"
    out = tiny.encode([SOFTWARE[0], " ".join(COOKING * 3)])
    assert out.shape == (2, 48)
    assert all(len(w) <= 64 for w in tiny.windows(" ".join(COOKING * 3)))


# --- step features -------------------------------------------------------------------


def test_no_projects_gives_one_padding_step() -> None:
    steps, indicators = profile_features(_profile([]), AS_OF)
    assert steps.shape == (1, len(STEP_FEATURES)) and steps.dtype == np.float32
    assert not steps.any()
    assert indicators.shape == (len(PROFILE_FEATURES),)


def test_steps_follow_time_order_and_mark_overlaps_and_missing_values() -> None:
    later = _project(
        dt.date(2021, 2, 1), 6.0, disputed=True, client_rating=5.0, technologies=["Python", "Go"]
    )
    earlier = _project(dt.date(2020, 1, 1), 24.0, budget_usd=5000.0, completed_on_time=False)
    steps = project_steps(_profile([later, earlier]), AS_OF)
    assert steps.shape == (2, len(STEP_FEATURES))
    first, second = steps
    assert first[F["budget_missing"]] == 0 and first[F["budget_log"]] > 0
    assert first[F["client_rating_missing"]] == 1
    assert first[F["completed_on_time"]] == 0 and first[F["completed_on_time_missing"]] == 0
    assert second[F["disputed"]] == 1 and second[F["client_rating"]] == 1.0
    assert second[F["technologies_in_skills"]] == 0.5
    assert second[F["gap_months"]] < 0  # started while the 24-month project still ran
    assert first[F["position_from_end"]] > second[F["position_from_end"]] == 0
    assert (steps[:, F["is_real_project"]] == 1).all()
    assert np.abs(steps).max() <= 1.6


def test_only_the_most_recent_projects_are_kept() -> None:
    start = dt.date(1990, 1, 1)
    projects = [
        _project(start + dt.timedelta(days=40 * k), 1.0, disputed=k >= MAX_STEPS + 20)
        for k in range(MAX_STEPS + 30)
    ]
    steps = project_steps(_profile(projects), AS_OF)
    assert steps.shape[0] == MAX_STEPS
    assert steps[-10:, F["disputed"]].all() and not steps[:-10, F["disputed"]].any()
    assert compute_indicators(_profile(projects), AS_OF)["num_projects"] == MAX_STEPS + 30


# --- network and artifact ------------------------------------------------------------


def _batch(encoder_embeddings: np.ndarray, profiles: list[Profile]):
    ds = build_dataset(profiles, [0] * len(profiles), encoder_embeddings, AS_OF)
    lengths = torch.tensor([len(s) for s in ds.steps])
    padded = torch.zeros(len(ds), int(lengths.max()), len(STEP_FEATURES))
    for i, s in enumerate(ds.steps):
        padded[i, : len(s)] = torch.from_numpy(s)
    return torch.from_numpy(ds.embeddings), padded, lengths, torch.from_numpy(ds.indicators)


def _some_profiles(n: int) -> list[Profile]:
    rng = random.Random(1)
    return [
        _profile(
            [
                _project(dt.date(2015, 1, 1) + dt.timedelta(days=90 * k), rng.uniform(1, 6))
                for k in range(rng.randint(0, 7))
            ],
            i=i,
        )
        for i in range(n)
    ]


def test_padding_does_not_change_a_profiles_logit(resume_embeddings: np.ndarray) -> None:
    torch.manual_seed(0)
    net = TrustNet(384, len(STEP_FEATURES)).eval()
    profiles = _some_profiles(len(RESUMES))
    emb, steps, lengths, ind = _batch(resume_embeddings, profiles)
    together = net(emb, steps, lengths, ind)
    alone = torch.stack(
        [
            net(emb[i : i + 1], steps[i : i + 1, : lengths[i]], lengths[i : i + 1], ind[i : i + 1])[
                0
            ]
            for i in range(len(profiles))
        ]
    )
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "switches",
    [
        {"use_sequence": False, "use_indicators": False},
        {"use_text": False, "use_indicators": False},
        {"use_text": False, "use_sequence": False},
    ],
)
def test_ablations_drop_a_branch_entirely(switches, resume_embeddings: np.ndarray) -> None:
    net = TrustNet(384, len(STEP_FEATURES), **switches).eval()
    assert (len(net.lstms) > 0) == switches.get("use_sequence", True)
    assert (net.text_proj is not None) == switches.get("use_text", True)
    out = net(*_batch(resume_embeddings, _some_profiles(len(RESUMES))))
    assert out.shape == (len(RESUMES),)
    with pytest.raises(ValueError):
        TrustNet(384, len(STEP_FEATURES), use_text=False, use_sequence=False, use_indicators=False)


def _meta(temperature: float = 1.5) -> dict:
    return {
        "temperature": temperature,
        "encoder": {"name": "minilm", "revision": "abc", "dim": 384},
        "training_risky_share": 0.5,
        "resume_tokens": {"p01": 20.0, "p99": 3000.0},
        "reference": {
            "embedding": [384**-0.5] * 384,
            "step": [0.0] * len(STEP_FEATURES),
            "length": 3,
            "indicators": [0.0] * len(PROFILE_FEATURES),
        },
    }


def test_artifact_round_trip_gives_identical_outputs(resume_embeddings: np.ndarray) -> None:
    torch.manual_seed(0)
    net = TrustNet(384, len(STEP_FEATURES), hidden=(32, 16), dropout=0.1).eval()
    data = serialise(net, _meta())
    loaded, meta = deserialise(data, sha256_hex(data))
    assert meta["temperature"] == 1.5 and meta["net"] == net.config()
    assert meta["step_features"] == list(STEP_FEATURES)
    batch = _batch(resume_embeddings, _some_profiles(len(RESUMES)))
    assert torch.equal(net(*batch), loaded(*batch))


def test_a_changed_or_broken_artifact_is_refused() -> None:
    data = serialise(TrustNet(384, len(STEP_FEATURES), hidden=(16,)), _meta())
    digest = sha256_hex(data)
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x01
    with pytest.raises(ArtifactError):
        deserialise(bytes(flipped), digest)
    with pytest.raises(ArtifactError):
        deserialise(data, "0" * 64)
    garbage = b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}"
    with pytest.raises(ArtifactError):
        deserialise(garbage, sha256_hex(garbage))
    with pytest.raises(ValueError):
        serialise(TrustNet(384, len(STEP_FEATURES), hidden=(16,)), {"temperature": 1.0})


# --- scorer --------------------------------------------------------------------------


def test_scorer_matches_training_probabilities(resume_embeddings: np.ndarray) -> None:
    torch.manual_seed(0)
    net = TrustNet(384, len(STEP_FEATURES), hidden=(32, 16)).eval()
    data = serialise(net, _meta(temperature=2.0))
    model, meta = deserialise(data, sha256_hex(data))
    scorer = Scorer(model, meta, version="test")
    profiles = _some_profiles(len(RESUMES))
    scores = scorer.score(profiles, resume_embeddings, AS_OF)

    ds = build_dataset(profiles, [0] * len(profiles), resume_embeddings, AS_OF)
    expected = predict_proba(net, 2.0, ds)
    np.testing.assert_allclose([s.p_risk for s in scores], expected, atol=1e-6)
    assert scores[3].indicators == compute_indicators(profiles[3], AS_OF)
    assert scorer.score([], np.zeros((0, 384), np.float32), AS_OF) == []


def test_scorer_refuses_embeddings_of_another_size(resume_embeddings: np.ndarray) -> None:
    net = TrustNet(384, len(STEP_FEATURES), hidden=(16,))
    scorer = Scorer(
        net,
        {
            **_meta(),
            "step_features": list(STEP_FEATURES),
            "indicator_names": list(PROFILE_FEATURES),
            "net": net.config(),
        },
        version="t",
    )
    with pytest.raises(ValueError, match="384"):
        scorer.score(_some_profiles(2), np.zeros((2, 768), np.float32), AS_OF)
    with pytest.raises(ValueError):
        scorer.score(_some_profiles(2), resume_embeddings[:3], AS_OF)
    with pytest.raises(ValueError, match="step features"):
        Scorer(net, {**_meta(), "step_features": ["other"]}, version="t")


# --- training ------------------------------------------------------------------------


def _disputed_run_profiles(n: int, seed: int) -> tuple[list[Profile], list[int]]:
    """Risky means a run of disputes among the three most recent projects; older disputes
    and single recent ones are harmless, so counting disputes alone does not separate."""
    rng = random.Random(seed)
    profiles, labels = [], []
    for i in range(n):
        risky = i % 2
        k = rng.randint(4, 9)
        disputed = [False] * k
        if risky:
            first = rng.randint(k - 3, k - 2)
            disputed[first] = disputed[first + 1] = True
        else:
            if rng.random() < 0.6:
                first = rng.randint(0, max(0, k - 5))
                disputed[first] = disputed[first + 1] = True
            if rng.random() < 0.4:
                disputed[k - rng.randint(1, 3)] = True
        start = dt.date(2012, 1, 1) + dt.timedelta(days=rng.randint(0, 400))
        projects = []
        for d in disputed:
            months = rng.uniform(1, 8)
            projects.append(
                _project(
                    start,
                    months,
                    disputed=d,
                    client_rating=rng.choice([None, rng.uniform(2, 5)]),
                    budget_usd=rng.choice([None, rng.uniform(500, 20000)]),
                    technologies=rng.sample(["python", "go", "react", "sql", "aws"], 2),
                )
            )
            start += dt.timedelta(days=int(months * 30) + rng.randint(0, 60))
        profiles.append(_profile(projects, i=rng.randrange(len(RESUMES))))
        labels.append(risky)
    return profiles, labels


def test_training_learns_a_pattern_in_recent_projects(resume_embeddings: np.ndarray) -> None:
    profiles, labels = _disputed_run_profiles(480, seed=3)
    emb = np.stack([resume_embeddings[RESUMES.index(p.resume_text)] for p in profiles])
    ds = build_dataset(profiles, labels, emb, AS_OF)
    train_idx, val_idx, test_idx = stratified_split(ds.labels, seed=0)
    cfg = TrainConfig(max_epochs=30, patience=8, progress=False, seed=0)
    result = train(ds, train_idx, val_idx, cfg)

    assert result.model.training is False
    assert 1 <= result.best_epoch <= len(result.history) <= 30
    assert set(result.history[0]) == {
        "epoch",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
    }
    best = min(h["val_loss"] for h in result.history)
    assert result.history[result.best_epoch - 1]["val_loss"] == best
    for idx in (val_idx, test_idx):
        probs = predict_proba(result.model, result.temperature, ds, idx)
        assert metrics(ds.labels[idx], probs)["roc_auc"] > 0.85

    # Neither the resume nor the indicators carry the pattern: only the sequence can.
    blind = train(ds, train_idx, val_idx, replace(cfg, use_sequence=False, max_epochs=15))
    probs = predict_proba(blind.model, blind.temperature, ds, test_idx)
    assert metrics(ds.labels[test_idx], probs)["roc_auc"] < 0.75


def test_stratified_split_keeps_class_shares_and_is_reproducible() -> None:
    labels = np.array([0] * 700 + [1] * 300)
    train_idx, val_idx, test_idx = stratified_split(labels, seed=5)
    together = np.concatenate([train_idx, val_idx, test_idx])
    assert sorted(together.tolist()) == list(range(1000))
    assert (len(train_idx), len(val_idx), len(test_idx)) == (700, 150, 150)
    assert labels[val_idx].sum() == 45 and labels[test_idx].sum() == 45
    again = stratified_split(labels, seed=5)
    assert all(
        np.array_equal(a, b) for a, b in zip(again, (train_idx, val_idx, test_idx), strict=True)
    )
    assert not np.array_equal(stratified_split(labels, seed=6)[0], train_idx)


def _nll(logits: np.ndarray, labels: np.ndarray) -> float:
    p = 1 / (1 + np.exp(-logits))
    return log_loss(labels, p, labels=[0, 1])


def test_temperature_scaling_tames_overconfident_logits() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 1.5, 4000)
    labels = (rng.random(4000) < 1 / (1 + np.exp(-true_logits))).astype(int)
    overconfident = 4.0 * true_logits
    t = fit_temperature(overconfident, labels)
    assert 3.0 < t < 5.0
    assert _nll(overconfident / t, labels) < _nll(overconfident, labels) - 0.1
    assert 0.8 < fit_temperature(true_logits, labels) < 1.25


def _drawn(true_logits: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random(len(true_logits)) < 1 / (1 + np.exp(-true_logits))).astype(int)


def test_platt_scaling_recovers_a_slope_and_an_offset() -> None:
    true_logits = np.random.default_rng(1).normal(0, 2.0, 6000)
    labels = _drawn(true_logits, 2)
    # The network's logits are over-confident and shifted: true = 0.5 * z - 1.
    z = (true_logits + 1.0) / 0.5
    a, b = fit_platt(z, labels)
    assert a == pytest.approx(0.5, abs=0.05) and b == pytest.approx(-1.0, abs=0.1)
    assert fit_platt(z, np.ones_like(labels)) == (1.0, 0.0)


def test_calibration_picks_platt_when_an_offset_is_needed_and_fixes_the_ece() -> None:
    true_logits = np.random.default_rng(3).normal(0, 2.0, 4000)
    val_labels, test_labels = _drawn(true_logits, 4), _drawn(true_logits, 5)
    z = (true_logits + 1.5) * 3.0
    temperature = Calibration.from_temperature(fit_temperature(z, val_labels))
    chosen = fit_calibration(z, val_labels)
    assert chosen.method == "platt"
    assert _nll(chosen.logits(z), val_labels) < _nll(temperature.logits(z), val_labels) - 0.05
    # A temperature alone cannot remove the shift; the offset can.
    assert expected_calibration_error(test_labels, temperature.proba(z)) > 0.1
    assert expected_calibration_error(test_labels, chosen.proba(z)) < 0.03


def test_calibration_keeps_the_temperature_when_platt_would_invert_the_ranking() -> None:
    true_logits = np.random.default_rng(6).normal(0, 2.0, 2000)
    labels = _drawn(true_logits, 7)
    assert fit_platt(-true_logits, labels)[0] < 0
    chosen = fit_calibration(-true_logits, labels)
    assert chosen.method == "temperature" and chosen.b == 0.0 and chosen.a > 0


def test_calibration_meta_round_trip_and_old_artifacts() -> None:
    platt = Calibration("platt", 0.7, -0.2)
    assert Calibration.from_meta({"temperature": 3.0, "calibration": platt.to_meta()}) == platt
    old = Calibration.from_meta({"temperature": 2.0})
    assert old.method == "temperature" and old.a == 0.5 and old.b == 0.0
    np.testing.assert_allclose(old.proba([2.0, -4.0]), 1 / (1 + np.exp(-np.array([1.0, -2.0]))))
    for bad in (
        {},
        {"temperature": 0.0},
        {"temperature": True},
        {"calibration": {"method": "isotonic", "a": 1.0, "b": 0.0}},
        {"calibration": {"method": "platt", "a": -1.0, "b": 0.0}},
        {"calibration": {"method": "platt", "a": float("nan"), "b": 0.0}},
        {"calibration": {"method": "platt", "a": "1", "b": 0.0}},
        {"calibration": {"method": "temperature", "a": 1.0, "b": 0.5}},
    ):
        with pytest.raises(ValueError):
            Calibration.from_meta(bad)


def test_scorer_applies_the_recorded_platt_calibration(resume_embeddings: np.ndarray) -> None:
    torch.manual_seed(0)
    net = TrustNet(384, len(STEP_FEATURES), hidden=(32, 16)).eval()
    platt = Calibration("platt", 0.6, 0.4)
    data = serialise(net, {**_meta(temperature=2.0), "calibration": platt.to_meta()})
    model, meta = deserialise(data, sha256_hex(data))
    scorer = Scorer(model, meta, version="test")
    assert scorer.calibration == platt
    profiles = _some_profiles(len(RESUMES))
    ds = build_dataset(profiles, [0] * len(profiles), resume_embeddings, AS_OF)
    logits = predict_logits(net, ds)
    got = [s.p_risk for s in scorer.score(profiles, resume_embeddings, AS_OF)]
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-(0.6 * logits + 0.4))), atol=1e-6)
    np.testing.assert_allclose(got, predict_proba(net, platt, ds), atol=1e-6)

    bad = serialise(net, {**_meta(), "calibration": {"method": "platt", "a": 0.0, "b": 0.0}})
    with pytest.raises(ValueError, match="calibration"):
        Scorer(*deserialise(bad, sha256_hex(bad)), version="bad")


def test_training_records_the_chosen_calibration(resume_embeddings: np.ndarray) -> None:
    profiles, labels = _disputed_run_profiles(160, seed=4)
    emb = np.stack([resume_embeddings[RESUMES.index(p.resume_text)] for p in profiles])
    ds = build_dataset(profiles, labels, emb, AS_OF)
    train_idx, val_idx, _ = stratified_split(ds.labels, seed=0)
    cfg = TrainConfig(max_epochs=2, hidden=(16,), progress=False, seed=0)
    result = train(ds, train_idx, val_idx, cfg)
    np.testing.assert_allclose(result.val_logits, predict_logits(result.model, ds, val_idx))
    assert result.calibration == fit_calibration(result.val_logits, ds.labels[val_idx])
    assert result.temperature == pytest.approx(
        fit_temperature(result.val_logits, ds.labels[val_idx])
    )


def test_metrics_agree_with_sklearn() -> None:
    labels = np.array([0, 0, 1, 1, 1, 0, 1, 0, 1, 1])
    probs = np.array([0.1, 0.6, 0.8, 0.4, 0.9, 0.2, 0.55, 0.05, 0.3, 0.95])
    m = metrics(labels, probs)
    pred = (probs >= 0.5).astype(int)
    precision, recall, f1, support = precision_recall_fscore_support(labels, pred, labels=[0, 1])
    assert m["accuracy"] == pytest.approx(accuracy_score(labels, pred))
    for k, name in enumerate(("trustworthy", "risky")):
        assert m["per_class"][name]["precision"] == pytest.approx(precision[k])
        assert m["per_class"][name]["recall"] == pytest.approx(recall[k])
        assert m["per_class"][name]["f1"] == pytest.approx(f1[k])
        assert m["per_class"][name]["support"] == support[k]
    assert m["confusion_matrix"] == confusion_matrix(labels, pred).tolist()
    assert m["roc_auc"] == pytest.approx(roc_auc_score(labels, probs))
    assert m["pr_auc"] == pytest.approx(average_precision_score(labels, probs))
    assert m["log_loss"] == pytest.approx(log_loss(labels, probs))
    assert m["brier"] == pytest.approx(brier_score_loss(labels, probs))

    # Two bins: P 0.1 where half are risky (gap 0.4), P 0.9 where all are (gap 0.1).
    ece = metrics(np.array([0, 1, 1, 1]), np.array([0.1, 0.1, 0.9, 0.9]))["ece"]
    assert ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)


# --- score breakdown -------------------------------------------------------------------


def test_shapley_of_an_additive_model_is_each_groups_own_effect() -> None:
    effects = {"text": 0.05, "sequence": 0.30, "indicators": -0.10}
    probs = {
        mask: 0.2 + sum(e for on, e in zip(mask, effects.values(), strict=True) if on)
        for mask in MASKS
    }
    phi = shapley(probs)
    for group, effect in effects.items():
        assert phi[group] == pytest.approx(effect)


def test_breakdown_parts_sum_to_the_score_and_stay_within_their_weights() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        probs = {mask: float(p) for mask, p in zip(MASKS, rng.uniform(0, 1, 8), strict=True)}
        result = breakdown(probs)
        parts = result["parts"]
        score = round(100 * (1 - probs[(True, True, True)]), 1)
        assert round(sum(p["points"] for p in parts.values()), 1) == score
        for name, part in parts.items():
            assert 0 <= part["points"] <= PARTS[name][1]


def test_breakdown_blames_the_group_that_raised_the_risk() -> None:
    # Only the project sequence raises the risk above the reference.
    probs = {mask: 0.1 + (0.3 if mask[1] else 0.0) for mask in MASKS}
    parts = breakdown(probs)["parts"]
    assert parts["project_realism"]["points"] == pytest.approx(45 * 0.9 - 30, abs=0.1)
    assert parts["resume_quality"]["points"] == pytest.approx(25 * 0.9, abs=0.1)
    assert parts["profile_validation"]["points"] == pytest.approx(30 * 0.9, abs=0.1)
    # A larger effect than the part can hold empties it and spills onto the others.
    probs = {mask: 0.1 + (0.6 if mask[1] else 0.0) for mask in MASKS}
    parts = breakdown(probs)["parts"]
    assert parts["project_realism"]["points"] == 0
    assert parts["resume_quality"]["points"] + parts["profile_validation"]["points"] == 30


def test_allocate_keeps_the_sum_and_the_bounds() -> None:
    assert allocate([-5.0, 20.0, 10.0], [25, 45, 30]) == pytest.approx([0.0, 50 / 3, 25 / 3])
    out = allocate([40.0, 10.0, 0.0], [25, 45, 30])
    assert sum(out) == pytest.approx(50.0) and out[0] == 25.0


def test_group_probabilities_with_every_real_input_equal_the_score(
    resume_embeddings: np.ndarray,
) -> None:
    torch.manual_seed(0)
    net = TrustNet(384, len(STEP_FEATURES), hidden=(16,)).eval()
    data = serialise(net, _meta())
    scorer = Scorer(*deserialise(data, sha256_hex(data)), version="t")
    profile = _some_profiles(1)[0]
    probs = scorer.group_probabilities(profile, resume_embeddings[0], AS_OF)
    assert set(probs) == set(MASKS)
    full = scorer.score([profile], resume_embeddings[:1], AS_OF)[0].p_risk
    assert probs[(True, True, True)] == pytest.approx(full, abs=1e-6)


def test_scorer_refuses_a_model_without_reference_inputs() -> None:
    net = TrustNet(384, len(STEP_FEATURES), hidden=(16,))
    meta = {k: v for k, v in _meta().items() if k != "reference"}
    data = serialise(net, meta)
    with pytest.raises(ValueError, match="reference"):
        Scorer(*deserialise(data, sha256_hex(data)), version="old")


def test_torch_threads_holds_for_the_block_and_restores_after() -> None:
    import torch

    from trustq.models.threads import torch_threads

    before = torch.get_num_threads()
    inside = 1 if before != 1 else 2
    with pytest.raises(RuntimeError), torch_threads(inside):
        assert torch.get_num_threads() == inside
        raise RuntimeError("the block failed")
    assert torch.get_num_threads() == before
