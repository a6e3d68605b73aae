"""The command line's conventions: misspelt settings, the version, JSON output, exit
statuses, what `status` says it reads; and the retraining schedule's settings."""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.cli import trustq
from trustq import __version__, logs
from trustq.broker import names
from trustq.cli.common import redact
from trustq.config import Settings, cron, unknown_variables
from trustq.tasks.schedule import beat_schedule


def _embedded(folder: Path, **extra: str) -> dict[str, str]:
    """The environment of a new user's shell: no TRUSTQ_ variable but the data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTQ_")}
    return {**env, "TRUSTQ_DATA_DIR": str(folder), **extra}


def test_a_misspelt_setting_is_refused_with_the_one_it_meant() -> None:
    found = unknown_variables({"TRUSTQ_DATABSE_URL": "x", "TRUSTQ_BROKER_URL": "y", "HOME": "/"})
    assert found == ["TRUSTQ_DATABSE_URL is not a setting (did you mean TRUSTQ_DATABASE_URL?)"]
    assert unknown_variables({"TRUSTQ_TEST_REDIS": "x", "TRUSTQ_BENCH_COMMIT": "y"}) == []
    assert "not a setting (docs" in unknown_variables({"TRUSTQ_ZZZ": "1"})[0]


def test_the_command_refuses_to_run_on_a_misspelt_setting(tmp_path: Path) -> None:
    env = _embedded(tmp_path, TRUSTQ_DATABSE_URL="postgresql://db/trustq")
    done = trustq("status", whole_env=env)
    assert done.returncode == 2
    assert "TRUSTQ_DATABSE_URL is not a setting (did you mean TRUSTQ_DATABASE_URL?)" in (
        done.stderr
    )
    assert not (tmp_path / "trustq.db").exists()  # it did not fall back to the embedded one


def test_status_says_what_it_reads_and_fails_with_nothing_to_score(tmp_path: Path) -> None:
    done = trustq("status", "--json", "--timeout", "0.5", whole_env=_embedded(tmp_path))
    shown = json.loads(done.stdout)
    assert shown["database"].startswith("sqlite") and str(tmp_path) in shown["database"]
    assert shown["broker"].startswith("sqla+sqlite")
    assert shown["workers"] == [] and shown["serving_model"] is None
    assert done.returncode == 1, done.stderr


def test_version_and_the_models_list_its_help_offers() -> None:
    assert trustq("--version").stdout.strip() == f"trustq {__version__}"
    shown = trustq("models", "--help").stdout
    assert "list" in shown and "promote" in shown and "history" in shown
    assert trustq("models", "list", "--help").returncode == 0


def test_a_malformed_id_is_bad_input_and_an_unknown_one_is_not_found(tmp_path: Path) -> None:
    env = _embedded(tmp_path)
    assert trustq("db", "upgrade", whole_env=env).returncode == 0
    malformed = trustq("verdict", "not-an-id", whole_env=env)
    assert malformed.returncode == 2, malformed.stderr
    unknown = trustq("verdict", "00000000-0000-4000-8000-000000000000", whole_env=env)
    assert unknown.returncode == 1 and "no submission" in unknown.stderr


def test_passwords_are_redacted_with_or_without_a_user_name() -> None:
    assert redact("redis://:s3cret@redis:6379/0") == "redis://:***@redis:6379/0"
    assert redact("postgresql://trustq:s3cret@db/trustq") == "postgresql://trustq:***@db/trustq"
    assert redact("redis://redis:6379/0") == "redis://redis:6379/0"


def test_uvicorns_colour_codes_stay_out_of_json_logs() -> None:
    stream = io.StringIO()
    logs.configure("json", "INFO", stream)
    try:
        logging.getLogger("uvicorn.error").info(
            "Uvicorn running on %s",
            "http://0.0.0.0:8000",
            extra={"color_message": "Uvicorn running on \x1b[1m%s\x1b[0m"},
        )
    finally:
        logs.configure("json", "INFO")
    line = json.loads(stream.getvalue())
    assert line["message"] == "Uvicorn running on http://0.0.0.0:8000"
    assert "color_message" not in line and "\x1b" not in stream.getvalue()


def test_the_retraining_schedule_is_a_crontab_off_by_default() -> None:
    assert not [
        e for e in beat_schedule(Settings()).values() if e["task"] == names.RETRAIN_SCHEDULED
    ]
    schedule = beat_schedule(Settings(retrain_schedule="0 3 * * 0"))
    [entry] = [e for e in schedule.values() if e["task"] == names.RETRAIN_SCHEDULED]
    when = entry["schedule"]
    assert (when.minute, when.hour, when.day_of_week) == ({0}, {3}, {0})
    assert when == cron("0 3 * * 0") and entry["options"]["expires"] > 0
    assert names.ROUTES[names.RETRAIN_SCHEDULED]["queue"] == names.MAINTENANCE_QUEUE
    for bad in ("every sunday", "0 3 * *", "61 * * * *"):
        with pytest.raises(ValidationError, match="crontab"):
            Settings(retrain_schedule=bad)
