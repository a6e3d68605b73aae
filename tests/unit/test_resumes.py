"""The resume-text renderer (trustq/data/resumes.py): shape, length, languages, signals."""

from __future__ import annotations

import datetime
import random
import re
import statistics

import pytest

from trustq.data import resumes
from trustq.data.resumes import LANGUAGES, ResumeFacts, TextSignals, render

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[A-Za-z]{2,}")
PHONE = re.compile(r"\+\d[\d\s().-]{7,}\d")
# a sentence ends at . ! ? followed by a capital (so "Sept. 2021" or "3.5" do not split)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-ÝÄÖÜ¡¿])")
BULLET = re.compile(r"^\s*(?:[-•*–·>]|##)\s+")

ROLES = [
    "backend developer",
    "UI/UX designer",
    "data analyst",
    "content writer",
    "SEO specialist",
    "virtual assistant",
    "accountant",
    "mobile developer",
]
TECHS = [
    "Python",
    "Django",
    "React",
    "Figma",
    "SQL",
    "Excel",
    "Tableau",
    "Docker",
    "AWS",
    "WordPress",
    "Semrush",
    "Photoshop",
    "Go",
    "Node.js",
    "TypeScript",
    "Zendesk",
]
THINGS = [
    "billing service",
    "landing page",
    "REST API",
    "dashboard",
    "blog post",
    "mobile app",
    "ETL pipeline",
    "logo",
    "ad campaign",
    "report",
]
METRICS = [
    "page load time",
    "cloud costs",
    "conversion rate",
    "bounce rate",
    "error rate",
    "revenue",
]


def make_facts(rng: random.Random, language: str | None = None) -> ResumeFacts:
    ref = datetime.date(2024, rng.randint(1, 12), rng.randint(1, 28))
    level = rng.choice(["entry", "mid", "senior", "expert"])
    span = {
        "entry": rng.randint(0, 2),
        "mid": rng.randint(2, 6),
        "senior": rng.randint(5, 12),
        "expert": rng.randint(9, 18),
    }[level]
    start = ref.year - span
    stated = None if rng.random() < 0.3 else float(max(1, span) + rng.choice([0, 0, 0, 2]))
    projects = tuple(
        (f"{rng.choice(['Shop', 'Portal', 'Tracker'])} rebuild {i}", rng.randint(start, ref.year))
        for i in range(rng.randint(0, 4))
    )
    return ResumeFacts(
        language=language or rng.choice(LANGUAGES),
        role=rng.choice(ROLES),
        level=level,
        stated_years=stated,
        career_start_year=start,
        reference_date=ref,
        techs=tuple(rng.sample(TECHS, rng.randint(3, 10))),
        things=tuple(rng.sample(THINGS, rng.randint(1, 4))),
        metrics=tuple(rng.sample(METRICS, rng.randint(0, 3))),
        platform_projects=projects,
        name=rng.choice(["Marta", "José", "Jürgen", "Anaïs"]),
        city=rng.choice(["Lisbon", "Madrid", "Berlin", "Lyon"]),
        handle=f"kalomi{rng.randint(1, 99)}",
    )


def make_signals(rng: random.Random, **fixed) -> TextSignals:
    kw = dict(
        off_platform=rng.choice([None, None, "payment", "contact"]),
        contact_details=rng.random() < 0.3,
        outcome_guarantee=rng.random() < 0.2,
        honest_guarantee=rng.random() < 0.3,
        disclaimer=rng.random() < 0.15,
        platform_mention=rng.random() < 0.2,
        superlatives=rng.randint(0, 4),
        keyword_stuffing=rng.random() < 0.15,
        implausible_numbers=rng.random() < 0.15,
        specific_claims=rng.randint(0, 6),
        timeline_wrong=rng.random() < 0.2,
    )
    kw.update(fixed)
    return TextSignals(**kw)


def sentences(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = BULLET.sub("", line).strip()
        out += [s.strip() for s in SENTENCE_END.split(line) if s.strip()]
    return out


def headings(language: str, key: str) -> list[str]:
    return resumes._lang(language).d["headings"][key]


def has_heading(text: str, language: str, key: str) -> bool:
    wanted = {h.lower() for h in headings(language, key)}
    for line in text.lower().splitlines():
        line = line.strip().strip("#[]: ").strip()
        if line in wanted:
            return True
    return False


@pytest.fixture(scope="module")
def sample() -> list[tuple[ResumeFacts, TextSignals, str]]:
    rng = random.Random(2024)
    out = []
    for i in range(240):
        facts, signals = make_facts(rng), make_signals(rng)
        out.append((facts, signals, render(random.Random(i), facts, signals)))
    return out


def test_same_rng_state_gives_the_same_text() -> None:
    facts = make_facts(random.Random(1), "en")
    signals = make_signals(random.Random(2))
    a = render(random.Random(42), facts, signals)
    b = render(random.Random(42), facts, signals)
    c = render(random.Random(43), facts, signals)
    assert a == b
    assert a != c


def test_lengths_follow_the_range(sample) -> None:
    counts = [len(text.split()) for _, _, text in sample]
    assert all(270 <= n <= 2200 for n in counts), (min(counts), max(counts))
    assert 500 <= statistics.median(counts) <= 1000
    assert max(len(text) for _, _, text in sample) <= 100_000


def test_short_ranges_stay_short() -> None:
    rng = random.Random(7)
    for i in range(120):
        facts = make_facts(rng)
        signals = TextSignals(
            superlatives=rng.randint(0, 1),
            specific_claims=rng.randint(0, 1),
            honest_guarantee=rng.random() < 0.3,
        )
        text = render(random.Random(i), facts, signals, (40, 120))
        assert 36 <= len(text.split()) <= 132, text
        assert has_heading(text, facts.language, "summary")
        assert has_heading(text, facts.language, "experience")


def test_long_ranges_never_pass_the_character_cap() -> None:
    facts = make_facts(random.Random(3), "de")
    text = render(random.Random(3), facts, TextSignals(), (20_000, 40_000))
    assert len(text) <= 100_000


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_renders_in_that_language(language: str) -> None:
    rng = random.Random(LANGUAGES.index(language))
    for i in range(15):
        facts = make_facts(rng, language)
        text = render(random.Random(i), facts, make_signals(rng, keyword_stuffing=False))
        assert has_heading(text, language, "summary"), text
        assert has_heading(text, language, "experience"), text
        if language != "en":
            # no English connectives outside names of certificates and tools
            assert not re.search(r"\b(?:the|with|and|years)\b", text), text


def test_contact_details_only_when_asked(sample) -> None:
    for _, signals, text in sample:
        found = EMAIL.search(text) or PHONE.search(text)
        if signals.contact_details:
            assert found, text
        else:
            assert not found, (found.group(0) if found else None, text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_off_platform_payment_changes_the_text(language: str) -> None:
    facts = make_facts(random.Random(5), language)
    plain = render(random.Random(9), facts, TextSignals())
    risky = render(random.Random(9), facts, TextSignals(off_platform="payment"))
    assert plain != risky
    assert not (EMAIL.search(risky) or PHONE.search(risky))


def test_no_sentence_is_repeated(sample) -> None:
    for _, _, text in sample:
        seen: set[str] = set()
        for s in sentences(text):
            if len(s.split()) < 4:
                continue
            assert s not in seen, s
            seen.add(s)


def test_sections_are_present(sample) -> None:
    for facts, _, text in sample:
        assert text.splitlines()[0].strip(), "the header comes first"
        assert facts.name in text or facts.name.upper() in text
        assert has_heading(text, facts.language, "summary")
        assert has_heading(text, facts.language, "experience")
        if len(text.split()) > 500:
            assert has_heading(text, facts.language, "skills") or any(
                t in text for t in facts.techs
            )


def test_stated_years_are_stated_in_english() -> None:
    rng = random.Random(11)
    for i in range(40):
        facts = make_facts(rng, "en")
        text = render(random.Random(i), facts, TextSignals())
        if facts.stated_years is None:
            assert not re.search(r"\b\d+(?:\.\d)? years?\b", text), text
        else:
            n = int(facts.stated_years)
            assert re.search(rf"\b{n} years?\b", text), text


def _job_spans(text: str, facts: ResumeFacts) -> list[tuple[int, int]]:
    """(start year, end year) of each employer in an English resume's experience section."""
    lines = text.splitlines()
    names = {h.lower() for key in ("experience",) for h in headings("en", key)}
    others = {
        h.lower()
        for key, hs in resumes._lang("en").d["headings"].items()
        if key != "experience"
        for h in hs
    }
    start = next(i for i, ln in enumerate(lines) if ln.strip().strip("#[]: ").lower() in names)
    spans = []
    for ln in lines[start + 1 :]:
        bare = ln.strip().strip("#[]: ").lower()
        if bare in others:
            break
        if BULLET.match(ln):
            continue
        years = [int(y) for y in re.findall(r"\b(19[5-9]\d|20\d\d)\b", ln)]
        if not years:
            continue
        current = re.search(r"\b(present|now|today|current|since)\b", ln, re.I)
        end = facts.reference_date.year if current else max(years)
        spans.append((min(years), end))
    return spans


def test_timelines_hold_unless_told_otherwise() -> None:
    rng = random.Random(13)
    wrong_seen = 0
    for i in range(120):
        facts = make_facts(rng, "en")
        if facts.reference_date.year - facts.career_start_year < 3:
            continue
        wrong = i % 2 == 0
        text = render(random.Random(i), facts, TextSignals(timeline_wrong=wrong))
        spans = sorted(_job_spans(text, facts))
        assert spans, text
        early = min(s for s, _ in spans) < facts.career_start_year
        overlap = any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))
        if wrong:
            assert early or overlap, text
            wrong_seen += 1
        else:
            assert not early and not overlap, text
    assert wrong_seen > 10


def test_keyword_stuffing_is_one_long_run() -> None:
    pool = set(resumes._common()["stuffing"])
    rng = random.Random(17)
    for i in range(20):
        facts = make_facts(rng)
        text = render(random.Random(i), facts, TextSignals(keyword_stuffing=True))
        runs = [ln for ln in text.splitlines() if sum(w in ln for w in pool) >= 15]
        assert runs, text


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_signal_has_many_phrasings(language: str) -> None:
    sig = resumes._lang(language).d["signals"]
    least = 12 if language == "en" else 5
    for key in (
        "off_platform_payment",
        "off_platform_contact",
        "outcome_guarantee",
        "honest_guarantee",
        "disclaimer",
        "platform_mention",
        "superlatives",
        "implausible",
        "specific",
    ):
        pool = sig[key]
        if isinstance(pool, dict):  # shared phrasings plus some for one domain
            pool = pool["all"]
        assert len(set(pool)) >= least, (language, key)
    assert len(sig["off_platform_contact_details"]) >= 5
