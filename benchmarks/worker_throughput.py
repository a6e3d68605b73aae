"""End-to-end worker throughput: N profiles through the queue to committed verdicts.

    python benchmarks/worker_throughput.py --n 200 [--concurrency 1]

Runs against the configured database and broker (TRUSTQ_DATABASE_URL / TRUSTQ_BROKER_URL,
or the embedded default) and needs a serving model (`trustq train`). Each run generates
profiles with a fresh seed, so the embedding cache does not flatter the figure. The clock
starts when the worker reports ready (model loaded) and stops at the last verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from trustq import client
from trustq.data.synthetic import generate
from trustq.db import migrate
from trustq.db.session import session_scope
from trustq.db.tables import Verdict


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 1_000_000)
    args = parser.parse_args()

    migrate.ensure_current()
    records = [
        {k: v for k, v in r.items() if k not in ("label", "p_true")}
        for r in generate(args.n, seed=args.seed)
    ]
    for r in records:
        r["external_id"] = f"bench-{args.seed}-{r['external_id']}"

    started = time.perf_counter()
    ids = [e.id for e in client.enqueue_many(records, submitted_by="benchmark")]
    enqueue_s = time.perf_counter() - started

    log = Path(tempfile.mkstemp(prefix="trustq-bench-worker-", suffix=".log")[1])
    with log.open("wb") as handle:
        worker = subprocess.Popen(
            [sys.executable, "-m", "trustq", "worker", "--concurrency", str(args.concurrency)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while b" ready." not in log.read_bytes():
            if worker.poll() is not None:
                raise SystemExit(f"worker exited; see {log}")
            time.sleep(0.05)
        ready = time.perf_counter()
        while True:
            with session_scope() as session:
                done = session.scalar(
                    select(func.count(func.distinct(Verdict.submission_id))).where(
                        Verdict.submission_id.in_(ids)
                    )
                )
            if done == len(ids):
                break
            time.sleep(0.1)
        scoring_s = time.perf_counter() - ready
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)

    print(
        json.dumps(
            {
                "profiles": args.n,
                "worker_processes": args.concurrency,
                "enqueue_per_s": round(args.n / enqueue_s, 1),
                "scoring_seconds": round(scoring_s, 2),
                "profiles_per_s": round(args.n / scoring_s, 2),
                "cpu": _cpu_model(),
                "cores": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
