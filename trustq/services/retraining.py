"""Retraining: new labels in, a candidate out, promoted only if it is no worse.

A run is started by the beat check (when at least ``retrain_min_new_labels`` labels arrived
since the newest cut-off of any model version) or by hand (``trustq retrain --now``). Both
go through :func:`request_run`: under a PostgreSQL advisory lock, and with the unique
``training_runs.active_slot`` as the backstop, at most one run is queued or running.

A run (:func:`execute_run`, on the ``training`` queue) trains on the base synthetic set plus
every labelled submission except the most recent ones, which are held out with the base
set's test split. Candidate and serving model are scored on that same holdout and the
candidate is promoted only if it passes :func:`gate`. Every decision is recorded with
both models' metrics and a sentence a person can read.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from pydantic import ValidationError

from trustq import metrics
from trustq.broker import names
from trustq.broker.app import producer
from trustq.config import Settings
from trustq.data.synthetic import REFERENCE_DATE
from trustq.db import labels as labels_db
from trustq.db import models as models_db
from trustq.db import runs as runs_db
from trustq.db.session import session_scope
from trustq.db.tables import ModelDecision, TrainingRunStatus
from trustq.models import training
from trustq.schemas import LabelledProfile
from trustq.scoring.serving import ModelUnavailable
from trustq.services.evaluation import score_labelled
from trustq.services.submissions import BrokerUnavailable
from trustq.services.training import synthetic_profiles, train_and_register

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRequest:
    """What a trigger achieved: a new run, or why not."""

    started: bool
    run_id: int | None
    message: str


def labels_cut_off(session: Any) -> dt.datetime | None:
    """The newest label any model version has seen: labels after it are new."""
    return labels_db.newest_labels_until(session)


def request_run(
    settings: Settings,
    *,
    trigger: str,
    requested_by: str,
    force: bool = False,
    min_new_labels: int | None = None,
) -> RunRequest:
    """Queue one training run if none is active and (unless ``force``) enough submissions
    were labelled since the last cut-off (each counted once, excluded keys' labels not):
    ``min_new_labels``, by default TRUSTQ_RETRAIN_MIN_NEW_LABELS. Safe to call from any
    number of processes at once: one run results."""
    needed = settings.retrain_min_new_labels if min_new_labels is None else min_new_labels
    with session_scope() as session:
        if not runs_db.try_retrain_lock(session):
            return RunRequest(False, None, "another trigger is starting a run at this moment")
        _expire_lost_runs(session, settings)
        active = runs_db.active_training_run(session)
        if active is not None:
            return RunRequest(False, active.id, f"run {active.id} is already {active.status}")
        new = labels_db.count_labels_since(session, labels_cut_off(session))
        if not force and new < needed:
            return RunRequest(
                False,
                None,
                f"{new} newly labelled submission(s) since the last training cut-off; "
                f"a run starts at {needed}",
            )
        run = runs_db.add_training_run(
            session, trigger=trigger, requested_by=requested_by, new_labels=new
        )
        if run is None:
            return RunRequest(False, None, "another trigger started a run at this moment")
        run_id = run.id
    # Published only once the run is committed, so the task always finds it.
    try:
        producer.send_task(
            names.RETRAIN_RUN,
            args=[run_id],
            queue=names.TRAINING_QUEUE,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception as exc:
        with session_scope() as session:
            runs_db.finish_training_run(
                session, run_id, status=TrainingRunStatus.failed, error=f"not queued: {exc}"
            )
        raise BrokerUnavailable(f"training run {run_id} could not be queued: {exc}") from exc
    log.info("training run %s queued (%s by %s, %s new labels)", run_id, trigger, requested_by, new)
    return RunRequest(True, run_id, f"run {run_id} queued with {new} newly labelled submission(s)")


def _expire_lost_runs(session: Any, settings: Settings) -> None:
    """A run queued or running for longer than ``retrain_stale_after`` lost its worker or its
    message; it is marked failed so that it no longer blocks the next one."""
    active = runs_db.active_training_run(session)
    if active is None:
        return
    since = active.started_at or active.created_at
    age = (dt.datetime.now(dt.UTC) - since).total_seconds()
    if age > settings.retrain_stale_after:
        runs_db.finish_training_run(
            session,
            active.id,
            status=TrainingRunStatus.failed,
            error=f"no result after {age:.0f} s; presumed lost",
        )
        session.flush()


# --- the run ---------------------------------------------------------------------------------


@dataclass
class RunData:
    """Everything a run trains and is judged on."""

    profiles: list[LabelledProfile]
    dates: list[dt.date]
    train_idx: np.ndarray
    val_idx: np.ndarray
    holdout_idx: np.ndarray
    n_base_holdout: int
    n_labelled_train: int
    n_labelled_holdout: int
    skipped: dict[str, int]
    labels_until: dt.datetime | None


T = TypeVar("T")


def split_holdout(
    items: Sequence[T], origins: Sequence[str], n_holdout: int
) -> tuple[list[T], list[T]]:
    """(to fit on, to hold out) of ``items`` (oldest first): the holdout takes each origin's
    newest items in turn, so one key that labels a flood fills no more of it than any other
    origin does, and as much only when the others run out."""
    newest_first: dict[str, list[int]] = {}
    for i in range(len(items) - 1, -1, -1):
        newest_first.setdefault(origins[i], []).append(i)
    held: set[int] = set()
    queues = [q for _, q in sorted(newest_first.items())]
    while len(held) < n_holdout and any(queues):
        for queue in queues:
            if queue and len(held) < n_holdout:
                held.add(queue.pop(0))
    return (
        [item for i, item in enumerate(items) if i not in held],
        [item for i, item in enumerate(items) if i in held],
    )


def assemble(settings: Settings, labelled: Sequence[labels_db.LabelledSubmission]) -> RunData:
    """The base synthetic set and the labelled submissions, split into train, validation
    and the holdout (the base test split plus the most recent labelled submissions)."""
    base = synthetic_profiles(
        settings.retrain_base_size,
        settings.retrain_base_seed,
        resume_words=settings.retrain_base_resume_words,
    )
    b_train, b_val, b_test = training.stratified_split(
        [p.label for p in base], settings.retrain_base_seed
    )
    usable: list[tuple[LabelledProfile, dt.date]] = []
    origins: list[str] = []
    skipped = {"erased": 0, "no resume text": 0, "invalid": 0}
    for item in labelled:
        if item.erased:
            skipped["erased"] += 1
            continue
        if not item.payload.get("resume_text"):
            skipped["no resume text"] += 1
            continue
        try:
            profile = LabelledProfile.model_validate(
                {**item.payload, "label": 1 if item.label == "risky" else 0}
            )
        except ValidationError:
            skipped["invalid"] += 1
            continue
        usable.append((profile, item.submitted_at.date()))
        origins.append(item.origin)

    n_holdout = math.ceil(settings.retrain_holdout_fraction * len(usable)) if usable else 0
    fitting, held = split_holdout(usable, origins, n_holdout)
    profiles = list(base) + [p for p, _ in fitting] + [p for p, _ in held]
    dates = [REFERENCE_DATE] * len(base) + [d for _, d in fitting] + [d for _, d in held]

    start = len(base)
    l_train, l_val = np.zeros(0, np.int64), np.zeros(0, np.int64)
    if fitting:
        tr, va, _ = training.stratified_split(
            [p.label for p, _ in fitting], settings.retrain_base_seed, (0.85, 0.15, 0.0)
        )
        l_train, l_val = tr + start, va + start
    holdout_l = np.arange(start + len(fitting), len(profiles), dtype=np.int64)
    return RunData(
        profiles=profiles,
        dates=dates,
        train_idx=np.concatenate([b_train, l_train]),
        val_idx=np.concatenate([b_val, l_val]),
        holdout_idx=np.concatenate([b_test, holdout_l]),
        n_base_holdout=len(b_test),
        n_labelled_train=len(fitting),
        n_labelled_holdout=len(held),
        skipped={k: v for k, v in skipped.items() if v},
        labels_until=max((item.labelled_at for item in labelled), default=None),
    )


def holdout_metrics(
    settings: Settings, version: str, profiles: Sequence[LabelledProfile], dates: Sequence[dt.date]
) -> dict[str, Any]:
    """Metrics of model ``version`` on ``profiles``, scored as the workers score them;
    ModelUnavailable when it cannot be scored with."""
    scores = score_labelled(settings, version, profiles, dates)
    labels = np.array([p.label for p in profiles], dtype=np.int64)
    return training.metrics(labels, scores.p_risk)


def gate(
    candidate: dict[str, Any], serving: dict[str, Any] | None, settings: Settings
) -> tuple[bool, str]:
    """Promote or not, with the reason in words."""
    auc, loss = candidate.get("roc_auc"), candidate.get("log_loss")
    if auc is None or loss is None:
        return False, "rejected: the holdout holds one class only, so nothing can be compared"
    problems = []
    if auc < settings.promote_min_auc:
        problems.append(f"ROC-AUC {auc:.3f} < floor {settings.promote_min_auc:.3f}")
    if loss > settings.promote_max_log_loss:
        problems.append(f"log-loss {loss:.3f} > ceiling {settings.promote_max_log_loss:.3f}")
    if serving is not None:
        s_auc, s_loss = serving["roc_auc"], serving["log_loss"]
        drop, rise = settings.promote_max_auc_drop, settings.promote_max_log_loss_rise
        if auc < s_auc - drop:
            problems.append(f"ROC-AUC {auc:.3f} < serving {s_auc:.3f} − {drop:g}")
        if loss > s_loss + rise:
            problems.append(f"log-loss {loss:.3f} > serving {s_loss:.3f} + {rise:g}")
    n = candidate.get("n", 0)
    if problems:
        return False, f"rejected on {n} holdout profiles: " + "; ".join(problems)
    versus = (
        f" (serving: ROC-AUC {serving['roc_auc']:.3f}, log-loss {serving['log_loss']:.3f})"
        if serving is not None
        else " (no model was serving)"
    )
    return True, f"promoted on {n} holdout profiles: ROC-AUC {auc:.3f}, log-loss {loss:.3f}" + (
        versus
    )


def execute_run(settings: Settings, run_id: int) -> dict[str, Any]:
    """Train, judge and maybe promote; the run row records how it ended."""
    with session_scope() as session:
        run = runs_db.claim_training_run(session, run_id)
        if run is None:
            log.warning("training run %s is not queued (delivered twice?); skipped", run_id)
            return {"run": run_id, "outcome": "skipped"}
        requested_by, trigger = run.requested_by, run.trigger
        serving = models_db.serving_model(session)
        serving_version = serving.version if serving is not None else None
        labelled = labels_db.current_labels(session)
    try:
        return _train_and_judge(settings, run_id, requested_by, trigger, serving_version, labelled)
    except Exception as exc:
        log.exception("training run %s failed", run_id)
        with session_scope() as session:
            runs_db.finish_training_run(
                session,
                run_id,
                status=TrainingRunStatus.failed,
                error=f"{type(exc).__name__}: {exc}",
            )
        metrics.retraining_run(trigger, "failed")
        return {"run": run_id, "outcome": "failed", "error": str(exc)}


def _train_and_judge(
    settings: Settings,
    run_id: int,
    requested_by: str,
    trigger: str,
    serving_version: str | None,
    labelled: Sequence[labels_db.LabelledSubmission],
) -> dict[str, Any]:
    data = assemble(settings, labelled)
    log.info(
        "training run %s: %d base profiles, %d labelled to train on, %d labelled held out%s",
        run_id,
        settings.retrain_base_size,
        data.n_labelled_train,
        data.n_labelled_holdout,
        f", skipped {data.skipped}" if data.skipped else "",
    )
    config = training.TrainConfig(
        max_epochs=settings.retrain_max_epochs, seed=settings.retrain_base_seed, progress=False
    )
    words = settings.retrain_base_resume_words
    lengths = f", resumes of {words[0]}-{words[1]} words" if words else ""
    report = train_and_register(
        settings,
        data.profiles,
        as_of=data.dates,
        created_by=f"retraining run {run_id} ({requested_by})",
        serve=False,
        config=config,
        data_description=(
            f"{settings.retrain_base_size} synthetic profiles (seed {settings.retrain_base_seed}"
            f"{lengths}) and {data.n_labelled_train} labelled submissions"
        ),
        split=(data.train_idx, data.val_idx, data.holdout_idx),
        labels_until=data.labels_until,
        labels_used=data.n_labelled_train,
    )
    held = [data.profiles[i] for i in data.holdout_idx]
    held_dates = [data.dates[i] for i in data.holdout_idx]
    candidate = holdout_metrics(settings, report.version, held, held_dates)
    serving, unscorable = None, ""
    if serving_version is not None:
        try:
            serving = holdout_metrics(settings, serving_version, held, held_dates)
        except ModelUnavailable as exc:
            # The workers cannot load it either; the floors alone decide.
            unscorable = f"; the serving model {serving_version} could not be scored ({exc})"
    promote, reason = gate(candidate, serving, settings)
    reason += unscorable
    holdout = {
        "base_test": data.n_base_holdout,
        "labelled_recent": data.n_labelled_holdout,
    }
    with session_scope() as session:
        now_serving = models_db.serving_model(session)
        now_version = now_serving.version if now_serving is not None else None
        if promote and now_version != serving_version:
            promote = False
            reason = (
                f"rejected: the serving model changed from {serving_version} to {now_version} "
                "during the run, so the comparison no longer holds"
            )
        models_db.add_model_decision(
            session,
            ModelDecision(
                version=report.version,
                previous_version=serving_version,
                decision="promoted" if promote else "rejected",
                actor=f"retraining run {run_id}",
                reason=reason,
                candidate_metrics={**_summary(candidate), "holdout": holdout},
                serving_metrics=_summary(serving) if serving is not None else {},
            ),
        )
        if promote:
            models_db.promote_model(session, report.version)
        runs_db.finish_training_run(
            session, run_id, status=TrainingRunStatus.done, candidate_version=report.version
        )
    metrics.retraining_run(trigger, "promoted" if promote else "rejected")
    metrics.promotion_decision("promoted" if promote else "rejected", automatic=True)
    log.info("training run %s: %s %s", run_id, report.version, reason)
    return {
        "run": run_id,
        "outcome": "promoted" if promote else "rejected",
        "version": report.version,
        "reason": reason,
    }


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("n", "roc_auc", "pr_auc", "log_loss", "brier", "ece", "accuracy")
    return {k: metrics.get(k) for k in keys}
