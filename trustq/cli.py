"""The ``trustq`` command line."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from trustq.rules.flags import RiskLevel
from trustq.schemas import VerdictOut

app = typer.Typer(
    help="trustq: trust evaluation of freelancer profiles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
models_app = typer.Typer(help="Model versions: list, promote, history.")
app.add_typer(models_app, name="models")

# Piped output keeps whole rows (ids included) instead of cutting them at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 200)
# soft_wrap: error lines stay whole, so they can be grepped and read by other programs.
err = Console(stderr=True, soft_wrap=True)

RISK_STYLE = {RiskLevel.LOW: "green", RiskLevel.MEDIUM: "yellow", RiskLevel.HIGH: "red"}


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print("error: ", style="bold red", end="")
    err.print(message, highlight=False, markup=False)
    return typer.Exit(code)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


def _settings(database: bool = True) -> Any:
    """The settings, and (unless told otherwise) a database at the newest migration."""
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError

    from trustq.config import get_settings
    from trustq.db import migrate

    try:
        settings = get_settings()
    except ValidationError as exc:
        raise _fail(f"bad setting: {exc}") from exc
    if database:
        try:
            migrate.ensure_current()
        except migrate.SchemaOutOfDate as exc:
            raise _fail(str(exc)) from exc
        except OperationalError as exc:
            raise _fail(f"cannot reach the database: {exc.orig}", code=3) from exc
    return settings


# --- intake ------------------------------------------------------------------------------


@app.command()
def enqueue(
    file: Annotated[
        str, typer.Argument(help="A JSON profile, a JSONL file of profiles, or - for stdin.")
    ],
    by: Annotated[str | None, typer.Option("--by", help="Who asks (recorded).")] = None,
    request_id: Annotated[str | None, typer.Option(help="Recorded with each submission.")] = None,
    skip_bad: Annotated[
        bool,
        typer.Option(
            "--skip-bad/--all-or-nothing", help="Queue the good lines of a file with bad ones."
        ),
    ] = False,
    resume_file: Annotated[
        Path | None,
        typer.Option(help="A PDF or DOCX resume for a single profile without resume_text."),
    ] = None,
) -> None:
    """Validate profiles, store them, queue them for scoring; prints their submission ids."""
    from trustq.client import default_actor
    from trustq.services.resume_files import ResumeFileError
    from trustq.services.submissions import DatabaseUnavailable, enqueue, parse_document

    settings = _settings()
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {file}: {exc}") from exc
    attached: tuple[str, bytes] | None = None
    if resume_file is not None:
        try:
            attached = (resume_file.name, resume_file.read_bytes())
        except OSError as exc:
            raise _fail(f"cannot read {resume_file}: {exc}") from exc
    batch = parse_document(text, with_resume_file=attached is not None)
    for bad in batch.bad:
        err.print(f"{file}: {bad}", style="red", highlight=False, markup=False)
    if batch.bad and not skip_bad:
        raise _fail(
            f"{len(batch.bad)} invalid profile(s); nothing was stored "
            "(fix them, or pass --skip-bad to queue the valid ones)"
        )
    profiles = [p for _, p in batch.profiles]
    if not profiles:
        raise _fail("no valid profile to queue")
    try:
        if len(profiles) > 1:
            with _progress() as progress:
                task = progress.add_task("enqueueing", total=len(profiles))
                results = enqueue(
                    profiles,
                    submitted_by=by or default_actor(),
                    request_id=request_id,
                    on_progress=lambda n: progress.advance(task, n),
                )
        else:
            results = enqueue(
                profiles,
                submitted_by=by or default_actor(),
                request_id=request_id,
                resume_file=attached,
            )
    except DatabaseUnavailable as exc:
        raise _fail(str(exc), code=3) from exc
    except ResumeFileError as exc:  # intake's checks of the file: nothing was stored
        raise _fail(str(exc)) from exc
    except Exception as exc:
        if type(exc).__module__.startswith("sqlalchemy"):
            raise _fail(f"the database is unreachable or refused the write: {exc}", 3) from exc
        raise
    for result in results:
        if not result.created:
            print(f"{result.id}\t(existing: idempotency key seen before)")
        elif not result.queued:
            print(f"{result.id}\t(stored; queued later by the sweeper)")
        else:
            print(result.id)
    reused = sum(not r.created for r in results)
    later = sum(r.created and not r.queued for r in results)
    err.print(
        f"queued {len(results) - reused - later} submission(s)"
        + (f", {reused} already known" if reused else "")
        + (f", skipped {len(batch.bad)} invalid" if batch.bad else "")
    )
    if later:
        err.print(
            f"warning: the broker is unreachable: {later} submission(s) are stored but not "
            f"queued yet; the sweeper (`trustq beat`) queues them within about "
            f"{settings.sweep_stale_after + settings.sweep_interval:.0f} s of the broker's "
            "return",
            style="yellow",
            highlight=False,
            markup=False,
        )


@app.command()
def schema() -> None:
    """Print the JSON Schema of a profile."""
    from trustq.schemas import profile_json_schema

    print(json.dumps(profile_json_schema(), indent=2))


@app.command()
def retry(
    submission_id: Annotated[
        str | None, typer.Argument(help="A failed submission to queue again.")
    ] = None,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Queue every failed submission again.")
    ] = False,
) -> None:
    """Queue failed submissions (the dead letters) again, with a fresh attempt count."""
    import uuid

    from trustq.services.submissions import NotRetryable, retry_failed

    if (submission_id is None) == (not all_failed):
        raise _fail("give one submission id or --all-failed (not both)")
    ids: list[uuid.UUID] | None = None
    if submission_id is not None:
        try:
            ids = [uuid.UUID(submission_id)]
        except ValueError as exc:
            raise _fail(f"not a submission id: {submission_id!r}") from exc
    _settings()
    try:
        done = retry_failed(ids)
    except LookupError as exc:
        raise _fail(str(exc).strip("'\""), code=1) from exc
    except NotRetryable as exc:
        raise _fail(str(exc), code=1) from exc
    for sid in done.ids:
        print(sid)
    if not done.ids:
        err.print("no failed submission to retry")
    elif done.queued:
        err.print(f"queued {len(done.ids)} failed submission(s) again")
    else:
        err.print(
            f"warning: the broker is unreachable: {len(done.ids)} submission(s) are queued in "
            "the database and the sweeper (`trustq beat`) publishes them once it is back",
            style="yellow",
            highlight=False,
            markup=False,
        )


# --- worker ------------------------------------------------------------------------------


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Worker processes (default: cores / 2).")
    ] = None,
    queues: Annotated[
        str, typer.Option(help="Comma-separated queues to consume.")
    ] = "scoring,training,maintenance",
    loglevel: Annotated[str, typer.Option()] = "INFO",
    name: Annotated[str, typer.Option(help="Node name.")] = "trustq@%h",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Serve Prometheus metrics here (TRUSTQ_WORKER_METRICS_PORT)."
        ),
    ] = None,
) -> None:
    """Run a Celery worker that scores queued submissions."""
    if concurrency is not None:
        # The pool's processes size their torch threads from this setting; they inherit it.
        from trustq.config import get_settings

        os.environ["TRUSTQ_WORKER_CONCURRENCY"] = str(concurrency)
        get_settings.cache_clear()
    settings = _settings()
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    if port:
        _prepare_worker_metrics(settings)
    from trustq.worker.app import app as celery_app

    if port:
        from trustq.worker.observability import serve_metrics

        try:
            serve_metrics(port)
        except OSError as exc:
            raise _fail(f"cannot serve worker metrics on port {port}: {exc.strerror}") from exc
    celery_app.worker_main(
        [
            "worker",
            "--queues",
            queues,
            "--concurrency",
            str(settings.resolved_concurrency),
            "--loglevel",
            loglevel,
            "--hostname",
            name,
            "--without-gossip",
            "--without-mingle",
        ]
    )


def _prepare_worker_metrics(settings: Any) -> None:
    """Give prometheus_client's multiprocess mode an empty folder (before it is imported):
    each pool process writes its samples there and the main process serves their sum."""
    import shutil
    import tempfile

    if "prometheus_client" in sys.modules:
        raise _fail("prometheus_client was imported before the metrics folder was set")
    if settings.metrics_dir is not None:
        folder = Path(settings.metrics_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):  # a previous run's samples
            stale.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix="trustq-metrics-"))
        import atexit

        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


@app.command()
def beat(loglevel: Annotated[str, typer.Option()] = "INFO") -> None:
    """Run Celery beat: the periodic tasks of trustq.tasks.schedule."""
    settings = _settings(database=False)
    from trustq.worker.app import app as celery_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    celery_app.start(
        [
            "beat",
            "--loglevel",
            loglevel,
            "--schedule",
            str(settings.data_dir / "celerybeat-schedule"),
        ]
    )


# --- reading verdicts --------------------------------------------------------------------


_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str) -> dt.datetime:
    """An ISO timestamp (UTC if no zone) or a span back from now such as 30m, 2h, 7d."""
    match = _RELATIVE.match(value.strip())
    if match:
        amount, unit = match.groups()
        return dt.datetime.now(dt.UTC) - dt.timedelta(**{_UNITS[unit]: int(amount)})
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is neither an ISO time nor a span like 2h or 7d"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _verdict_table(verdicts: list[VerdictOut]) -> Table:
    table = Table(show_lines=False)
    for column in (
        "submission",
        "external id",
        "score",
        "risk",
        "recommendation",
        "flags",
        "model",
        "scored at",
    ):
        table.add_column(column)
    for v in verdicts:
        table.add_row(
            v.submission_id,
            v.external_id,
            f"{v.trust_score:.1f}",
            f"[{RISK_STYLE.get(v.risk_level, 'white')}]{v.risk_level}[/]",
            v.recommendation,
            ", ".join(sorted({f["code"] for f in v.flags})) or "-",
            v.model_version,
            v.scored_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    return table


@app.command("verdict")
def show_verdict(
    submission_id: Annotated[str, typer.Argument(help="The submission id enqueue printed.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the verdict of one submission with its audit fields."""
    from trustq.client import SubmissionFailed, get_verdict, submission_status
    from trustq.client import labels as labels_of

    _settings()
    try:
        found = get_verdict(submission_id)
    except (LookupError, ValueError) as exc:
        raise _fail(str(exc), code=1) from exc
    except SubmissionFailed as exc:
        raise _fail(str(exc), code=4) from exc
    if found is None:
        status, _ = submission_status(submission_id)
        if as_json:
            print(json.dumps({"submission_id": submission_id, "status": status}))
        else:
            out.print(f"submission {submission_id} is {status}; no verdict yet")
        raise typer.Exit(5)
    if as_json:
        print(found.model_dump_json(indent=2))
        return
    colour = RISK_STYLE.get(found.risk_level, "white")
    table = Table(title=f"verdict for {found.external_id}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row(
        "trust score", f"[{colour}]{found.trust_score:.1f} / 100  ({found.risk_level} risk)[/]"
    )
    table.add_row("recommendation", found.recommendation)
    if found.summary:
        table.add_row("summary", found.summary)
    if found.history:
        table.add_row("history here", found.history)
    for notice in found.notices:
        table.add_row("[yellow]input notice[/]", f"{notice['kind']}: {notice['message']}")
    parts = found.breakdown.get("parts", {})
    for name, part in parts.items():
        moved = part["risk_effect"]
        table.add_row(
            f"  {name.replace('_', ' ')}",
            f"{part['points']:5.1f} / {part['of']:.0f}"
            + (f"   (moves p(risky) {moved * 100:+.1f} points)" if abs(moved) >= 0.0005 else ""),
        )
    table.add_row(
        "model says",
        f"{found.label}, {found.model_risk_level} risk (p(risky) = {found.p_risk:.3f}"
        + (f" at a base rate of {found.base_rate:g})" if found.base_rate is not None else ")"),
    )
    for hit in found.rule_hits:
        table.add_row("rule fired", f"{hit['name']}: {hit['action']} ({hit['detail']})")
    for flag in found.flags:
        sev = {"high": "red", "medium": "yellow"}.get(flag["severity"], "white")
        evidence = ", ".join(f"{k}={v}" for k, v in flag.get("evidence", {}).items())
        table.add_row(
            f"[{sev}]flag {flag['severity']}[/]",
            f"{flag['code']}: {flag['message']}"
            + (f"\n  evidence: {evidence}" if evidence else ""),
        )
    if not found.flags:
        table.add_row("flags", "none")
    for reason in found.reasons:
        arrow = "[red]▲[/]" if reason["effect"] > 0 else "[green]▼[/]"
        table.add_row(f"reason {arrow}", reason["text"])
    table.add_row("indicators", "")
    for key, value in found.indicators.items():
        table.add_row(f"  {key}", f"{value:.3g}")
    for entry in labels_of(found.submission_id):
        table.add_row(
            "label",
            f"{entry.label} by {entry.actor} ({entry.source}, "
            f"{entry.created_at:%Y-%m-%d %H:%M})" + (f": {entry.note}" if entry.note else ""),
        )
    table.add_row("submission", found.submission_id)
    table.add_row("status", found.status)
    table.add_row("model", found.model_version)
    table.add_row("encoder", f"{found.encoder_name} @ {found.encoder_revision}")
    table.add_row("input sha256", found.input_sha256)
    table.add_row(
        "submitted by",
        found.submitted_by + (f" (request {found.request_id})" if found.request_id else ""),
    )
    table.add_row("submitted at", found.submitted_at.isoformat(timespec="seconds"))
    table.add_row("scored at", found.scored_at.isoformat(timespec="seconds"))
    table.add_row("scoring took", f"{found.latency_ms:.0f} ms on {found.worker_host}")
    out.print(table)


@app.command("verdicts")
def list_verdicts(
    external_id: Annotated[str | None, typer.Option(help="Only this freelancer.")] = None,
    risk: Annotated[str | None, typer.Option(help="LOW, MEDIUM or HIGH.")] = None,
    since: Annotated[str | None, typer.Option(help="ISO time or span (2h, 7d).")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time or span.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List verdicts, newest first."""
    from trustq.client import list_verdicts as fetch

    _settings()
    try:
        found = fetch(
            external_id=external_id,
            risk_level=risk,
            since=parse_time(since) if since else None,
            until=parse_time(until) if until else None,
            limit=limit,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        for v in found:
            print(v.model_dump_json())
        return
    out.print(_verdict_table(found))
    err.print(f"{len(found)} verdict(s)")


# --- review and labels ------------------------------------------------------------------


@app.command()
def review(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List verdicts that ask for a person (review or risky) and await a decision, oldest
    first."""
    from trustq.client import review_queue

    _settings()
    found = review_queue(limit=limit)
    if as_json:
        for v in found:
            print(v.model_dump_json())
        return
    out.print(_verdict_table(found))
    err.print(f"{len(found)} verdict(s) await a decision: trustq decide ID --label … --by …")


LABEL_VALUES = ("risky", "trustworthy")


def _record_label(submission_id: str, value: str, source: str, by: str, note: str | None) -> None:
    from trustq import client

    try:
        entry = client.label(submission_id, value, source=source, by=by, note=note)
    except LookupError as exc:
        raise _fail(str(exc), code=1) from exc
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    err.print(
        f"recorded: {entry.submission_id} is {entry.label} ({entry.source}, by {entry.actor})"
    )


@app.command()
def decide(
    submission_id: Annotated[str, typer.Argument(help="The submission decided on.")],
    label: Annotated[str, typer.Option("--label", help="risky or trustworthy.")],
    by: Annotated[str, typer.Option("--by", help="The reviewer's name.")],
    note: Annotated[str | None, typer.Option("--note", help="Why.")] = None,
) -> None:
    """Record a reviewer's decision as a label; earlier labels stay as history."""
    _settings()
    _record_label(submission_id, label, "review", by, note)


@app.command("label")
def label_command(
    submission_id: Annotated[
        str | None, typer.Argument(help="The submission labelled (or give --file).")
    ] = None,
    value: Annotated[str | None, typer.Argument(help="risky or trustworthy.")] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who gives the label (a file's default).")
    ] = None,
    source: Annotated[str, typer.Option(help="review, chargeback, dispute or manual.")] = "manual",
    note: Annotated[str | None, typer.Option("--note")] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            exists=True,
            dir_okay=False,
            help="Many labels: CSV (header submission_id,label,source,by,note) or JSONL.",
        ),
    ] = None,
) -> None:
    """Label a submission with what became known about it (append-only), or many from a file:
    all stored, or (with any bad row or unknown submission) none."""
    _settings()
    if file is None:
        if submission_id is None or value is None or by is None:
            raise _fail("give SUBMISSION_ID VALUE --by NAME, or --file FILE")
        _record_label(submission_id, value, source, by, note)
        return
    if submission_id is not None or value is not None:
        raise _fail("give either SUBMISSION_ID VALUE or --file, not both")
    from trustq.services.labels import LabelFileError, add_labels, read_label_file

    try:
        count = add_labels(read_label_file(file, default_by=by))
    except LabelFileError as exc:
        raise _fail(str(exc)) from exc
    except LookupError as exc:
        raise _fail(str(exc), code=1) from exc
    err.print(f"recorded {count} label(s) from {file}")


@app.command()
def retrain(
    now: Annotated[
        bool, typer.Option("--now", help="Start a run whatever the number of new labels.")
    ] = False,
    by: Annotated[str, typer.Option("--by", help="Recorded as who asked.")] = "cli",
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the run's decision and print it.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits.")] = 3600.0,
) -> None:
    """Queue a retraining run on the training queue: when enough labels arrived since the
    last cut-off (as the beat check does), or at once with --now. At most one run is
    queued or running at a time."""
    from trustq.services.retraining import request_run
    from trustq.services.submissions import BrokerUnavailable

    settings = _settings()
    try:
        request = request_run(
            settings, trigger="manual" if now else "check", requested_by=by, force=now
        )
    except BrokerUnavailable as exc:
        raise _fail(str(exc), code=3) from exc
    err.print(request.message)
    if not request.started:
        # Asked for a run at once and none started (one is active): say so in the status.
        raise typer.Exit(6 if now else 0)
    print(request.run_id)
    if wait:
        _wait_for_run(request.run_id, timeout)


def _wait_for_run(run_id: int, timeout: float) -> None:
    from trustq.db import repo
    from trustq.db.session import session_scope

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope() as session:
            run = repo.get_training_run(session, run_id)
            status, version, error = run.status, run.candidate_version, run.error
            decisions = repo.list_model_decisions(session, version=version) if version else []
            reason = decisions[0].reason if decisions else None
        if status in ("done", "failed"):
            if status == "failed":
                raise _fail(f"run {run_id} failed: {error}", code=4)
            err.print(f"run {run_id}: {version} {reason}")
            return
        time.sleep(2)
    raise _fail(f"run {run_id} still {status} after {timeout:.0f} s", code=5)


@app.command()
def runs(limit: Annotated[int, typer.Option(min=1)] = 20) -> None:
    """Recent retraining runs, newest first."""
    from trustq.db import repo
    from trustq.db.session import session_scope

    _settings()
    table = Table()
    for column in ("run", "status", "trigger", "by", "new labels", "candidate", "queued", "took"):
        table.add_column(column)
    with session_scope() as session:
        for run in repo.list_training_runs(session, limit):
            took = (
                f"{(run.finished_at - run.started_at).total_seconds():.0f} s"
                if run.finished_at and run.started_at
                else ""
            )
            table.add_row(
                str(run.id),
                run.status + (f": {run.error}" if run.error else ""),
                run.trigger,
                run.requested_by,
                str(run.new_labels),
                run.candidate_version or "",
                run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                took,
            )
    out.print(table)


# --- models ------------------------------------------------------------------------------


@app.command()
def generate(
    output: Annotated[Path, typer.Argument(help="Where to write the JSONL file.")],
    size: Annotated[int, typer.Option(min=1)] = 6000,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Write the synthetic labelled data set (profiles plus label and p_true) as JSONL."""
    from trustq.data import synthetic

    count = synthetic.write_jsonl(synthetic.generate(size, seed), output)
    err.print(f"wrote {count} labelled profiles to {output}")


@app.command()
def train(
    data: Annotated[
        Path | None, typer.Option(help="JSONL of labelled profiles (else: synthetic).")
    ] = None,
    size: Annotated[int, typer.Option(min=100, help="Synthetic profiles to generate.")] = 6000,
    seed: Annotated[int, typer.Option()] = 0,
    max_epochs: Annotated[int, typer.Option(min=1, max=500)] = 50,
    serve: Annotated[
        bool, typer.Option("--serve/--candidate", help="Make it the serving model.")
    ] = True,
    by: Annotated[str | None, typer.Option("--by", help="Recorded as the model's creator.")] = None,
    ablations: Annotated[
        bool,
        typer.Option(
            "--ablations",
            help="Also train the network on text, sequence and indicators alone (3 more runs).",
        ),
    ] = False,
) -> None:
    """Train the model, compare it with baselines, write its run folder, and register it
    (serving by default)."""
    from trustq.client import default_actor
    from trustq.data.synthetic import REFERENCE_DATE
    from trustq.models.training import TrainConfig
    from trustq.services.training import (
        TrainingDataError,
        load_labelled,
        synthetic_profiles,
        train_and_register,
    )

    settings = _settings()
    if data is not None:
        try:
            profiles = load_labelled(data)
        except (OSError, TrainingDataError) as exc:
            raise _fail(str(exc)) from exc
        as_of = dt.date.today()
    else:
        err.print(f"generating {size} synthetic profiles (seed {seed})")
        profiles = synthetic_profiles(size, seed)
        as_of = REFERENCE_DATE
    report = train_and_register(
        settings,
        profiles,
        as_of=as_of,
        created_by=by or default_actor(),
        serve=serve,
        config=TrainConfig(max_epochs=max_epochs, seed=seed),
        ablations=ablations,
        data_description=str(data) if data is not None else f"synthetic, seed {seed}",
        progress=lambda msg: err.print(msg, highlight=False),
    )
    test = report.metrics["test"]
    out.print(
        f"model [bold]{report.version}[/] ({report.status}): test ROC-AUC {test['roc_auc']:.3f}, "
        f"accuracy {test['accuracy']:.3f}, log-loss {test['log_loss']:.3f}, ECE {test['ece']:.3f}"
    )
    for group in ("baselines", "ablations", "candidates"):
        for name, ref in report.metrics.get(group, {}).items():
            out.print(
                f"  {name}: ROC-AUC {ref['test']['roc_auc']:.3f}, ECE {ref['test']['ece']:.3f}",
                highlight=False,
            )
    if "ceiling" in report.metrics:
        out.print(
            f"ceiling (p_true as the score): ROC-AUC {report.metrics['ceiling']['roc_auc']:.3f}"
        )
    timings = report.metrics.get("timings", {})
    out.print(
        f"encoder {report.encoder_seconds:.1f} s, network {report.network_seconds:.1f} s, "
        f"baselines {timings.get('baselines_seconds', 0):.1f} s"
        + (
            f", ablations {timings['ablations_seconds']:.1f} s"
            if "ablations_seconds" in timings
            else ""
        )
        + f"; artifacts in {report.run_dir}"
    )


@app.command()
def evaluate(
    model: Annotated[str, typer.Option("--model", help="The model version, e.g. v3.")],
    data: Annotated[Path, typer.Option(help="JSONL of labelled profiles (label, p_true).")],
    as_of: Annotated[
        str | None,
        typer.Option(help="Date the features are computed at (ISO; default today)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--out", help="Also write the metrics as JSON here.")
    ] = None,
) -> None:
    """Score a labelled JSONL file with a registered model version and print its metrics."""
    from trustq.services.evaluation import EvaluationError, evaluate_version
    from trustq.services.training import TrainingDataError, load_labelled

    settings = _settings()
    try:
        day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    except ValueError as exc:
        raise _fail(f"--as-of {as_of!r} is not an ISO date") from exc
    try:
        profiles = load_labelled(data)
    except (OSError, TrainingDataError) as exc:
        raise _fail(str(exc)) from exc
    try:
        result = evaluate_version(settings, model, profiles, day)
    except EvaluationError as exc:
        raise _fail(str(exc), code=1) from exc
    if output is not None:
        output.write_text(json.dumps(result, indent=2), encoding="utf-8")
    table = Table(title=f"model {model} on {data} ({result['n']} profiles)")
    for column in ("scorer", "ROC-AUC", "PR-AUC", "accuracy", "log-loss", "Brier", "ECE"):
        table.add_column(column)
    rows = [("model", result["metrics"])]
    if "ceiling" in result:
        rows.append(("ceiling (p_true)", result["ceiling"]))
    for name, m in rows:
        table.add_row(
            name,
            *(
                "–" if m[key] is None else f"{m[key]:.3f}"
                for key in ("roc_auc", "pr_auc", "accuracy", "log_loss", "brier", "ece")
            ),
        )
    out.print(table)
    matrix = result["metrics"]["confusion_matrix"]
    out.print(
        f"confusion (rows true, columns predicted; trustworthy, risky): {matrix}",
        highlight=False,
    )
    if output is not None:
        err.print(f"wrote {output}")


@models_app.callback(invoke_without_command=True)
def models(ctx: typer.Context) -> None:
    """List model versions with their status, test metrics and promotion history."""
    if ctx.invoked_subcommand is not None:
        return
    from trustq.db import repo
    from trustq.db.session import session_scope

    _settings()
    table = Table()
    columns = ("version", "status", "created", "by", "labels", "test ROC-AUC", "log-loss", "ECE")
    for column in columns:
        table.add_column(column)
    with session_scope() as session:
        for row in repo.model_version_summaries(session):
            test = row.metrics.get("test", {})
            table.add_row(
                row.version,
                row.status,
                row.created_at.strftime("%Y-%m-%d %H:%M"),
                row.created_by,
                str(row.labels_used),
                _number(test.get("roc_auc")),
                _number(test.get("log_loss")),
                _number(test.get("ece")),
            )
    out.print(table)
    err.print("promotion decisions: `trustq models history`")


def _number(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "–"


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="The version to serve (an older one rolls back).")],
    by: Annotated[str, typer.Option("--by", help="Recorded as who promoted it.")],
    note: Annotated[str | None, typer.Option("--note", help="Why.")] = None,
) -> None:
    """Serve VERSION from now on; workers switch within their model check interval."""
    from trustq.services.models import ModelNotFound, promote

    settings = _settings()
    try:
        done = promote(version, actor=by, note=note)
    except ModelNotFound as exc:
        raise _fail(str(exc), code=1) from exc
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    err.print(
        f"{done['version']} serves now (before: {done['previous_version'] or 'none'}); "
        f"workers switch within {settings.model_refresh_seconds:.0f} s"
    )


@models_app.command("history")
def models_history(
    version: Annotated[str | None, typer.Argument(help="Only this version.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """Every promotion decision, by the gate or by hand, newest first."""
    from trustq.db import repo
    from trustq.db.session import session_scope

    _settings()
    with session_scope() as session:
        rows = repo.list_model_decisions(session, version=version, limit=limit)
        records = [
            {
                "at": r.created_at.isoformat(timespec="seconds"),
                "version": r.version,
                "previous_version": r.previous_version,
                "decision": r.decision,
                "actor": r.actor,
                "reason": r.reason,
                "candidate_metrics": r.candidate_metrics,
                "serving_metrics": r.serving_metrics,
            }
            for r in rows
        ]
    if as_json:
        for record in records:
            print(json.dumps(record))
        return
    table = Table()
    for column in ("at", "version", "before", "decision", "by", "reason"):
        table.add_column(column)
    for r in records:
        colour = "green" if r["decision"] == "promoted" else "red"
        table.add_row(
            r["at"],
            r["version"],
            r["previous_version"] or "",
            f"[{colour}]{r['decision']}[/]",
            r["actor"],
            r["reason"],
        )
    out.print(table)


# --- HTTP API and operations ------------------------------------------------------------


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Address to bind (TRUSTQ_API_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (TRUSTQ_API_PORT).")
    ] = None,
) -> None:
    """Serve the HTTP API (one process; run more behind a load balancer to scale)."""
    settings = _settings()
    import uvicorn

    from trustq import logs
    from trustq.api.app import create_app

    logs.configure(settings.log_format, settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=20,
    )


apikey_app = typer.Typer(help="API keys of the HTTP API.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option("--name", help="Who uses the key; recorded as the actor.")],
    scope: Annotated[
        str, typer.Option("--scope", help="read, submit (read + write) or admin (everything).")
    ],
) -> None:
    """Make an API key and print it once (only its sha256 is stored)."""
    from trustq.services import apikeys

    _settings()
    try:
        info, token = apikeys.create(name, scope)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    print(token)
    err.print(
        f"API key {info.name!r} ({info.scope}) created; it is shown once, keep it now",
        highlight=False,
    )


@apikey_app.command("list")
def apikey_list() -> None:
    """List API keys: name, scope, prefix, created, last used, revoked."""
    from trustq.services import apikeys

    _settings()
    table = Table()
    columns = ("name", "scope", "prefix", "created", "last used", "revoked", "labels/day")
    for column in (*columns, "labels in training"):
        table.add_column(column)
    when = "%Y-%m-%d %H:%M"
    for key in apikeys.list_keys():
        table.add_row(
            key.name,
            key.scope,
            key.prefix + "…",
            key.created_at.strftime(when),
            key.last_used_at.strftime(when) if key.last_used_at else "-",
            key.revoked_at.strftime(when) if key.revoked_at else "-",
            "no cap" if key.labels_per_day is None else str(key.labels_per_day),
            "excluded" if key.labels_excluded else "used",
        )
    out.print(table)


@apikey_app.command("labels")
def apikey_labels(
    name: Annotated[str, typer.Argument(help="The key's name.")],
    per_day: Annotated[
        int | None, typer.Option("--per-day", help="Labels the key may add in any 24 hours.")
    ] = None,
    no_cap: Annotated[bool, typer.Option("--no-cap", help="Lift the daily cap.")] = False,
    exclude: Annotated[
        bool | None,
        typer.Option(
            "--exclude/--include",
            help="Leave the key's labels out of training and of the retraining count, or use "
            "them again.",
        ),
    ] = None,
) -> None:
    """Set how many labels an API key may add a day, and whether retraining uses them."""
    from trustq.services import apikeys

    _settings()
    try:
        key = apikeys.set_label_policy(name, per_day=per_day, no_cap=no_cap, excluded=exclude)
    except (LookupError, ValueError) as exc:
        raise _fail(str(exc).strip("'\"")) from exc
    cap = "no daily cap" if key.labels_per_day is None else f"{key.labels_per_day} a day"
    used = "left out of training" if key.labels_excluded else "used in training"
    print(f"{key.name}: labels {cap}, {used}")


@apikey_app.command("revoke")
def apikey_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke an API key; requests with it get 401 from then on."""
    from trustq.services import apikeys

    _settings()
    try:
        apikeys.revoke(name)
    except LookupError as exc:
        raise _fail(str(exc), code=1) from exc
    err.print(f"API key {name!r} revoked", highlight=False)


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for workers.")] = 1.0,
) -> None:
    """Queue depth, workers seen, serving model, submissions by status, oldest waiting.

    Exits 3 when the broker cannot be read (the database part is still shown).
    """
    from trustq.services import status as status_service

    _settings()
    snapshot = status_service.database_snapshot()
    depths: dict[str, int] | None
    broker_error = None
    try:
        depths = status_service.queue_depths()
        workers = status_service.workers_seen(timeout)
    except Exception as exc:  # any transport error: show it, the rest is still worth reading
        depths, workers, broker_error = None, [], f"{type(exc).__name__}: {exc}"
    if as_json:
        oldest_at = snapshot.oldest_queued_at
        print(
            json.dumps(
                {
                    "queues": depths,
                    "broker_error": broker_error,
                    "workers": workers,
                    "serving_model": snapshot.serving_model,
                    "submissions": snapshot.by_status,
                    "oldest_queued_at": oldest_at.isoformat() if oldest_at else None,
                    "oldest_queued_age_seconds": snapshot.oldest_queued_age_seconds,
                }
            )
        )
    else:
        table = Table(show_header=False, title="trustq status")
        table.add_column(style="bold")
        table.add_column()
        if depths is None:
            table.add_row("broker", f"[red]unreachable[/] ({broker_error})")
        else:
            for queue, depth in depths.items():
                table.add_row(f"queue {queue}", f"{depth} waiting")
            table.add_row(
                "workers seen",
                f"{len(workers)}: {', '.join(workers)}" if workers else "[red]none answered[/]",
            )
        table.add_row("serving model", snapshot.serving_model or "[red]none (run trustq train)[/]")
        for name, count in snapshot.by_status.items():
            label = "failed (dead letters)" if name == "failed" else name
            style = "red" if name == "failed" and count else "white"
            table.add_row(f"submissions {label}", f"[{style}]{count}[/]")
        oldest = snapshot.oldest_queued_age_seconds
        table.add_row(
            "oldest waiting",
            "-"
            if oldest is None
            else f"{_age(oldest)} (since {snapshot.oldest_queued_at:%Y-%m-%d %H:%M:%S} UTC)",
        )
        out.print(table)
    if broker_error is not None:
        raise typer.Exit(3)


# --- database ----------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations (to the newest by default)."""
    from trustq.db import migrate

    settings = _settings(database=False)
    migrate.upgrade(revision=revision)
    err.print(f"database at {revision}: {_redact(settings.resolved_database_url)}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION (``base`` removes every table)."""
    from trustq.db import migrate

    _settings(database=False)
    migrate.downgrade(revision=revision)
    err.print(f"database at {revision}")


def _redact(url: str) -> str:
    return re.sub(r"//([^:@/]+):[^@/]*@", r"//\1:***@", url)


# --- demo --------------------------------------------------------------------------------


@app.command()
def demo(
    train_size: Annotated[
        int, typer.Option(min=200, help="Synthetic profiles to train on.")
    ] = 1000,
    profiles: Annotated[Path | None, typer.Option(help="JSONL of profiles to score.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the verdicts.")] = 600.0,
) -> None:
    """Run the main job end to end: migrate, train if needed, start a worker, score samples."""
    from trustq.client import SubmissionFailed, default_actor, get_verdict
    from trustq.data.synthetic import REFERENCE_DATE
    from trustq.db import migrate, repo
    from trustq.db.session import session_scope
    from trustq.services.submissions import enqueue as enqueue_profiles
    from trustq.services.submissions import parse_document
    from trustq.services.training import synthetic_profiles, train_and_register

    settings = _settings(database=False)
    where = (
        "embedded SQLite and local broker in " + str(settings.data_dir.resolve())
        if settings.embedded
        else (
            f"{_redact(settings.resolved_database_url)} and {_redact(settings.resolved_broker_url)}"
        )
    )
    err.print(f"[bold]1/4[/] migrating the database ({where})")
    migrate.upgrade()

    with session_scope() as session:
        serving = repo.serving_model_version(session)
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
        err.print(f"[bold]2/4[/] model {serving[0]} is serving")

    sample_path = profiles or Path(__file__).parent / "data" / "samples.jsonl"
    batch = parse_document(sample_path.read_text(encoding="utf-8"))
    if batch.bad:
        raise _fail(f"{sample_path}: " + "; ".join(str(b) for b in batch.bad))

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    worker_log = settings.data_dir / "demo-worker.log"
    err.print(f"[bold]3/4[/] starting a worker (log: {worker_log}) and queueing the samples")
    with worker_log.open("ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trustq", "worker", "--concurrency", "1", "--loglevel", "INFO"],
            env=os.environ.copy(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        results = enqueue_profiles(
            [p for _, p in batch.profiles], submitted_by=default_actor(), request_id="demo"
        )
        found: dict[str, VerdictOut] = {}
        failed: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        with _progress() as progress:
            task = progress.add_task("[bold]4/4[/] scoring", total=len(results))
            while len(found) + len(failed) < len(results):
                if proc.poll() is not None:
                    raise _fail(f"the worker exited with code {proc.returncode}; see {worker_log}")
                if time.monotonic() > deadline:
                    raise _fail(
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
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    ordered = [found[str(r.id)] for r in results if str(r.id) in found]
    out.print(_verdict_table(ordered))
    for key, reason in failed.items():
        err.print(f"[red]{key}: {reason}[/]")
    err.print(f"{len(ordered)} verdicts stored, {len(failed)} failed")
    if ordered:
        err.print(f"read one with: trustq verdict {ordered[0].submission_id}")
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
