"""Retraining wall time (base set plus new labels, cached embeddings), and the scoring
throughput of a worker while a training run goes on.

    TRUSTQ_DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1/trustq_bench \\
    TRUSTQ_BROKER_URL=redis://127.0.0.1:6379/5 \\
    python benchmarks/retraining.py --base 6000 --labels 1000 --out retraining.json

The database must be migrated (``trustq db upgrade``). When no loadable model serves, one
is trained on the base set first (this also fills the embedding cache). The labelled
submissions are stored once (external ids ``bench-label-*``) and their resumes embedded, as
the workers would have done when they scored them; the timed run then finds every
embedding in the cache. The throughput phase starts a ``trustq worker`` on the scoring
queue only, scores a burst alone, then a second burst while a run trains in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

from trustq.config import cpu_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=6000, help="base synthetic profiles")
    parser.add_argument("--labels", type=int, default=1000, help="labelled submissions")
    parser.add_argument("--burst", type=int, default=60, help="profiles per scoring burst")
    parser.add_argument("--out", type=Path, default=Path("retraining.json"))
    parser.add_argument(
        "--prepare-only",
        action="store_true",
        help="only make sure a model serves and the labelled submissions are stored and embedded",
    )
    args = parser.parse_args()

    os.environ["TRUSTQ_RETRAIN_BASE_SIZE"] = str(args.base)
    os.environ.setdefault("TRUSTQ_RETRAIN_BASE_SEED", "0")
    from trustq.config import get_settings
    from trustq.services import retraining

    settings = get_settings()
    _ensure_serving_model(settings, args.base)
    _ensure_labelled(settings, args.labels)
    if args.prepare_only:
        return

    results: dict = {
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": os.getloadavg(),
        },
        "base_profiles": args.base,
        "labelled_submissions": args.labels,
    }

    # 1. A run on its own: the whole of execute_run, wall time.
    run_id = _new_run()
    t0 = time.perf_counter()
    outcome = retraining.execute_run(settings, run_id)
    results["retrain_seconds"] = round(time.perf_counter() - t0, 1)
    results["retrain_outcome"] = outcome
    results["retrain_breakdown"] = _timings(outcome.get("version"))
    print(f"retraining on {args.base} + {args.labels}: {results['retrain_seconds']} s, {outcome}")

    # 2. Scoring throughput alone, then while a run trains.
    worker = _start_worker()
    try:
        _score_burst(5)  # the worker loads its model
        alone = _score_burst(args.burst)
        run_id = _new_run()
        trainer = threading.Thread(target=retraining.execute_run, args=(settings, run_id))
        trainer.start()
        during = _score_burst(args.burst)
        trainer.join()
    finally:
        worker.terminate()
        worker.wait(30)
    results["scoring_per_second_alone"] = alone
    results["scoring_per_second_while_training"] = during
    results["load_average_after"] = os.getloadavg()
    print(f"scoring: {alone}/s alone, {during}/s while a run trains")
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {args.out}")


def _ensure_serving_model(settings, base: int) -> None:
    from trustq.data.synthetic import REFERENCE_DATE
    from trustq.db import models as models_db
    from trustq.db.session import session_scope
    from trustq.models.artifact import deserialise
    from trustq.models.scorer import Scorer
    from trustq.services.training import synthetic_profiles, train_and_register

    with session_scope() as session:
        row = models_db.serving_model(session)
        if row is not None:
            try:
                Scorer(*deserialise(row.artifact, row.artifact_sha256), version=row.version)
                return
            except ValueError as exc:
                print(f"serving model {row.version} cannot be loaded ({exc}); training one")
    report = train_and_register(
        settings,
        synthetic_profiles(base, settings.retrain_base_seed),
        as_of=REFERENCE_DATE,
        created_by="benchmark",
    )
    print(f"trained and serving {report.version}")


def _ensure_labelled(settings, n: int) -> None:
    from sqlalchemy import func, select

    from trustq import client
    from trustq.data.synthetic import generate, public_fields
    from trustq.db import submissions as submissions_db
    from trustq.db.session import session_scope
    from trustq.db.tables import Submission
    from trustq.schemas import sha256_text
    from trustq.scoring.embeddings import embed_with_cache
    from trustq.scoring.encoders import make_encoder

    with session_scope() as session:
        have = session.scalar(
            select(func.count()).where(Submission.external_id.like("bench-label-%"))
        )
    if have >= n:
        return
    records = generate(n, seed=99)[have:]
    ids = []
    with session_scope() as session:
        for i, record in enumerate(records, start=have):
            payload = public_fields(record)
            payload["external_id"] = f"bench-label-{i}"
            row, _ = submissions_db.add_submission(
                session,
                external_id=payload["external_id"],
                idempotency_key=None,
                payload=payload,
                resume_sha256=sha256_text(payload["resume_text"]),
                submitted_by="benchmark",
                request_id=None,
            )
            row.status = "done"
            ids.append((str(row.id), "risky" if record["label"] else "trustworthy"))
    client.label_many(
        [{"submission_id": s, "label": v, "source": "chargeback"} for s, v in ids],
        by="benchmark",
    )
    # The workers embedded these resumes when they scored them.
    embed_with_cache(make_encoder(settings), [r["resume_text"] for r in records])


def _new_run() -> int:
    from trustq.db import runs as runs_db
    from trustq.db.session import session_scope

    with session_scope() as session:
        active = runs_db.active_training_run(session)
        if active is not None:
            runs_db.finish_training_run(session, active.id, status="failed", error="benchmark")
            session.flush()
        run = runs_db.add_training_run(
            session, trigger="manual", requested_by="benchmark", new_labels=0
        )
        return run.id


def _timings(version: str | None) -> dict:
    from trustq.db import models as models_db
    from trustq.db.session import session_scope

    if version is None:
        return {}
    with session_scope() as session:
        return models_db.get_model_version(session, version).metrics.get("timings", {})


def _start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "trustq", "worker", "--queues", "scoring", "--concurrency", "1"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _score_burst(n: int) -> float:
    from trustq import client
    from trustq.data.synthetic import generate, public_fields

    seed = int(time.time())
    records = [public_fields(r) for r in generate(n, seed=seed)]
    t0 = time.perf_counter()
    done = client.enqueue_many(records, submitted_by="benchmark")
    for item in done:
        client.wait_for_verdict(item.id, timeout=1800)
    return round(n / (time.perf_counter() - t0), 2)


if __name__ == "__main__":
    main()
