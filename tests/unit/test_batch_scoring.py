"""Scoring a batch gives each profile the verdict it gets alone; a profile the model cannot
score fails alone; the encoder's variants and its per-sentence split."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pytest
import torch

from tests.factories import profile, public
from trustq.config import get_settings
from trustq.data.synthetic import generate
from trustq.db.submissions import ResumeMatch
from trustq.models.artifact import deserialise, serialise, sha256_hex
from trustq.models.encoder import Encoder
from trustq.models.features import STEP_FEATURES
from trustq.models.network import TrustNet
from trustq.models.profile_features import PROFILE_FEATURES
from trustq.models.reasons import sentence_spans
from trustq.models.scorer import Reference, Scorer
from trustq.rules.flags import NEAR_DUPLICATE_CODE
from trustq.schemas import Profile
from trustq.scoring import compute as compute_module
from trustq.scoring.compute import Scored, compute, prepare
from trustq.scoring.runtime import Runtime

TODAY = dt.date(2025, 6, 1)


def _scorer(dim: int) -> Scorer:
    torch.manual_seed(3)
    net = TrustNet(dim, len(STEP_FEATURES), len(PROFILE_FEATURES)).eval()
    rng = np.random.default_rng(3)
    direction = rng.normal(size=dim)
    reference = Reference(
        (direction / np.linalg.norm(direction)).astype(np.float32),
        np.full((3, len(STEP_FEATURES)), 0.3, np.float32),
        np.full(len(PROFILE_FEATURES), 0.5, np.float32),
    )
    meta = {
        "temperature": 0.5,
        "reference": reference.to_meta(),
        "encoder": {"name": "test", "revision": "test"},
        "training_risky_share": 0.5,
        "resume_tokens": {"p01": 20.0, "p99": 3000.0},
    }
    blob = serialise(net, meta)
    model, loaded = deserialise(blob, sha256_hex(blob))
    return Scorer(model, loaded, version="t")


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    settings = get_settings().model_copy(
        update={"encoder_precision": "fp32", "encoder_device": "cpu", "reason_sentences": "all"}
    )
    reference = Encoder()
    return Runtime(settings, scorer=_scorer(reference.dim), cache=False)


def _profiles(n: int) -> list[Profile]:
    records = generate(n, seed=41, resume_words=(40, 400))
    return [Profile.model_validate(public(r)) for r in records]


def test_a_batch_gives_each_profile_the_verdict_it_gets_alone(runtime: Runtime) -> None:
    profiles = _profiles(6)
    together = runtime.score_batch(profiles, TODAY)
    for profile_, batched in zip(profiles, together, strict=True):
        [alone] = runtime.score_batch([profile_], TODAY)
        assert isinstance(batched, Scored) and isinstance(alone, Scored)
        assert batched.p_risk == pytest.approx(alone.p_risk, abs=1e-5)
        assert batched.decision.risk_level == alone.decision.risk_level
        assert batched.breakdown == alone.breakdown
        assert [r["text"] for r in batched.reasons] == [r["text"] for r in alone.reasons]
        for a, b in zip(batched.reasons, alone.reasons, strict=True):
            assert a["effect"] == pytest.approx(b["effect"], abs=2e-4)
        assert batched.signature == alone.signature


def test_a_profile_the_model_cannot_score_fails_alone(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles = _profiles(4)
    poison = profiles[2].external_id
    real = compute_module.evaluate_flags

    def flags(p: Profile, today: dt.date):
        if p.external_id == poison:
            raise ArithmeticError("a profile the flags cannot read")
        return real(p, today)

    monkeypatch.setattr(compute_module, "evaluate_flags", flags)
    results = runtime.score_batch(profiles, TODAY)
    assert isinstance(results[2], ArithmeticError)
    assert all(isinstance(r, Scored) for i, r in enumerate(results) if i != 2)


def test_sentence_sums_split_the_embedding_exactly(runtime: Runtime) -> None:
    encoder = runtime.encoder
    text = " ".join(["Built a Django checkout for a retailer in 2022."] * 60) + " Last one here."
    sentences, spans = sentence_spans(text)
    vectors, [sums] = encoder.encode_with_spans([text], [spans])
    np.testing.assert_allclose(vectors[0], encoder.encode([text])[0], atol=1e-6)
    total = sums.total / np.linalg.norm(sums.total)
    np.testing.assert_allclose(total, vectors[0], atol=1e-5)
    assert sums.spans.shape == (len(sentences), encoder.dim)
    # Only the special tokens and what lies outside the first 40 sentences are in no span.
    rest = sums.total - sums.spans.sum(axis=0)
    assert np.linalg.norm(rest) < np.linalg.norm(sums.total)
    assert (sums.span_tokens > 0).all()


def test_sentence_sums_hold_exactly_their_tokens_and_never_padding(runtime: Runtime) -> None:
    encoder = runtime.encoder
    short = "Built a checkout. Cut failed payments by 18%. Kept PostgreSQL fast."
    longer = short + " " + " ".join(["Wrote reports for the finance team every week."] * 8)
    texts = [short, longer]  # one batch: the short window is padded to the long one
    _, sums = encoder.encode_with_spans(texts, [sentence_spans(t)[1] for t in texts])
    for text, one in zip(texts, sums, strict=True):
        [window] = encoder.windows(text)
        ids = torch.tensor([window])
        with torch.inference_mode():
            hidden = encoder._model(input_ids=ids, attention_mask=torch.ones_like(ids))
        states = hidden.last_hidden_state[0].double().numpy()
        # Every content token is in a sentence; only [CLS] and [SEP] are in none.
        np.testing.assert_allclose(
            one.total - one.spans.sum(axis=0), states[0] + states[-1], atol=1e-3
        )
        np.testing.assert_allclose(one.total, states.sum(axis=0), atol=1e-3)
        assert one.span_tokens.sum() == len(window) - 2


@pytest.mark.parametrize(
    ("runtime_name", "precision", "floor"),
    [("torch", "bf16", 0.999), ("torch", "int8", 0.97), ("onnx", "fp32", 0.9999)],
)
def test_encoder_variants_stay_close_to_fp32_and_cache_apart(
    tmp_path, runtime_name: str, precision: str, floor: float
) -> None:
    texts = [p.text for p in _profiles(4)] + [profile()["resume_text"]]
    reference = Encoder()
    variant = Encoder(runtime=runtime_name, precision=precision, cache_dir=tmp_path)
    cos = (variant.encode(texts) * reference.encode(texts)).sum(axis=1)
    assert cos.min() >= floor, cos
    assert variant.revision == reference.revision
    assert variant.cache_revision != reference.cache_revision
    assert variant.variant == f"{runtime_name}-{precision}"


def test_impossible_encoder_variants_are_refused() -> None:
    with pytest.raises(ValueError, match="fp16 is for a GPU"):
        Encoder(precision="fp16")
    with pytest.raises(ValueError, match="ONNX runtime"):
        Encoder(runtime="onnx", precision="bf16")


def test_the_compute_step_flags_copies_from_the_store_and_from_its_own_batch(
    runtime: Runtime,
) -> None:
    """No database: what the read step would have found is handed in."""
    first, copy, other = _profiles(3)
    copy = copy.model_copy(update={"resume_text": first.resume_text})
    profiles = [first, copy, other]
    ids = [uuid.uuid4() for _ in profiles]
    inputs = prepare(profiles)
    stored = ResumeMatch(uuid.uuid4(), "fl-banned", None, True)
    inputs.stored_matches = [[], [], [stored]]
    inputs.submission_ids = ids
    computed = compute(profiles, inputs, runtime.model(), TODAY)
    flagged = [
        [f for f in r.decision.flags if f["code"] == NEAR_DUPLICATE_CODE]
        for r in computed.results
        if isinstance(r, Scored)
    ]
    assert flagged[0] == []  # the first of the batch has no earlier copy
    assert flagged[1][0]["evidence"]["external_ids"] == [first.external_id]
    assert flagged[1][0]["evidence"]["submissions"] == [str(ids[0])]
    assert flagged[2][0]["evidence"]["external_ids"] == ["fl-banned"]
    # The encoder ran on the two distinct texts the cache did not hold, once each.
    assert len(computed.fresh) == 2
