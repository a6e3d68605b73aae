"""All rule flags of a profile. Every check works on the submitted data only: pure, no I/O."""

from __future__ import annotations

import datetime as dt

import numpy as np

from trustq.rules.flags import Flag, flags_to_features
from trustq.rules.history import experience_flags, history_flags
from trustq.rules.links import link_flags
from trustq.rules.text import (
    ResumeText,
    contact_details_flags,
    guarantee_flags,
    off_platform_flags,
    resume_years_flags,
    stuffing_flags,
)
from trustq.schemas import Profile


def evaluate_flags(profile: Profile, as_of: dt.date) -> list[Flag]:
    """All rule flags for ``profile``, judged as of ``as_of``. Pure: no I/O of any kind."""
    projects = profile.projects_in_time_order()
    text = ResumeText(profile.text)
    flags: list[Flag] = []
    flags.extend(experience_flags(profile))
    flags.extend(history_flags(profile, projects, as_of))
    flags.extend(resume_years_flags(text, profile, profile.history_years(as_of)))
    flags.extend(link_flags(profile, projects))
    flags.extend(off_platform_flags(text))
    flags.extend(contact_details_flags(text))
    flags.extend(guarantee_flags(text))
    flags.extend(stuffing_flags(text))
    return flags


def flag_features(profile: Profile, as_of: dt.date) -> np.ndarray:
    """The flags of ``profile`` as a fixed-length vector (see :func:`flags_to_features`)."""
    return flags_to_features(evaluate_flags(profile, as_of))
