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
from scipy.special import expit

from trustq.config import Settings
from trustq.data import synthetic
from trustq.db import models as models_db
from trustq.db.session import session_scope
from trustq.db.tables import ModelStatus, ModelVersion
from trustq.models import baselines, report, training
from trustq.models.artifact import serialise, sha256_hex
from trustq.models.scorer import Reference
from trustq.models.threads import torch_threads
from trustq.rules.inputs import LengthRange
from trustq.schemas import LabelledProfile, describe_errors
from trustq.scoring.embeddings import embed_with_cache
from trustq.scoring.encoders import make_encoder

log = logging.getLogger(__name__)

# The baseline whose probabilities are averaged with the network's as a candidate ensemble.
ENSEMBLE_PARTNER = "gbt_history_embedding"


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


def synthetic_profiles(
    size: int, seed: int, resume_words: tuple[int, int] | None = None
) -> list[LabelledProfile]:
    """The synthetic training set (``resume_words``: a length range instead of the
    generator's mixture of real-length resumes and short blurbs)."""
    return [
        LabelledProfile.model_validate(r)
        for r in synthetic.generate(size, seed, resume_words=resume_words)
    ]


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
    as_of: dt.date | Sequence[dt.date],
    created_by: str,
    serve: bool = True,
    config: training.TrainConfig | None = None,
    ablations: bool = False,
    data_description: str = "labelled profiles",
    progress: Callable[[str], None] = log.info,
    split: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    labels_until: dt.datetime | None = None,
    labels_used: int = 0,
) -> TrainingReport:
    """Train on ``profiles``, compare with the baselines (and, if asked, the ablations),
    write the run folder, and register the model version.

    ``as_of`` is the day the features are computed for, one for all or one per profile.
    ``split`` gives the train, validation and test rows; by default a stratified split.
    ``labels_until`` and ``labels_used`` record which reviewer labels the model learned from.
    """
    config = config or training.TrainConfig()
    if config.threads is None:
        config = dataclasses.replace(config, threads=settings.resolved_torch_threads)
    encoder = make_encoder(settings)
    progress(f"embedding {len(profiles)} resumes with {encoder.name} (cached by text hash)")
    started = time.perf_counter()
    with torch_threads(settings.resolved_torch_threads):
        embeddings = embed_with_cache(encoder, [p.resume_text for p in profiles])
    encoder_seconds = time.perf_counter() - started

    labels = np.array([p.label for p in profiles], dtype=np.int64)
    ds = training.build_dataset(profiles, labels, embeddings, as_of)
    if split is None:
        train_idx, val_idx, test_idx = training.stratified_split(labels, config.seed)
    else:
        train_idx, val_idx, test_idx = (np.asarray(part, dtype=np.int64) for part in split)
    progress(
        f"training on {len(train_idx)} profiles, validating on {len(val_idx)}, "
        f"testing on {len(test_idx)}"
    )
    result = training.train(ds, train_idx, val_idx, config)
    network_seconds = result.seconds
    progress(
        f"network: best epoch {result.best_epoch} of {len(result.history)}, "
        f"{network_seconds:.1f} s; calibration {result.calibration.method}"
    )

    run = report.RunEvaluation(
        test_labels=labels[test_idx],
        val_labels=labels[val_idx],
        val_logits=result.val_logits,
        test_logits=training.predict_logits(result.model, ds, test_idx),
        calibration=result.calibration,
        slices=_visible_slices([profiles[i] for i in test_idx]),
    )
    run.ceiling = _known([p.p_ceiling for p in profiles], test_idx)
    run.latent = _known([p.p_true for p in profiles], test_idx)

    references: list[tuple[dict[str, report.Scores], str, dict]] = [
        (run.baselines, "baseline", baselines.standard(as_of))
    ]
    if ablations:
        quiet = dataclasses.replace(config, progress=False)
        references.append((run.ablations, "ablation", baselines.ablations(quiet)))
    for target, kind, table in references:
        for name, (fit, description) in table.items():
            progress(f"{kind} {name}")
            t0 = time.perf_counter()
            probs = fit(profiles, ds, train_idx, val_idx, test_idx)
            target[name] = report.Scores(probs, description, time.perf_counter() - t0)
    gbt = run.baselines.get(ENSEMBLE_PARTNER)
    if gbt is not None:
        run.candidates["mean_trustnet_gbt"] = report.Scores(
            (run.test_probs + gbt.probs) / 2,
            f"not served: the mean of the network's and {ENSEMBLE_PARTNER}'s probabilities",
        )

    timings = {
        "encoder_seconds": round(encoder_seconds, 2),
        "network_seconds": round(network_seconds, 2),
        "baselines_seconds": round(sum(s.seconds or 0 for s in run.baselines.values()), 2),
    }
    if ablations:
        timings["ablations_seconds"] = round(sum(s.seconds or 0 for s in run.ablations.values()), 2)
    metrics = report.build_results(
        run,
        {
            "best_epoch": result.best_epoch,
            "epochs": len(result.history),
            "temperature": result.temperature,
            "n_train": int(len(train_idx)),
            "n_val": int(len(val_idx)),
            "n_test": int(len(test_idx)),
            "encoder_seconds": timings["encoder_seconds"],
            "network_seconds": timings["network_seconds"],
            "timings": timings,
        },
    )

    tokens = np.array([encoder.count_tokens([profiles[i].text])[1] for i in train_idx], float)
    meta = {
        # Readers that predate "calibration" fall back to the best temperature alone.
        "temperature": result.temperature,
        "calibration": result.calibration.to_meta(),
        # The calibration speaks of this share of risky profiles; serving moves it to the
        # configured base rate.
        "training_risky_share": float(labels[train_idx].mean()),
        # What "far outside the training lengths" is measured against.
        "resume_tokens": LengthRange(
            float(np.percentile(tokens, 1)), float(np.percentile(tokens, 99))
        ).to_meta(),
        "reference": Reference.from_training(
            ds.embeddings[train_idx],
            [ds.steps[i] for i in train_idx],
            ds.indicators[train_idx],
        ).to_meta(),
        "encoder": {
            "name": encoder.name,
            "revision": encoder.revision,
            "max_tokens": settings.encoder_max_tokens,
        },
    }
    artifact = serialise(result.model, meta)
    sha = sha256_hex(artifact)
    data_sha = data_sha256(profiles)
    with session_scope() as session:
        version = models_db.next_model_version(session)
        models_db.add_model_version(
            session,
            ModelVersion(
                version=version,
                status=ModelStatus.candidate,
                training_data_sha256=data_sha,
                encoder_name=encoder.name,
                encoder_revision=encoder.revision,
                metrics=metrics,
                artifact=artifact,
                artifact_sha256=sha,
                created_by=created_by,
                labels_until=labels_until,
                labels_used=labels_used,
            ),
        )
        if serve:
            models_db.promote_model(session, version)
    card_info = {
        "version": version,
        "data": data_description,
        "n_profiles": len(profiles),
        "data_sha256": data_sha,
        "as_of": as_of.isoformat()
        if isinstance(as_of, dt.date)
        else f"each profile's scoring day, {min(as_of)} to {max(as_of)}",
        "encoder": meta["encoder"],
        "net": result.model.config(),
        "config": dataclasses.asdict(config),
    }
    run_dir = _write_run(
        settings,
        version,
        artifact,
        result,
        metrics,
        run,
        card_info,
        [profiles[i].external_id for i in test_idx],
    )
    return TrainingReport(
        version=version,
        status=ModelStatus.serving if serve else ModelStatus.candidate,
        run_dir=run_dir,
        metrics=metrics,
        encoder_seconds=encoder_seconds,
        network_seconds=network_seconds,
        n_profiles=len(profiles),
    )


def _known(values: Sequence[float | None], rows: np.ndarray) -> np.ndarray | None:
    """``values`` at ``rows`` when every profile has one (synthetic data), else None."""
    if any(v is None for v in values):
        return None
    return np.array(values, dtype=np.float64)[rows]


def _visible_slices(profiles: Sequence[LabelledProfile]) -> dict[str, np.ndarray]:
    """Test-row slices by what a profile shows: its history here and its claimed level."""
    levels = np.array([p.experience_level.value for p in profiles])
    counts = np.array([len(p.projects) for p in profiles])
    slices = {
        # The cold start: newcomers are most of a marketplace's traffic.
        "history none (cold start)": counts == 0,
        "history short (1-4 projects)": (counts >= 1) & (counts < 5),
        "history full (5+ projects)": counts >= 5,
        "20+ projects": counts >= 20,
    }
    slices.update(
        {f"level {level}": levels == level for level in ("entry", "mid", "senior", "expert")}
    )
    return slices


def _write_run(
    settings: Settings,
    version: str,
    artifact: bytes,
    result: training.TrainResult,
    metrics: dict[str, Any],
    run: report.RunEvaluation,
    card_info: dict[str, Any],
    test_ids: Sequence[str],
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
    report.plot_calibration(
        run.test_labels,
        {
            "before calibration": expit(run.test_logits),
            f"after ({run.calibration.method})": run.test_probs,
        },
        run_dir / "calibration.png",
    )
    columns = {report.MODEL: run.test_probs}
    for group in (run.baselines, run.ablations, run.candidates):
        columns.update({name: s.probs for name, s in group.items()})
    if run.ceiling is not None:
        columns[report.CEILING] = run.ceiling
    if run.latent is not None:
        columns[report.LATENT] = run.latent
    report.write_predictions(run_dir / "predictions.csv", test_ids, run.test_labels, columns)
    (run_dir / "MODEL_CARD.md").write_text(report.model_card(metrics, card_info), encoding="utf-8")
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
