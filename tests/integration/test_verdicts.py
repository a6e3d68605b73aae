"""Verdicts a trust team acts on: flags, rules, duplicates, resume files, review, labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import trustq
from tests.conftest import empty_queues
from tests.factories import profile
from tests.resume_docs import RESUME_LINES, docx_with_text, pdf_with_text, pdf_without_text
from trustq import client

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _services(clean_tables, redis_client, serving_model) -> None:  # noqa: ARG001
    empty_queues(redis_client)


def without_text(**extra) -> dict:
    data = profile(**extra)
    del data["resume_text"]
    return data


def test_resume_files_are_read_or_fail_with_their_reason(worker) -> None:
    good_docx = client.enqueue(
        without_text(), resume_file=("cv.docx", docx_with_text(RESUME_LINES))
    )
    good_pdf = client.enqueue(without_text(), resume_file=("cv.pdf", pdf_with_text(RESUME_LINES)))
    with pytest.raises(ValueError, match="encrypted"):  # seen at intake: never stored
        client.enqueue(
            without_text(), resume_file=("cv.pdf", pdf_with_text(RESUME_LINES, password="pw"))
        )
    scanned = client.enqueue(without_text(), resume_file=("scan.pdf", pdf_without_text()))
    worker.consume()

    for sid in (good_docx, good_pdf):
        verdict = client.wait_for_verdict(sid, timeout=120)
        assert verdict.status == "done"
    with pytest.raises(client.SubmissionFailed, match="no text could be extracted"):
        _wait_failed(scanned)


def _wait_failed(sid) -> None:
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        client.get_verdict(sid)  # raises SubmissionFailed once the worker gave up
        time.sleep(0.3)
    raise AssertionError("the submission neither failed nor got a verdict")


def test_the_cli_takes_a_resume_file(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(json.dumps(without_text()))
    (tmp_path / "cv.docx").write_bytes(docx_with_text(RESUME_LINES))
    done = trustq("enqueue", str(tmp_path / "p.json"), "--resume-file", str(tmp_path / "cv.docx"))
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 1
    (tmp_path / "cv.txt").write_text("plain text")
    refused = trustq("enqueue", str(tmp_path / "p.json"), "--resume-file", str(tmp_path / "cv.txt"))
    assert refused.returncode == 2
    assert "only .pdf and .docx" in refused.stderr


def test_the_same_resume_under_another_freelancer_is_flagged(worker) -> None:
    text = (
        "Senior data engineer. Designed Airflow pipelines moving 2 TB a day for a logistics "
        "firm in 2021 and cut warehouse costs by 31% by partitioning BigQuery tables."
    )
    worker.consume()

    def dup_flag(sid):
        verdict = client.wait_for_verdict(sid, timeout=120)
        return [f for f in verdict.flags if f["code"] == "near_duplicate_resume"]

    first = client.enqueue(profile(external_id="fl-original", resume_text=text))
    assert dup_flag(first) == []
    # The same freelancer sending the same resume again is not a copy.
    same_person = client.enqueue(profile(external_id="fl-original", resume_text=text))
    assert dup_flag(same_person) == []
    copy = client.enqueue(profile(external_id="fl-copycat", resume_text=text))
    edited = client.enqueue(
        profile(external_id="fl-editor", resume_text=text.replace("31%", "30%"))
    )

    [exact] = dup_flag(copy)
    assert exact["severity"] == "high"
    assert "fl-original" in exact["evidence"]["external_ids"]
    [near] = dup_flag(edited)
    assert near["evidence"]["similarity"] >= 0.8


def test_review_queue_and_decisions_keep_history(worker) -> None:
    sid = client.enqueue(profile())
    worker.consume()
    verdict = client.wait_for_verdict(sid, timeout=120)
    queued = {v.submission_id for v in client.review_queue()}
    assert (verdict.recommendation in ("review", "risky")) == (str(sid) in queued)

    client.decide(sid, "risky", by="alice", note="same portfolio as a banned account")
    client.label(sid, "trustworthy", source="chargeback", by="billing")
    history = client.labels(sid)
    assert [(h.label, h.source, h.actor) for h in history] == [
        ("trustworthy", "chargeback", "billing"),
        ("risky", "review", "alice"),
    ]
    assert history[1].note == "same portfolio as a banned account"
    assert str(sid) not in {v.submission_id for v in client.review_queue()}
    with pytest.raises(LookupError):
        client.label("00000000-0000-0000-0000-000000000000", "risky", by="x")
    with pytest.raises(ValueError, match="risky or trustworthy"):
        client.label(sid, "maybe", by="x")

    shown = trustq("verdict", str(sid))
    assert "risky by alice (review" in shown.stdout
    assert "recommendation" in shown.stdout


def test_a_rule_configuration_forces_bands_and_is_recorded(tmp_path: Path, start_worker) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "allow_external_ids: [fl-vip]\n"
        "block_external_ids: [fl-banned]\n"
        "rules:\n"
        "  - name: everyone-is-reviewed\n"
        "    when: {p_risk_above: 0.0}\n"
        "    then: {force_risk: MEDIUM}\n"
    )
    start_worker(TRUSTQ_RULES_PATH=str(rules))
    banned = client.wait_for_verdict(client.enqueue(profile(external_id="fl-banned")), timeout=120)
    plain = client.wait_for_verdict(client.enqueue(profile(external_id="fl-plain")), timeout=120)

    assert banned.risk_level == "HIGH" and banned.recommendation == "risky"
    assert banned.rule_hits[0]["action"].startswith("block")
    assert plain.risk_level == "MEDIUM" and plain.recommendation == "review"
    assert [h["name"] for h in plain.rule_hits] == ["everyone-is-reviewed"]
    assert plain.model_risk_level in ("LOW", "MEDIUM", "HIGH")
    # Rules move the band, never the model's score.
    assert plain.trust_score == pytest.approx(100 * (1 - plain.p_risk), abs=0.051)
    assert str(plain.submission_id) in {v.submission_id for v in client.review_queue()}
