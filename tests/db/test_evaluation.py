"""A training run's artifacts, and evaluating a registered version, on a real database."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.factories import MODEL_RESUME_WORDS
from trustq.cli import app
from trustq.config import get_settings
from trustq.data import synthetic
from trustq.data.synthetic import REFERENCE_DATE
from trustq.db import models as models_db
from trustq.db.session import session_scope
from trustq.db.tables import ModelVersion
from trustq.models.artifact import deserialise, serialise, sha256_hex
from trustq.models.scorer import Scorer
from trustq.models.training import Calibration, metrics
from trustq.schemas import LabelledProfile
from trustq.scoring.embeddings import embed_with_cache
from trustq.scoring.encoders import make_encoder
from trustq.services.evaluation import EvaluationError, evaluate_version

pytestmark = pytest.mark.db

# The serving_model fixture trains on generate(300, seed=1, resume_words=MODEL_RESUME_WORDS);
# these are its first rows, so
# their embeddings are already cached.
N_EVAL = 60


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return synthetic.generate(N_EVAL, seed=1, resume_words=MODEL_RESUME_WORDS)


def _load(version: str):
    with session_scope() as session:
        row = models_db.get_model_version(session, version)
        assert row is not None
        return row.metrics, *deserialise(row.artifact, row.artifact_sha256)


def test_a_training_run_writes_its_report_and_records_the_calibration(
    serving_model: str,
) -> None:
    stored, _, meta = _load(serving_model)
    calibration = Calibration.from_meta(meta)
    assert meta["calibration"] == calibration.to_meta()
    assert meta["temperature"] > 0

    (run_dir,) = get_settings().resolved_runs_dir.glob(f"*-{serving_model}")
    names = {p.name for p in run_dir.iterdir()}
    assert {
        "model.safetensors",
        "history.csv",
        "history.png",
        "results.json",
        "calibration.png",
        "MODEL_CARD.md",
        "predictions.csv",
    } <= names
    results = json.loads((run_dir / "results.json").read_text())
    assert results == stored
    assert set(results["baselines"]) == {
        "logreg_indicators",
        "logreg_embedding_indicators",
        "logreg_rule_flags",
        "gbt_history_embedding",
    }
    assert results["ablations"] == {}
    for key in ("accuracy", "roc_auc", "pr_auc", "log_loss", "brier", "ece", "per_class"):
        assert key in results["test"] and key in results["ceiling"] and key in results["latent"]
    assert results["calibration"]["chosen"] == meta["calibration"]
    assert {"encoder_seconds", "network_seconds", "baselines_seconds"} <= set(results["timings"])
    card = (run_dir / "MODEL_CARD.md").read_text()
    assert f"# Model card: trustq {serving_model}" in card and "| ceiling |" in card
    assert "| latent |" in card and "Bayes posterior" in card


def test_evaluate_version_scores_like_the_workers(serving_model: str, records) -> None:
    profiles = [LabelledProfile.model_validate(r) for r in records]
    result = evaluate_version(get_settings(), serving_model, profiles, REFERENCE_DATE)

    _, model, meta = _load(serving_model)
    embeddings = embed_with_cache(make_encoder(get_settings()), [p.resume_text for p in profiles])
    scores = Scorer(model, meta, version=serving_model).score(profiles, embeddings, REFERENCE_DATE)
    labels = np.array([p.label for p in profiles])
    assert result["version"] == serving_model and result["n"] == N_EVAL
    assert result["calibration"] == meta["calibration"]
    assert result["metrics"] == metrics(labels, [s.p_risk for s in scores])
    assert result["ceiling"] == metrics(labels, [p.p_ceiling for p in profiles])
    assert result["latent"] == metrics(labels, [p.p_true for p in profiles])

    without_ceiling = [p.model_copy(update={"p_ceiling": None}) for p in profiles]
    partial = evaluate_version(get_settings(), serving_model, without_ceiling, REFERENCE_DATE)
    assert "ceiling" not in partial and "latent" in partial


def test_evaluate_refuses_unknown_versions_and_other_encoders(serving_model: str, records) -> None:
    profiles = [LabelledProfile.model_validate(r) for r in records[:5]]
    with pytest.raises(EvaluationError, match="no model version"):
        evaluate_version(get_settings(), "v9999", profiles, REFERENCE_DATE)

    _, model, meta = _load(serving_model)
    other = serialise(model, {**meta, "encoder": {"name": "bert-base-uncased", "revision": "x"}})
    with session_scope() as session:
        version = models_db.next_model_version(session)
        models_db.add_model_version(
            session,
            ModelVersion(
                version=version,
                training_data_sha256="0" * 64,
                encoder_name="bert-base-uncased",
                encoder_revision="x",
                metrics={},
                artifact=other,
                artifact_sha256=sha256_hex(other),
                created_by="tests",
            ),
        )
    with pytest.raises(EvaluationError, match="bert-base-uncased"):
        evaluate_version(get_settings(), version, profiles, REFERENCE_DATE)


def test_the_evaluate_command_prints_and_writes_the_metrics(
    serving_model: str, records, tmp_path
) -> None:
    data = tmp_path / "labelled.jsonl"
    synthetic.write_jsonl(records, data)
    out = tmp_path / "metrics.json"
    args = ["evaluate", "--model", serving_model, "--data", str(data), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--as-of", REFERENCE_DATE.isoformat()])
    assert result.exit_code == 0, result.output
    assert "ceiling (best from visible fields)" in result.output
    assert "latent (p_true)" in result.output
    written = json.loads(out.read_text())
    profiles = [LabelledProfile.model_validate(r) for r in records]
    assert written == json.loads(
        json.dumps(evaluate_version(get_settings(), serving_model, profiles, REFERENCE_DATE))
    ) | {
        "encoder_seconds": written["encoder_seconds"],
        "scoring_seconds": written["scoring_seconds"],
    }

    missing = CliRunner().invoke(app, ["evaluate", "--model", "v9999", "--data", str(data)])
    assert missing.exit_code == 1 and "no model version" in missing.output
