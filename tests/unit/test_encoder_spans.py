"""Token-to-sentence labels: the vectorised path gives what one span at a time gives."""

from __future__ import annotations

import random

import numpy as np

from trustq.models.encoder import _span_labels


def _one_at_a_time(offsets, spans, first):
    labels = np.full(len(offsets), -1, dtype=np.int64)
    for i, (start, _) in enumerate(offsets):
        for k, (s, e) in enumerate(spans):
            if s <= start < e:
                labels[i] = first + k
                break
    return labels


def _tokens(rng: random.Random, length: int) -> list[tuple[int, int]]:
    out, pos = [], 0
    while pos < length:
        size = rng.randint(1, 6)
        out.append((pos, min(pos + size, length)))
        pos += size + rng.randint(0, 2)
    return out


def test_sentences_in_order_match_the_reference() -> None:
    rng = random.Random(3)
    for _ in range(300):
        length = rng.randint(1, 400)
        offsets = _tokens(rng, length)
        cuts = sorted(rng.sample(range(length + 1), k=min(length + 1, rng.randint(0, 12))))
        # Pairs of cut points: ordered, apart, some empty, with gaps between them.
        spans = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
        first = rng.randint(0, 50)
        got = _span_labels(offsets, spans, first)
        assert np.array_equal(got, _one_at_a_time(offsets, spans, first)), (offsets, spans)


def test_overlapping_spans_go_to_the_first_that_holds_the_token() -> None:
    offsets = [(0, 3), (4, 8), (9, 12), (13, 20)]
    spans = [(4, 13), (0, 10)]
    assert _span_labels(offsets, spans, 7).tolist() == [8, 7, 7, -1]
    assert _span_labels(offsets, [], 0).tolist() == [-1, -1, -1, -1]
