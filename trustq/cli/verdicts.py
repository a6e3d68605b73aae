"""Reading verdicts back, and the review queue."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from trustq.cli.common import (
    RISK_STYLE,
    app,
    err,
    fail,
    load_settings,
    out,
    parse_time,
    verdict_table,
)


@app.command("verdict")
def show_verdict(
    submission_id: Annotated[str, typer.Argument(help="The submission id enqueue printed.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the verdict of one submission with its audit fields."""
    from trustq.services.verdicts import (
        SubmissionFailed,
        get_verdict,
        labels_of,
        submission_status,
    )

    load_settings()
    try:
        found = get_verdict(submission_id)
    except LookupError as exc:
        raise fail(str(exc), code=1) from exc
    except ValueError as exc:  # not an id at all
        raise fail(str(exc)) from exc
    except SubmissionFailed as exc:
        raise fail(str(exc), code=4) from exc
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
    from trustq.services.verdicts import list_verdicts as fetch

    load_settings()
    try:
        found = fetch(
            external_id=external_id,
            risk_level=risk,
            since=parse_time(since) if since else None,
            until=parse_time(until) if until else None,
            limit=limit,
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        for v in found:
            print(v.model_dump_json())
        return
    out.print(verdict_table(found))
    err.print(f"{len(found)} verdict(s)")


@app.command()
def review(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List verdicts that ask for a person (review or risky) and await a decision, oldest
    first."""
    from trustq.services.verdicts import review_queue

    load_settings()
    found = review_queue(limit=limit)
    if as_json:
        for v in found:
            print(v.model_dump_json())
        return
    out.print(verdict_table(found))
    err.print(f"{len(found)} verdict(s) await a decision: trustq decide ID --label … --by …")
