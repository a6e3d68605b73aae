"""The fault trials' stack: private PostgreSQL and Redis servers (started here, on free ports,
from the installed binaries), with real workers and beat pointed at them. The trials kill,
wipe and restart these; the shared servers are never touched."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from tests.cli import trustq
from tests.conftest import WorkerProcess, seed_encoder_choice
from tests.factories import public
from tests.reliability import ENV as RELIABILITY_ENV
from tests.reliability import record
from tests.servers import PrivatePostgres, PrivateRedis, wait_for
from trustq.data.synthetic import generate
from trustq.db import migrate
from trustq.db import models as models_db
from trustq.db import submissions as submissions_db
from trustq.db.session import make_engine, session_scope
from trustq.db.tables import ModelVersion, Submission, Verdict
from trustq.worker.processes import BeatProcess

# Quick redelivery and sweeping so that a trial takes seconds; the production ordering
# (soft < hard time limit < visibility timeout) is kept. Scoring is made cheap. The soft
# limit stays above the ~6 s kombu spends retrying a connection to a Redis that is down.
FAULT_SETTINGS = {
    "TRUSTQ_REASON_SENTENCES": "never",
    "TRUSTQ_VISIBILITY_TIMEOUT": "20",
    "TRUSTQ_UNACKED_RESTORE_INTERVAL": "1",
    "TRUSTQ_TASK_SOFT_TIME_LIMIT": "12",
    "TRUSTQ_TASK_TIME_LIMIT": "15",
    "TRUSTQ_SWEEP_INTERVAL": "1",
    "TRUSTQ_SWEEP_STALE_AFTER": "3",
    "TRUSTQ_MAX_ATTEMPTS": "5",
    "TRUSTQ_MODEL_REFRESH_SECONDS": "30",
    # Small batches: a burst spans several of them, so faults strike mid-batch repeatedly.
    "TRUSTQ_BATCH_MAX_MESSAGES": "6",
}


@dataclass
class Stack:
    pg: PrivatePostgres
    redis: PrivateRedis
    database_url: str
    engine: Engine

    def env(self, data_dir: Path, broker_db: int = 0) -> dict[str, str]:
        return {
            **FAULT_SETTINGS,
            "TRUSTQ_DATABASE_URL": self.database_url,
            "TRUSTQ_BROKER_URL": self.redis.url(broker_db),
            "TRUSTQ_DATA_DIR": str(data_dir),
        }

    def database_up(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False


@pytest.fixture(scope="session")
def stack(serving_model: str) -> Iterator[Stack]:
    """Private servers for the whole run, migrated, with the test run's model serving."""
    pg = PrivatePostgres()
    redis = PrivateRedis()
    try:
        pg.start()
        redis.start()
        url = pg.create_database("trustq")
        migrate.upgrade(url)
        engine = make_engine(url, pool_size=2)
        with session_scope() as session:
            model = models_db.get_model_version(session, serving_model)
            assert model is not None
            values = {c.key: getattr(model, c.key) for c in ModelVersion.__table__.columns}
        with Session(engine) as session, session.begin():
            session.execute(insert(ModelVersion).values(**values))
        yield Stack(pg, redis, url, engine)
        engine.dispose()
    finally:
        redis.close()
        pg.close()


@dataclass
class Outcome:
    """Where each submission of a trial ended up."""

    in_flight: int
    scored_once: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: int = 0
    failed: dict[str, str | None] = field(default_factory=dict)

    @property
    def failed_with_reason(self) -> int:
        return sum(bool(reason) for reason in self.failed.values())


def pool_children(worker: WorkerProcess) -> list[int]:
    """Pids of a worker's pool processes (the children of its main process), found by their
    parent pid: /proc's per-thread "children" lists miss a child whose forking thread has
    ended, as when the pool replaces a process it lost."""
    import psutil

    return [child.pid for child in psutil.Process(worker.proc.pid).children()]


class Trial:
    """One trial: fresh tables and queue, the processes it starts, and its checks."""

    def __init__(self, stack: Stack, folder: Path) -> None:
        self.stack = stack
        self.folder = folder
        self.env = stack.env(folder / "data")
        seed_encoder_choice(folder / "data")
        self.workers: list[WorkerProcess] = []
        self.beats: list[BeatProcess] = []

    # --- processes -----------------------------------------------------------------------

    def start_worker(self, concurrency: int = 1, wait: bool = True) -> WorkerProcess:
        worker = WorkerProcess(
            self.folder / f"worker-{len(self.workers)}.log", concurrency, self.env
        )
        self.workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def start_beat(self, wait: bool = True) -> BeatProcess:
        beat = BeatProcess(self.folder / "beat.log", self.env)
        self.beats.append(beat)
        if wait:
            beat.wait_ready()
        return beat

    def start(self, workers: int = 1, beat: bool = True) -> list[WorkerProcess]:
        """Start ``workers`` workers (one pool process each) and beat side by side."""
        started = [self.start_worker(wait=False) for _ in range(workers)]
        beats = [self.start_beat(wait=False)] if beat else []
        for process in [*started, *beats]:
            process.wait_ready()
        return started

    def stop_all(self) -> None:
        for process in [*self.beats, *self.workers]:
            process.stop()

    def worker_logs(self) -> str:
        return "\n".join(w.log_path.read_text(errors="replace") for w in self.workers)

    # --- submissions ---------------------------------------------------------------------

    def profiles_file(self, n: int, seed: int) -> Path:
        path = self.folder / f"profiles-{seed}.jsonl"
        records = [public(r) for r in generate(n, seed=seed)]
        for r in records:  # the generator numbers freelancers from 0 whatever the seed
            r["external_id"] = f"s{seed}-{r['external_id']}"
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
        return path

    def enqueue(self, n: int, seed: int, **env: str) -> list[uuid.UUID]:
        """``trustq enqueue`` of ``n`` synthetic profiles; their ids."""
        done = trustq("enqueue", str(self.profiles_file(n, seed)), env={**self.env, **env})
        assert done.returncode == 0, done.stderr[-2000:]
        ids = [uuid.UUID(line.split("\t")[0]) for line in done.stdout.splitlines()]
        assert len(ids) == n
        return ids

    def add_poison(self, n: int) -> list[uuid.UUID]:
        """Stored submissions whose payload cannot be scored, with no message: the sweeper
        has to publish them, and the worker has to fail them with a reason."""
        ids = []
        with Session(self.stack.engine) as session, session.begin():
            for k in range(n):
                row, _ = submissions_db.add_submission(
                    session,
                    external_id=f"poison-{k}",
                    idempotency_key=None,
                    payload={"external_id": f"poison-{k}", "experience_level": "wizard"},
                    resume_sha256="0" * 64,
                    submitted_by="fault-trial",
                    request_id=None,
                )
                ids.append(row.id)
        return ids

    def verdict_count(self) -> int:
        with self.stack.engine.connect() as conn:
            return conn.execute(
                select(func.count(func.distinct(Verdict.submission_id)))
            ).scalar_one()

    def db_now(self) -> dt.datetime:
        with self.stack.engine.connect() as conn:
            return conn.execute(select(func.now())).scalar_one()

    def claimed_since(self, mark: dt.datetime) -> int:
        """Submissions a worker claimed after ``mark`` and has not finished yet."""
        with self.stack.engine.connect() as conn:
            return conn.execute(
                select(func.count()).where(
                    Submission.status == "processing", Submission.updated_at > mark
                )
            ).scalar_one()

    def _settled(self, ids: set[uuid.UUID]) -> bool:
        try:
            with self.stack.engine.connect() as conn:
                open_ = conn.execute(
                    select(func.count()).where(
                        Submission.id.in_(ids), Submission.status.in_(["queued", "processing"])
                    )
                ).scalar_one()
        except Exception:  # the database is down for a moment
            return False
        return open_ == 0

    def settle(self, ids: list[uuid.UUID], timeout: float = 120.0) -> Outcome:
        """Wait until every submission is done or failed (or ``timeout``), then count."""
        wanted = set(ids)
        try:
            wait_for(lambda: self._settled(wanted), timeout, "every submission to settle", 0.3)
        except AssertionError:
            pass  # counted as lost below
        time.sleep(1.5)  # a late redelivery would write now
        outcome = Outcome(in_flight=len(ids))
        with self.stack.engine.connect() as conn:
            verdicts = dict(
                conn.execute(
                    select(Verdict.submission_id, func.count())
                    .where(Verdict.submission_id.in_(wanted))
                    .group_by(Verdict.submission_id)
                ).all()
            )
            rows = conn.execute(
                select(Submission.id, Submission.status, Submission.last_error).where(
                    Submission.id.in_(wanted)
                )
            ).all()
        for sid, status, reason in rows:
            count = verdicts.get(sid, 0)
            outcome.duplicated += max(0, count - 1)
            if count >= 1:
                outcome.scored_once += 1
            elif status == "failed":
                outcome.failed[str(sid)] = reason
            else:
                outcome.lost.append(f"{sid} ({status})")
        outcome.lost += [f"{sid} (row missing)" for sid in wanted - {r[0] for r in rows}]
        return outcome

    def report(
        self,
        name: str,
        fault: str,
        runs: int,
        outcome: Outcome,
        started: float,
        invalid: int = 0,
        **extra: object,
    ) -> None:
        """Record the trial's counts (for docs/reliability.md); ``invalid`` of those in
        flight cannot be scored and must end failed with their reason."""
        record(
            "trial",
            name,
            fault=fault,
            runs=runs,
            in_flight=outcome.in_flight,
            invalid=invalid,
            lost=len(outcome.lost),
            duplicated=outcome.duplicated,
            failed_with_reason=outcome.failed_with_reason,
            failed_without_reason=len(outcome.failed) - outcome.failed_with_reason,
            seconds=round(time.monotonic() - started, 1),
            **extra,
        )


@pytest.fixture
def trial(stack: Stack, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Trial]:
    """A clean slate on the private servers (restarted if an earlier trial left them down)."""
    if stack.redis.proc is None or stack.redis.proc.poll() is not None:
        stack.redis.start()
    if not stack.database_up():
        stack.pg.start()
    with stack.engine.begin() as conn:
        conn.execute(text("TRUNCATE verdicts, labels, resume_bands, submissions CASCADE"))
    for db in (0, 1):
        stack.redis.client(db).flushdb()
    (tmp_path / "data").mkdir()
    current = Trial(stack, tmp_path)
    yield current
    current.stop_all()
    keep = os.environ.get(RELIABILITY_ENV)
    if keep:  # the processes' logs go with the counts, to read what happened
        folder = Path(keep) / "logs" / request.node.name
        folder.mkdir(parents=True, exist_ok=True)
        for log in tmp_path.glob("*.log"):
            shutil.copy(log, folder / log.name)


def check(outcome: Outcome, valid: list[uuid.UUID], poison: list[uuid.UUID]) -> None:
    assert not outcome.lost, f"lost {len(outcome.lost)}: {outcome.lost[:5]}"
    assert outcome.duplicated == 0
    assert outcome.scored_once == len(valid)
    assert set(outcome.failed) == {str(p) for p in poison}, outcome.failed
    for reason in outcome.failed.values():
        assert reason and "experience_level" in reason, reason


def progress(trial: Trial, more: int, what: str) -> None:
    target = trial.verdict_count() + more
    wait_for(lambda: trial.verdict_count() >= target, 90, what)
