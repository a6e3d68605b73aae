"""Counts for docs/reliability.md. Trials write them when TRUSTQ_TEST_RELIABILITY_DIR names a
folder; ``benchmarks/reliability_table.py`` turns that folder into the report's tables."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

ENV = "TRUSTQ_TEST_RELIABILITY_DIR"


def record(kind: str, name: str, **fields: Any) -> None:
    """Write ``fields`` as ``<dir>/<kind>-<name>.json``; nothing when the variable is unset."""
    folder = os.environ.get(ENV)
    if not folder:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    entry = {
        "kind": kind,
        "name": name,
        **fields,
        "recorded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (path / f"{kind}-{name}.json").write_text(json.dumps(entry, indent=2, default=str) + "\n")
