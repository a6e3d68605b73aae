"""Training, retraining runs, generating and evaluating data sets."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from trustq.cli.common import app, err, fail, load_settings, out, print_json_lines


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

    settings = load_settings()
    try:
        request = request_run(
            settings, trigger="manual" if now else "check", requested_by=by, force=now
        )
    except BrokerUnavailable as exc:
        raise fail(str(exc), code=3) from exc
    err.print(request.message)
    if not request.started:
        # Asked for a run at once and none started (one is active): say so in the status.
        raise typer.Exit(6 if now else 0)
    print(request.run_id)
    if wait:
        _wait_for_run(request.run_id, timeout)


def _wait_for_run(run_id: int, timeout: float) -> None:
    from trustq.services.runs import get_run

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = get_run(run_id)
        if run.status in ("done", "failed"):
            if run.status == "failed":
                raise fail(f"run {run_id} failed: {run.error}", code=4)
            err.print(f"run {run_id}: {run.candidate_version} {run.reason}")
            return
        time.sleep(2)
    raise fail(f"run {run_id} still {run.status} after {timeout:.0f} s", code=5)


@app.command()
def runs(
    limit: Annotated[int, typer.Option(min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one run each.")] = False,
) -> None:
    """Recent retraining runs, newest first."""
    from trustq.services.runs import list_runs

    load_settings()
    found = list_runs(limit)
    if as_json:
        print_json_lines(found)
        return
    table = Table()
    for column in ("run", "status", "trigger", "by", "new labels", "candidate", "queued", "took"):
        table.add_column(column)
    for run in found:
        table.add_row(
            str(run.id),
            run.status + (f": {run.error}" if run.error else ""),
            run.trigger,
            run.requested_by,
            str(run.new_labels),
            run.candidate_version or "",
            run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{run.seconds:.0f} s" if run.seconds is not None else "",
        )
    out.print(table)


@app.command()
def generate(
    output: Annotated[Path, typer.Argument(help="Where to write the JSONL file.")],
    size: Annotated[int, typer.Option(min=1)] = 6000,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Write the synthetic labelled data set (profiles plus label, p_true and p_ceiling) as
    JSONL."""
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
    from trustq.data.synthetic import REFERENCE_DATE
    from trustq.models.training import TrainConfig
    from trustq.services.submissions import default_submitter as default_actor
    from trustq.services.training import (
        TrainingDataError,
        load_labelled,
        synthetic_profiles,
        train_and_register,
    )

    settings = load_settings()
    if data is not None:
        try:
            profiles = load_labelled(data)
        except (OSError, TrainingDataError) as exc:
            raise fail(str(exc)) from exc
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
            "ceiling (the best from the visible fields): "
            f"ROC-AUC {report.metrics['ceiling']['roc_auc']:.3f}"
        )
    if "latent" in report.metrics:
        out.print(
            "latent (p_true, needs the hidden risk): "
            f"ROC-AUC {report.metrics['latent']['roc_auc']:.3f}"
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

    settings = load_settings()
    try:
        day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    except ValueError as exc:
        raise fail(f"--as-of {as_of!r} is not an ISO date") from exc
    try:
        profiles = load_labelled(data)
    except (OSError, TrainingDataError) as exc:
        raise fail(str(exc)) from exc
    try:
        result = evaluate_version(settings, model, profiles, day)
    except EvaluationError as exc:
        raise fail(str(exc), code=1) from exc
    if output is not None:
        output.write_text(json.dumps(result, indent=2), encoding="utf-8")
    table = Table(title=f"model {model} on {data} ({result['n']} profiles)")
    for column in ("scorer", "ROC-AUC", "PR-AUC", "accuracy", "log-loss", "Brier", "ECE"):
        table.add_column(column)
    rows = [("model", result["metrics"])]
    if "ceiling" in result:
        rows.append(("ceiling (best from visible fields)", result["ceiling"]))
    if "latent" in result:
        rows.append(("latent (p_true)", result["latent"]))
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
