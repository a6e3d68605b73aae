"""The main job end to end."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from trustq.cli.common import (
    app,
    err,
    fail,
    load_settings,
    out,
    progress_bar,
    redact,
    verdict_table,
)
from trustq.schemas import VerdictOut


@app.command()
def demo(
    train_size: Annotated[
        int, typer.Option(min=200, help="Synthetic profiles to train on.")
    ] = 1000,
    profiles: Annotated[Path | None, typer.Option(help="JSONL of profiles to score.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the verdicts.")] = 600.0,
) -> None:
    """Run the main job end to end: migrate, train if needed, start a worker, score samples."""
    from trustq.data.synthetic import REFERENCE_DATE
    from trustq.db import migrate
    from trustq.services.models import serving_version
    from trustq.services.submissions import default_submitter as default_actor
    from trustq.services.submissions import enqueue as enqueue_profiles
    from trustq.services.submissions import parse_document
    from trustq.services.training import synthetic_profiles, train_and_register
    from trustq.services.verdicts import SubmissionFailed, get_verdict
    from trustq.worker.processes import WorkerProcess

    settings = load_settings(database=False)
    where = (
        "embedded SQLite and local broker in " + str(settings.data_dir.resolve())
        if settings.embedded
        else (
            f"{redact(settings.resolved_database_url)} and {redact(settings.resolved_broker_url)}"
        )
    )
    err.print(f"[bold]1/4[/] migrating the database ({where})")
    migrate.upgrade()

    serving = serving_version()
    if serving is None:
        err.print(f"[bold]2/4[/] no model serving: training one on {train_size} synthetic profiles")
        report = train_and_register(
            settings,
            synthetic_profiles(train_size, 0),
            as_of=REFERENCE_DATE,
            created_by="demo",
            progress=lambda msg: err.print("    " + msg, highlight=False),
        )
        err.print(
            f"    model {report.version}: test ROC-AUC {report.metrics['test']['roc_auc']:.3f} "
            f"(encoder {report.encoder_seconds:.0f} s, network {report.network_seconds:.0f} s)"
        )
    else:
        err.print(f"[bold]2/4[/] model {serving} is serving")

    sample_path = profiles or resources.files("trustq.data") / "samples.jsonl"
    batch = parse_document(sample_path.read_text(encoding="utf-8"))
    if batch.bad:
        raise fail(f"{sample_path}: " + "; ".join(str(b) for b in batch.bad))

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    worker_log = settings.data_dir / "demo-worker.log"
    err.print(f"[bold]3/4[/] starting a worker (log: {worker_log}) and queueing the samples")
    worker = WorkerProcess(worker_log, 1, name="demo", loglevel="INFO")
    try:
        results = enqueue_profiles(
            [p for _, p in batch.profiles], submitted_by=default_actor(), request_id="demo"
        )
        found: dict[str, VerdictOut] = {}
        failed: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        with progress_bar() as progress:
            task = progress.add_task("[bold]4/4[/] scoring", total=len(results))
            while len(found) + len(failed) < len(results):
                if worker.proc.poll() is not None:
                    code = worker.proc.returncode
                    raise fail(f"the worker exited with code {code}; see {worker_log}")
                if time.monotonic() > deadline:
                    raise fail(
                        f"only {len(found)} of {len(results)} verdicts after {timeout:.0f} s"
                    )
                for r in results:
                    key = str(r.id)
                    if key in found or key in failed:
                        continue
                    try:
                        v = get_verdict(r.id)
                    except SubmissionFailed as exc:
                        failed[key] = str(exc)
                        progress.advance(task)
                        continue
                    if v is not None:
                        found[key] = v
                        progress.advance(task)
                time.sleep(0.3)
    finally:
        worker.stop()
    ordered = [found[str(r.id)] for r in results if str(r.id) in found]
    out.print(verdict_table(ordered))
    for key, reason in failed.items():
        err.print(f"[red]{key}: {reason}[/]")
    err.print(f"{len(ordered)} verdicts stored, {len(failed)} failed")
    if ordered:
        err.print(f"read one with: trustq verdict {ordered[0].submission_id}")
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
