"""Running the real ``trustq`` command line from tests."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def trustq(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    whole_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``trustq ARGS``; ``env`` overrides variables of this process's environment,
    ``whole_env`` replaces it."""
    return subprocess.run(
        [sys.executable, "-m", "trustq", *args],
        cwd=ROOT,
        input=stdin,
        env=whole_env if whole_env is not None else {**os.environ, **env} if env else None,
        capture_output=True,
        text=True,
        timeout=300,
    )
