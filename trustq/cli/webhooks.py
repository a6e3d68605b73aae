"""Webhooks: endpoints, their deliveries and attempts, replays, and the process that
sends them (``trustq webhooks run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from trustq.cli.common import app, err, fail, load_settings, out, print_json_lines

webhooks_app = typer.Typer(
    help="Webhooks: verdicts and failures posted to the submitters' endpoints.",
    no_args_is_help=True,
)
app.add_typer(webhooks_app, name="webhooks")

WHEN = "%Y-%m-%d %H:%M:%S"


def _key_id(owner: str | None) -> int | None:
    """The id of the key named ``owner`` (None for every key's); exit 1 if there is none."""
    from trustq.services import webhooks

    if owner is None:
        return None
    try:
        return webhooks.key_named(owner)[0]
    except webhooks.NotFound as exc:
        raise fail(str(exc), code=1) from exc


@webhooks_app.command("add")
def add(
    owner: Annotated[
        str,
        typer.Option("--owner", help="The API key (its name) whose submissions' events go here."),
    ],
    url: Annotated[str, typer.Option("--url", help="https://… on a public address.")],
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event", help="verdict.ready or submission.failed; repeat it (default: both)."
        ),
    ] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who registers it (recorded).")] = None,
) -> None:
    """Register an endpoint and print its signing secret (shown once)."""
    from trustq.schemas import WEBHOOK_EVENTS
    from trustq.services import webhooks
    from trustq.services.submissions import default_submitter

    settings = load_settings()
    try:
        key_id, owner = webhooks.key_named(owner)
    except webhooks.NotFound as exc:
        raise fail(str(exc), code=1) from exc
    try:
        created = webhooks.add_endpoint(
            settings,
            api_key_id=key_id,
            owner=owner,
            url=url,
            events=event or WEBHOOK_EVENTS,
            description=description,
            created_by=by or default_submitter(),
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    print(created.secret)
    err.print(
        f"webhook endpoint {created.id} for {owner} ({', '.join(created.events)}) -> "
        f"{created.url}; the secret above signs every delivery and is shown once, keep it now",
        highlight=False,
    )


@webhooks_app.command("list")
def list_command(
    owner: Annotated[str | None, typer.Option("--owner", help="Only this key's.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one each.")] = False,
) -> None:
    """List endpoints (never their secrets)."""
    from trustq.services import webhooks

    load_settings()
    items = webhooks.list_endpoints(_key_id(owner))
    if as_json:
        print_json_lines(items)
        return
    table = Table()
    for column in ("id", "owner", "url", "events", "failing", "created"):
        table.add_column(column)
    for e in items:
        failing = "-"
        if e.failures:
            until = e.paused_until.strftime(WHEN) if e.paused_until else "now"
            failing = f"{e.failures} in a row, waits until {until}"
        table.add_row(
            e.id, e.owner, e.url, ", ".join(e.events), failing, e.created_at.strftime(WHEN)
        )
    out.print(table)


@webhooks_app.command("remove")
def remove(endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id.")]) -> None:
    """Remove an endpoint with its deliveries."""
    from trustq.services import webhooks

    load_settings()
    try:
        webhooks.remove_endpoint(endpoint_id)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    except webhooks.NotFound as exc:
        raise fail(str(exc), code=1) from exc
    err.print(f"removed webhook endpoint {endpoint_id}", highlight=False)


@webhooks_app.command("deliveries")
def deliveries(
    status: Annotated[
        str | None, typer.Option("--status", help="pending, delivered or failed.")
    ] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Only this one's.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this key's.")] = None,
    evaluation: Annotated[
        str | None, typer.Option("--evaluation", help="Only this submission's.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one each.")] = False,
) -> None:
    """List deliveries, newest first (--status failed: those given up on, to replay)."""
    from trustq.services import webhooks

    load_settings()
    try:
        items = webhooks.list_deliveries(
            api_key_id=_key_id(owner),
            endpoint_id=endpoint,
            status=status,
            evaluation_id=evaluation,
            limit=limit,
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    except webhooks.NotFound as exc:
        raise fail(str(exc), code=1) from exc
    if as_json:
        print_json_lines(items)
        return
    table = Table()
    for column in ("id", "event", "evaluation", "status", "attempts", "last answer", "created"):
        table.add_column(column)
    for d in items:
        answer = d.last_error or (str(d.last_status_code) if d.last_status_code else "-")
        table.add_row(
            d.id,
            d.event,
            d.evaluation_id,
            d.status,
            str(d.attempts),
            answer,
            d.created_at.strftime(WHEN),
        )
    out.print(table)


@webhooks_app.command("attempts")
def attempts(
    delivery_id: Annotated[str, typer.Argument(help="The delivery's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="The delivery as JSON.")] = False,
) -> None:
    """A delivery and every attempt: when, what the endpoint answered, how long it took."""
    from trustq.services import webhooks

    load_settings()
    try:
        found = webhooks.get_delivery(delivery_id)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    except webhooks.NotFound as exc:
        raise fail(str(exc), code=1) from exc
    if as_json:
        print_json_lines([found])
        return
    out.print(
        f"{found.event} for {found.evaluation_id}: {found.status} after {found.attempts} "
        f"attempts ({found.replays} replays)",
        highlight=False,
    )
    table = Table()
    for column in ("at", "status code", "error", "ms"):
        table.add_column(column)
    for a in found.attempt_log or []:
        table.add_row(
            a.at.strftime(WHEN),
            str(a.status_code) if a.status_code is not None else "-",
            a.error or "-",
            f"{a.duration_ms:.0f}",
        )
    out.print(table)


@webhooks_app.command("replay")
def replay(
    delivery_ids: Annotated[
        list[str] | None, typer.Argument(help="Deliveries to send again (or give --failed).")
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Every failed delivery (of --endpoint / --owner).")
    ] = False,
    endpoint: Annotated[str | None, typer.Option("--endpoint")] = None,
    owner: Annotated[str | None, typer.Option("--owner")] = None,
) -> None:
    """Send deliveries again now, with a new retry window (same event id)."""
    from trustq.services import webhooks

    if bool(delivery_ids) == failed:
        raise fail("name the deliveries to replay, or give --failed (not both)")
    load_settings()
    try:
        replayed = webhooks.replay(
            delivery_ids=delivery_ids or None, api_key_id=_key_id(owner), endpoint_id=endpoint
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    except webhooks.NotFound as exc:
        raise fail(str(exc), code=1) from exc
    for one in replayed:
        print(one)
    err.print(f"{len(replayed)} deliveries due again now", highlight=False)


@webhooks_app.command("run")
def run(
    alive_file: Annotated[
        Path | None,
        typer.Option(help="Touched at every turn, for a health check that reads its age."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Send what is due now, then stop.")] = False,
) -> None:
    """Send webhook deliveries until stopped (SIGTERM or Ctrl-C finish what is in flight).
    Run one or more beside the workers; they share the work."""
    import asyncio
    import signal

    from trustq import logs
    from trustq.services.webhook_delivery import Dispatcher, deliver_due

    settings = load_settings()
    logs.configure(settings.log_format, settings.log_level)
    if once:
        deliver_due(settings)
        return

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await Dispatcher(settings).run(stop, alive_file)

    asyncio.run(main())
