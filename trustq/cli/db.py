"""Database migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from trustq.cli.common import app, err, load_settings, redact

db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations (to the newest by default)."""
    from trustq.db import migrate

    settings = load_settings(database=False)
    migrate.upgrade(revision=revision)
    err.print(f"database at {revision}: {redact(settings.resolved_database_url)}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION (``base`` removes every table)."""
    from trustq.db import migrate

    load_settings(database=False)
    migrate.downgrade(revision=revision)
    err.print(f"database at {revision}")
