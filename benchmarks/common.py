"""Pieces the throughput benchmarks share: the machine, the texts, the anchor, trustq's
in-process scoring, and a stand-in model for runs without a database."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from trustq.config import cpu_model

ROOT = Path(__file__).resolve().parents[1]


# --- the machine ---------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Cores, CPU, memory and GPU of this machine."""
    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu": cpu_model(),
        "memory_gib": memory,
        "gpu": gpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str | None]:
    """Library versions and the commit the figures belong to."""
    out: dict[str, str | None] = {}
    for name in (
        "torch",
        "transformers",
        "tokenizers",
        "sentence-transformers",
        "onnxruntime",
        "numpy",
        "celery",
        "kombu",
        "redis",
        "sqlalchemy",
        "psycopg2-binary",
    ):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        out["trustq_commit"] = commit + ("+uncommitted changes" if dirty else "") or None
    except OSError:
        out["trustq_commit"] = None
    # A copy of the tree on another machine (a GPU machine's) is told which commit it is:
    # its own git history, if it has one, need not be this tree's.
    out["trustq_commit"] = os.environ.get("TRUSTQ_BENCH_COMMIT") or out["trustq_commit"]
    return out


# --- texts ---------------------------------------------------------------------------------


def profiles(n: int, seed: int, words: tuple[int, int], tag: str) -> list[dict[str, Any]]:
    """``n`` synthetic profiles (public fields only) with resumes of ``words`` words, each
    with an external id of its own."""
    from trustq.data.synthetic import generate, public_fields

    out = []
    for record in generate(n, seed=seed, resume_words=words):
        public = public_fields(record)
        public["external_id"] = f"{tag}-{seed}-{public['external_id']}"
        out.append(public)
    return out


def parsed(records: Sequence[dict[str, Any]]) -> list[Any]:
    from trustq.schemas import Profile

    return [Profile.model_validate(r) for r in records]


def cut_to_tokens(records: list[dict[str, Any]], encoder: Any, tokens: int) -> None:
    """Cut each resume to at most ``tokens`` tokens with the special ones (one window)."""
    tokenizer = encoder._tokenizer
    content = tokens - 2
    for record in records:
        ids = tokenizer(record["resume_text"], add_special_tokens=False, verbose=False)["input_ids"]
        if len(ids) > content:
            record["resume_text"] = tokenizer.decode(
                ids[:content], clean_up_tokenization_spaces=False
            )


# --- the anchor ----------------------------------------------------------------------------


def anchor(
    encoder: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    device: str = "cpu",
    half: bool = False,
    repeat: int = 1,
) -> dict[str, Any]:
    """What an engineer would write instead of trustq: sentence-transformers on the same
    encoder folder, given the windows trustq reads (so both do the same encoder work)."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(encoder.path), device=device)
    if half:
        model.half()
    windows = [w for text in texts for w in encoder.window_texts(text)]
    features = model.tokenize(windows)
    tokens = int(features["attention_mask"].sum())
    model.encode(windows[: min(len(windows), 2 * batch_size)], batch_size=batch_size)
    best = float("inf")
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        model.encode(windows, batch_size=batch_size)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    del model
    return {
        "profiles": len(texts),
        "windows": len(windows),
        "tokens": tokens,
        "seconds": round(best, 3),
        "profiles_per_s": round(len(texts) / best, 2),
        "tokens_per_s": round(tokens / best, 1),
        "batch_size": batch_size,
        "device": device,
        "precision": "fp16" if half else "fp32",
    }


# --- trustq in process ---------------------------------------------------------------------


def chunks(profiles: Sequence[Any], encoder: Any, budget: int, most: int) -> list[list[Any]]:
    """Profiles in arrival order, cut into batches as a worker would take them."""
    out: list[list[Any]] = []
    current: list[Any] = []
    tokens = 0
    counts = [encoder.count_tokens([p.text])[1] for p in profiles]
    for profile, count in zip(profiles, counts, strict=True):
        current.append(profile)
        tokens += count
        if tokens >= budget or len(current) >= most:
            out.append(current)
            current, tokens = [], 0
    if current:
        out.append(current)
    return out


def inprocess(
    runtime: Any, profiles: Sequence[Any], *, budget: int, most: int, repeat: int = 1
) -> dict[str, Any]:
    """trustq's scoring with no queue and no database: encoder, LSTM, flags, rules,
    reasons and breakdown, in batches cut by the worker's budget."""
    from trustq.scoring.compute import BatchReport

    today = dt.date.today()
    batches = chunks(profiles, runtime.encoder, budget, most)
    runtime.score_batch(batches[0][:2], today)  # warm-up (kernels, first allocations)
    windows, tokens = runtime.encoder.count_tokens([p.text for p in profiles])
    from trustq.models.encoder import EncodeStats

    best: tuple[float, BatchReport] | None = None
    runtime.encoder.stats = EncodeStats()
    for _ in range(repeat):
        report = BatchReport()
        started = time.perf_counter()
        for batch in batches:
            results = runtime.score_batch(batch, today, report=report)
            failed = [r for r in results if isinstance(r, Exception)]
            if failed:
                raise RuntimeError(f"in-process scoring failed: {failed[0]!r}") from failed[0]
        seconds = time.perf_counter() - started
        if best is None or seconds < best[0]:
            best = (seconds, report)
    assert best is not None
    seconds, report = best
    stats = runtime.encoder.stats
    return {
        "profiles": len(profiles),
        "windows": windows,
        "tokens": tokens,
        "batches": len(batches),
        "seconds": round(seconds, 3),
        "profiles_per_s": round(len(profiles) / seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        "stages_s": {k: round(v, 3) for k, v in sorted(report.seconds.items())},
        # Of the token positions the encoder computed, the share that was padding.
        "padding_share": round(1 - stats.tokens / stats.padded_tokens, 4)
        if stats.padded_tokens
        else None,
        "reasons_encoded": report.reasons_encoded,
        "variant": runtime.encoder.variant,
        "reason_sentences": runtime.settings.reason_sentences,
    }


def random_scorer(encoder: Any, seed: int = 0) -> Any:
    """A randomly initialised TrustNet with a valid artifact: for timing only, its scores
    mean nothing."""
    import torch

    from trustq.models.artifact import deserialise, serialise, sha256_hex
    from trustq.models.features import STEP_FEATURES
    from trustq.models.network import TrustNet
    from trustq.models.profile_features import PROFILE_FEATURES
    from trustq.models.scorer import Reference, Scorer

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = TrustNet(encoder.dim, len(STEP_FEATURES), len(PROFILE_FEATURES)).eval()
    direction = rng.normal(size=encoder.dim)
    reference = Reference(
        (direction / np.linalg.norm(direction)).astype(np.float32),
        np.full((4, len(STEP_FEATURES)), 0.3, np.float32),
        np.full(len(PROFILE_FEATURES), 0.5, np.float32),
    )
    meta = {
        "temperature": 1.0,
        "calibration": {"method": "temperature", "a": 1.0, "b": 0.0},
        "reference": reference.to_meta(),
        "encoder": {"name": encoder.name, "revision": encoder.revision},
        "training_risky_share": 0.5,
        "resume_tokens": {"p01": 20.0, "p99": 3000.0},
        "note": "random weights: for speed measurement only",
    }
    blob = serialise(net, meta)
    model, loaded = deserialise(blob, sha256_hex(blob))
    return Scorer(model, loaded, version="random-for-timing")


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else None
