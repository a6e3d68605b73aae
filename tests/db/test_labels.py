"""Labels that cannot be gamed: retraining counts labelled submissions, not label rows; an
operator caps a key's labels per day and leaves a key's labels out of training; the
holdout is not one source's to fill."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.cli import trustq
from tests.factories import profile
from trustq.db import labels as labels_db
from trustq.db import submissions as submissions_db
from trustq.db.session import session_scope
from trustq.schemas import Profile
from trustq.services import apikeys, labels
from trustq.services.retraining import split_holdout

pytestmark = pytest.mark.db


def _submission() -> uuid.UUID:
    p = Profile.model_validate(profile())
    with session_scope() as session:
        row, _ = submissions_db.add_submission(
            session,
            external_id=p.external_id,
            idempotency_key=None,
            payload=p.model_dump(mode="json"),
            resume_sha256="0" * 64,
            submitted_by="tests",
            request_id=None,
        )
        return row.id


def _key(scope: str = "submit") -> apikeys.KeyInfo:
    info, _ = apikeys.create(f"labeller-{uuid.uuid4().hex[:8]}", scope)
    return info


def _label(sid: uuid.UUID, key: apikeys.KeyInfo, value: str = "risky") -> None:
    labels.add_label(sid, value, source="manual", by=key.name, key=key)


def test_retraining_counts_labelled_submissions_not_label_rows(rolled_back: None) -> None:
    del rolled_back
    key = _key()
    one, two = _submission(), _submission()
    for _ in range(6):
        _label(one, key)
    _label(two, key, "trustworthy")
    with session_scope() as session:
        assert labels_db.count_labels_since(session, None) == 2
        current = labels_db.current_labels(session)
        stored = labels_db.labels_of(session, one)
    assert {c.submission_id for c in current} == {one, two}
    assert {c.origin for c in current} == {key.name}
    assert all(row.api_key == key.name for row in stored) and len(stored) == 6


def test_a_key_over_its_daily_cap_is_refused_and_nothing_is_stored(rolled_back: None) -> None:
    del rolled_back
    key = apikeys.set_label_policy(_key().name, per_day=3)
    sids = [_submission() for _ in range(4)]
    for sid in sids[:3]:
        _label(sid, key)
    with pytest.raises(labels.LabelCapReached, match="3 label"):
        _label(sids[3], key)
    with session_scope() as session:
        assert labels_db.labels_of(session, sids[3]) == []
    # Another key is not held back by it.
    _label(sids[3], _key())


def test_an_excluded_keys_labels_leave_training_and_the_count(rolled_back: None) -> None:
    del rolled_back
    honest, flooder = _key(), _key()
    kept, flooded = _submission(), [_submission() for _ in range(5)]
    _label(kept, honest)
    for sid in flooded:
        _label(sid, flooder, "trustworthy")
    _label(flooded[0], honest)  # an honest label on a flooded submission still counts
    assert apikeys.set_label_policy(flooder.name, excluded=True).labels_excluded
    with session_scope() as session:
        assert labels_db.count_labels_since(session, None) == 2
        current = {c.submission_id: c for c in labels_db.current_labels(session)}
    assert set(current) == {kept, flooded[0]}
    assert current[flooded[0]].label == "risky" and current[flooded[0]].origin == honest.name
    apikeys.set_label_policy(flooder.name, excluded=False)
    with session_scope() as session:
        assert labels_db.count_labels_since(session, None) == 6


def test_the_holdout_takes_each_origin_in_turn() -> None:
    origins = ["flood"] * 100 + ["a"] * 5 + ["b"] * 5
    items = list(range(len(origins)))
    fitting, held = split_holdout(items, origins, 12)
    from_flood = [i for i in held if origins[i] == "flood"]
    assert len(held) == 12 and len(from_flood) == 4
    assert from_flood == [96, 97, 98, 99]  # each origin's newest
    assert sorted(fitting + held) == items
    # One origin alone fills it: there is no other to take from.
    assert len(split_holdout(items[:100], origins[:100], 20)[1]) == 20


def test_the_cli_sets_a_keys_label_policy(database: str) -> None:
    del database
    name = _key().name
    done = trustq("apikey", "labels", name, "--per-day", "50", "--exclude")
    assert done.returncode == 0, done.stderr
    assert "50 a day" in done.stdout and "left out of training" in done.stdout
    listed = trustq("apikey", "list")
    assert "excluded" in listed.stdout
    [shown] = [
        k
        for k in map(json.loads, trustq("apikey", "list", "--json").stdout.splitlines())
        if k["name"] == name
    ]
    assert shown["labels_per_day"] == 50 and shown["labels_excluded"] is True
    assert shown["scope"] == "submit" and "token" not in shown and "sha256" not in json.dumps(shown)
    lifted = trustq("apikey", "labels", name, "--no-cap", "--include")
    assert "no daily cap" in lifted.stdout and "used in training" in lifted.stdout
    missing = trustq("apikey", "labels", "no-such-key", "--per-day", "5")
    assert missing.returncode != 0 and "no API key named" in missing.stderr
