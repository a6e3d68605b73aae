"""Near-duplicate resumes: shingles, MinHash signatures, LSH band keys."""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys

import pytest

from trustq.data.synthetic import generate
from trustq.rules.duplicates import lsh_bands, minhash_signature, shingles, similarity


@pytest.fixture(scope="module")
def resumes() -> list[str]:
    return [r["resume_text"] for r in generate(12, seed=7, resume_words=(300, 400))]


def edit(text: str, n: int, seed: int = 0) -> str:
    """``text`` with ``n`` words replaced, spread over the whole text."""
    words = text.split()
    rng = random.Random(seed)
    for i in rng.sample(range(len(words)), n):
        words[i] = f"changed{i}"
    return " ".join(words)


def test_shingles_fold_case_punctuation_and_spacing() -> None:
    assert shingles("One two three", k=2) == {"one two", "two three"}
    assert shingles("ONE, two!\n\nthree.", k=2) == shingles("one two three", k=2)
    assert shingles("ﬁve Ｓix", k=1) == {"five", "six"}  # compatibility forms fold too
    assert len(shingles("a b c d e f g h i j")) == 6  # k = 5


def test_retouched_figures_do_not_hide_a_copy() -> None:
    text = (
        "Senior data engineer. Designed Airflow pipelines moving 2 TB a day for a logistics "
        "firm in 2021 and cut warehouse costs by 31% by partitioning BigQuery tables."
    )
    retouched = text.replace("31%", "45%").replace("2021", "2019")
    assert shingles(retouched) == shingles(text)
    assert similarity(minhash_signature(text), minhash_signature(retouched)) == 1.0


def test_short_and_empty_texts() -> None:
    assert shingles("only three words") == {"only three words"}
    assert shingles("... !!!") == set()
    with pytest.raises(ValueError):
        shingles("a b", k=0)
    # Texts without words match each other and nothing else.
    assert similarity(minhash_signature("!!!"), minhash_signature("...")) == 1.0
    assert similarity(minhash_signature("!!!"), minhash_signature("hello there")) == 0.0


def test_signatures_are_compact_and_deterministic(resumes: list[str]) -> None:
    sig = minhash_signature(resumes[0])
    assert isinstance(sig, bytes) and len(sig) == 128 * 8
    assert minhash_signature(resumes[0]) == sig
    assert len(minhash_signature(resumes[0], num_perm=64)) == 64 * 8
    # Another process (another hash seed for str) gets the same bytes.
    code = (
        "import sys; from trustq.rules.duplicates import minhash_signature; "
        "sys.stdout.write(minhash_signature(sys.stdin.read()).hex())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=resumes[0],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "123"},
    )
    assert out.stdout == sig.hex()


def test_identical_text_is_similarity_one_and_shares_every_band(resumes: list[str]) -> None:
    a, b = minhash_signature(resumes[0]), minhash_signature(resumes[0])
    assert similarity(a, b) == 1.0
    assert lsh_bands(a) == lsh_bands(b)
    # Formatting alone does not make a resume new.
    reformatted = resumes[0].upper().replace(". ", ".\n\n")
    assert similarity(a, minhash_signature(reformatted)) == 1.0


def test_a_few_changed_words_stay_similar_and_share_a_band(resumes: list[str]) -> None:
    for i, text in enumerate(resumes):
        a, b = minhash_signature(text), minhash_signature(edit(text, 3, seed=i))
        assert similarity(a, b) >= 0.8, i
        assert set(lsh_bands(a)) & set(lsh_bands(b)), i


def test_unrelated_resumes_are_dissimilar_and_rarely_share_a_band(resumes: list[str]) -> None:
    sigs = [minhash_signature(t) for t in resumes]
    shared = 0
    pairs = list(itertools.combinations(sigs, 2))
    for a, b in pairs:
        assert similarity(a, b) < 0.3
        shared += bool(set(lsh_bands(a)) & set(lsh_bands(b)))
    assert shared <= len(pairs) // 20  # "usually no shared band"


def test_similarity_tracks_the_true_jaccard(resumes: list[str]) -> None:
    text = resumes[0]
    for n in (5, 20, 60):
        other = edit(text, n, seed=n)
        sa, sb = shingles(text), shingles(other)
        jaccard = len(sa & sb) / len(sa | sb)
        estimate = similarity(minhash_signature(text), minhash_signature(other))
        assert estimate == pytest.approx(jaccard, abs=0.15), n


def test_band_keys_name_their_layout(resumes: list[str]) -> None:
    sig = minhash_signature(resumes[0])
    keys = lsh_bands(sig)
    assert len(keys) == 16 and len(set(keys)) == 16
    assert keys[0].startswith("16x8:0:") and keys[15].startswith("16x8:15:")
    assert all(len(k) <= 32 for k in keys)
    # Another layout never produces an equal key, so mixed settings cannot collide.
    assert not set(lsh_bands(sig, bands=32)) & set(keys)
    with pytest.raises(ValueError, match="must divide"):
        lsh_bands(sig, bands=10)


def test_malformed_signatures_are_refused(resumes: list[str]) -> None:
    sig = minhash_signature(resumes[0])
    with pytest.raises(ValueError, match="differ in length"):
        similarity(sig, minhash_signature(resumes[0], num_perm=64))
    with pytest.raises(ValueError, match="multiple of 8"):
        similarity(sig, sig[:-1])
    with pytest.raises(ValueError):
        lsh_bands(b"")


def test_signatures_are_datasketchs_own_minhash(resumes: list[str]) -> None:
    # Stored signatures must keep matching new ones: the batched hashing gives exactly
    # what datasketch's MinHash with its default SHA-1 hash gives.
    from datasketch import MinHash

    for text in [*resumes[:40], "short", ""]:
        reference = MinHash(num_perm=128, seed=1, scheme="affine64")
        items = shingles(text)
        if items:
            reference.update_batch([s.encode("utf-8") for s in items])
        assert minhash_signature(text) == reference.hashvalues.astype("<u8").tobytes()
