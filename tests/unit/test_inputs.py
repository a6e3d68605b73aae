"""What the input is: history state, length, language and prose notices."""

from __future__ import annotations

import pytest

from tests.factories import profile, project
from trustq.rules.inputs import (
    History,
    LengthRange,
    history_state,
    input_notices,
    language_shares,
    prose_share,
)
from trustq.schemas import Profile

TRAINED = LengthRange(p01=60.0, p99=2500.0)
ENGLISH = (
    "I am a backend developer who builds billing services for small online shops.\n\n"
    "Over the last years I moved three shops from spreadsheets to a proper order system, "
    "wrote the tests that kept them running and trained their staff to use it."
)


@pytest.mark.parametrize(("n", "expected"), [(0, "none"), (1, "short"), (4, "short"), (5, "full")])
def test_history_state_by_project_count(n: int, expected: str) -> None:
    projects = [project(f"202{k % 5}-0{1 + k % 9}-01", 1, title=f"P{k}") for k in range(n)]
    p = Profile.model_validate(profile(projects=projects))
    assert history_state(p, short_below=5) == History(expected)


def test_english_prose_raises_no_notice() -> None:
    assert input_notices(ENGLISH, 80, TRAINED) == []


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (
            "Soy desarrolladora web con cinco años de experiencia en comercio electrónico.\n\n"
            "He creado tiendas en línea para pequeñas empresas de Sevilla y Madrid, y me "
            "encargo del diseño, la programación y el mantenimiento.",
            "es",
        ),
        (
            "Ich bin Grafikdesignerin und arbeite seit acht Jahren für kleine Agenturen.\n\n"
            "Meine Schwerpunkte sind Markenentwicklung, Verpackungen und die Gestaltung von "
            "Webseiten für mittelständische Unternehmen.",
            "de",
        ),
    ],
)
def test_a_resume_mostly_in_another_language_is_noticed(text: str, language: str) -> None:
    (notice,) = input_notices(text, 80, TRAINED)
    assert notice.kind == "language"
    assert notice.evidence["english_share"] < 0.5
    assert next(iter(notice.evidence["languages"])) == language


def test_an_english_resume_with_skill_lists_and_a_foreign_line_stays_english() -> None:
    text = (
        ENGLISH
        + "\n\nSkills: Python, Django, PostgreSQL, Redis, Celery, Docker, Kubernetes, AWS\n"
        + "Idiomas: español (nativo), inglés (C1)\n"
    )
    assert language_shares(text)["en"] > 0.5
    assert input_notices(text, 120, TRAINED) == []


def test_length_far_outside_the_training_range() -> None:
    (long,) = input_notices(ENGLISH, 5001, TRAINED)
    assert long.kind == "length" and "longer" in long.message
    (short,) = input_notices(ENGLISH, 29, TRAINED)
    assert short.kind == "length" and "shorter" in short.message
    assert input_notices(ENGLISH, 4999, TRAINED) == []


@pytest.mark.parametrize(
    "text",
    [
        "def load(path):\n    with open(path) as fh:\n        return [l.split(',') for l in fh]\n"
        * 30,
        "2019-01-01;1250.50;3;0.75\n2019-01-02;1300.00;4;0.81\n" * 40,
        "Resume attached. " + "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0Zp" * 40,
    ],
)
def test_text_that_is_mostly_not_prose_is_noticed(text: str) -> None:
    notices = input_notices(text, 900, TRAINED)
    assert [n.kind for n in notices] == ["not_prose"]
    assert prose_share(text) < 0.55


def test_a_length_range_from_an_artifact_is_checked() -> None:
    assert LengthRange.from_meta({"p01": 10, "p99": 20}) == LengthRange(10.0, 20.0)
    for bad in (None, {"p01": 30, "p99": 20}, {"p01": 0, "p99": 20}):
        with pytest.raises((ValueError, KeyError, TypeError)):
            LengthRange.from_meta(bad)


def test_whitespace_only_lines_cost_linear_time() -> None:
    import time

    text = ENGLISH + " \n" * 49_000
    started = time.perf_counter()
    assert input_notices(text, 120, TRAINED) == []
    assert time.perf_counter() - started < 1.0
