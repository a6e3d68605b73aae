"""The promotion gate and the holdout of a retraining run, without services."""

from __future__ import annotations

import datetime as dt
import uuid

from tests.factories import public
from trustq.config import Settings
from trustq.data.synthetic import generate
from trustq.db.labels import LabelledSubmission
from trustq.services.retraining import assemble, gate

SETTINGS = Settings(
    promote_max_auc_drop=0.005,
    promote_max_log_loss_rise=0.01,
    promote_min_auc=0.70,
    promote_max_log_loss=0.60,
    retrain_base_size=200,
    retrain_base_seed=3,
    retrain_holdout_fraction=0.2,
)


def _m(auc: float, loss: float) -> dict:
    return {"roc_auc": auc, "log_loss": loss, "n": 100}


def test_a_candidate_as_good_as_serving_is_promoted() -> None:
    ok, reason = gate(_m(0.872, 0.45), _m(0.874, 0.446), SETTINGS)
    assert ok and reason.startswith("promoted on 100 holdout profiles")


def test_the_gate_names_each_margin_it_misses() -> None:
    ok, reason = gate(_m(0.861, 0.47), _m(0.874, 0.45), SETTINGS)
    assert not ok
    assert "ROC-AUC 0.861 < serving 0.874 − 0.005" in reason
    assert "log-loss 0.470 > serving 0.450 + 0.01" in reason


def test_absolute_floors_hold_even_with_nothing_serving() -> None:
    ok, reason = gate(_m(0.65, 0.62), None, SETTINGS)
    assert not ok and "floor 0.700" in reason and "ceiling 0.600" in reason
    assert gate(_m(0.80, 0.50), None, SETTINGS)[0]
    assert not gate({"roc_auc": None, "log_loss": None}, None, SETTINGS)[0]


def test_the_holdout_is_the_base_test_split_plus_the_newest_labels() -> None:
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    records = generate(50, seed=9)
    labelled = [
        LabelledSubmission(
            submission_id=uuid.uuid4(),
            payload=public(r),
            label="risky" if r["label"] else "trustworthy",
            labelled_at=now + dt.timedelta(minutes=i),
            submitted_at=now,
            erased=i == 0,
        )
        for i, r in enumerate(records)
    ]
    data = assemble(SETTINGS, labelled)
    assert data.skipped == {"erased": 1}
    # 49 usable: the newest ceil(0.2 * 49) = 10 are held out, never trained on.
    assert data.n_labelled_holdout == 10 and data.n_labelled_train == 39
    held = {data.profiles[i].external_id for i in data.holdout_idx}
    newest = {r["external_id"] for r in records[-10:]}
    assert newest <= held
    fitted = set(data.train_idx) | set(data.val_idx)
    assert not fitted & set(data.holdout_idx)
    assert len(fitted) + len(data.holdout_idx) == len(data.profiles)
    assert data.labels_until == now + dt.timedelta(minutes=49)
    # Labelled profiles are featurised as of the day they were scored.
    assert data.dates[-1] == now.date() and data.dates[0] != now.date()
