"""Which precision a CPU worker's encoder runs in when ``TRUSTQ_ENCODER_PRECISION`` is
``auto``: the fastest, measured on this machine, of the variants whose embeddings are the
reference's (fp32 PyTorch, what models are trained on) to within :data:`FAITHFUL_COSINE`.

A CPU's flags do not say what it runs fastest: bf16 is native on some CPUs and emulated,
several times slower than fp32, on others, and int8 moves embeddings enough to change a few
verdicts' bands. So each candidate encodes the same texts, its vectors are compared with
fp32's and its time is taken; int8 is measured and refused by its cosines unless an
operator pins it. fp32 is kept unless another variant is :data:`PREFER_REFERENCE_WITHIN`
faster: its vectors are exact and its cached embeddings are shared with training.

The measurement takes a few seconds and is kept in ``DATA_DIR/encoders/variant-choice.json``
under a key of the CPU model, torch's version, the checkpoint's folder and architecture,
the window length and the thread count; a file lock makes the processes of one machine
measure once between them.
Compiled fp32 (``TRUSTQ_ENCODER_COMPILE``) is not among the candidates: compiling takes
about half a minute per process at every start; an operator pins it where the benchmark's
variant table shows it ahead.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trustq.config import Settings, cpu_model
from trustq.models.encoder import Encoder, default_encoder_path

log = logging.getLogger(__name__)

CANDIDATES: tuple[str, ...] = ("fp32", "bf16", "int8")
# Smallest cosine to the fp32 vector, over the calibration texts, of a variant that keeps
# the verdicts: bf16 stays above 0.99997 on real resumes, int8 falls to about 0.98.
FAITHFUL_COSINE = 0.9999
PREFER_REFERENCE_WITHIN = 0.10
CHOICE_FILE = "variant-choice.json"

_PARAGRAPH = (
    "Senior backend engineer with nine years of experience building payment and logistics "
    "platforms. Led the migration of a monolithic order service to event-driven "
    "microservices on Kubernetes, cutting checkout latency by a third. Designed the data "
    "model and APIs for a warehouse routing system used by forty sites, mentored four "
    "junior developers and ran the on-call rotation. Comfortable with Python, Go, "
    "PostgreSQL, Kafka and Terraform; I write tests first, document decisions and prefer "
    "small, reversible releases. Recent work: a fraud scoring pipeline for a fintech "
    "client, a reporting dashboard for a retail chain and an open-source library for "
    "idempotent job queues. Available for long-term contracts, remote or on site in "
    "Lisbon, and happy to start with a paid trial week."
)
# Lengths in words: a blurb, a short resume and long ones that take several windows.
_LENGTHS = (40, 120, 260, 520, 900, 60, 200, 700)


def calibration_texts() -> list[str]:
    """Texts of the lengths resumes have, each starting at a different word."""
    words = _PARAGRAPH.split()
    out = []
    for i, n in enumerate(_LENGTHS):
        start = (i * 7) % len(words)
        out.append(" ".join(words[(start + k) % len(words)] for k in range(n)))
    return out


@dataclass(frozen=True)
class Measured:
    """One candidate's figures: best seconds for the texts, and its worst cosine to fp32."""

    seconds: float
    min_cosine: float
    faithful: bool


@dataclass(frozen=True)
class Choice:
    """The chosen precision, what every candidate measured, and when."""

    precision: str
    measured: dict[str, Measured]
    measured_at: str
    key: str
    cpu: str = ""
    threads: int = 0

    def describe(self) -> str:
        """One line for logs and ``trustq status``."""
        ref = self.measured["fp32"].seconds
        parts = []
        for name, m in self.measured.items():
            speed = f"{ref / m.seconds:.2f}x fp32" if m.seconds > 0 else "?"
            parts.append(f"{name} {speed}" + ("" if m.faithful else " (not faithful)"))
        return f"torch-{self.precision}, measured fastest faithful: {', '.join(parts)}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Choice:
        measured = {str(k): Measured(**v) for k, v in data["measured"].items()}
        return cls(**{**data, "measured": measured})


def choice_key(settings: Settings) -> str:
    """What a measured choice holds for: this CPU model, torch, the checkpoint (its folder
    and architecture), windows, threads."""
    folder = Path(settings.encoder_path or default_encoder_path()).expanduser().resolve()
    try:
        config = (folder / "config.json").read_bytes()
    except OSError as exc:
        raise ValueError(f"encoder folder {folder}: no readable config.json ({exc})") from exc
    parts = [
        cpu_model(),
        torch.__version__,
        str(folder),
        hashlib.sha256(config).hexdigest(),
        str(settings.encoder_max_tokens),
        str(settings.encoder_batch_size),
        str(settings.resolved_torch_threads),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def choose(measured: dict[str, Measured]) -> str:
    """The fastest faithful candidate; fp32 unless another is clearly faster."""
    if "fp32" not in measured:
        raise ValueError("the fp32 reference must be measured")
    best = min((m.seconds, name) for name, m in measured.items() if m.faithful)[1]
    if measured[best].seconds * (1.0 + PREFER_REFERENCE_WITHIN) > measured["fp32"].seconds:
        return "fp32"
    return best


def measure(
    settings: Settings,
    *,
    candidates: Sequence[str] = CANDIDATES,
    texts: Sequence[str] | None = None,
    repeat: int = 2,
) -> Choice:
    """Encode the calibration texts with each candidate on the CPU; choose."""
    texts = list(texts or calibration_texts())
    reference: np.ndarray | None = None
    measured: dict[str, Measured] = {}
    for precision in ["fp32", *[c for c in candidates if c != "fp32"]]:
        encoder = Encoder(
            settings.encoder_path,
            max_tokens=settings.encoder_max_tokens,
            overlap_tokens=settings.encoder_overlap_tokens,
            batch_size=settings.encoder_batch_size,
            device="cpu",
            precision=precision,
        )
        vectors = encoder.encode(texts[:2])  # warm-up: first allocations, kernels
        best = float("inf")
        for _ in range(max(1, repeat)):
            started = time.perf_counter()
            vectors = encoder.encode(texts)
            best = min(best, time.perf_counter() - started)
        if reference is None:
            reference = vectors
        cosine = float((vectors * reference).sum(axis=1).min())
        measured[precision] = Measured(round(best, 4), round(cosine, 6), cosine >= FAITHFUL_COSINE)
        del encoder
    return Choice(
        precision=choose(measured),
        measured=measured,
        measured_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        key=choice_key(settings),
        cpu=cpu_model(),
        threads=settings.resolved_torch_threads,
    )


def _choice_file(settings: Settings) -> Path:
    return settings.data_dir / "encoders" / CHOICE_FILE


def _read(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); delete it to measure again") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a mapping; delete it to measure again")
    return data


def _entry(path: Path, entries: dict[str, dict[str, Any]], key: str) -> Choice | None:
    if key not in entries:
        return None
    try:
        return Choice.from_json(entries[key])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(
            f"{path}: entry {key} is not a measured choice ({type(exc).__name__}: {exc}); "
            "delete it to measure again"
        ) from exc


def cached_choice(settings: Settings) -> Choice | None:
    """The choice measured before on this kind of machine, if any (no measuring)."""
    path = _choice_file(settings)
    return _entry(path, _read(path), choice_key(settings))


def cpu_choice(settings: Settings, *, candidates: Sequence[str] = CANDIDATES) -> Choice:
    """The cached choice for this machine, or a new measurement (one process measures; the
    others of the machine wait for it and read it)."""
    path = _choice_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = choice_key(settings)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = _read(path)
        known = _entry(path, entries, key)
        if known is not None:
            return known
        log.info("measuring the encoder's precisions on this CPU (%s)", cpu_model())
        choice = measure(settings, candidates=candidates)
        entries[key] = asdict(choice)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        log.info("encoder: %s", choice.describe())
        return choice
