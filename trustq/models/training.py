"""Training, calibration and evaluation of TrustNet."""

from __future__ import annotations

import copy
import datetime as dt
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)
from torch import nn
from tqdm import tqdm

from trustq.models.features import STEP_FEATURES, profile_features
from trustq.models.network import TrustNet
from trustq.models.profile_features import PROFILE_FEATURES
from trustq.models.threads import torch_threads
from trustq.schemas import Profile

CLASS_NAMES = ("trustworthy", "risky")
ECE_BINS = 15
# Batches are drawn from pools of this many batches sorted by length: little padding,
# yet each epoch still mixes rows differently.
BUCKET_BATCHES = 50
TEMPERATURE_BOUNDS = (0.05, 20.0)
CALIBRATION_METHODS = ("temperature", "platt")


@dataclass
class Dataset:
    """Model inputs and labels, aligned by row."""

    embeddings: np.ndarray
    steps: list[np.ndarray]
    indicators: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.labels)
        if not (len(self.embeddings) == len(self.steps) == len(self.indicators) == n):
            raise ValueError("embeddings, steps, indicators and labels must have equal length")

    def __len__(self) -> int:
        return len(self.labels)


def build_dataset(
    profiles: Sequence[Profile],
    labels: Sequence[int],
    embeddings: np.ndarray,
    as_of: dt.date | Sequence[dt.date],
) -> Dataset:
    """Features of ``profiles`` as of ``as_of`` (one date, or one per profile: the day each
    was scored), with their resume embeddings and labels."""
    if not (len(profiles) == len(labels) == len(embeddings)):
        raise ValueError("profiles, labels and embeddings must have equal length")
    y = np.asarray(labels, dtype=np.int64)
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (trustworthy) or 1 (risky)")
    steps: list[np.ndarray] = []
    indicators = np.zeros((len(profiles), len(PROFILE_FEATURES)), dtype=np.float32)
    dates = dates_of(as_of, len(profiles))
    for i, profile in enumerate(profiles):
        steps_i, indicators[i] = profile_features(profile, dates[i])
        steps.append(steps_i)
    return Dataset(
        embeddings=np.ascontiguousarray(embeddings, dtype=np.float32),
        steps=steps,
        indicators=indicators,
        labels=y,
    )


def dates_of(as_of: dt.date | Sequence[dt.date], n: int) -> list[dt.date]:
    """``as_of`` as one date per profile."""
    if isinstance(as_of, dt.date):
        return [as_of] * n
    dates = list(as_of)
    if len(dates) != n:
        raise ValueError(f"{n} profiles but {len(dates)} as-of dates")
    return dates


def stratified_split(
    labels: Sequence[int] | np.ndarray,
    seed: int,
    fractions: tuple[float, float, float] = (0.70, 0.15, 0.15),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted train/validation/test index arrays with each class split in ``fractions``."""
    if len(fractions) != 3 or min(fractions) < 0 or not math.isclose(sum(fractions), 1.0):
        raise ValueError("fractions must be three non-negative numbers summing to 1")
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        n_train = round(fractions[0] * len(idx))
        n_val = round(fractions[1] * len(idx))
        parts[0].append(idx[:n_train])
        parts[1].append(idx[n_train : n_train + n_val])
        parts[2].append(idx[n_train + n_val :])
    train, val, test = (np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts)
    return train, val, test


@dataclass
class TrainConfig:
    """The original's recipe, plus switches for ablations."""

    max_epochs: int = 50
    patience: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-5
    lr_factor: float = 0.5
    lr_patience: int = 5
    clip: float = 1.0
    seed: int = 0
    hidden: tuple[int, ...] = (256, 128, 64)
    dropout: float = 0.4
    use_text: bool = True
    use_sequence: bool = True
    use_indicators: bool = True
    progress: bool = True
    # None means one thread: batch-32 LSTM steps are too small to gain much from more, and
    # with another busy process on the cores, spinning OpenMP threads made epochs 10x slower.
    threads: int | None = None


@dataclass(frozen=True)
class Calibration:
    """Maps a logit z to P(risky) = sigmoid(a * z + b).

    Temperature scaling is the special case a = 1 / T, b = 0; Platt scaling fits both.
    """

    method: str = "temperature"
    a: float = 1.0
    b: float = 0.0

    def __post_init__(self) -> None:
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(f"unknown calibration method {self.method!r}")
        if not (math.isfinite(self.a) and math.isfinite(self.b)):
            raise ValueError("calibration a and b must be finite")
        # A non-positive slope would flip or flatten the model's ranking.
        if self.a <= 0:
            raise ValueError("calibration slope a must be positive")
        if self.method == "temperature" and self.b != 0:
            raise ValueError("temperature scaling has no offset b")

    @classmethod
    def from_temperature(cls, temperature: float) -> Calibration:
        return cls("temperature", 1.0 / float(temperature), 0.0)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Calibration:
        """The calibration recorded in artifact metadata; older artifacts hold only a
        ``temperature``."""
        recorded = meta.get("calibration")
        if recorded is None:
            temperature = meta.get("temperature")
            if isinstance(temperature, bool) or not isinstance(temperature, int | float):
                raise ValueError("no calibration and no temperature")
            if not (math.isfinite(temperature) and temperature > 0):
                raise ValueError(f"temperature {temperature!r} is not a positive number")
            return cls.from_temperature(temperature)
        if not isinstance(recorded, dict):
            raise ValueError("calibration must be an object")
        a, b = recorded.get("a"), recorded.get("b")
        for value in (a, b):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("calibration a and b must be numbers")
        return cls(str(recorded.get("method")), float(a), float(b))

    @property
    def temperature(self) -> float:
        """The temperature with the same slope (what older readers of an artifact use)."""
        return 1.0 / self.a

    def to_meta(self) -> dict[str, Any]:
        return {"method": self.method, "a": self.a, "b": self.b}

    def logits(self, logits: np.ndarray | Sequence[float]) -> np.ndarray:
        return self.a * np.asarray(logits, dtype=np.float64) + self.b

    def proba(self, logits: np.ndarray | Sequence[float]) -> np.ndarray:
        return expit(self.logits(logits))

    def shifted(self, from_share: float, to_share: float) -> Calibration:
        """The same calibration for traffic with ``to_share`` risky instead of
        ``from_share``: Bayes' rule moves the odds by the ratio of the priors' odds."""
        for share in (from_share, to_share):
            if not 0 < share < 1:
                raise ValueError(f"a risky share must lie strictly between 0 and 1, not {share}")
        offset = math.log(to_share / (1 - to_share)) - math.log(from_share / (1 - from_share))
        return Calibration("platt", self.a, self.b + offset)


@dataclass
class TrainResult:
    """The best model (eval mode), its calibration and how training went."""

    model: TrustNet
    temperature: float
    calibration: Calibration = field(default_factory=Calibration)
    # Uncalibrated validation logits of the best model: what the calibration was fitted on.
    val_logits: np.ndarray = field(default_factory=lambda: np.zeros(0))
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


class _Tensors:
    """The dataset as padded tensors, so a batch is a slice rather than a Python loop."""

    def __init__(self, ds: Dataset) -> None:
        lengths = np.array([len(s) for s in ds.steps], dtype=np.int64)
        if lengths.size and lengths.min() < 1:
            raise ValueError("every profile needs at least one step (see project_steps)")
        width = int(lengths.max()) if lengths.size else 1
        step_dim = ds.steps[0].shape[1] if ds.steps else len(STEP_FEATURES)
        padded = np.zeros((len(ds), width, step_dim), dtype=np.float32)
        for i, s in enumerate(ds.steps):
            padded[i, : len(s)] = s
        self.embeddings = torch.from_numpy(np.ascontiguousarray(ds.embeddings, np.float32))
        self.steps = torch.from_numpy(padded)
        self.lengths = torch.from_numpy(lengths)
        self.indicators = torch.from_numpy(np.ascontiguousarray(ds.indicators, np.float32))
        self.labels = torch.from_numpy(np.asarray(ds.labels, np.float32))
        self.step_dim = step_dim

    def batch(self, idx: np.ndarray) -> tuple[torch.Tensor, ...]:
        t = torch.from_numpy(idx)
        lengths = self.lengths[t]
        width = int(lengths.max())
        return (
            self.embeddings[t],
            self.steps[t, :width],
            lengths,
            self.indicators[t],
            self.labels[t],
        )


def _bucketed_batches(
    idx: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    shuffled = rng.permutation(idx)
    pool = batch_size * BUCKET_BATCHES
    batches: list[np.ndarray] = []
    for start in range(0, len(shuffled), pool):
        chunk = shuffled[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def _length_sorted_batches(idx: np.ndarray, lengths: np.ndarray, batch_size: int) -> list:
    ordered = idx[np.argsort(lengths[idx], kind="stable")]
    return [ordered[b : b + batch_size] for b in range(0, len(ordered), batch_size)]


def _logits(model: TrustNet, data: _Tensors, idx: np.ndarray, batch_size: int) -> np.ndarray:
    out = np.zeros(len(idx), dtype=np.float64)
    lengths = data.lengths.numpy()
    position = np.empty(len(data.labels), dtype=np.int64)
    position[idx] = np.arange(len(idx))
    model.eval()
    with torch.inference_mode():
        for batch in _length_sorted_batches(np.asarray(idx), lengths, batch_size):
            emb, steps, lens, ind, _ = data.batch(batch)
            out[position[batch]] = model(emb, steps, lens, ind).double().numpy()
    return out


def logit_nll(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary cross-entropy of sigmoid(``logits``) against ``labels``."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    # log(1 + e^z) - y*z, written to stay finite for large |z|.
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_temperature(
    logits: np.ndarray | Sequence[float], labels: np.ndarray | Sequence[int]
) -> float:
    """The temperature T minimising the NLL of sigmoid(logits / T) on ``labels``."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if z.size == 0 or len(np.unique(y)) < 2:
        return 1.0
    lo, hi = (math.log(b) for b in TEMPERATURE_BOUNDS)
    result = minimize_scalar(
        lambda log_t: logit_nll(z / math.exp(log_t), y),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-4},
    )
    best = math.exp(float(result.x))
    # Never return something worse than leaving the logits alone.
    return best if logit_nll(z / best, y) <= logit_nll(z, y) else 1.0


def fit_platt(
    logits: np.ndarray | Sequence[float], labels: np.ndarray | Sequence[int]
) -> tuple[float, float]:
    """The (a, b) minimising the NLL of sigmoid(a * logits + b) on ``labels``."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if z.size == 0 or len(np.unique(y)) < 2:
        return 1.0, 0.0

    def loss_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = params
        s = a * z + b
        residual = expit(s) - y
        return logit_nll(s, y), np.array([np.mean(residual * z), np.mean(residual)])

    result = minimize(loss_and_grad, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    a, b = (float(v) for v in result.x)
    if not (math.isfinite(a) and math.isfinite(b)) or logit_nll(a * z + b, y) > logit_nll(z, y):
        return 1.0, 0.0
    return a, b


def fit_calibration(
    logits: np.ndarray | Sequence[float], labels: np.ndarray | Sequence[int]
) -> Calibration:
    """Temperature or Platt scaling, whichever gives the lower NLL on (``logits``, ``labels``).

    Platt's family contains temperature scaling, so it wins whenever the offset b helps at
    all; temperature is kept when it does not, or when Platt's slope is not positive.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    temperature = Calibration.from_temperature(fit_temperature(z, y))
    a, b = fit_platt(z, y)
    if a <= 0:
        return temperature
    platt = Calibration("platt", a, b)
    return (
        platt
        if logit_nll(platt.logits(z), y) < logit_nll(temperature.logits(z), y)
        else temperature
    )


def train(
    ds: Dataset, train_idx: np.ndarray, val_idx: np.ndarray, cfg: TrainConfig | None = None
) -> TrainResult:
    """Train on ``train_idx`` with early stopping on ``val_idx``, then calibrate on ``val_idx``."""
    cfg = cfg or TrainConfig()
    train_idx = np.asarray(train_idx, dtype=np.int64)
    val_idx = np.asarray(val_idx, dtype=np.int64)
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise ValueError("train and validation sets must both be non-empty")
    started = time.perf_counter()
    with torch_threads(cfg.threads or 1):
        return _train(ds, train_idx, val_idx, cfg, started)


def _train(
    ds: Dataset, train_idx: np.ndarray, val_idx: np.ndarray, cfg: TrainConfig, started: float
) -> TrainResult:
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    data = _Tensors(ds)
    lengths = data.lengths.numpy()
    model = TrustNet(
        embed_dim=data.embeddings.shape[1],
        step_dim=data.step_dim,
        n_indicators=data.indicators.shape[1],
        hidden=cfg.hidden,
        dropout=cfg.dropout,
        use_text=cfg.use_text,
        use_sequence=cfg.use_sequence,
        use_indicators=cfg.use_indicators,
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimiser, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience
    )
    loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
    val_labels = ds.labels[val_idx]

    history: list[dict[str, float]] = []
    best_loss = math.inf
    best_epoch = 0
    best_state = copy.deepcopy(model.state_dict())
    bar = tqdm(
        total=cfg.max_epochs,
        desc="training",
        unit="epoch",
        file=sys.stderr,
        disable=not cfg.progress,
    )
    try:
        for epoch in range(1, cfg.max_epochs + 1):
            model.train()
            total_loss = 0.0
            correct = 0
            for batch in _bucketed_batches(train_idx, lengths, cfg.batch_size, rng):
                emb, steps, lens, ind, y = data.batch(batch)
                logits = model(emb, steps, lens, ind)
                loss = loss_fn(logits, y)
                optimiser.zero_grad(set_to_none=True)
                (loss / len(batch)).backward()
                nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                optimiser.step()
                total_loss += float(loss.detach())
                correct += int(((logits.detach() > 0).float() == y).sum())

            val_logits = _logits(model, data, val_idx, 256)
            val_loss = logit_nll(val_logits, val_labels)
            val_acc = float(np.mean((val_logits > 0) == (val_labels == 1)))
            lr = optimiser.param_groups[0]["lr"]
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": total_loss / len(train_idx),
                    "train_acc": correct / len(train_idx),
                    "val_loss": val_loss,
                    "val_acc": val_acc,
                    "lr": lr,
                }
            )
            scheduler.step(val_loss)
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / len(train_idx):.4f}", val_loss=f"{val_loss:.4f}")

            if val_loss < best_loss:
                best_loss, best_epoch = val_loss, epoch
                best_state = copy.deepcopy(model.state_dict())
            elif epoch - best_epoch >= cfg.patience:
                break
    finally:
        bar.close()

    model.load_state_dict(best_state)
    model.eval()
    val_logits = _logits(model, data, val_idx, 256)
    calibration = fit_calibration(val_logits, val_labels)
    return TrainResult(
        model=model,
        temperature=fit_temperature(val_logits, val_labels),
        calibration=calibration,
        val_logits=val_logits,
        history=history,
        best_epoch=best_epoch,
        seconds=time.perf_counter() - started,
    )


def predict_logits(
    model: TrustNet, ds: Dataset, idx: np.ndarray | None = None, batch_size: int = 256
) -> np.ndarray:
    """Uncalibrated logits of P(risky) for the rows ``idx`` (all rows when None)."""
    rows = np.arange(len(ds)) if idx is None else np.asarray(idx, dtype=np.int64)
    if len(rows) == 0:
        return np.zeros(0, dtype=np.float64)
    return _logits(model, _Tensors(ds), rows, batch_size)


def predict_proba(
    model: TrustNet,
    calibration: Calibration | float,
    ds: Dataset,
    idx: np.ndarray | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Calibrated P(risky) for the rows ``idx`` (all rows when None).

    ``calibration`` is a :class:`Calibration` or a bare temperature.
    """
    if not isinstance(calibration, Calibration):
        calibration = Calibration.from_temperature(calibration)
    return calibration.proba(predict_logits(model, ds, idx, batch_size))


def expected_calibration_error(
    labels: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Mean |observed risky rate − mean P(risky)| over equal-width bins, weighted by count."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if p.size == 0:
        return 0.0
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(y[mask].mean() - p[mask].mean())
    return float(ece)


def metrics(labels: np.ndarray | Sequence[int], probs: np.ndarray | Sequence[float]) -> dict:
    """Classification and calibration metrics of P(risky) against labels; threshold 0.5."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    pred = (p >= 0.5).astype(np.int64)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=[0, 1], zero_division=0
    )
    both_classes = len(np.unique(y)) == 2
    return {
        "n": int(len(y)),
        "accuracy": float(np.mean(pred == y)) if len(y) else 0.0,
        "per_class": {
            name: {
                "precision": float(precision[k]),
                "recall": float(recall[k]),
                "f1": float(f1[k]),
                "support": int(support[k]),
            }
            for k, name in enumerate(CLASS_NAMES)
        },
        # Rows are the true class, columns the predicted class: [trustworthy, risky].
        "confusion_matrix": confusion_matrix(y, pred, labels=[0, 1]).tolist(),
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else None,
        "pr_auc": float(average_precision_score(y, p)) if both_classes else None,
        "log_loss": float(log_loss(y, p, labels=[0, 1])) if len(y) else None,
        "brier": float(brier_score_loss(y, p, pos_label=1)) if len(y) else None,
        "ece": expected_calibration_error(y, p),
    }
