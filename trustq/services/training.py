"""Training a model version end to end: data, embeddings (cached), network, artifacts, registry."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from trustq.config import Settings
from trustq.data import synthetic
from trustq.db import repo
from trustq.db.session import session_scope
from trustq.db.tables import ModelStatus, ModelVersion
from trustq.models import training
from trustq.models.artifact import serialise, sha256_hex
from trustq.schemas import LabelledProfile, describe_errors
from trustq.worker.runtime import embed_with_cache, make_encoder

log = logging.getLogger(__name__)


class TrainingDataError(ValueError):
    """A training file with malformed lines; every bad line is listed."""


@dataclass
class TrainingReport:
    version: str
    status: str
    run_dir: Path
    metrics: dict[str, Any]
    encoder_seconds: float
    network_seconds: float
    n_profiles: int


def load_labelled(path: Path) -> list[LabelledProfile]:
    """Read a JSONL file of labelled profiles; raises TrainingDataError listing each bad line."""
    profiles: list[LabelledProfile] = []
    problems: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                profiles.append(LabelledProfile.model_validate_json(line))
            except ValidationError as exc:
                problems.append(f"line {number}: " + "; ".join(describe_errors(exc)))
    if problems:
        raise TrainingDataError(f"{path}: {len(problems)} bad line(s)\n" + "\n".join(problems))
    if len(profiles) < 20:
        raise TrainingDataError(f"{path}: {len(profiles)} labelled profiles; at least 20 needed")
    labels = {p.label for p in profiles}
    if labels != {0, 1}:
        raise TrainingDataError(f"{path}: both labels (0 and 1) must occur")
    return profiles


def synthetic_profiles(size: int, seed: int) -> list[LabelledProfile]:
    return [LabelledProfile.model_validate(r) for r in synthetic.generate(size, seed)]


def data_sha256(profiles: Sequence[LabelledProfile]) -> str:
    digest = hashlib.sha256()
    for profile in profiles:
        digest.update(profile.model_dump_json().encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def train_and_register(
    settings: Settings,
    profiles: Sequence[LabelledProfile],
    *,
    as_of: dt.date,
    created_by: str,
    serve: bool = True,
    config: training.TrainConfig | None = None,
    progress: Callable[[str], None] = log.info,
) -> TrainingReport:
    """Train on ``profiles``, write the run folder, and register the model version."""
    config = config or training.TrainConfig()
    if config.threads is None:
        config = dataclasses.replace(config, threads=settings.resolved_torch_threads)
    encoder = make_encoder(settings)
    progress(f"embedding {len(profiles)} resumes with {encoder.name} (cached by text hash)")
    started = time.perf_counter()
    embeddings = embed_with_cache(encoder, [p.resume_text for p in profiles])
    encoder_seconds = time.perf_counter() - started

    labels = np.array([p.label for p in profiles], dtype=np.int64)
    ds = training.build_dataset(profiles, labels, embeddings, as_of)
    train_idx, val_idx, test_idx = training.stratified_split(labels, config.seed)
    progress(
        f"training on {len(train_idx)} profiles, validating on {len(val_idx)}, "
        f"testing on {len(test_idx)}"
    )
    result = training.train(ds, train_idx, val_idx, config)
    network_seconds = result.seconds

    test_probs = training.predict_proba(result.model, result.temperature, ds, test_idx)
    metrics: dict[str, Any] = {
        "test": training.metrics(labels[test_idx], test_probs),
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
        "temperature": result.temperature,
        "n_train": int(len(train_idx)),
        "n_val": int(len(val_idx)),
        "n_test": int(len(test_idx)),
        "encoder_seconds": round(encoder_seconds, 2),
        "network_seconds": round(network_seconds, 2),
    }
    p_true = [p.p_true for p in profiles]
    if all(p is not None for p in p_true):
        ceiling = np.array(p_true, dtype=np.float64)[test_idx]
        metrics["ceiling"] = training.metrics(labels[test_idx], ceiling)

    meta = {
        "temperature": result.temperature,
        "encoder": {
            "name": encoder.name,
            "revision": encoder.revision,
            "max_tokens": settings.encoder_max_tokens,
        },
    }
    artifact = serialise(result.model, meta)
    sha = sha256_hex(artifact)
    with session_scope() as session:
        version = repo.next_model_version(session)
        repo.add_model_version(
            session,
            ModelVersion(
                version=version,
                status=ModelStatus.candidate,
                training_data_sha256=data_sha256(profiles),
                encoder_name=encoder.name,
                encoder_revision=encoder.revision,
                metrics=metrics,
                artifact=artifact,
                artifact_sha256=sha,
                created_by=created_by,
            ),
        )
        if serve:
            repo.promote_model(session, version)
    run_dir = _write_run(settings, version, artifact, result, metrics)
    return TrainingReport(
        version=version,
        status=ModelStatus.serving if serve else ModelStatus.candidate,
        run_dir=run_dir,
        metrics=metrics,
        encoder_seconds=encoder_seconds,
        network_seconds=network_seconds,
        n_profiles=len(profiles),
    )


def _write_run(
    settings: Settings,
    version: str,
    artifact: bytes,
    result: training.TrainResult,
    metrics: dict[str, Any],
) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = settings.resolved_runs_dir / f"{stamp}-{version}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "model.safetensors").write_bytes(artifact)
    (run_dir / "results.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    with (run_dir / "history.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(result.history[0].keys()))
        writer.writeheader()
        writer.writerows(result.history)
    _plot_history(result, run_dir / "history.png")
    return run_dir


def _plot_history(result: training.TrainResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in result.history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("train_loss", "val_loss"):
        ax_loss.plot(epochs, [row[key] for row in result.history], label=key)
    for key in ("train_acc", "val_acc"):
        ax_acc.plot(epochs, [row[key] for row in result.history], label=key)
    for ax, title in ((ax_loss, "loss (BCE)"), (ax_acc, "accuracy")):
        ax.axvline(result.best_epoch, color="grey", linestyle="--", label="best epoch")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
