"""What the commands share: the app, the consoles, settings and errors, time and table
formatting."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Iterable
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

# Exit statuses, the same for every command: 0 done; 1 what was named does not exist (or,
# for ``status``, no worker answered or no model serves); 2 bad input or usage; 3 the
# database or the broker cannot be reached; 4 the submission failed; 5 not ready yet.


def _print_version(value: bool) -> None:
    if value:
        from trustq import __version__

        print(f"trustq {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[  # noqa: ARG001 - read by its callback
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """trustq: trust evaluation of freelancer profiles."""
    if "--help" not in sys.argv[1:]:
        # Before a command imports what reads the settings: a bad or misspelt one is then
        # one line naming it, whichever command it is.
        load_settings(database=False)


def print_json_lines(items: Iterable[Any]) -> None:
    """One JSON object per line (dataclasses and models alike; times in ISO 8601)."""
    from pydantic_core import to_jsonable_python

    for item in items:
        print(json.dumps(to_jsonable_python(item)))


# Piped output keeps whole rows (ids included) instead of cutting them at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 200)
# soft_wrap: error lines stay whole, so they can be grepped and read by other programs.
err = Console(stderr=True, soft_wrap=True)

RISK_STYLE = {RiskLevel.LOW: "green", RiskLevel.MEDIUM: "yellow", RiskLevel.HIGH: "red"}


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print("error: ", style="bold red", end="")
    err.print(message, highlight=False, markup=False)
    return typer.Exit(code)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


def load_settings(database: bool = True) -> Any:
    """The settings, and (unless told otherwise) a database at the newest migration."""
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError

    from trustq.config import get_settings
    from trustq.db import migrate

    try:
        settings = get_settings()
    except ValidationError as exc:
        raise fail(f"bad setting: {exc}") from exc
    if database:
        try:
            migrate.ensure_current()
        except migrate.SchemaOutOfDate as exc:
            raise fail(str(exc)) from exc
        except OperationalError as exc:
            raise fail(f"cannot reach the database: {exc.orig}", code=3) from exc
    return settings


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


def verdict_table(verdicts: list[VerdictOut]) -> Table:
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


def redact(url: str) -> str:
    """The URL without its password (``redis://:secret@host`` has no user name)."""
    return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", url)
