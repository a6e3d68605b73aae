"""``make demo`` on a machine with no server configured: the README's first command."""

from __future__ import annotations

import pytest

from tests.demo import DEMO, SAMPLES_SEED, DemoRun
from trustq.data.synthetic import generate

pytestmark = pytest.mark.integration


def test_the_embedded_default_runs_the_demo(request: pytest.FixtureRequest) -> None:
    demo = request.config.stash.get(DEMO, None) or DemoRun.start()
    request.config.stash[DEMO] = demo
    code, stdout, stderr = demo.wait(timeout=900)
    assert code == 0, stderr[-3000:]
    assert "embedded SQLite" in stderr
    assert (demo.folder / "embedded" / "trustq.db").exists()
    assert "4 verdicts stored" in stderr
    for record in generate(4, seed=SAMPLES_SEED):
        assert record["external_id"] in stdout
