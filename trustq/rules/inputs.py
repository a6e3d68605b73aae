"""What kind of input a verdict rests on: how much history the profile has here, and whether
the resume is text the model can read (its length within what it was trained on, English,
prose). A verdict on input outside that range says so, in words a reviewer can read.

The language is told by py3langid (a maintained fork of langid.py, with its model packaged):
each prose block of the resume is classified and weighted by its length, since a resume
mixes languages and skill lists that no identifier reads reliably.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from trustq.schemas import Profile


class History(StrEnum):
    """How much of the freelancer's record this platform has seen."""

    none = "none"
    short = "short"
    full = "full"


def history_state(profile: Profile, short_below: int) -> History:
    """``none`` without projects, ``short`` below ``short_below`` projects, else ``full``."""
    n = len(profile.projects)
    if n == 0:
        return History.none
    return History.short if n < short_below else History.full


@dataclass(frozen=True)
class Notice:
    """Something about the input that limits what the model can say about it."""

    kind: str  # "length", "language" or "not_prose"
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "evidence": self.evidence}


# A resume counts as far outside the training range beyond these multiples of the
# training set's 1st and 99th percentiles of length in tokens.
LENGTH_BELOW_P01 = 0.5
LENGTH_ABOVE_P99 = 2.0
# Below this share of its prose in English, a resume is "mostly not English": the encoder
# was trained on English text only.
MIN_ENGLISH_SHARE = 0.5
# Below this share of its non-space characters in words, a resume is "mostly not prose"
# (source code, tables of numbers, encoded blobs).
MIN_PROSE_SHARE = 0.55
# Blocks with fewer words are skill lists, headings and dates: no identifier reads them.
_MIN_BLOCK_WORDS = 6
_MIN_CLASSIFIED_CHARS = 40
# A block: lines up to a blank line. The look-ahead stays on one line, so a run of
# whitespace-only lines costs linear time.
_BLOCK = re.compile(r"[^\n]+(?:\n(?![^\S\n]*\n)[^\n]+)*")
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")
# A word as prose has it: letters (with inner hyphens or apostrophes), at most 30 long,
# with punctuation around it. Code tokens, numbers and encoded blobs are not words.
_PROSE_WORD = re.compile(r"[(\[\"'“‘«¿¡*•-]*[^\W\d_]+(?:['’-][^\W\d_]+)*[)\]\"'”’»,.;:!?]*")
_MAX_WORD_CHARS = 30
# Languages an identifier picks for short technical English by mistake (Pidgin, Scots,
# Luxembourgish...) are left out: the candidates are the world's common written languages.
LANGUAGES = (
    "en", "es", "pt", "fr", "de", "it", "nl", "pl", "ro", "cs", "sk", "hu", "sv", "da", "no",
    "fi", "et", "lv", "lt", "sl", "hr", "sr", "bg", "uk", "ru", "el", "tr", "ar", "he", "fa",
    "ur", "hi", "bn", "ta", "te", "mr", "ml", "th", "vi", "id", "ms", "tl", "zh", "ja", "ko",
    "sw", "af", "ca", "eu", "gl",
)  # fmt: skip


@cache
def _identifier() -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def language_shares(text: str) -> dict[str, float]:
    """Share of the resume's prose in each language, by characters (empty without prose)."""
    identifier = _identifier()
    weights: dict[str, float] = {}
    for block in _BLOCK.findall(text):
        words = _LETTER_WORD.findall(block)
        if len(words) < _MIN_BLOCK_WORDS:
            continue
        # Lower case: an identifier reads a resume typed in capitals as another language.
        language = identifier.classify(block.lower())[0]
        weights[language] = weights.get(language, 0.0) + sum(len(w) for w in words)
    total = sum(weights.values())
    if total < _MIN_CLASSIFIED_CHARS:
        return {}
    return {k: v / total for k, v in sorted(weights.items(), key=lambda kv: -kv[1])}


def prose_share(text: str) -> float:
    """Share of the non-space characters that stand in words (as prose writes them)."""
    tokens = text.split()
    chars = sum(len(t) for t in tokens)
    if chars == 0:
        return 0.0
    words = sum(len(t) for t in tokens if len(t) <= _MAX_WORD_CHARS and _PROSE_WORD.fullmatch(t))
    return words / chars


@dataclass(frozen=True)
class LengthRange:
    """The training resumes' length in tokens: 1st and 99th percentile."""

    p01: float
    p99: float

    def to_meta(self) -> dict[str, float]:
        return {"p01": self.p01, "p99": self.p99}

    @classmethod
    def from_meta(cls, meta: Any) -> LengthRange:
        if not isinstance(meta, dict):
            raise ValueError("the artifact records no resume length range")
        p01, p99 = float(meta["p01"]), float(meta["p99"])
        if not 0 < p01 <= p99:
            raise ValueError(f"resume length range {p01}..{p99} is not a range")
        return cls(p01, p99)


def input_notices(text: str, tokens: int, trained: LengthRange) -> list[Notice]:
    """What about this resume lies outside what the model was trained to read."""
    notices: list[Notice] = []
    low, high = trained.p01 * LENGTH_BELOW_P01, trained.p99 * LENGTH_ABOVE_P99
    if tokens < low or tokens > high:
        shorter = tokens < low
        notices.append(
            Notice(
                "length",
                f"The resume is {tokens:,} tokens long, far "
                f"{'shorter' if shorter else 'longer'} than the resumes the model learned from "
                f"({trained.p01:,.0f} to {trained.p99:,.0f} tokens).",
                {"tokens": tokens, "trained_p01": trained.p01, "trained_p99": trained.p99},
            )
        )
    share = prose_share(text)
    if share < MIN_PROSE_SHARE:
        notices.append(
            Notice(
                "not_prose",
                f"Only {share:.0%} of the resume is words; the rest is code, numbers or "
                "symbols the model cannot read as a resume.",
                {"prose_share": round(share, 3), "threshold": MIN_PROSE_SHARE},
            )
        )
        return notices  # the language of a code listing says nothing
    languages = language_shares(text)
    english = languages.get("en", 0.0)
    if languages and english < MIN_ENGLISH_SHARE:
        top = next(iter(languages))
        notices.append(
            Notice(
                "language",
                f"The resume is mostly not in English ({english:.0%} English, mostly "
                f"{top!r}); the model and the text rules read English best.",
                {
                    "english_share": round(english, 3),
                    "languages": {k: round(v, 3) for k, v in list(languages.items())[:3]},
                    "threshold": MIN_ENGLISH_SHARE,
                },
            )
        )
    return notices
