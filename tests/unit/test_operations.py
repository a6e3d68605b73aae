"""Pure parts of the API and operations: cursors, the rate limit, log lines, metric helpers,
retention's redaction and its schedule entry."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import uuid

import pytest

from trustq import logs, metrics
from trustq.api.auth import RateLimiter, limit_storage
from trustq.api.problems import Problem
from trustq.api.routes import decode_cursor, encode_cursor
from trustq.broker import names
from trustq.config import Settings
from trustq.services.retention import redact_explanations
from trustq.tasks.schedule import beat_schedule


def test_cursors_round_trip_and_foreign_ones_are_refused() -> None:
    when = dt.datetime(2026, 11, 26, 18, 0, 1, 123456, tzinfo=dt.UTC)
    sid = uuid.uuid4()
    assert decode_cursor(encode_cursor(when, sid)) == (when, sid)
    for bad in ("", "abc", encode_cursor(when, sid)[:-3], "MjAyNi0xMS0yNnxub3QtYS11dWlk"):
        with pytest.raises(Problem) as refused:
            decode_cursor(bad)
        assert refused.value.status == 422
        assert refused.value.errors[0].field == "cursor"


def test_the_rate_limit_allows_a_burst_then_the_rate() -> None:
    limiter = RateLimiter("t", per_minute=60, burst=3, storage="memory://")
    assert [limiter.take(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take(1)
    assert 0.0 < wait <= 1.0
    assert limiter.take(2) == 0.0  # each key has its own count
    assert limiter.take(3, spend=False) == 0.0 and limiter.take(3, spend=False) == 0.0
    per_minute = RateLimiter("m", per_minute=5, burst=10, storage="memory://")
    assert [per_minute.take("k") for _ in range(5)] == [0.0] * 5
    assert 1.0 < per_minute.take("k") <= 60.0
    off = RateLimiter("off", per_minute=0, burst=1, storage="memory://")
    assert [off.take(1) for _ in range(5)] == [0.0] * 5  # 0 turns the limit off
    assert limit_storage("redis://:pw@redis:6379/0") == "redis://:pw@redis:6379/0"
    assert limit_storage("sqla+sqlite:///x/broker.db") == "memory://"


def test_log_lines_are_json_with_the_bound_ids() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("json"))
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger("tests.operations")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with logs.bound(request_id="req-1", submission_id="sub-1"):
            logger.info("two\nlines")
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["message"], first["request_id"], first["submission_id"]) == (
        "two\nlines",
        "req-1",
        "sub-1",
    )
    assert first["level"] == "INFO" and first["logger"] == "tests.operations"
    assert second["request_id"] is None
    with pytest.raises(ValueError, match="cannot bind"):
        logs.bind(user="x")


def test_metric_helpers_refuse_labels_outside_their_sets() -> None:
    before = metrics.SCORING_FAILURES.labels(reason="timeout")._value.get()
    metrics.scoring_failed("timeout")
    assert metrics.SCORING_FAILURES.labels(reason="timeout")._value.get() == before + 1
    with pytest.raises(ValueError):
        metrics.scoring_failed("the resume said something rude")
    with pytest.raises(ValueError, match="promoted or rejected"):
        metrics.promotion_decision("maybe", automatic=True)
    text = '# TYPE x counter\nx_total{a="1"} 3.0\nx_total{a="2"} 4.0\n'
    assert metrics.sample_value(text, "x_total", {"a": "2"}) == 4.0
    assert metrics.sample_value(text, "x_total", {"a": "3"}) is None


def test_redaction_takes_the_resume_quotes_out_of_flags_and_reasons() -> None:
    flags = [
        {
            "code": "off_platform_request",
            "severity": "high",
            "message": 'The resume asks to move payment off the platform: "Pay me on PayPal."',
            "evidence": {
                "count": 1,
                "matches": [{"kind": "payment", "phrases": ["on PayPal"], "sentence": "Pay me."}],
            },
        },
        {
            "code": "claims_mismatch",
            "severity": "low",
            "message": 'Claims 10 years; "senior" means 5+',
            "evidence": {"claimed": 10},
        },
    ]
    reasons = [
        {"kind": "sentence", "effect": 0.12, "text": "the resume sentence “Pay me.” raises…",
         "evidence": {"sentence_index": 3, "sentence": "Pay me."}},
        {"kind": "project", "effect": -0.05, "text": "project 1 “Checkout” lowers…",
         "evidence": {"project_index": 0, "title": "Checkout"}},
    ]  # fmt: skip
    new_flags, new_reasons, changed = redact_explanations(flags, reasons)
    assert changed
    assert "PayPal" not in json.dumps(new_flags) and "Pay me" not in json.dumps(new_reasons)
    assert new_flags[0]["evidence"] == {"count": 1, "matches": [{"kind": "payment"}]}
    assert new_flags[0]["message"].endswith('"[erased]"')
    assert new_flags[1] == flags[1], "a flag that quotes no resume text stays as it was"
    assert new_reasons[0]["evidence"] == {"sentence_index": 3}
    assert new_reasons[0]["text"].startswith("a resume sentence ([erased]) raises the risk by 12.0")
    assert new_reasons[1] == reasons[1]
    assert flags[0]["evidence"]["matches"][0]["sentence"] == "Pay me.", "inputs are not mutated"
    assert redact_explanations([flags[1]], [reasons[1]])[2] is False


def test_retention_runs_from_beat_with_an_expiry_on_the_maintenance_queue() -> None:
    schedule = beat_schedule(Settings())
    [entry] = [e for e in schedule.values() if e["task"] == names.ERASE_EXPIRED_RESUMES]
    assert 0 < entry["options"]["expires"] <= entry["schedule"]
    assert names.ROUTES[names.ERASE_EXPIRED_RESUMES]["queue"] == names.MAINTENANCE_QUEUE


def test_a_body_limit_below_the_resume_file_limit_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="TRUSTQ_API_MAX_BODY_BYTES"):
        Settings(api_max_body_bytes=1024 * 1024, max_resume_file_bytes=2 * 1024 * 1024)
