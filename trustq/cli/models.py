"""Model versions: list, promote, history."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from trustq.cli.common import app, err, fail, load_settings, out, print_json_lines

models_app = typer.Typer(help="Model versions: list, promote, history.")
app.add_typer(models_app, name="models")


JSON_OPTION = typer.Option("--json", help="JSON lines, one version each.")


@models_app.callback(invoke_without_command=True)
def models(ctx: typer.Context, as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """Model versions with their status and test metrics (as `trustq models list`)."""
    if ctx.invoked_subcommand is None:
        _list(as_json)


@models_app.command("list")
def models_list(as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """List model versions with their status, test metrics and who made them."""
    _list(as_json)


def _list(as_json: bool) -> None:
    from trustq.services.models import list_models

    load_settings()
    rows = list_models()
    if as_json:
        print_json_lines(rows)
        return
    table = Table()
    columns = ("version", "status", "created", "by", "labels", "test ROC-AUC", "log-loss", "ECE")
    for column in columns:
        table.add_column(column)
    for row in rows:
        test = row.test_metrics
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
    from trustq.services.models import ModelNotFound
    from trustq.services.promotion import promote

    settings = load_settings()
    try:
        done = promote(version, actor=by, note=note)
    except ModelNotFound as exc:
        raise fail(str(exc), code=1) from exc
    except ValueError as exc:
        raise fail(str(exc)) from exc
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
    from trustq.services.models import history

    load_settings()
    records = history(version, limit=limit)
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
