"""The HTTP API and its keys."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from trustq.cli.common import app, err, fail, load_settings, out, print_json_lines


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Address to bind (TRUSTQ_API_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (TRUSTQ_API_PORT).")
    ] = None,
) -> None:
    """Serve the HTTP API (one process; run more behind a load balancer to scale)."""
    settings = load_settings()
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
        # The client's address from X-Forwarded-For, only when a trusted proxy sent it.
        proxy_headers=True,
        forwarded_allow_ips=settings.api_forwarded_allow_ips,
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

    load_settings()
    try:
        info, token = apikeys.create(name, scope)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    print(token)
    err.print(
        f"API key {info.name!r} ({info.scope}) created; it is shown once, keep it now",
        highlight=False,
    )


@apikey_app.command("list")
def apikey_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one key each.")] = False,
) -> None:
    """List API keys: name, scope, prefix, created, last used, revoked (never the key)."""
    from trustq.services import apikeys

    load_settings()
    keys = apikeys.list_keys()
    if as_json:
        print_json_lines(keys)
        return
    table = Table()
    columns = ("name", "scope", "prefix", "created", "last used", "revoked", "labels/day")
    for column in (*columns, "labels in training"):
        table.add_column(column)
    when = "%Y-%m-%d %H:%M"
    for key in keys:
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

    load_settings()
    try:
        key = apikeys.set_label_policy(name, per_day=per_day, no_cap=no_cap, excluded=exclude)
    except (LookupError, ValueError) as exc:
        raise fail(str(exc).strip("'\"")) from exc
    cap = "no daily cap" if key.labels_per_day is None else f"{key.labels_per_day} a day"
    used = "left out of training" if key.labels_excluded else "used in training"
    print(f"{key.name}: labels {cap}, {used}")


@apikey_app.command("revoke")
def apikey_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke an API key; requests with it get 401 from then on."""
    from trustq.services import apikeys

    load_settings()
    try:
        apikeys.revoke(name)
    except LookupError as exc:
        raise fail(str(exc), code=1) from exc
    err.print(f"API key {name!r} revoked", highlight=False)
