"""Running the real ``trustq`` command line from tests."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def trustq(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trustq", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
