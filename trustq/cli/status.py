"""How the system stands."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from trustq.cli.common import app, load_settings, out, redact


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
    """Where it reads, queue depth, workers seen, serving model, submissions by status,
    oldest waiting.

    Exits 3 when the broker cannot be read (the database part is still shown), 1 when no
    worker answered or no model serves: nothing would be scored.
    """
    from trustq.services import status as status_service

    settings = load_settings()
    database = redact(settings.resolved_database_url)
    broker = redact(settings.resolved_broker_url)
    snapshot = status_service.database_snapshot()
    depths: dict[str, int] | None
    broker_error = None
    try:
        depths = status_service.queue_depths()
        workers = status_service.workers_seen(timeout)
    except Exception as exc:  # any transport error: show it, the rest is still worth reading
        depths, workers, broker_error = None, [], f"{type(exc).__name__}: {exc}"
    encoders = status_service.worker_encoders(workers)
    if as_json:
        oldest_at = snapshot.oldest_queued_at
        print(
            json.dumps(
                {
                    "database": database,
                    "broker": broker,
                    "queues": depths,
                    "broker_error": broker_error,
                    "workers": workers,
                    "worker_encoders": encoders,
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
        table.add_row("database", database)
        table.add_row("broker", broker)
        if depths is None:
            table.add_row("broker", f"[red]unreachable[/] ({broker_error})")
        else:
            for queue, depth in depths.items():
                table.add_row(f"queue {queue}", f"{depth} waiting")
            table.add_row(
                "workers seen",
                f"{len(workers)}: {', '.join(workers)}" if workers else "[red]none answered[/]",
            )
            for worker, encoder in encoders.items():
                table.add_row(f"encoder of {worker}", encoder or "no heartbeat yet")
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
    if not workers or snapshot.serving_model is None:
        raise typer.Exit(1)
