"""The CPU encoder variant chosen by measurement: the fastest of those whose vectors are the
reference's, measured once per machine, pinned settings untouched."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from trustq.config import Settings, get_settings
from trustq.scoring import variant_choice
from trustq.scoring.encoders import serving_variant, variant_source
from trustq.scoring.variant_choice import (
    Choice,
    Measured,
    cached_choice,
    choice_key,
    choose,
    cpu_choice,
    measure,
)


def _settings(tmp_path: Path, **update: object) -> Settings:
    return get_settings().model_copy(
        update={"data_dir": tmp_path, "encoder_device": "cpu", **update}
    )


def test_the_fastest_faithful_variant_wins_and_fp32_unless_another_is_clearly_faster() -> None:
    fp32 = Measured(1.0, 1.0, True)
    assert choose({"fp32": fp32, "bf16": Measured(0.4, 0.99998, True)}) == "bf16"
    # Faster but not faithful: never chosen by measurement.
    assert choose({"fp32": fp32, "int8": Measured(0.3, 0.98, False)}) == "fp32"
    # Emulated bf16: slower than fp32.
    assert choose({"fp32": fp32, "bf16": Measured(6.0, 0.99998, True)}) == "fp32"
    # Within the margin the reference (exact vectors, cache shared with training) stays.
    assert choose({"fp32": fp32, "bf16": Measured(0.95, 0.99998, True)}) == "fp32"
    with pytest.raises(ValueError, match="fp32"):
        choose({"bf16": Measured(0.4, 1.0, True)})


def test_measuring_the_real_encoder_refuses_int8_by_its_cosines(tmp_path: Path) -> None:
    choice = measure(_settings(tmp_path), candidates=("fp32", "int8"), repeat=1)
    assert choice.measured["fp32"].min_cosine == pytest.approx(1.0, abs=1e-6)
    assert choice.measured["fp32"].faithful
    int8 = choice.measured["int8"]
    assert not int8.faithful and int8.min_cosine < variant_choice.FAITHFUL_COSINE
    assert choice.precision == "fp32"
    assert "int8" in choice.describe() and "not faithful" in choice.describe()


def test_one_process_measures_and_the_others_read_its_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    calls: list[int] = []
    real = variant_choice.measure

    def counted(s: Settings, *, candidates: tuple[str, ...]) -> Choice:
        calls.append(1)
        return real(s, candidates=candidates, repeat=1)

    monkeypatch.setattr(variant_choice, "measure", counted)
    assert variant_source(settings) == "auto: not measured on this CPU yet"
    # A worker's main process does not touch CUDA to say so.
    auto = settings.model_copy(update={"encoder_device": "auto"})
    assert variant_source(auto, probe_gpu=False).startswith("auto: not measured")
    results: list[Choice] = []
    pair = ("fp32", "bf16")
    threads = [
        threading.Thread(target=lambda: results.append(cpu_choice(settings, candidates=pair)))
        for _ in "ab"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert results[0] == results[1]
    stored = json.loads((tmp_path / "encoders" / "variant-choice.json").read_text())
    assert list(stored) == [results[0].key]
    # The worker serves with what was measured, and says so.
    assert serving_variant(settings)[1] == results[0].precision
    assert len(calls) == 1
    assert variant_source(settings) == results[0].describe()
    assert variant_source(auto, probe_gpu=False) == results[0].describe()
    assert cached_choice(settings) == results[0]
    # Another thread count is another measurement.
    other = settings.model_copy(update={"torch_threads": settings.resolved_torch_threads + 1})
    assert cached_choice(other) is None


def test_pinned_variants_are_not_measured_and_a_damaged_cache_names_its_file(
    tmp_path: Path,
) -> None:
    pinned = _settings(tmp_path, encoder_precision="int8")
    assert serving_variant(pinned)[1] == "int8"
    assert variant_source(pinned) == "torch-int8 on cpu device (as configured)"
    unprobed = pinned.model_copy(update={"encoder_device": "auto"})
    assert (
        variant_source(unprobed, probe_gpu=False) == "torch-int8 on unknown device (as configured)"
    )
    compiled = _settings(tmp_path, encoder_compile=True)
    assert serving_variant(compiled)[1] == "fp32"
    assert not (tmp_path / "encoders").exists()

    folder = tmp_path / "encoders"
    folder.mkdir()
    (folder / "variant-choice.json").write_text("{not json")
    with pytest.raises(ValueError, match="variant-choice.json.*delete it"):
        serving_variant(_settings(tmp_path))
    key = choice_key(_settings(tmp_path))
    (folder / "variant-choice.json").write_text(json.dumps({key: {"precision": "bf16"}}))
    with pytest.raises(ValueError, match="not a measured choice.*delete it"):
        serving_variant(_settings(tmp_path))
