"""Load: N submissions enqueued in one burst, every one scored; Redis memory and the worker's
resident memory while they are.

    python benchmarks/load.py                  # the full run: 20,000 submissions
    python benchmarks/load.py --n 2000         # a quick check that it works

It starts its own PostgreSQL and Redis servers on free ports (tests/servers.py; Redis with
``maxmemory-policy noeviction`` as in docker-compose.yml), so the memory figures are this
run's alone and the shared servers are untouched. It trains a small model, starts one
worker and beat (the sweeper runs with its production settings), enqueues the burst with
``client.enqueue_many``, and samples Redis ``used_memory`` and the worker's resident memory
(main process plus pool) once a second. It prints one JSON object:

- ``redis_used_bytes``: before the burst, at its peak, and after the last verdict;
- ``worker_rss_bytes``: after 1,000 verdicts and after N, and their ratio (a leak would
  make it grow with N; the target is within 10%);
- ``submissions``: scored, failed, lost, duplicated verdicts, published again by the
  sweeper (a backlog must not look like a loss: the target is 0).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import PrivatePostgres, PrivateRedis  # noqa: E402
from trustq.config import cpu_model  # noqa: E402

RSS_MARK = 1000


def _rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its children (a Celery worker and its pool)."""
    total = 0
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
    except OSError:
        return 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "trustq", *args],
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seed", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds to wait")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="trustq-load-"))
    pg, redis_server = PrivatePostgres(), PrivateRedis(maxmemory="1gb")
    worker = beat = None
    try:
        pg.start()
        redis_server.start()
        os.environ.update(
            TRUSTQ_DATABASE_URL=pg.create_database("trustq"),
            TRUSTQ_BROKER_URL=redis_server.url(),
            TRUSTQ_DATA_DIR=str(work),
            TRUSTQ_REASON_SENTENCES=os.environ.get("TRUSTQ_REASON_SENTENCES", "never"),
        )
        # Imported only now: the settings are read once, from the environment set above.
        from sqlalchemy import func, select

        from trustq import client
        from trustq.config import get_settings
        from trustq.data.synthetic import REFERENCE_DATE, generate, public_fields
        from trustq.db import migrate
        from trustq.db.session import session_scope
        from trustq.db.tables import Submission, Verdict
        from trustq.models.training import TrainConfig
        from trustq.services.training import synthetic_profiles, train_and_register

        migrate.upgrade()
        print("training a small model", file=sys.stderr)
        train_and_register(
            get_settings(),
            synthetic_profiles(300, seed=1),
            as_of=REFERENCE_DATE,
            created_by="load-benchmark",
            config=TrainConfig(max_epochs=4, seed=1, progress=False),
        )
        records = [public_fields(r) for r in generate(args.n, seed=args.seed)]

        worker_log, beat_log = work / "worker.log", work / "beat.log"
        worker = _start(["worker", "--concurrency", str(args.concurrency)], worker_log)
        beat = _start(["beat"], beat_log)
        while b" ready." not in worker_log.read_bytes():
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited; see {worker_log}")
            time.sleep(0.2)
        redis = redis_server.client()
        time.sleep(2)
        redis_before = int(redis.info("memory")["used_memory"])
        rss_start = _rss(worker.pid)

        print(f"enqueueing {args.n} submissions in one burst", file=sys.stderr)
        started = time.monotonic()
        ids = [e.id for e in client.enqueue_many(records, submitted_by="load-benchmark")]
        enqueue_s = time.monotonic() - started

        def counts() -> tuple[int, int]:
            with session_scope() as session:
                scored = session.scalar(select(func.count(func.distinct(Verdict.submission_id))))
                settled = session.scalar(
                    select(func.count()).where(Submission.status.in_(["done", "failed"]))
                )
            return scored or 0, settled or 0

        peak = redis_before
        peak_queue = 0
        rss_mark: int | None = None
        rss_curve: dict[int, int] = {}  # every 1,000 verdicts: a leak shows as a slope
        last_report = 0.0
        while True:
            scored, settled = counts()
            info = redis.info("memory")
            peak = max(peak, int(info["used_memory"]))
            peak_queue = max(peak_queue, int(redis.llen("scoring")))
            if rss_mark is None and scored >= min(RSS_MARK, args.n):
                rss_mark = _rss(worker.pid)
            step = scored // RSS_MARK * RSS_MARK
            if step and step not in rss_curve:
                rss_curve[step] = _rss(worker.pid)
            if settled >= args.n:
                break
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited; see {worker_log}")
            if time.monotonic() - started > args.timeout:
                break
            if time.monotonic() - last_report > 30:
                elapsed = time.monotonic() - started
                print(f"  {scored} scored after {elapsed:.0f} s", file=sys.stderr)
                last_report = time.monotonic()
            time.sleep(1)
        scoring_s = time.monotonic() - started
        rss_end = _rss(worker.pid)
        time.sleep(2)
        redis_after = int(redis.info("memory")["used_memory"])

        with session_scope() as session:
            rows = session.execute(
                select(Submission.status, Submission.attempts).where(Submission.id.in_(ids))
            ).all()
            verdict_rows = session.scalar(select(func.count()).select_from(Verdict)) or 0
            distinct = session.scalar(select(func.count(func.distinct(Verdict.submission_id))))
        result: dict[str, Any] = {
            "submissions": {
                "enqueued": len(ids),
                "scored": distinct,
                "failed": sum(s == "failed" for s, _ in rows),
                "lost": sum(s not in ("done", "failed") for s, _ in rows),
                "duplicated_verdicts": verdict_rows - (distinct or 0),
                "claimed_more_than_once": sum(a > 1 for _, a in rows),
            },
            "seconds": {
                "enqueue": round(enqueue_s, 1),
                "until_last_verdict": round(scoring_s, 1),
                "profiles_per_second": round(args.n / scoring_s, 2),
            },
            "redis_used_bytes": {
                "before": redis_before,
                "peak": peak,
                "after": redis_after,
                "peak_per_queued_message": round((peak - redis_before) / max(1, peak_queue)),
                "peak_queue_length": peak_queue,
            },
            "worker_rss_bytes": {
                "ready": rss_start,
                f"after_{min(RSS_MARK, args.n)}": rss_mark,
                f"after_{args.n}": rss_end,
                "ratio": round(rss_end / rss_mark, 3) if rss_mark else None,
                "within_10_percent": bool(rss_mark) and abs(rss_end / rss_mark - 1) <= 0.10,
                "every_1000_verdicts": rss_curve,
            },
            "worker_processes": args.concurrency,
            "reason_sentences": os.environ["TRUSTQ_REASON_SENTENCES"],
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
        }
        print(json.dumps(result, indent=2))
        if args.out:
            args.out.write_text(json.dumps(result, indent=2) + "\n")
        if result["submissions"]["lost"] or result["submissions"]["duplicated_verdicts"]:
            raise SystemExit(1)
    finally:
        for proc in (beat, worker):
            if proc is not None:
                _stop(proc)
        redis_server.close()
        pg.close()


if __name__ == "__main__":
    main()
