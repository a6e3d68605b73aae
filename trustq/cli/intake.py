"""Taking profiles in: enqueue, the profile schema, retrying failed submissions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from trustq.cli.common import app, err, fail, load_settings, print_json_lines, progress_bar


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
    as_json: Annotated[
        bool,
        typer.Option("--json", help="JSON lines: submission_id, external_id, created and queued."),
    ] = False,
) -> None:
    """Validate profiles, store them, queue them for scoring; prints their submission ids."""
    from trustq.scoring.resume_files import ResumeFileError
    from trustq.services.submissions import (
        DatabaseUnavailable,
        IdempotencyKeyReused,
        enqueue,
        parse_document,
    )
    from trustq.services.submissions import default_submitter as default_actor

    settings = load_settings()
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {file}: {exc}") from exc
    attached: tuple[str, bytes] | None = None
    if resume_file is not None:
        try:
            attached = (resume_file.name, resume_file.read_bytes())
        except OSError as exc:
            raise fail(f"cannot read {resume_file}: {exc}") from exc
    batch = parse_document(text, with_resume_file=attached is not None)
    for bad in batch.bad:
        err.print(f"{file}: {bad}", style="red", highlight=False, markup=False)
    if batch.bad and not skip_bad:
        raise fail(
            f"{len(batch.bad)} invalid profile(s); nothing was stored "
            "(fix them, or pass --skip-bad to queue the valid ones)"
        )
    profiles = [p for _, p in batch.profiles]
    if not profiles:
        raise fail("no valid profile to queue")
    try:
        if len(profiles) > 1:
            with progress_bar() as progress:
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
        raise fail(str(exc), code=3) from exc
    except (ResumeFileError, IdempotencyKeyReused) as exc:  # intake's checks: nothing stored
        raise fail(str(exc)) from exc
    except Exception as exc:
        if type(exc).__module__.startswith("sqlalchemy"):
            raise fail(f"the database is unreachable or refused the write: {exc}", 3) from exc
        raise
    if as_json:
        print_json_lines(
            {
                "submission_id": str(r.id),
                "external_id": p.external_id,
                "created": r.created,
                "queued": r.queued,
            }
            for p, r in zip(profiles, results, strict=True)
        )
    for result in results if not as_json else ():
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
        raise fail("give one submission id or --all-failed (not both)")
    ids: list[uuid.UUID] | None = None
    if submission_id is not None:
        try:
            ids = [uuid.UUID(submission_id)]
        except ValueError as exc:
            raise fail(f"not a submission id: {submission_id!r}") from exc
    load_settings()
    try:
        done = retry_failed(ids)
    except LookupError as exc:
        raise fail(str(exc).strip("'\""), code=1) from exc
    except NotRetryable as exc:
        raise fail(str(exc), code=1) from exc
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
