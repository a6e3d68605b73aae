"""The trust score's three parts, derived from the calibrated probability.

The score is ``100 · (1 − p)``, ``p`` the calibrated P(risky). It is split into the
original's three parts by how much each group of the model's inputs moved ``p``:

========================  ======  =============================================
part                      points  the model's inputs it stands for
========================  ======  =============================================
``resume_quality``        25      the resume embedding
``project_realism``       45      the project sequence (dates, outcomes, ratings)
``profile_validation``    30      the six profile indicators
========================  ======  =============================================

1. Each group is replaced by its *reference*, the training set's average input for that
   group (recorded in the model artifact), and the profile is scored with every one of
   the 2³ combinations of real and reference groups (one batched forward pass).
2. The Shapley values ``φ_g`` of the three groups follow exactly from those eight
   probabilities; they sum to ``p − p_ref``, ``p_ref`` being the probability of the
   all-reference profile.
3. Each part starts from its share of the reference deficit and is moved by its own
   group's effect: ``deficit_g = w_g · p_ref + 100 · φ_g``. The deficits sum to
   ``100 · p`` and so the parts, ``w_g − deficit_g``, sum to the trust score.
4. A part cannot go below 0 or above its weight: a deficit outside ``[0, w_g]`` is
   clipped and the excess shared among the other parts in proportion to their room,
   which always fits because the total deficit lies in ``[0, 100]``.

Because every step works on calibrated probabilities, 10 points of project realism mean
the same thing under every model version: the project history costs the profile 35 of
its 45 points of calibrated trust.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from math import factorial

import numpy as np

PARTS: dict[str, tuple[str, float]] = {
    "resume_quality": ("text", 25.0),
    "project_realism": ("sequence", 45.0),
    "profile_validation": ("indicators", 30.0),
}
GROUPS: tuple[str, ...] = ("text", "sequence", "indicators")
# Every subset of the groups that keeps its real input, as a tuple of booleans per group.
MASKS: tuple[tuple[bool, ...], ...] = tuple(itertools.product((False, True), repeat=len(GROUPS)))


def shapley(probabilities: dict[tuple[bool, ...], float]) -> dict[str, float]:
    """Exact Shapley values of the groups from the probability of every mask."""
    n = len(GROUPS)
    weights = {k: factorial(k) * factorial(n - k - 1) / factorial(n) for k in range(n)}
    values: dict[str, float] = {}
    for g, group in enumerate(GROUPS):
        total = 0.0
        for mask in MASKS:
            if mask[g]:
                continue
            with_g = mask[:g] + (True,) + mask[g + 1 :]
            total += weights[sum(mask)] * (probabilities[with_g] - probabilities[mask])
        values[group] = total
    return values


def allocate(deficits: Sequence[float], capacities: Sequence[float]) -> list[float]:
    """Deficits moved into ``[0, capacity]`` each, keeping their sum, by clipping and
    sharing what was clipped among the parts with room, in proportion to that room."""
    d = np.asarray(deficits, dtype=np.float64).copy()
    cap = np.asarray(capacities, dtype=np.float64)
    total = float(np.clip(d.sum(), 0.0, cap.sum()))
    fixed = np.zeros(len(d), dtype=bool)
    for _ in range(len(d) + 1):
        over = ~fixed & (d > cap)
        under = ~fixed & (d < 0)
        if not over.any() and not under.any():
            break
        d[over] = cap[over]
        d[under] = 0.0
        fixed |= over | under
        free = ~fixed
        excess = total - d.sum()  # > 0: the free parts take more; < 0: they give back
        if not free.any():
            break
        room = np.where(excess > 0, cap - d, d)[free]
        if room.sum() <= 0:
            break
        d[free] += excess * room / room.sum()
    return d.tolist()


def breakdown(probabilities: dict[tuple[bool, ...], float]) -> dict[str, object]:
    """The three parts (points each, summing to the trust score) and the evidence behind
    them, from the calibrated probabilities of all eight masks."""
    p = probabilities[(True,) * len(GROUPS)]
    p_ref = probabilities[(False,) * len(GROUPS)]
    phi = shapley(probabilities)
    names = list(PARTS)
    capacities = [PARTS[n][1] for n in names]
    deficits = [
        w * p_ref + 100.0 * phi[PARTS[n][0]] for n, w in zip(names, capacities, strict=True)
    ]
    deficits = allocate(deficits, capacities)
    points = [round(w - d, 1) for w, d in zip(capacities, deficits, strict=True)]
    # Rounding each part may leave the sum 0.1 off the rounded score: the largest part
    # absorbs it so that the parts add up to the score a reader sees.
    score = round(100.0 * (1.0 - p), 1)
    gap = round(score - sum(points), 1)
    if gap:
        i = int(np.argmax(points)) if gap < 0 else int(np.argmax(np.subtract(capacities, points)))
        points[i] = round(points[i] + gap, 1)
    return {
        "method": "shapley-over-input-groups",
        "parts": {
            n: {"points": pts, "of": w, "risk_effect": round(phi[PARTS[n][0]], 4)}
            for n, pts, w in zip(names, points, capacities, strict=True)
        },
        "reference_p_risk": round(p_ref, 4),
    }
