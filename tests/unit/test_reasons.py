"""Reasons point at the parts of a profile that moved its probability."""

from __future__ import annotations

import numpy as np

from tests.unit.test_models import (  # noqa: F401  (fixtures)
    AS_OF,
    RESUMES,
    _disputed_run_profiles,
    encoder,
    resume_embeddings,
)
from trustq.models.artifact import deserialise, serialise, sha256_hex
from trustq.models.reasons import explain, split_sentences
from trustq.models.scorer import Reference, Scorer
from trustq.models.training import TrainConfig, build_dataset, stratified_split, train


def _scorer(profiles, labels, emb) -> Scorer:
    ds = build_dataset(profiles, labels, emb, AS_OF)
    train_idx, val_idx, _ = stratified_split(ds.labels, seed=0)
    result = train(ds, train_idx, val_idx, TrainConfig(max_epochs=30, patience=8, progress=False))
    meta = {
        "temperature": result.temperature,
        "calibration": result.calibration.to_meta(),
        "encoder": {"name": "test", "revision": "test"},
        "training_risky_share": 0.5,
        "resume_tokens": {"p01": 20.0, "p99": 3000.0},
        "reference": Reference.from_training(
            ds.embeddings[train_idx], [ds.steps[i] for i in train_idx], ds.indicators[train_idx]
        ).to_meta(),
    }
    blob = serialise(result.model, meta)
    model, loaded = deserialise(blob, sha256_hex(blob))
    return Scorer(model, loaded, version="t")


def test_reasons_point_at_the_planted_dispute_run(resume_embeddings) -> None:  # noqa: F811
    profiles, labels = _disputed_run_profiles(480, seed=3)
    emb = np.stack([resume_embeddings[RESUMES.index(p.resume_text)] for p in profiles])
    scorer = _scorer(profiles, labels, emb)

    risky = [i for i, y in enumerate(labels) if y == 1][:5]
    for i in risky:
        profile = profiles[i]
        [score] = scorer.score([profile], emb[i : i + 1], AS_OF)
        reasons = explain(profile, score.p_risk, scorer, None, emb[i], AS_OF, top=2)
        ordered = profile.projects_in_time_order()
        planted = {j for j, p in enumerate(ordered) if p.disputed}
        assert reasons, "a risky profile with a planted run gets reasons"
        top = reasons[0]
        assert top.kind == "project" and top.effect > 0
        assert top.evidence["project_index"] in planted
        assert "disputed" in top.text


def test_sentences_are_explained_with_the_encoder(encoder, resume_embeddings) -> None:  # noqa: F811
    profiles, labels = _disputed_run_profiles(120, seed=4)
    emb = np.stack([resume_embeddings[RESUMES.index(p.resume_text)] for p in profiles])
    scorer = _scorer(profiles, labels, emb)
    profile = profiles[0].model_copy(
        update={"resume_text": "First sentence here. Second one follows! And a third?"}
    )
    embedding = encoder.encode([profile.text])[0]
    [score] = scorer.score([profile], embedding[None, :], AS_OF)
    reasons = explain(profile, score.p_risk, scorer, encoder, embedding, AS_OF, top=50)
    kinds = {r.kind for r in reasons}
    assert kinds <= {"project", "sentence"}
    for r in reasons:
        if r.kind == "sentence":
            assert r.evidence["sentence"] in split_sentences(profile.text)


def test_split_sentences() -> None:
    assert split_sentences("One. Two!\nThree? x") == ["One.", "Two!", "Three?"]
