"""``make demo`` on a machine with no server configured: the README's first command."""

from __future__ import annotations

import json

import pytest

from tests.demo import DEMO, SAMPLES, DemoRun, started_for

pytestmark = pytest.mark.integration


def test_the_embedded_default_runs_the_demo(request: pytest.FixtureRequest) -> None:
    demo = started_for(request.config)
    if demo is None:
        demo = request.config.stash[DEMO] = DemoRun.start()
    code, stdout, stderr = demo.wait(timeout=900)
    assert code == 0, stderr[-3000:]
    assert "embedded SQLite" in stderr
    assert (demo.folder / "embedded" / "trustq.db").exists()
    samples = [json.loads(line) for line in SAMPLES.read_text().splitlines() if line.strip()]
    assert f"{len(samples)} verdicts stored" in stderr
    for record in samples:
        assert record["external_id"] in stdout
