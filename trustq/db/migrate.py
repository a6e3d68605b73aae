"""Alembic, driven from Python: ``trustq db upgrade`` and the tests use these."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from trustq.config import get_settings

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str | None = None) -> Config:
    ini = ROOT / "alembic.ini"
    if not ini.is_file():
        raise FileNotFoundError(
            f"alembic.ini not found at {ini}; run trustq from its source checkout "
            "(pip install -e .) so that migrations/ is available"
        )
    config = Config(str(ini))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url or get_settings().resolved_database_url
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    """Revert migrations down to ``revision``."""
    command.downgrade(alembic_config(url), revision)


def heads() -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


class SchemaOutOfDate(RuntimeError):
    """The database is not at the newest migration."""


def current_revision(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from trustq.db.session import make_engine

    engine = make_engine(url or get_settings().resolved_database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def ensure_current() -> None:
    """Migrate the embedded database; refuse to run on a server database that lags behind."""
    settings = get_settings()
    if settings.embedded:
        upgrade()
        return
    current = current_revision()
    if current not in heads():
        raise SchemaOutOfDate(
            f"the database is at migration {current or '(none)'}, not at {heads()[0]}: "
            "run `trustq db upgrade`"
        )
