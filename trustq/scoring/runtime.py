"""What a worker process loads once: the serving encoder, the rules, and the serving model,
reloaded when another version is promoted."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence

import torch

from trustq import metrics
from trustq.config import Settings, get_settings
from trustq.db.session import session_scope
from trustq.models.scorer import Scorer
from trustq.rules.ruleset import RuleSet
from trustq.schemas import Profile
from trustq.scoring.compute import BatchReport, Computed, Model, Scored, compute, prepare
from trustq.scoring.encoders import make_serving_encoder
from trustq.scoring.serving import (
    ModelUnreadable,
    NoServingModel,
    build_scorer,
    read_model,
    read_serving,
)

log = logging.getLogger(__name__)


class Runtime:
    """The encoder and the serving model of one worker process. ``scorer``: serve this one
    instead of the database's; ``cache``: read and fill the embedding cache."""

    def __init__(
        self, settings: Settings, *, scorer: Scorer | None = None, cache: bool = True
    ) -> None:
        torch.set_num_threads(settings.resolved_torch_threads)
        self.settings = settings
        self.encoder = make_serving_encoder(settings)
        self.rules = RuleSet.load(settings.rules_path)
        self.cache = cache
        self._scorer: Scorer | None = None
        self._sha: str | None = None
        self._checked_at = 0.0
        self._pinned = scorer is not None
        self._lock = threading.Lock()
        if scorer is not None:
            self._scorer = self._place(scorer)

    def scorer(self) -> Scorer:
        """The serving model, reloaded when another version was promoted."""
        with self._lock:
            if self._pinned:
                assert self._scorer is not None
                return self._scorer
            due = time.monotonic() - self._checked_at >= self.settings.model_refresh_seconds
            if self._scorer is None or due:
                self._refresh()
            if self._scorer is None:
                raise NoServingModel("no model is serving; run `trustq train` to train one")
            return self._scorer

    def model(self) -> Model:
        """Everything the compute step scores with, one model for a whole batch."""
        return Model(self.encoder, self.scorer(), self.rules, self.settings)

    def _place(self, scorer: Scorer) -> Scorer:
        # On a GPU the network runs beside the encoder, in half precision like it.
        if self.encoder.device.type == "cuda":
            return scorer.to(self.encoder.device, half=self.encoder.precision == "fp16")
        return scorer

    def _refresh(self) -> None:
        with session_scope() as session:
            current = read_serving(session)
            if current is None or current[1] == self._sha:
                self._checked_at = time.monotonic()
                return
            try:
                stored = read_model(session, current[0])
            except LookupError:  # demoted between the two reads; look again next time
                return
        try:
            scorer = build_scorer(
                stored,
                base_rate=self.settings.base_rate,
                encoder=self.encoder,
                encoder_role="this worker runs",
            )
        except ModelUnreadable as exc:
            # Keep serving the model loaded before (if any); the next check looks again.
            log.error(
                "model %s refused, still serving %s: %s",
                stored.version,
                self._scorer.version if self._scorer else "nothing",
                exc,
            )
            self._checked_at = time.monotonic()
            return
        previous = self._scorer.version if self._scorer is not None else None
        self._scorer = self._place(scorer)
        metrics.serving_model(stored.version, previous)
        self._sha = stored.artifact_sha256
        self._checked_at = time.monotonic()
        log.info("serving model %s", stored.version)

    def score_batch(
        self,
        profiles: Sequence[Profile],
        today: dt.date,
        *,
        report: BatchReport | None = None,
        tokens: Sequence[int] | None = None,
    ) -> list[Scored | Exception]:
        """Score ``profiles`` with no database: no embedding cache, no stored copies (the
        in-process benchmarks and tests)."""
        return self.compute(profiles, today, report=report, tokens=tokens).results

    def compute(
        self,
        profiles: Sequence[Profile],
        today: dt.date,
        *,
        report: BatchReport | None = None,
        tokens: Sequence[int] | None = None,
    ) -> Computed:
        report = report if report is not None else BatchReport()
        model = self.model()
        started = time.perf_counter()
        inputs = prepare(profiles)
        report.timed("flags", started)
        return compute(profiles, inputs, model, today, tokens=tokens, report=report)


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's runtime, loaded on first use."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime(get_settings())
    return _runtime
