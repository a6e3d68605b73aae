"""The profile-validation input of the network: the six indicators, whether there is any
history, the claims (level, years, skills, links) and the rule flags.

With these the probability itself moves with the evidence the rules find, and a newcomer
(no projects: an empty history, zero indicators) is still described by what they claim and
what their resume says. Computed one way for training and serving.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from trustq.models.indicators import INDICATOR_NAMES, normalise_indicators
from trustq.rules.flags import FLAG_CODES, NEAR_DUPLICATE_CODE, Flag, flags_to_features
from trustq.schemas import ExperienceLevel, Profile

# The near-duplicate flag needs the database of other resumes, which training data does not
# have; the rules act on it instead.
MODEL_FLAG_CODES: tuple[str, ...] = tuple(c for c in FLAG_CODES if c != NEAR_DUPLICATE_CODE)
_FLAG_SLOTS = [FLAG_CODES.index(c) for c in MODEL_FLAG_CODES]
CLAIM_FEATURES: tuple[str, ...] = (
    *(f"level_{level.value}" for level in ExperienceLevel),
    "claimed_years",
    "claimed_years_missing",
    "skills",
    "has_github",
    "has_linkedin",
    "has_portfolio",
)
PROFILE_FEATURES: tuple[str, ...] = (
    *INDICATOR_NAMES,
    "no_projects",
    *CLAIM_FEATURES,
    *(f"flag_{c}" for c in MODEL_FLAG_CODES),
)
# Reference scales: a value at the reference maps to 1.0.
CLAIMED_YEARS_REF = 40.0
SKILLS_REF = 50.0
_LEVELS = list(ExperienceLevel)


def claims_and_flags(profile: Profile, flags: Sequence[Flag]) -> np.ndarray:
    """The part of the profile vector that does not depend on the project history."""
    out = np.zeros(len(CLAIM_FEATURES) + len(MODEL_FLAG_CODES), np.float32)
    out[_LEVELS.index(profile.experience_level)] = 1.0
    years = profile.claimed_years_experience
    k = len(_LEVELS)
    if years is None:
        out[k + 1] = 1.0
    else:
        out[k] = min(math.log1p(years) / math.log1p(CLAIMED_YEARS_REF), 1.5)
    out[k + 2] = min(math.log1p(len(profile.skill_set())) / math.log1p(SKILLS_REF), 1.5)
    out[k + 3] = float(profile.links.github is not None)
    out[k + 4] = float(profile.links.linkedin is not None)
    out[k + 5] = float(profile.links.portfolio is not None)
    # Severity 0-3 per code, scaled to [0, 1].
    out[len(CLAIM_FEATURES) :] = flags_to_features(list(flags))[_FLAG_SLOTS] / 3.0
    return out


def profile_vector(raw_indicators: dict[str, float], static: np.ndarray) -> np.ndarray:
    """The whole profile vector from the raw indicators and :func:`claims_and_flags`."""
    no_projects = np.array([raw_indicators["num_projects"] == 0], np.float32)
    return np.concatenate([normalise_indicators(raw_indicators), no_projects, static])
