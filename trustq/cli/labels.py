"""Labels: a reviewer's decision, an outcome learned later, many from a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trustq.cli.common import app, err, fail, load_settings

LABEL_VALUES = ("risky", "trustworthy")


def _record_label(submission_id: str, value: str, source: str, by: str, note: str | None) -> None:
    from trustq.services.labels import add_label

    try:
        entry = add_label(submission_id, value, source=source, by=by, note=note)
    except LookupError as exc:
        raise fail(str(exc), code=1) from exc
    except ValueError as exc:
        raise fail(str(exc)) from exc
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
    load_settings()
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
    load_settings()
    if file is None:
        if submission_id is None or value is None or by is None:
            raise fail("give SUBMISSION_ID VALUE --by NAME, or --file FILE")
        _record_label(submission_id, value, source, by, note)
        return
    if submission_id is not None or value is not None:
        raise fail("give either SUBMISSION_ID VALUE or --file, not both")
    from trustq.services.labels import LabelFileError, add_labels, read_label_file

    try:
        count = add_labels(read_label_file(file, default_by=by))
    except LabelFileError as exc:
        raise fail(str(exc)) from exc
    except LookupError as exc:
        raise fail(str(exc), code=1) from exc
    err.print(f"recorded {count} label(s) from {file}")
