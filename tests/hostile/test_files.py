"""Hostile resume files reach a worker between good profiles, as if intake had let them
through: each fails alone, in seconds, with its reason, the worker's memory stays where it
was, and the good profiles of the same batch are scored on their first attempt."""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import psutil
import pytest
from sqlalchemy import select

from tests.conftest import WorkerProcess
from tests.factories import profile
from tests.hostile.conftest import assert_alive, settle
from tests.hostile_files import HOSTILE_FILES, make
from tests.reliability import record
from trustq.db import submissions as submissions_db
from trustq.db.session import session_scope
from trustq.db.tables import Submission
from trustq.scoring.resume_files import FileLimits, ResumeFileError, check_file, extract_text
from trustq.services import submissions

LIMITS = FileLimits()

pytestmark = [pytest.mark.hostile, pytest.mark.integration]


def _peak_rss(worker: WorkerProcess) -> int:
    """The highest resident size any pool process of the worker has had (VmHWM), bytes."""
    peaks = [0]
    for child in psutil.Process(worker.proc.pid).children(recursive=True):
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
        except OSError:
            continue  # an extraction child that just ended
        if "trustq.scoring.resume_extract" in " ".join(child.cmdline()):
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) * 1024)
    return max(peaks)


def _store_past_intake(name: str) -> uuid.UUID:
    """A submission carrying hostile file ``name``, stored without intake's checks."""
    filename, _, _, _ = HOSTILE_FILES[name]
    data = make(name)
    payload = profile()
    del payload["resume_text"]
    parsed = submissions.parse_profile(payload, with_resume_file=True)
    with session_scope() as session:
        row, _ = submissions_db.add_submission(
            session,
            external_id=parsed.external_id,
            idempotency_key=None,
            payload=parsed.model_dump(mode="json"),
            resume_sha256=hashlib.sha256(data).hexdigest(),
            submitted_by="hostile-files",
            request_id=None,
            resume_file=(filename, data),
        )
        return row.id


def test_hostile_files_fail_alone_and_the_batch_around_them_is_scored(
    hostile_worker: WorkerProcess, clean_tables: None, redis_client
) -> None:
    del clean_tables
    redis_client.delete("scoring")
    # A batch of good profiles first: the pool's peak then includes what scoring itself takes.
    warm = submissions.enqueue(
        [submissions.parse_profile(profile()) for _ in range(len(HOSTILE_FILES) + 1)],
        submitted_by="t",
    )
    assert settle([w.id for w in warm], timeout=120)["scored"] == len(warm)
    hostile = {name: _store_past_intake(name) for name in HOSTILE_FILES}
    good: list[uuid.UUID] = []
    order: list[uuid.UUID] = []
    for sid in hostile.values():
        [stored] = submissions.enqueue([submissions.parse_profile(profile())], submitted_by="t")
        good.append(stored.id)
        order += [stored.id, sid]
    peak_before = _peak_rss(hostile_worker)
    started = time.monotonic()
    submissions.publish(order)  # one burst: the worker takes them as batches

    outcome = settle(order, timeout=180)
    seconds = round(time.monotonic() - started, 1)
    peak_after = _peak_rss(hostile_worker)
    with session_scope() as session:
        rows = {
            r.id: r for r in session.scalars(select(Submission).where(Submission.id.in_(order)))
        }
    per_file = {}
    for name, sid in hostile.items():
        row = rows[sid]
        filename = HOSTILE_FILES[name][0]
        # The time one file costs: intake's check and the worker's read, as the worker runs it.
        timed = time.perf_counter()
        for step in (check_file, extract_text):
            try:
                step(make(name), filename, LIMITS)
            except ResumeFileError:
                break
        per_file[name] = {
            "bytes": len(make(name)),
            "refused_at_intake": HOSTILE_FILES[name][3],
            "seconds": round(time.perf_counter() - timed, 2),
            "status": row.status,
            "attempts": row.attempts,
            "reason": (row.last_error or "").split(": ", 2)[-1][:160],
        }
    record(
        "hostile",
        "files",
        files=per_file,
        good_scored=sum(rows[g].status == "done" for g in good),
        good_first_attempt=sum(rows[g].status == "done" and rows[g].attempts == 1 for g in good),
        good=len(good),
        worker_peak_rss_before_mib=round(peak_before / 2**20),
        worker_peak_rss_after_mib=round(peak_after / 2**20),
        seconds=seconds,
    )
    assert not outcome["lost"], outcome
    for name, sid in hostile.items():
        row = rows[sid]
        assert row.status == "failed", (name, row.status)
        assert HOSTILE_FILES[name][2] in (row.last_error or ""), (name, row.last_error)
        assert row.attempts == 1, (name, row.attempts)
    assert all(rows[g].status == "done" and rows[g].attempts == 1 for g in good), [
        (rows[g].status, rows[g].attempts) for g in good
    ]
    # Every hostile file was read in a child process: the pool process did not grow.
    assert peak_after - peak_before < 200 * 2**20, (peak_before, peak_after)
    assert seconds < 90
    assert all(f["seconds"] < 6 for f in per_file.values()), per_file
    assert_alive(hostile_worker)
