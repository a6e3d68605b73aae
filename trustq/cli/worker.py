"""Running a worker and beat."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from trustq.cli.common import app, fail, load_settings


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
    settings = load_settings()
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    if port:
        _prepare_worker_metrics(settings)
    from trustq.worker.app import app as celery_app

    if port:
        from trustq.worker.observability import serve_metrics

        try:
            serve_metrics(port)
        except OSError as exc:
            raise fail(f"cannot serve worker metrics on port {port}: {exc.strerror}") from exc
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
        raise fail("prometheus_client was imported before the metrics folder was set")
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
    settings = load_settings(database=False)
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
