"""Near-duplicate resume detection with MinHash and LSH band keys.

The pure half of the feature: text -> compact signature -> band keys. An index
table holding ``(band_key, submission)`` rows finds candidates with an equality
lookup on the keys of a new resume; :func:`similarity` then ranks them. Two
resumes with Jaccard similarity ``s`` over their word shingles share at least one
band with probability ``1 - (1 - s**r)**b`` (``b`` bands of ``r`` rows): with the
defaults (16 bands of 8 rows), about 0.95 at ``s = 0.8`` and 0.06 at ``s = 0.5``.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
import uuid
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from datasketch import MinHash

from trustq.rules.flags import NEAR_DUPLICATE_CODE, Flag, Severity

# Fixed so that signatures stored today compare with signatures made next year; the
# scheme is named because datasketch's default changed in 2.0 and carries no marker.
_SEED = 1
_SCHEME = "affine64"
_DTYPE = np.dtype("<u8")
_NON_WORD = re.compile(r"[\W_]+")
# Copied resumes often get their figures retouched ("cut costs by 31%" -> "30%"); with
# every number read as the same token, such edits do not hide the copy.
_NUMBER = re.compile(r"\d+")


def _words(text: str) -> list[str]:
    normalised = unicodedata.normalize("NFKC", text).casefold()
    return _NUMBER.sub("0", _NON_WORD.sub(" ", normalised)).split()


def shingles(text: str, k: int = 5) -> set[str]:
    """Word ``k``-shingles of the normalised text.

    Normalising folds Unicode forms, case and punctuation, and reads every number as
    the same token. A text shorter than ``k`` words is one shingle; a text without
    words has none.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    words = _words(text)
    if len(words) <= k:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


@functools.lru_cache(maxsize=8)
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    return MinHash(num_perm=num_perm, seed=_SEED, scheme=_SCHEME).permutations


def minhash_signature(text: str, num_perm: int = 128) -> bytes:
    """The MinHash of ``shingles(text)`` as ``num_perm`` little-endian uint64 values.

    Deterministic across processes and machines. A text without words gets the
    all-maximum signature, which matches only other texts without words.
    """
    mh = MinHash(
        num_perm=num_perm,
        seed=_SEED,
        scheme=_SCHEME,
        permutations=_permutations(num_perm),
        hashfunc=_given,
    )
    items = shingles(text)
    if items:
        mh.update_batch(_sha1_64([s.encode("utf-8") for s in items]))
    return mh.hashvalues.astype(_DTYPE, copy=False).tobytes()


def _sha1_64(items: list[bytes]) -> list[int]:
    """datasketch's default hash (``sha1_hash64``: the first 8 bytes of the SHA-1,
    little-endian) of every item, read in one pass instead of one unpack per item."""
    digests = b"".join(hashlib.sha1(item).digest()[:8] for item in items)
    return np.frombuffer(digests, dtype=_DTYPE).tolist()


def _given(value: int) -> int:
    return value


def _values(signature: bytes) -> np.ndarray:
    if not signature or len(signature) % _DTYPE.itemsize:
        raise ValueError(
            f"a signature is a non-empty multiple of {_DTYPE.itemsize} bytes, got {len(signature)}"
        )
    return np.frombuffer(signature, dtype=_DTYPE)


def lsh_bands(signature: bytes, bands: int = 16) -> list[str]:
    """One key per band: ``"<bands>x<rows>:<band index>:<hash of the band>"``.

    Equal keys mean an identical band, so candidates are found by an equality lookup.
    The band layout is part of the key, so keys made with other settings never match.
    """
    values = _values(signature)
    if bands < 1 or len(values) % bands:
        raise ValueError(f"bands must divide the signature length {len(values)}, got {bands}")
    rows = len(values) // bands
    keys = []
    for i in range(bands):
        digest = hashlib.blake2b(values[i * rows : (i + 1) * rows].tobytes(), digest_size=8)
        keys.append(f"{bands}x{rows}:{i}:{digest.hexdigest()}")
    return keys


def similarity(sig_a: bytes, sig_b: bytes) -> float:
    """Estimated Jaccard similarity of the two resumes' shingle sets, in [0, 1]."""
    a, b = _values(sig_a), _values(sig_b)
    if len(a) != len(b):
        raise ValueError(f"signatures differ in length: {len(a)} vs {len(b)} values")
    return float(np.count_nonzero(a == b)) / len(a)


class ResumeMatch(Protocol):
    """Another freelancer's stored resume that may be a copy (as the database finds them)."""

    submission_id: uuid.UUID
    external_id: str
    minhash: bytes | None
    exact: bool


def duplicate_flags(
    matches: Sequence[ResumeMatch], signature: bytes, threshold: float
) -> list[Flag]:
    """Flag a resume that other freelancers (other external ids) submitted too."""
    close = []
    for m in matches:
        score = 1.0 if m.exact else (similarity(signature, m.minhash) if m.minhash else 0.0)
        if score >= threshold:
            close.append((score, m))
    if not close:
        return []
    close.sort(key=lambda pair: -pair[0])
    others = sorted({m.external_id for _, m in close})
    exact = any(m.exact for _, m in close)
    return [
        Flag(
            code=NEAR_DUPLICATE_CODE,
            severity=Severity.high if exact else Severity.medium,
            message=(
                f"The resume text is {'identical' if exact else 'nearly identical'} to "
                f"the resume of {len(others)} other freelancer(s)."
            ),
            evidence={
                "external_ids": others[:10],
                "submissions": [str(m.submission_id) for _, m in close[:10]],
                "similarity": round(close[0][0], 3),
            },
        )
    ]
