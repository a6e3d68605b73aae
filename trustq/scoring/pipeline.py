"""A batch from read to write: read what the database holds for it in one short
transaction, compute with no session open, write every verdict and failure in one
transaction. The scoring task calls :func:`score_and_write` with what it claimed.

A row the database refuses does not sink its batch: the batch is written again one verdict
per transaction, and only the refused one fails.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Mapping

from sqlalchemy.exc import DBAPIError, OperationalError

from trustq import logs, metrics
from trustq.db.session import session_scope
from trustq.metrics import FailureReason
from trustq.scoring.compute import BatchReport, Computed, compute, prepare
from trustq.scoring.read import Failure, Item, read_inputs
from trustq.scoring.runtime import Runtime
from trustq.scoring.write import Written, verdict_row, write

log = logging.getLogger(__name__)


def score_and_write(
    runtime: Runtime,
    items: list[Item],
    failures: Mapping[uuid.UUID, Failure],
    *,
    worker_host: str,
    today: dt.date | None = None,
) -> dict[uuid.UUID, str]:
    """Score ``items`` together and commit their verdicts with ``failures``; returns what
    became of each submission: ``scored``, ``duplicate`` (this model judged it before) or
    ``failed``. Raises, with nothing written, when no model can score (NoServingModel,
    EncoderMismatch), the database is unreachable or the time limit hits."""
    if not items and not failures:
        return {}
    today = today or dt.date.today()
    failed = dict(failures)
    started = time.perf_counter()
    report = BatchReport()
    written: list[Written] = []
    computed = Computed([])
    if items:
        # Read.
        model = runtime.model()
        profiles = [item.profile for item in items]
        inputs = prepare(profiles)
        with session_scope() as session:
            read_inputs(session, inputs, items, model.encoder, cache=runtime.cache)
        # Compute.
        computed = compute(
            profiles, inputs, model, today, tokens=[i.tokens for i in items], report=report
        )
        metrics.batch_scored(len(items))
        latency = time.perf_counter() - started
        for item, result in zip(items, computed.results, strict=True):
            if isinstance(result, Exception):
                with logs.bound(submission_id=str(item.sid)):
                    log.error(
                        "scoring submission %s raised",
                        item.sid,
                        exc_info=(type(result), result, result.__traceback__),
                    )
                failed[item.sid] = Failure(
                    f"scoring error: {type(result).__name__}: {result}", FailureReason.error
                )
                continue
            row = verdict_row(
                item,
                result,
                version=report.model_version,
                encoder=model.encoder,
                settings=runtime.settings,
                latency=latency,
                worker_host=worker_host,
            )
            written.append(Written(item, result, row))
    # Write.
    outcomes = _write(runtime, written, failed, computed)
    if items:
        log.info(
            "scored a batch of %d in %.0f ms: %d resume(s) encoded, %d from the cache, "
            "%d encoded again for sentence reasons",
            len(items),
            (time.perf_counter() - started) * 1000.0,
            report.encoded,
            report.from_cache,
            report.reasons_encoded,
        )
    return outcomes


def _write(
    runtime: Runtime,
    written: list[Written],
    failed: dict[uuid.UUID, Failure],
    computed: Computed,
) -> dict[uuid.UUID, str]:
    encoder = runtime.encoder if runtime.cache else None
    try:
        with session_scope() as session:
            inserted = write(session, written, failed, encoder=encoder, fresh=computed.fresh)
    except DBAPIError as exc:
        if isinstance(exc, OperationalError) or len(written) + len(failed) <= 1:
            raise
        # A row the database refuses must not sink the batch: write them one by one.
        log.warning("a batch write failed (%s); writing its rows one by one", exc.orig)
        inserted = set()
        if encoder is not None and computed.fresh:
            with session_scope() as session:
                write(session, [], {}, encoder=encoder, fresh=computed.fresh)
        kept: list[Written] = []
        for one in written:
            try:
                with session_scope() as session:
                    inserted |= write(session, [one], {})
                kept.append(one)
            except DBAPIError as one_exc:
                if isinstance(one_exc, OperationalError):
                    raise
                failed[one.item.sid] = Failure(
                    f"the database refused the verdict: {str(one_exc.orig).strip()[:500]}",
                    FailureReason.error,
                )
        for sid, failure in failed.items():
            with session_scope() as session:
                write(session, [], {sid: failure})
        written = kept
    outcomes: dict[uuid.UUID, str] = {}
    for one in written:
        outcomes[one.item.sid] = "scored" if one.item.sid in inserted else "duplicate"
        metrics.profile_scored(
            one.scored.decision.risk_level,
            one.row["model_version"],
            one.row["latency_ms"] / 1000.0,
        )
    for sid, failure in failed.items():
        with logs.bound(submission_id=str(sid)):
            log.warning("submission %s failed: %s", sid, failure.reason)
        metrics.scoring_failed(failure.kind)
        outcomes[sid] = "failed"
    return outcomes
