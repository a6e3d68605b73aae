"""Resume-text renderer for the synthetic training data.

The generator decides *what* a freelancer's profile says (``ResumeFacts``) and which risky or
harmless text signals it carries (``TextSignals``); :func:`render` writes it as a resume of real
length and shape, in one of several languages.

All wording lives in the YAML files under ``trustq/data/resume_text/`` (``common.yaml`` plus one
file per language); this module only assembles. Templates use a tiny syntax:

* ``{a|b|c}`` picks one option (options may nest and may be empty: ``{|very }``);
* ``{slot}`` fills a slot: either one the renderer computes (``tech``, ``things``, ``pct``,
  ``years``, ``email``...) or a list from the file's ``vocab`` (``client``, ``messenger``...).
  A trailing digit draws a second, distinct value from the same source (``{tech2}``); inside one
  sentence the same slot name always gives the same value.

Only the ``rng`` passed to :func:`render` decides anything, so the same rng state always gives
the same text.
"""

from __future__ import annotations

import datetime
import functools
import math
import random
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

__all__ = ["LANGUAGES", "ResumeFacts", "TextSignals", "render"]

LANGUAGES: tuple[str, ...] = ("en", "es", "de", "pt", "fr")
LEVELS: tuple[str, ...] = ("entry", "mid", "senior", "expert")
MAX_CHARS = 100_000


@dataclass(frozen=True)
class ResumeFacts:
    language: str  # one of LANGUAGES
    role: str  # English role name; rendered in the resume's language where a translation exists
    level: str  # claimed level: "entry" | "mid" | "senior" | "expert"
    stated_years: float | None  # years of experience the text states (None: no figure)
    career_start_year: int  # first year of professional work (employers' dates start here)
    reference_date: datetime.date  # "today" for the resume (dates never after it)
    techs: tuple[str, ...]  # technologies/tools (first ones are the main stack)
    things: tuple[str, ...]  # kinds of deliverables, e.g. "billing service", "landing page"
    metrics: tuple[str, ...]  # domain metrics, e.g. "page load time", "cloud costs"
    platform_projects: tuple[tuple[str, int], ...]  # (title, year) of marketplace projects
    name: str  # first name
    city: str  # e.g. "Lisbon"
    handle: str  # a user name, e.g. "kalomi7" (for links)


@dataclass(frozen=True)
class TextSignals:
    off_platform: str | None = None  # None | "payment" | "contact"
    contact_details: bool = False  # an e-mail address / phone number / messenger handle
    outcome_guarantee: bool = False  # promises nobody can keep
    honest_guarantee: bool = False  # ordinary service promises
    disclaimer: bool = False  # rejects guarantees / off-platform payment
    platform_mention: bool = False  # payment/contact stays on the platform
    superlatives: int = 0  # 0..4 self-praise phrases
    keyword_stuffing: bool = False  # one run of 20-40 mostly unrelated keywords
    implausible_numbers: bool = False  # at least one achievement with impossible numbers
    specific_claims: int = 0  # 0..6 checkable achievements with plausible numbers
    timeline_wrong: bool = False  # overlapping full-time roles or dates before the career start


# --------------------------------------------------------------------------------------------
# Data files
# --------------------------------------------------------------------------------------------


def _read_yaml(name: str) -> dict[str, Any]:
    path = resources.files("trustq") / "data" / "resume_text" / name
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@functools.cache
def _common() -> dict[str, Any]:
    return _read_yaml("common.yaml")


@functools.cache
def _lang(code: str) -> _Lang:
    if code not in LANGUAGES:
        raise ValueError(f"unknown resume language {code!r}; expected one of {LANGUAGES}")
    return _Lang(code, _read_yaml(f"{code}.yaml"), _common())


class _Lang:
    """One language's data, with the lookups the renderer needs precomputed."""

    def __init__(self, code: str, d: dict[str, Any], common: dict[str, Any]) -> None:
        self.code = code
        self.d = d
        self.common = common
        self.vocab: dict[str, Any] = {**common.get("vocab", {}), **d.get("vocab", {})}
        self.roles = {k.lower(): v for k, v in (d.get("roles") or {}).items()}
        self.things = {k.lower(): v for k, v in (d.get("things") or {}).items()}
        self.metrics = {k.lower(): v for k, v in (d.get("metrics") or {}).items()}
        num = d["numbers"]
        self.thousands: str = num["thousands"]
        self.decimal: str = num["decimal"]
        self.percent: str = num["percent"]
        self.money: list[str] = d["money"]
        self.title_case: bool = bool(d.get("role_title_case", False))
        self.domains: list[tuple[str, list[str]]] = list(common["domains"].items())
        self.lower_better: tuple[str, ...] = tuple(
            common.get("lower_better", []) + (d.get("lower_better") or [])
        )

    def role(self, role: str) -> str:
        return self.roles.get(role.lower().strip(), role.strip())

    def domain(self, role: str) -> str:
        low = role.lower()
        for name, keys in self.domains:
            if any(k in low for k in keys):
                return name
        return "general"


# --------------------------------------------------------------------------------------------
# Template engine
# --------------------------------------------------------------------------------------------

_SLOT = 0
_CHOICE = 1
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SLOT_NAME = re.compile(r"([A-Za-z_]*[A-Za-z_])(\d*)\Z")
_compiled: dict[str, tuple] = {}


def _compile(s: str) -> tuple:
    nodes = _compiled.get(s)
    if nodes is None:
        nodes, i = _parse(s, 0, False)
        if i != len(s):
            raise ValueError(f"unbalanced braces in template {s!r}")
        _compiled[s] = nodes
    return nodes


def _parse(s: str, i: int, inner: bool) -> tuple[tuple, int]:
    nodes: list = []
    buf: list[str] = []
    n = len(s)
    while i < n:
        ch = s[i]
        if ch == "{":
            if buf:
                nodes.append("".join(buf))
                buf = []
            opts = []
            i += 1
            while True:
                sub, i = _parse(s, i, True)
                opts.append(sub)
                if i >= n:
                    raise ValueError(f"unbalanced braces in template {s!r}")
                i += 1
                if s[i - 1] == "}":
                    break
            if (
                len(opts) == 1
                and len(opts[0]) == 1
                and isinstance(opts[0][0], str)
                and (_IDENT.match(opts[0][0]))
            ):
                nodes.append((_SLOT, opts[0][0]))
            else:
                nodes.append((_CHOICE, tuple(opts)))
        elif inner and (ch == "|" or ch == "}"):
            break
        else:
            buf.append(ch)
            i += 1
    if buf:
        nodes.append("".join(buf))
    return tuple(nodes), i


_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_PUNCT = re.compile(r" +([,.)])(?=\s|$)")  # not ; : ! ? (French spacing)


def _tidy(s: str) -> str:
    s = _SPACES.sub(" ", s.strip())
    if " ," in s or " ." in s or " )" in s:
        s = _SPACE_PUNCT.sub(r"\1", s)
    return s


def _cap(s: str) -> str:
    """Upper-case the first letter unless the first word carries its own capitals (iOS)."""
    if not s or not s[0].islower():
        return s
    first = s.split(" ", 1)[0]
    if any(c.isupper() for c in first):
        return s
    return s[0].upper() + s[1:]


def _title(s: str) -> str:
    return " ".join(w[0].upper() + w[1:] if w and w.islower() else w for w in s.split(" "))


def _ascii(s: str) -> str:
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", s.lower()) or "hello"


_VOWEL_LETTERS = set("AEFHILMNORSX")


def _article_en(s: str) -> str:
    w = s.split(" ", 1)[0]
    if len(w) > 1 and w.isupper():
        spoken_as_word = len(w) >= 4 and any(c in "AEIOU" for c in w[1:])
        if spoken_as_word:
            return ("an " if w[0] in "AEIOU" else "a ") + s
        return ("an " if w[0] in _VOWEL_LETTERS else "a ") + s
    low = w.lower()
    if low.startswith(("use", "usa", "uni", "uti", "eu", "one")):
        return "a " + s
    return ("an " if low[:1] in "aeiou" else "a ") + s


def _plural_en(s: str) -> str:
    head, _, last = s.rpartition(" ")
    low = last.lower()
    if low.endswith("sis"):
        p = last[:-2] + "es"
    elif low.endswith(("ss", "x", "z", "ch", "sh")):
        p = last + "es"
    elif low.endswith("s"):
        p = last
    elif low.endswith("y") and len(low) > 1 and low[-2] not in "aeiou":
        p = last[:-1] + "ies"
    else:
        p = last + "s"
    return f"{head} {p}" if head else p


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def render(
    rng: random.Random,
    facts: ResumeFacts,
    signals: TextSignals,
    words: tuple[int, int] = (300, 2000),
) -> str:
    """A resume of roughly rng-drawn length within ``words`` (log-uniform), in facts.language."""
    lo, hi = int(words[0]), int(words[1])
    if lo < 1 or hi < lo:
        raise ValueError(f"bad word range {words!r}")
    target = math.exp(rng.uniform(math.log(lo), math.log(hi))) if hi > lo else float(lo)
    return _Renderer(rng, facts, signals, _lang(facts.language)).build(target)


class _Job:
    __slots__ = ("bullets", "company", "place", "freelance", "cap", "title", "dates", "ft", "intro")

    def __init__(self, company: str, place: str, freelance: bool, cap: int) -> None:
        self.company = company
        self.place = place
        self.freelance = freelance
        self.cap = cap
        self.bullets: list[str] = []
        self.intro = ""
        self.title = ""
        self.dates = ""
        self.ft = False


def _separated(groups: list[list[str]]) -> list[str]:
    """The lines of each group, a blank line between groups."""
    lines: list[str] = []
    for i, group in enumerate(groups):
        if i:
            lines.append("")
        lines += group
    return lines


class _Renderer:
    def __init__(self, rng: random.Random, facts: ResumeFacts, sig: TextSignals, L: _Lang):
        self.rng = rng
        self.f = facts
        self.s = sig
        self.L = L
        self.d = L.d
        self.used: set[str] = set()
        self.pool_used: dict[str, list[int]] = {}
        self.pool_count: dict[str, int] = {}
        self._pools: dict[str, Any] = {}
        self._once: dict[str, bool] = {}
        self.spent: set[str] = set()  # pools that gave no new sentence
        self.domain = L.domain(facts.role)
        self.role = L.role(facts.role)
        self.Role = _title(self.role) if L.title_case else _cap(self.role)
        self.level = facts.level if facts.level in LEVELS else "mid"
        techs = [t for t in dict.fromkeys(facts.techs) if t and t.strip()]
        if not techs:
            techs = list(self._dom(L.common["generic_techs"]))
        self.techs = techs
        self.main = techs[: max(2, min(4, len(techs)))]
        # generic fallbacks, used when the facts give none or too few distinct values
        self.extra_forms: dict[str, tuple[str, str, str]] = {}
        generic_things = []
        for pair in self.d["generic_things"]:
            sg, pl = pair[0], pair[1]
            self.extra_forms[sg] = (sg, pl, pair[2] if len(pair) > 2 else sg)
            generic_things.append(sg)
        things = [t for t in dict.fromkeys(facts.things) if t and t.strip()]
        self.things = things or generic_things
        self.generic_metrics = set(self.d["generic_metrics"])
        metrics = [m for m in dict.fromkeys(facts.metrics) if m and m.strip()]
        self.metrics = metrics or list(self.d["generic_metrics"])
        self.fallback = {
            "thing": generic_things,
            "metric": list(self.d["generic_metrics"]),
            "tech": [t for t in self._dom(L.common["generic_techs"]) if t not in techs] or techs,
        }
        self.ref = facts.reference_date
        self.metric_words: dict[str, dict[str, list[str]]] = self.d.get("metric_words") or {}
        self._email: str | None = None
        self._phone: str | None = None

    # ---------------------------------------------------------------- small helpers

    def _dom(self, table: Any) -> list:
        """A list as is; a mapping by domain: its ``all`` entries plus the domain's own (or
        ``general``'s, or the first list)."""
        if isinstance(table, dict):
            own = table.get(self.domain) or table.get("general")
            if "all" in table:
                return table["all"] + (own or [])
            return own or next(iter(table.values()))
        return table

    def _get(self, path: str) -> Any:
        pool = self._pools.get(path)
        if pool is None:
            node: Any = self.d
            for part in path.split("."):
                node = node[part]
            pool = self._pools[path] = self._dom(node)
        return pool

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def choice(self, seq: list | tuple) -> Any:
        return seq[self.rng.randrange(len(seq))]

    def _distinct(self, seq: list, taken: list) -> Any:
        v = seq[self.rng.randrange(len(seq))]
        if len(seq) > len(taken):
            for _ in range(8):
                if v not in taken:
                    break
                v = seq[self.rng.randrange(len(seq))]
        return v

    # ---------------------------------------------------------------- number formatting

    def fint(self, n: int) -> str:
        s = f"{n:,}"
        return s.replace(",", self.L.thousands) if self.L.thousands != "," else s

    def fnum(self, x: float) -> str:
        if abs(x - round(x)) < 1e-9:
            return self.fint(int(round(x)))
        s = f"{x:.1f}".rstrip("0").rstrip(".")
        return s.replace(".", self.L.decimal)

    def fpct(self, n: float) -> str:
        return self.L.percent.replace("{n}", self.fnum(n))

    def fmoney(self, n: int) -> str:
        return self.choice(self.L.money).replace("{n}", self.fint(n))

    # ---------------------------------------------------------------- template expansion

    def expand(self, template: str, preset: dict[str, str] | None = None) -> str:
        cache: dict[str, Any] = dict(preset) if preset else {}
        return _tidy(self._expand(_compile(template), cache))

    def _expand(self, nodes: tuple, cache: dict[str, Any]) -> str:
        out = []
        rng = self.rng
        for nd in nodes:
            if nd.__class__ is str:
                out.append(nd)
            elif nd[0] == _SLOT:
                out.append(self._slot(nd[1], cache))
            else:
                opts = nd[1]
                out.append(self._expand(opts[rng.randrange(len(opts))], cache))
        return "".join(out)

    def _slot(self, name: str, cache: dict[str, Any]) -> str:
        v = cache.get(name)
        if v is not None:
            return v
        m = _SLOT_NAME.match(name)
        base, idx = (m.group(1), m.group(2)) if m else (name, "")
        fn = _SLOTS.get(base)
        if fn is not None:
            v = fn(self, idx, cache)
        elif base in self.metric_words:
            raw = self._raw("metric", idx, cache, self.metrics)
            table = self.metric_words[base]
            v = self.choice(table["down" if self.lower_better(raw) else "up"])
        else:
            table = self.L.vocab.get(base)
            if table is None:
                raise KeyError(f"unknown template slot {{{name}}} ({self.L.code})")
            seq = self._dom(table)
            taken = cache.setdefault("#" + base, [])
            raw = self._distinct(seq, taken)
            taken.append(raw)
            v = self._expand(_compile(raw), cache) if "{" in raw else raw
        cache[name] = v
        return v

    def _raw(self, kind: str, idx: str, cache: dict[str, Any], seq: list[str]) -> str:
        key = "@" + kind + idx
        r = cache.get(key)
        if r is None:
            taken = cache.setdefault("#" + kind, [])
            if taken and all(x in taken for x in seq):
                seq = self.fallback[kind]
            r = self._distinct(seq, taken)
            taken.append(r)
            cache[key] = r
        return r

    def thing_forms(self, raw: str) -> tuple[str, str, str]:
        f = self.extra_forms.get(raw)
        if f is not None:
            return f
        if self.L.code == "en":
            return raw, _plural_en(raw), _article_en(raw)
        t = self.L.things.get(raw.lower())
        if t is not None:
            return t[0], t[1], (t[2] if len(t) > 2 else t[0])
        # untranslated domain term: keep the English words (as people often do)
        a = self.d.get("untranslated_a", "{x}").replace("{x}", raw)
        return raw, _plural_en(raw), a

    def lower_better(self, raw: str) -> bool:
        low = raw.lower()
        return any(k in low for k in self.L.lower_better)

    def metric_form(self, raw: str) -> str:
        if raw in self.generic_metrics or self.L.code == "en":
            return raw
        m = self.L.metrics.get(raw.lower())
        if m is None:
            m = self.d.get("untranslated_metric", "{x}").replace("{x}", raw)
        return m

    # ---------------------------------------------------------------- pools

    def pick(
        self,
        path: str,
        preset: dict[str, str] | None = None,
        tries: int = 8,
        cap: bool = True,
        strict: bool = False,
    ) -> str | None:
        """A sentence from pool ``path`` that this resume has not used yet.

        Templates are drawn without replacement until the pool is used up, then again (the
        slots usually make the sentence new). Where no new sentence turns up, ``strict`` gives
        None (and marks the pool as spent); otherwise the last draw is returned anyway.
        """
        pool = self._get(path)
        used = self.pool_used.setdefault(path, [])
        self.pool_count[path] = self.pool_count.get(path, 0) + 1
        n = len(pool)
        s = ""
        for _ in range(tries):
            if len(used) >= n:
                used.clear()
            i = self.rng.randrange(n)
            while i in used:
                i = (i + 1) % n
            used.append(i)
            s = self.expand(pool[i], preset)
            if cap:
                s = _cap(s)
            if s not in self.used:
                break
        else:
            if strict:
                self.spent.add(path)
                return None
        self.used.add(s)
        return s

    # ---------------------------------------------------------------- contact pieces

    def email(self) -> str:
        if self._email is None:
            c = self.L.common
            yy = self.rng.randint(70, 99) if self.chance(0.5) else self.rng.randint(1, 30)
            local = self.expand(
                self.choice(c["email_locals"]),
                {"n": _ascii(self.f.name), "h": _ascii(self.f.handle), "yy": f"{yy:02d}"},
            )
            self._email = f"{local}@{self.choice(c['email_domains'])}"
        return self._email

    def phone(self) -> str:
        if self._phone is None:
            pat = self.choice(self.d["contact"]["phones"])
            rng = self.rng
            self._phone = "".join(str(rng.randrange(10)) if ch == "#" else ch for ch in pat)
        return self._phone

    # ---------------------------------------------------------------- build

    def build(self, target: float) -> str:
        s = self.s
        self.target = target
        self.style = self._style()
        self.words = 0

        # containers
        self.header: list[str] = []
        self.summary: list[str] = []  # sentences
        self.highlights: list[str] = []  # bullet-like summary items (claims)
        self.jobs: list[_Job] = []  # most recent first
        self.claims: list[str] = []  # bullets scattered over the jobs at the end
        self.skills: list[str] | None = None
        self.projects: list[list[str]] = []
        self.proj_left = list(self.f.platform_projects)
        self.side: list[list[str]] = []
        self.education: list[list[str]] | None = None
        self.certs: list[str] | None = None
        self.langs: list[str] | None = None
        self.closing: list[str] | None = None
        self.contact_sec: list[str] | None = None
        self.interests: list[str] | None = None
        self.top_notes: list[str] = []
        self.skill_notes: list[str] = []
        self.services: list[str] = []
        self.cases: list[list[str]] = []

        tw = s.timeline_wrong
        self.tl_mode = None
        if tw:
            self.tl_mode = "overlap" if self.chance(0.6) else "early"
        span = (self.ref.year - self.f.career_start_year) * 12 + self.ref.month
        self.max_jobs = max(1, min(8, span // 10))
        self.p_long = min(1.0, max(0.0, (target - 400) / 1200))
        if self.tl_mode == "overlap":
            self.max_jobs = max(self.max_jobs, 3)

        # ---- header
        self._header()
        # ---- summary opener
        self.add_summary(self._opener())
        # ---- first job
        nb = 1 if target < 150 else 2
        self.add_job(n_bullets=nb)
        if self.tl_mode == "overlap":
            self.add_job(n_bullets=nb)
            if self.chance(0.4):
                self.add_job(n_bullets=nb)

        # ---- signals (always present, whatever the length)
        self._signals()

        # ---- fill up to the target (and take back a few bullets where a piece overshot)
        self._fill(target)
        self._trim(target)
        return self._assemble()

    # ---------------------------------------------------------------- style

    def _style(self) -> dict[str, Any]:
        d = self.d
        st: dict[str, Any] = {}
        st["heading"] = self.choice(
            [
                "plain",
                "plain",
                "plain",
                "caps",
                "caps",
                "colon",
                "md",
                "underline",
                "caps_colon",
                "bracket",
            ]
        )
        st["marker"] = self.choice(["- ", "- ", "• ", "• ", "* ", "– ", "· ", "> "])
        st["period"] = self.chance(0.45)
        st["summary_mode"] = self.choice(["para", "para", "para", "para", "bullets", "split"])
        st["exp_mode"] = "para" if self.chance(0.12) else "bullets"
        st["skills_mode"] = self.choice(["comma", "comma", "bullets", "pipe", "grouped", "dot"])
        dates = d["dates"]
        st["date_fmt"] = self.choice(dates["formats"])
        st["date_sep"] = self.choice(dates["seps"])
        st["present"] = self.choice(dates["present"])
        st["since"] = self.chance(0.25) and bool(dates.get("since"))
        st["job_line"] = self.choice(d["job_lines"])
        st["job_dates_below"] = self.chance(0.2)
        st["ft_all"] = self.chance(0.15)
        st["ft_label"] = self.choice(d["fulltime"])
        st["proj_line"] = self.choice(d["projects"]["heads"])
        st["cert_line"] = self.choice(d["certifications"]["lines"])
        st["edu_line"] = self.choice(d["education"]["lines"])
        st["lang_line"] = self.choice(d["languages"]["lines"])
        st["skills_first"] = self.chance(0.3)
        st["projects_first"] = self.chance(0.25)
        st["places"] = self.chance(0.4)
        return st

    # ---------------------------------------------------------------- word accounting

    def _count(self, text: str, bullet: bool = False) -> int:
        n = len(text.split())
        if bullet and self.style["marker"].strip():
            n += 1
        self.words += n
        return n

    # ---------------------------------------------------------------- header

    def _header(self) -> None:
        h = self.d["header"]
        pre = {
            "name": self.f.name,
            "NAME": self.f.name.upper(),
            "Role": self.Role,
            "city": self.f.city,
            "role": self.role,
        }
        lines = [self.expand(self.choice(h["name_lines"]), pre)]
        if self.Role not in lines[0] and self.role not in lines[0]:
            lines.append(self.expand(self.choice(h["role_lines"]), pre))
        if self.f.city not in " ".join(lines):
            lines.append(self.expand(self.choice(h["city_lines"]), pre))
        links = []
        if self.chance(0.75) or self.s.contact_details:
            urls = self._dom(self.L.common["urls"])
            k = 1 if self.chance(0.55) else 2
            for u in self.rng.sample(urls, min(k, len(urls))):
                u = u.replace("{h}", self.f.handle)
                if self.chance(0.25):
                    u = "https://" + u
                links.append(u)
        self.contact_where = None
        if self.s.contact_details:
            self.contact_where = self.choice(["header", "header", "header", "section"])
            if self.contact_where == "header":
                links = self._contact_items() + links
        if links:
            sep = self.choice([" · ", " | ", " • ", "  ", " / "])
            if self.chance(0.8):
                lines.append(sep.join(links))
            else:
                lines.extend(links)
        for ln in lines:
            self._count(ln)
            self.used.add(ln)
        self.header = lines

    def _contact_items(self) -> list[str]:
        c = self.d["contact"]
        items = []
        want = self.choice(["email", "phone", "both", "both", "email+msg", "phone+msg"])
        pre = {"email": self.email(), "phone": self.phone(), "handle": self.f.handle}
        if want in ("email", "both", "email+msg"):
            items.append(self.expand(self.choice(c["email_items"]), pre))
        if want in ("phone", "both", "phone+msg"):
            items.append(self.expand(self.choice(c["phone_items"]), pre))
        if want.endswith("+msg"):
            items.append(self.expand(self.choice(c["messenger_items"]), pre))
        return items

    # ---------------------------------------------------------------- summary

    def _opener(self) -> str:
        y = self.f.stated_years
        key = "summary.open_years" if y is not None and y > 0 else "summary.open"
        return self.pick(key)

    def add_summary(self, sentence: str, pos: int | None = None) -> None:
        if pos is None:
            self.summary.append(sentence)
        else:
            self.summary.insert(pos, sentence)
        self._count(sentence)

    def _summary_pos(self) -> int:
        return self.rng.randint(1, max(1, len(self.summary)))

    # ---------------------------------------------------------------- experience

    def _company(self) -> str:
        taken = [j.company for j in self.jobs]
        name = ""
        for _ in range(8):
            name = self.expand(self.choice(self.d["company"]["patterns"]))
            if name not in taken:
                break
        return name

    def add_job(self, n_bullets: int = 2) -> int:
        freelance = not self.jobs and self.tl_mode != "overlap" and self.chance(0.3)
        if freelance:
            company = self.expand(self.choice(self.d["freelance"]["company"]))
        else:
            company = self._company()
        place = ""
        if self.style["places"]:
            place = self.expand(self.choice(self.d["places"]), {"city": self.f.city})
        cap = 6 if len(self.jobs) < 2 else self.choice([3, 4, 4, 5])
        job = _Job(company, place, freelance, cap)
        self.jobs.append(job)
        before = self.words
        self._count(self._job_line_preview(job))
        if self.chance(0.1 + 0.5 * self.p_long):
            job.intro = self.pick("job_intros", strict=True) or ""
            self._count(job.intro)
        for _ in range(n_bullets):
            self.add_bullet(job)
        return self.words - before

    def add_bullet(self, job: _Job) -> int:
        pools = ["bullets.general"]
        b = self.d["bullets"]
        if self.domain in b:
            pools.append("bullets." + self.domain)
        if (
            self.level in ("senior", "expert")
            and job is self.jobs[0]
            or (self.level == "expert" and len(self.jobs) > 1 and job is self.jobs[1])
        ):
            pools.append("bullets.lead")
        fresh = [p for p in pools if self.room(p)] or [p for p in pools if p not in self.spent]
        text = None
        while fresh and text is None:
            path = self.choice(fresh)
            text = self.pick(path, strict=True)
            fresh.remove(path)
        if text is None:
            job.cap = len(job.bullets)  # nothing new to say about this job
            return 0
        if self.chance(0.08 + 0.4 * self.p_long) and self.room("bullet_tails"):
            tail = self.pick("bullet_tails", cap=False, strict=True)
            if tail:
                text = text + tail if tail[:1] in ",;" else f"{text} {tail}"
        job.bullets.append(text)
        return self._count(text, bullet=self.style["exp_mode"] == "bullets")

    def _job_line_preview(self, job: _Job) -> str:
        """The employer's line as it will roughly look (dates and titles are set at the end)."""
        title = self._job_title(job, self.level)
        if self.style["ft_all"] or self.tl_mode == "overlap":
            title = f"{title} ({self.style['ft_label']})"
        return self._job_line(job, title, self._dates_str((2020, 1), None))

    def _job_title(self, job: _Job, level: str) -> str:
        if job.freelance:
            pat = self.choice(self.d["freelance"]["titles"])
        else:
            pat = self.choice(self.d["level_titles"][level])
        return self.expand(pat, {"Role": self.Role, "role": self.role})

    def _job_line(self, job: _Job, title: str, dates: str) -> str:
        st = self.style
        if job.ft:
            title = f"{title} ({st['ft_label']})"
        company = job.company + (f", {job.place}" if job.place else "")
        if st["job_dates_below"]:
            nd = st.get("job_line_nd") or self._set_nd()
            line = self.expand(nd, {"title": title, "company": company})
            return f"{line}\n{_cap(dates)}"
        return _cap(
            self.expand(st["job_line"], {"title": title, "company": company, "dates": dates})
        )

    def _set_nd(self) -> str:
        self.style["job_line_nd"] = self.choice(self.d["job_lines_nodates"])
        return self.style["job_line_nd"]

    # ---------------------------------------------------------------- dates

    def _date(self, y: int, m: int) -> str:
        fmt = self.style["date_fmt"]
        dd = self.d["dates"]
        if fmt == "year":
            return str(y)
        if fmt == "mm/yyyy":
            return f"{m:02d}/{y}"
        if fmt == "mm.yyyy":
            return f"{m:02d}.{y}"
        if fmt == "yyyy-mm":
            return f"{y}-{m:02d}"
        if fmt == "mon yyyy":
            return f"{dd['months_short'][m - 1]} {y}"
        return f"{dd['months_long'][m - 1]} {y}"

    def _dates_str(self, start: tuple[int, int], end: tuple[int, int] | None) -> str:
        st = self.style
        a = self._date(*start)
        if end is None:
            if st["since"]:
                return self.d["dates"]["since"].replace("{start}", a)
            return f"{a}{st['date_sep']}{st['present']}"
        b = self._date(*end)
        if b == a:
            return a
        return f"{a}{st['date_sep']}{b}"

    def _timeline(self) -> None:
        rng = self.rng
        ref = self.ref
        e = ref.year * 12 + ref.month - 1
        cy = self.f.career_start_year
        sm = rng.randrange(12) if cy < ref.year else rng.randrange(max(1, ref.month))
        s = min(cy * 12 + sm, e)
        n = len(self.jobs)
        total = e - s + 1
        weights = [rng.uniform(0.6, 1.6) for _ in range(n)]
        wsum = sum(weights)
        spans: list[list[int | None]] = []  # oldest first: [start, end]; end None = present
        cur = s
        for i in range(n):
            if i == n - 1:
                length = e - cur + 1
            else:
                length = max(1, round(total * weights[i] / wsum))
                length = min(length, max(1, e - cur + 1 - (n - 1 - i)))
            start = cur
            end = cur + length - 1
            if i > 0 and rng.random() < 0.3 and end - start > 4:
                start += rng.randint(1, 3)
            spans.append([start, end])
            cur = end + 1
            if cur > e:
                cur = e
        # the most recent one
        last = spans[-1]
        if rng.random() < 0.85 or last[1] - last[0] < 3:
            last[1] = None
        else:
            last[1] = e - rng.randint(1, min(6, last[1] - last[0] - 1))
        if self.tl_mode == "overlap":
            k = min(n, 3 if (n >= 3 and rng.random() < 0.4) else 2)
            group = spans[n - k :]
            a = min(sp[0] for sp in group)
            # distinct calendar years, so that even year-only dates show the overlap
            a = min(a, e - 12 * k - 2)
            years = sorted(rng.sample(range(a // 12, e // 12), k))
            for sp, y in zip(group, years, strict=True):
                lo_m = a % 12 if y == a // 12 else 0
                sp[0] = y * 12 + rng.randint(lo_m, 11)
                sp[1] = None  # all still running: two or three full-time jobs at once
            for j in self.jobs[:k]:
                j.ft = True
        elif self.tl_mode == "early":
            back = rng.randint(3, 8)
            sp = spans[0]
            old_start = sp[0]
            sp[0] = (cy - back) * 12 + rng.randrange(12)
            if sp[1] is not None and sp[1] < old_start:
                sp[1] = old_start
        if self.style["ft_all"]:
            for j in self.jobs:
                j.ft = True
        # levels: claimed for the newest, stepping down for older jobs
        li = LEVELS.index(self.level)
        levels = []
        for _i in range(n):
            levels.append(LEVELS[li])
            if li > 0 and rng.random() < 0.55:
                li -= 1
        for i, job in enumerate(self.jobs):
            sp = spans[n - 1 - i]
            start = (sp[0] // 12, sp[0] % 12 + 1)
            end = None if sp[1] is None else (sp[1] // 12, sp[1] % 12 + 1)
            job.dates = self._dates_str(start, end)
            job.title = self._job_title(job, levels[i])

    # ---------------------------------------------------------------- signals

    def _host(self, sentence: str, where: str) -> None:
        if where == "summary":
            self.add_summary(sentence, self._summary_pos())
        elif where == "closing":
            if self.closing is None:
                self.closing = []
            self.closing.insert(self.rng.randint(0, len(self.closing)), sentence)
            self._count(sentence)
        elif where == "top":
            self.top_notes.append(sentence)
            self._count(sentence)
        else:  # "end" (contact section)
            if self.contact_sec is None:
                self.contact_sec = []
            self.contact_sec.append(sentence)
            self._count(sentence)

    def _scam(self, text: str) -> str:
        """Real scam text: odd punctuation, shouting, lower-case starts."""
        rng = self.rng
        r = rng.random()
        if r < 0.12:
            text = text.upper()
        elif r < 0.22:
            text = text[:1].lower() + text[1:]
        r = rng.random()
        if r < 0.15:
            text = text.rstrip(".!") + self.choice(["!!", "!!!", " !!", "..", "...", " :)"])
        elif r < 0.22:
            text = text.replace(", ", " , ", 1)
        return text

    def _signals(self) -> None:
        s = self.s
        sg = "signals."
        if s.contact_details and self.contact_where == "section":
            self.contact_sec = []
            for it in self._contact_items():
                self.contact_sec.append(it)
                self._count(it)
        if s.off_platform in ("payment", "contact"):
            n = 2 if self.chance(0.25) and self.target > 250 else 1
            wheres = ["summary", "summary", "closing", "closing", "top", "end"]
            for _ in range(n):
                if s.off_platform == "payment":
                    text = self.pick(sg + "off_platform_payment")
                elif s.contact_details and self.chance(0.6):
                    text = self.pick(sg + "off_platform_contact_details")
                else:
                    text = self.pick(sg + "off_platform_contact")
                where = self.choice(wheres)
                wheres = [w for w in wheres if w != where] or ["summary"]
                self._host(self._scam(text), where)
        if s.outcome_guarantee:
            for _ in range(2 if self.chance(0.3) and self.target > 250 else 1):
                text = self.pick(sg + "outcome_guarantee")
                if self.chance(0.15):
                    text = self._scam(text)
                self._host(text, self.choice(["summary", "summary", "closing", "top"]))
        if s.honest_guarantee:
            for _ in range(2 if self.chance(0.3) and self.target > 250 else 1):
                self._host(
                    self.pick(sg + "honest_guarantee"),
                    self.choice(["summary", "closing", "closing"]),
                )
        if s.disclaimer:
            self._host(self.pick(sg + "disclaimer"), self.choice(["summary", "closing", "end"]))
        if s.platform_mention:
            self._host(
                self.pick(sg + "platform_mention"),
                self.choice(["summary", "closing", "closing", "end"]),
            )
        for _ in range(max(0, min(int(s.superlatives), 8))):
            self._host(
                self.pick(sg + "superlatives"),
                self.choice(["summary", "summary", "summary", "closing"]),
            )
        if s.keyword_stuffing:
            self._stuffing()
        if s.implausible_numbers:
            for _ in range(2 if self.chance(0.25) and self.target > 250 else 1):
                text = self.pick(sg + "implausible")
                if self.chance(0.2):
                    self.highlights.append(text)
                else:
                    self.claims.append(text)
                self._count(text, bullet=True)
        for _ in range(max(0, min(int(s.specific_claims), 8))):
            text = self.pick(sg + "specific")
            if self.chance(0.15):
                self.highlights.append(text)
            else:
                self.claims.append(text)
            self._count(text, bullet=True)

    def _stuffing(self) -> None:
        rng = self.rng
        pool = self.L.common["stuffing"]
        k = rng.randint(20, 40)
        own = [t for t in self.techs if t not in pool]
        n_own = min(len(own), rng.randint(0, max(1, k * 3 // 10)))
        items = rng.sample(own, n_own) + rng.sample(pool, min(len(pool), k - n_own))
        rng.shuffle(items)
        sep = self.choice([", ", ", ", " | ", " / ", " • ", " ", "; ", " - "])
        label = self.choice(self.d["signals"]["keyword_labels"])
        text = (label + " " if label else "") + sep.join(items)
        self.kw_where = self.choice(["skills", "skills", "section", "summary", "end"])
        self.kw_text = text
        self._count(text)

    # ---------------------------------------------------------------- fill

    def _fill(self, target: float) -> None:
        """Grow the resume, one small piece at a time, until it reaches ``target`` words."""
        rng = self.rng
        for _ in range(600):
            est = self._estimate()
            if est >= target or self.words * 8 > MAX_CHARS:
                break
            acts = self._actions(target, est)
            if not acts:
                break
            # pieces that fit in what is left; near the end, the smallest one or none
            left = max(target * 1.05 - est, 10.0)
            fitting = [a for a in acts if a[1] <= left]
            if not fitting:
                if est >= target * 0.92:
                    break
                fitting = [min(acts, key=lambda a: a[1])]
            total = 0.0
            for a in fitting:
                total += a[0]
            r = rng.random() * total
            pick = fitting[-1]
            for a in fitting:
                r -= a[0]
                if r <= 0:
                    pick = a
                    break
            if pick[3] is None:
                pick[2]()
            else:
                pick[2](pick[3])

    def _trim(self, target: float) -> None:
        """Drop the last bullets of the fullest jobs while that brings the length nearer."""
        marker = 1 if self.style["exp_mode"] == "bullets" and self.style["marker"].strip() else 0
        while self._estimate() > target * 1.04:
            jobs = [j for j in self.jobs if len(j.bullets) > 1]
            if not jobs:
                break
            job = max(jobs, key=lambda j: len(j.bullets))
            size = len(job.bullets[-1].split()) + marker
            if self._estimate() - size < target * 0.95:
                break
            job.bullets.pop()
            self.words -= size

    def _estimate(self) -> float:
        """Words so far, plus about two per section heading."""
        n = (
            2
            + (self.skills is not None)
            + (self.education is not None)
            + (self.certs is not None)
            + (self.langs is not None)
            + (self.closing is not None)
            + (self.contact_sec is not None)
            + (self.interests is not None)
            + bool(self.projects)
            + bool(self.side)
            + bool(self.services)
            + bool(self.cases)
        )
        return self.words + 2 * n

    def _actions(self, target: float, est: float) -> list[tuple[float, int, Any, Any]]:
        """The ways the resume can still grow: (weight, size in words, method, argument)."""
        acts: list[tuple[float, int, Any, Any]] = []
        add = acts.append
        small = target - est < 25
        jobs_full = True
        for j in self.jobs:
            nb = len(j.bullets)
            if nb < j.cap:
                add((6.0 / (1 + nb) + 0.8, 12, self.add_bullet, j))
            if nb < 3:
                jobs_full = False
        if len(self.jobs) < self.max_jobs and not small:
            add((3.5 if jobs_full else 1.2, 32, self.add_job, None))
        n_sum = 3 + (target > 900) + (target > 1400)
        if len(self.summary) < n_sum and self.room("summary.extra"):
            add((2.0 if len(self.summary) < 2 else 0.7, 16, self.add_summary_extra, None))
        if self.skills is None:
            add((4.0 if est > 60 else 0.6, 12, self.add_skills, None))
        if not small:
            if self.education is None and target > 140:
                add((2.5, 14, self.add_education, None))
            if self.proj_left and target > 120:
                add((3.0, 18, self.add_project, None))
            if self.langs is None and target > 200:
                add((1.5, 8, self.add_languages, None))
        if self.projects and self.room("projects.lines", 1.5):
            cap = 4 + (target > 1200)
            for p in self.projects:
                if len(p) < cap:
                    add((0.8, 9, self.add_project_line, p))
        core = bool(acts)
        # secondary sections: in longer resumes, or once the core ones are full
        if target > 450 or not core:
            more = 1.0 if core else 3.0
            once = self.chance_once
            if self.certs is None:
                if once("certs", 0.55) or not core:
                    add((1.0 * more, 8, self.add_cert, None))
            elif len(self.certs) < 6:
                add((0.6 * more, 8, self.add_cert, None))
            if (self.closing is None or len(self.closing) < 4 + (target > 1200)) and (
                self.room("howiwork")
            ):
                add((0.5 * more, 12, self.add_closing, None))
            if self.interests is None and (once("interests", 0.3) or not core):
                add((0.4, 6, self.add_interests, None))
            if (
                self.education is not None
                and self.edu_degree
                and len(self.education[0]) < 4
                and (self.room("education.details"))
            ):
                add((0.5 * more, 8, self.add_education_detail, None))
            if self.langs is not None and len(self.langs) < 4:
                add((0.3, 3, self.add_language, None))
            if (
                self.skills is not None
                and len(self.skill_notes) < min(8, len(self.techs))
                and (once("skill_notes", 0.3) or not core)
                and self.room("skill_notes")
            ):
                add((0.8 * more, 8, self.add_skill_note, None))
            if (
                len(self.services) < 6
                and (once("services", 0.3) or not core)
                and (self.room("services", 0.8))
            ):
                add((0.8 * more, 7, self.add_service, None))
            if once("cases", 0.25) or not core:
                open_case = None
                for c in self.cases:
                    if len(c) < 4:
                        open_case = c
                if open_case is not None:
                    add((3.0, 14, self.add_case_line, open_case))
                elif (
                    len(self.cases) < 6
                    and self.room("cases.titles")
                    and (self.room("cases.outcome"))
                ):
                    add((1.0 * more, 22, self.add_case, None))
            if once("side", 0.3) or not core:
                if len(self.side) < 8 and self.room("side_projects.titles", 0.7):
                    add((0.6 * more, 14, self.add_side, None))
                if self.side and self.room("side_projects.lines", 1.2):
                    for p in self.side:
                        if len(p) < 4:
                            add((0.3 * more, 8, self.add_side_line, p))
        return acts

    def room(self, path: str, factor: float = 1.0) -> bool:
        """Whether pool ``path`` has been used less than ``factor`` times its size."""
        return path not in self.spent and self.pool_count.get(path, 0) < factor * len(
            self._get(path)
        )

    def chance_once(self, key: str, p: float) -> bool:
        """A coin flipped once per resume (whether it has certifications, side projects...)."""
        v = self._once.get(key)
        if v is None:
            v = self._once[key] = self.chance(p)
        return v

    # ---------------------------------------------------------------- fillers

    def add_summary_extra(self) -> None:
        text = self.pick("summary.extra", strict=True)
        if text:
            self.add_summary(text, self._summary_pos())

    def add_skills(self) -> None:
        rng = self.rng
        k = rng.randint(6, 15)
        items = list(self.techs[:k])
        if len(items) < k:
            extra = [x for x in self._get("skills.extra") if x not in items]
            items += rng.sample(extra, min(len(extra), k - len(items)))
        lines: list[str] = []
        mode = self.style["skills_mode"]
        lab = self.d["skills"]["labels"]
        if mode == "bullets":
            if self.chance(0.5):
                lines = list(items)
            else:
                lines = [", ".join(items[i : i + 3]) for i in range(0, len(items), 3)]
            for ln in lines:
                self._count(ln, bullet=True)
            self.skills = ["\x00" + ln for ln in lines]
            return
        if mode == "grouped" and len(items) >= 6:
            cut = max(2, min(len(items) - 2, len(self.main)))
            colon = self.d["skills"].get("colon", ": ")
            lines = [
                f"{self.choice(lab['main'])}{colon}{', '.join(items[:cut])}",
                f"{self.choice(lab['other'])}{colon}{', '.join(items[cut:])}",
            ]
        else:
            sep = {"comma": ", ", "pipe": " | ", "dot": " · ", "grouped": ", "}[mode]
            lines = [sep.join(items)]
        for ln in lines:
            self._count(ln)
        self.skills = lines

    def add_education(self) -> None:
        e = self.d["education"]
        cy = self.f.career_start_year
        y2 = cy - (0 if self.chance(0.6) else 1)
        y2 = min(y2, self.ref.year)
        kind = self.choice(["degree", "degree", "degree", "degree", "school"])
        if kind == "degree":
            what = self.expand(self.choice(self._get("education.degrees")))
            y1 = y2 - self.choice([3, 4, 4, 5])
        else:
            what = self.expand(self.choice(self._get("education.courses")))
            y1 = y2 - self.choice([0, 0, 1])
        school = self.expand(self.choice(e["schools" if kind == "degree" else "academies"]))
        years = str(y2) if y1 == y2 else f"{y1}{self.choice(['–', ' – ', '-', ' - '])}{y2}"
        line = self.expand(self.style["edu_line"], {"what": what, "school": school, "years": years})
        self.education = [[line]]
        self.edu_degree = kind == "degree"
        self._count(line)
        if self.chance(0.35) and kind == "degree" and self.target > 700:
            # a second entry (an earlier degree or a course)
            what2 = self.expand(self.choice(self._get("education.courses")))
            yy = str(self.rng.randint(max(y1, cy - 1), max(y1, self.ref.year)))
            line2 = self.expand(
                self.style["edu_line"],
                {"what": what2, "school": self.expand(self.choice(e["academies"])), "years": yy},
            )
            self.education.append([line2])
            self._count(line2)

    def add_education_detail(self) -> None:
        assert self.education is not None
        text = self.pick("education.details", strict=True)
        if not text:
            return
        self.education[0].append("\x00" + text)
        self._count(text, bullet=True)

    def add_languages(self) -> None:
        ld = self.d["languages"]
        names: dict[str, str] = ld["names"]
        codes = list(names)
        own = self.L.code
        if own == "en":
            native = self.choice(codes) if self.chance(0.6) else "en"
        else:
            native = own if self.chance(0.75) else self.choice(codes)
        self.lang_codes: list[str] = []
        self.langs = []
        self._lang_line(native, "native")
        if native != "en":
            self._lang_line("en", self.choice(["c2", "c1", "c1", "b2", "b2"]))
        elif own != "en":
            self._lang_line(own, self.choice(["c2", "c1", "c1"]))
        if self.chance(0.4):
            self.add_language()

    def add_language(self) -> None:
        assert self.langs is not None
        codes = [c for c in self.d["languages"]["names"] if c not in self.lang_codes]
        if codes:
            c = self.choice(codes)
            self._lang_line(c, self.choice(["c1", "b2", "b1", "b1", "a2"]))

    def _lang_line(self, code: str, level: str) -> None:
        ld = self.d["languages"]
        line = self.expand(
            self.style["lang_line"],
            {"lang": ld["names"][code], "level": self.choice(ld["levels"][level])},
        )
        if code not in self.lang_codes:
            self.lang_codes.append(code)
        assert self.langs is not None
        self.langs.append(line)
        self._count(line, bullet=True)

    def add_cert(self) -> None:
        if self.certs is None:
            self.certs = []
        taken = getattr(self, "_certs_taken", [])
        self._certs_taken = taken
        pool = self._dom(self.L.common["certs"]) + self.L.common["certs"]["general"]
        cert = self._distinct(pool, taken)
        if cert in taken:
            cert = self.expand(self.choice(self._get("education.courses")))
            if any(cert in c for c in self.certs):
                self.certs.append("\x01")
                return
        taken.append(cert)
        lo = max(self.f.career_start_year - 1, self.ref.year - 12)
        year = self.rng.randint(min(lo, self.ref.year), self.ref.year)
        line = self.expand(self.style["cert_line"], {"cert": cert, "year": str(year)})
        self.certs.append(line)
        self._count(line, bullet=True)

    def add_project(self) -> None:
        title, year = self.proj_left.pop(0)
        head = self.expand(self.style["proj_line"], {"title": title, "year": str(year)})
        self._count(head)
        p = [head]
        self.projects.append(p)
        self.add_project_line(p)

    def add_project_line(self, p: list[str]) -> None:
        self._add_line(p, "projects.lines")

    def _add_line(self, p: list[str], key: str) -> None:
        text = self.pick(key, strict=True)
        if not text:
            return
        p.append("\x00" + text)
        self._count(text, bullet=True)

    def add_side(self) -> None:
        head = self.pick("side_projects.titles", strict=True)
        if not head:
            return
        self._count(head)
        p = [head]
        self.side.append(p)
        self.add_side_line(p)

    def add_side_line(self, p: list[str]) -> None:
        self._add_line(p, "side_projects.lines")

    def add_skill_note(self) -> None:
        tech = self.techs[len(self.skill_notes)]
        text = self.pick("skill_notes", {"tech": tech}, strict=True) or f"{tech}"
        self.skill_notes.append(text)
        self._count(text, bullet=True)

    def add_service(self) -> None:
        text = self.pick("services", strict=True)
        if not text:
            return
        self.services.append(text)
        self._count(text, bullet=True)

    def add_case(self) -> None:
        head = self.pick("cases.titles", strict=True)
        if not head:
            return
        self._count(head)
        self.cases.append([head])
        self.add_case_line(self.cases[-1])

    def add_case_line(self, c: list[str]) -> None:
        part = ("challenge", "approach", "outcome")[len(c) - 1]
        text = self.pick("cases." + part)
        c.append(text)
        self._count(text)

    def add_closing(self) -> None:
        if self.closing is None:
            self.closing = []
        text = self.pick("howiwork", strict=True)
        if not text:
            return
        self.closing.append(text)
        self._count(text)

    def add_interests(self) -> None:
        items = self.rng.sample(self.d["interests"]["items"], self.rng.randint(2, 4))
        line = self.expand(self.choice(self.d["interests"]["lines"]), {"list": ", ".join(items)})
        self.interests = [line]
        self._count(line)

    # ---------------------------------------------------------------- assembly

    def _heading(self, key: str) -> str:
        h = self.choice(self.d["headings"][key])
        st = self.style["heading"]
        if st == "caps":
            return h.upper()
        if st == "colon":
            return h + ":"
        if st == "caps_colon":
            return h.upper() + ":"
        if st == "md":
            return "## " + h
        if st == "bracket":
            return f"[ {h.upper()} ]"
        if st == "underline":
            return h + "\n" + self.choice(["-", "=", "~"]) * len(h)
        return h

    def _bul(self, text: str) -> str:
        if self.style["period"] and text[-1:].isalnum():
            text += "."
        return self.style["marker"] + text

    def _item(self, text: str) -> str:
        return self._bul(text[1:]) if text.startswith("\x00") else text

    def _assemble(self) -> str:
        rng = self.rng
        st = self.style
        self._timeline()
        # scatter the claim bullets over the jobs
        for c in self.claims:
            j = (
                self.jobs[0]
                if (len(self.jobs) == 1 or self.chance(0.45))
                else self.choice(self.jobs)
            )
            j.bullets.insert(rng.randint(0, len(j.bullets)), c)

        blocks: dict[str, list[str]] = {}

        # summary
        sm = st["summary_mode"]
        lines: list[str] = []
        if sm == "bullets" and len(self.summary) > 1:
            lines.append(self.summary[0])
            lines += [self._bul(x) for x in self.summary[1:]]
        elif sm == "split" and len(self.summary) > 3:
            cut = len(self.summary) // 2
            lines += [" ".join(self.summary[:cut]), "", " ".join(self.summary[cut:])]
        else:
            lines.append(" ".join(self.summary))
        if self.highlights:
            lines.append("")
            lines += [self._bul(x) for x in self.highlights]
        kw = getattr(self, "kw_text", None)
        kw_where = getattr(self, "kw_where", None)
        if kw and kw_where == "summary":
            lines += ["", kw]
        blocks["summary"] = lines

        # experience
        lines = []
        for i, job in enumerate(self.jobs):
            if i:
                lines.append("")
            lines.append(self._job_line(job, job.title, job.dates))
            if st["exp_mode"] == "para":
                sents = [b if b[-1:] in ".!?" else b + "." for b in job.bullets]
                lines.append(" ".join(([job.intro] if job.intro else []) + sents))
            else:
                if job.intro:
                    lines.append(job.intro)
                lines += [self._bul(b) for b in job.bullets]
        blocks["experience"] = lines

        if self.skills is not None or (kw and kw_where == "skills"):
            lines = [self._item(x) for x in (self.skills or [])]
            if kw and kw_where == "skills":
                lines += ["", kw] if lines else [kw]
            blocks["skills"] = lines
        if self.skill_notes:
            notes = [self._bul(x) for x in self.skill_notes]
            if "skills" in blocks:
                blocks["skills"] += [""] + notes
            else:
                blocks["skills"] = notes
        if self.services:
            blocks["services"] = [self._bul(x) for x in self.services]
        if self.cases:
            blocks["cases"] = _separated(self.cases)
        if self.projects:
            blocks["projects"] = _separated([[self._item(x) for x in p] for p in self.projects])
        if self.side:
            blocks["side_projects"] = _separated([[self._item(x) for x in p] for p in self.side])
        if self.education:
            lines = []
            for e in self.education:
                lines += [self._item(x) for x in e]
            blocks["education"] = lines
        if self.certs:
            blocks["certifications"] = [self._bul(x) for x in self.certs if x != "\x01"]
        if self.langs:
            if self.chance(0.5):
                blocks["languages"] = [self._bul(x) for x in self.langs]
            else:
                blocks["languages"] = [self.choice([", ", " · ", " | ", "; "]).join(self.langs)]
        if self.interests:
            blocks["interests"] = list(self.interests)
        if self.closing:
            if self.chance(0.3) and len(self.closing) > 1:
                blocks["howiwork"] = [
                    self._bul(x.rstrip(".")) if st["period"] is False else self._bul(x)
                    for x in self.closing
                ]
            else:
                blocks["howiwork"] = [" ".join(self.closing)]
        if kw and kw_where == "section":
            blocks["keywords"] = [kw]
        end_lines = list(self.contact_sec or [])
        if kw and kw_where == "end":
            end_lines.append(kw)
        if end_lines:
            blocks["contact"] = end_lines

        # order
        order = ["summary"]
        mid = ["experience"]
        if st["projects_first"]:
            mid.insert(0, "projects")
        else:
            mid.append("projects")
        if st["skills_first"]:
            order.append("skills")
            order += mid
        else:
            order += mid
            order.append("skills")
        tail = ["cases", "side_projects", "education", "certifications", "languages"]
        if self.chance(0.3):
            tail = ["education", "certifications", "cases", "side_projects", "languages"]
        if self.chance(0.5):
            order.insert(1, "services")
        else:
            tail.insert(0, "services")
        order += tail + ["interests", "howiwork", "keywords", "contact"]
        if self.chance(0.25):  # "How I work" right after the summary
            order.remove("howiwork")
            order.insert(1, "howiwork")

        out: list[str] = list(self.header)
        if self.top_notes:
            out += [""] + self.top_notes
        for key in order:
            blk = blocks.get(key)
            if not blk:
                continue
            if key == "contact" and not self.contact_sec and self.chance(0.5):
                out += [""] + blk  # a trailing line without a heading
                continue
            out.append("")
            out.append(self._heading(key))
            out += blk
        text = "\n".join(out).strip() + "\n"
        text = re.sub(r"\n{3,}", "\n\n", text)
        if len(text) > MAX_CHARS:
            cut = text.rfind("\n", 0, MAX_CHARS - 1)
            text = text[: cut if cut > 0 else MAX_CHARS - 1] + "\n"
        return text


# --------------------------------------------------------------------------------------------
# Computed slots
# --------------------------------------------------------------------------------------------


def _tech(r: _Renderer, idx: str, cache: dict[str, Any]) -> str:
    seq = r.main if (r.rng.random() < 0.65 or len(r.techs) <= len(r.main)) else r.techs
    return r._raw("tech", idx, cache, seq)


def _thing(form: int):
    def f(r: _Renderer, idx: str, cache: dict[str, Any]) -> str:
        return r.thing_forms(r._raw("thing", idx, cache, r.things))[form]

    return f


def _metric(r: _Renderer, idx: str, cache: dict[str, Any]) -> str:
    return r.metric_form(r._raw("metric", idx, cache, r.metrics))


def _years(key: str):
    def f(r: _Renderer, _idx: str, _cache: dict[str, Any]) -> str:
        y = r.f.stated_years
        if y is None:
            return ""
        forms = r.d["years_forms"].get(key) or r.d["years_forms"]["years"]
        one = abs(y - 1) < 1e-9
        return forms[0 if one else 1].replace("{n}", r.fnum(round(y * 2) / 2 if y >= 1 else y))

    return f


def _rint(a: int, b: int, fmt: str = "int"):
    def f(r: _Renderer, _idx: str, _cache: dict[str, Any]) -> str:
        n = r.rng.randint(a, b)
        if fmt == "pct":
            return r.fpct(n)
        if fmt == "money":
            return r.fmoney(n)
        return r.fint(n)

    return f


def _rchoice(values: list[int], fmt: str = "int"):
    def f(r: _Renderer, _idx: str, _cache: dict[str, Any]) -> str:
        n = r.choice(values)
        if fmt == "pct":
            return r.fpct(n)
        if fmt == "money":
            return r.fmoney(n)
        return r.fint(n)

    return f


def _round_int(a: int, b: int, step: int, fmt: str = "int"):
    def f(r: _Renderer, _idx: str, _cache: dict[str, Any]) -> str:
        n = r.rng.randint(a // step, b // step) * step
        return r.fmoney(n) if fmt == "money" else r.fint(n)

    return f


def _level_word(r: _Renderer, _idx: str, _cache: dict[str, Any]) -> str:
    return r.choice(r.d["level_words"][r.level])


def _reach(r: _Renderer, _idx: str, _cache: dict[str, Any]) -> str:
    pre = {"email": r.email(), "phone": r.phone(), "handle": r.f.handle}
    return r.expand(r.choice(r.d["contact"]["reach"]), pre)


def _a_role(with_level: bool):
    def f(r: _Renderer, _idx: str, _cache: dict[str, Any]) -> str:
        s = r.role
        if with_level:
            lw = r.choice(r.d["level_words"][r.level])
            s = f"{lw} {s}" if lw else s
        return _article_en(s) if r.L.code == "en" else s

    return f


def _const(attr: str):
    def f(r: _Renderer, _idx: str, _cache: dict[str, Any]) -> str:
        return getattr(r, attr)

    return f


def _fact(attr: str):
    def f(r: _Renderer, _idx: str, _cache: dict[str, Any]) -> str:
        return str(getattr(r.f, attr))

    return f


def _main_stack(r: _Renderer, _idx: str, _cache: dict[str, Any]) -> str:
    m = r.main[: r.rng.randint(2, max(2, len(r.main)))]
    if len(m) == 1:
        return m[0]
    return ", ".join(m[:-1]) + r.d["and"] + m[-1]


_SLOTS: dict[str, Any] = {
    "tech": _tech,
    "thing": _thing(0),
    "things": _thing(1),
    "a_thing": _thing(2),
    "metric": _metric,
    "stack": _main_stack,
    "role": _const("role"),
    "Role": _const("Role"),
    "a_role": _a_role(False),
    "a_level_role": _a_role(True),
    "name": _fact("name"),
    "city": _fact("city"),
    "handle": _fact("handle"),
    "level": _level_word,
    "years": _years("years"),
    "years_b": _years("years_b"),
    "email": lambda r, _i, _c: r.email(),
    "phone": lambda r, _i, _c: r.phone(),
    "reach": _reach,
    # plausible numbers
    "pct": _rint(9, 58, "pct"),
    "pct_small": _rint(3, 18, "pct"),
    "cov_lo": _rint(18, 52, "pct"),
    "cov_hi": _rint(72, 94, "pct"),
    "n_small": _rint(2, 9),
    "n": _rint(6, 45),
    "n_big": _round_int(120, 4800, 10),
    "users": _round_int(2000, 450000, 500),
    "ms_hi": _round_int(420, 1900, 10),
    "ms_lo": _round_int(60, 380, 10),
    "min_hi": _rint(18, 55),
    "min_lo": _rint(3, 12),
    "months": _rint(2, 14),
    "weeks": _rint(2, 10),
    "money": _round_int(4000, 240000, 500, "money"),
    "money_small": _round_int(300, 3000, 100, "money"),
    "disc": _rchoice([5, 10, 10, 15, 20, 20, 25, 30], "pct"),
    # impossible numbers
    "huge_pct": _rchoice(
        [700, 900, 1200, 1500, 2500, 3000, 5000, 9000, 10000, 25000, 40000], "pct"
    ),
    "huge_n": _rchoice([400, 650, 800, 1200, 2000, 3500, 5000, 10000]),
    "billions": _rchoice([1, 2, 3, 4, 5, 8, 12, 40]),
    "millions": _rchoice([20, 40, 75, 120, 300, 500]),
    "money_huge": _rchoice([50_000_000, 120_000_000, 400_000_000, 900_000_000], "money"),
    "days": _rchoice([1, 2, 3, 5, 7, 10]),
    "over_pct": _rchoice([101, 110, 120, 150, 200, 300], "pct"),
    "roi": _rchoice([300, 500, 800, 1000, 2000], "pct"),
}
