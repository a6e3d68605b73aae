"""Rules applied after the model: allow and block lists, and flag- or score-driven bands.

A YAML file configures them (see ``trustq/data/default_rules.yaml``)::

    allow_external_ids: [fl-000123]      # forced LOW
    block_external_ids: [fl-000666]      # forced HIGH; beats the allow list
    rules:
      - name: newcomers-need-evidence-for-high
        when: {history: none}                     # or a list: [none, short]
        then: {max_risk: MEDIUM}
      - name: off-platform-payment-high
        when: {flag: off_platform_request, min_severity: high}
        then: {min_risk: HIGH}
      - name: independent-evidence-high
        when: {high_flag_families: 2}             # high flags of two unrelated kinds
        then: {min_risk: HIGH}
      - name: near-certain-risk
        when: {p_risk_above: 0.9}                 # or {notice: language}, {notice: any}
        then: {force_risk: HIGH}

Rules run in file order, each on the level the previous ones left: ``min_risk`` only
raises the level, ``max_risk`` only lowers it, ``force_risk`` sets it. Every rule whose
condition holds is returned as a :class:`RuleHit`, so a verdict shows what changed its
band and why.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from trustq.rules.flags import FLAG_CODES, FLAG_FAMILIES, Flag, RiskLevel, Severity

RISK_LEVELS: tuple[str, ...] = tuple(level.value for level in RiskLevel)
_RISK_RANK = {level.value: level.rank for level in RiskLevel}
_TOP_KEYS = ("allow_external_ids", "block_external_ids", "rules")
_RULE_KEYS = ("name", "when", "then")
_WHEN_KEYS = ("flag", "min_severity", "p_risk_above", "history", "notice", "high_flag_families")
_THEN_KEYS = ("min_risk", "max_risk", "force_risk")
HISTORY_STATES = ("none", "short", "full")
NOTICE_KINDS = ("length", "language", "not_prose")
DEFAULT_RULES_NAME = "default_rules.yaml"


@dataclass(frozen=True)
class RuleHit:
    name: str
    action: str  # "block", "allow", "min_risk", "max_risk" or "force_risk"
    detail: str


@dataclass(frozen=True)
class Facts:
    """What a rule's condition can look at."""

    p_risk: float
    flags: tuple[Flag, ...] = ()
    history: str = "full"
    notices: frozenset[str] = frozenset()  # the kinds of the verdict's notices


@dataclass(frozen=True)
class Condition:
    """All given parts must hold; at least one part is given."""

    flag: str | None = None
    min_severity: Severity | None = None
    p_risk_above: float | None = None
    history: frozenset[str] | None = None
    notice: str | None = None  # a kind, or "any"
    high_flag_families: int | None = None

    def explain(self, facts: Facts) -> str | None:
        """Why the condition holds, or None when it does not."""
        reasons = []
        if self.flag is not None:
            floor = self.min_severity.rank if self.min_severity else 0
            worst = max(
                (Severity(f.severity) for f in facts.flags if f.code == self.flag),
                key=lambda s: s.rank,
                default=None,
            )
            if worst is None or worst.rank < floor:
                return None
            reasons.append(f"flag {self.flag} ({worst})")
        if self.p_risk_above is not None:
            if not facts.p_risk > self.p_risk_above:
                return None
            reasons.append(f"p_risk {facts.p_risk:.3f} > {self.p_risk_above:g}")
        if self.history is not None:
            if facts.history not in self.history:
                return None
            reasons.append(f"history {facts.history}")
        if self.notice is not None:
            kinds = facts.notices if self.notice == "any" else facts.notices & {self.notice}
            if not kinds:
                return None
            reasons.append("input notice " + ", ".join(sorted(kinds)))
        if self.high_flag_families is not None:
            families = high_flag_families(facts.flags)
            if len(families) < self.high_flag_families:
                return None
            codes = ", ".join(families.values())
            reasons.append(f"high flags of {len(families)} unrelated kinds ({codes})")
        return " and ".join(reasons)


def high_flag_families(flags: Iterable[Flag]) -> dict[str, str]:
    """The families with a high-severity flag, each with its first such flag's code."""
    out: dict[str, str] = {}
    for flag in flags:
        if Severity(flag.severity) == Severity.high:
            out.setdefault(FLAG_FAMILIES.get(flag.code, flag.code), flag.code)
    return out


@dataclass(frozen=True)
class Rule:
    name: str
    when: Condition
    action: str  # "min_risk", "max_risk" or "force_risk"
    level: str


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    allow_external_ids: frozenset[str] = field(default_factory=frozenset)
    block_external_ids: frozenset[str] = field(default_factory=frozenset)
    source: str = "(no rules)"

    @classmethod
    def load(cls, path: Path | None = None) -> RuleSet:
        """Read a rules file; ``None`` reads the packaged default.

        Raises ValueError naming the file, the rule and the key for anything malformed.
        """
        import yaml  # only needed here; scoring itself does not parse YAML

        if path is None:
            resource = resources.files("trustq") / "data" / DEFAULT_RULES_NAME
            source, text = (
                f"trustq/data/{DEFAULT_RULES_NAME} (packaged)",
                resource.read_text(encoding="utf-8"),
            )
        else:
            source = str(path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"{source}: cannot read the rules file: {exc}") from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{source}: not valid YAML: {exc}") from exc
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "(mapping)") -> RuleSet:
        """Build and check a rule set from already-parsed YAML (``None`` means no rules)."""
        if data is None:
            return cls(source=source)
        if not isinstance(data, Mapping):
            raise ValueError(
                f"{source}: the top level must be a mapping with keys {', '.join(_TOP_KEYS)}"
            )
        _no_unknown_keys(data, _TOP_KEYS, f"{source}: top level")
        allow = _id_list(data.get("allow_external_ids"), f"{source}: allow_external_ids")
        block = _id_list(data.get("block_external_ids"), f"{source}: block_external_ids")
        raw_rules = data.get("rules")
        if raw_rules is None:
            raw_rules = []
        if not isinstance(raw_rules, list):
            raise ValueError(f"{source}: rules must be a list of rules")
        rules: list[Rule] = []
        seen: set[str] = set()
        for i, raw in enumerate(raw_rules):
            rule = _parse_rule(raw, source, i)
            if rule.name in seen:
                raise ValueError(f"{source}: rule {rule.name!r} (rules[{i}]): duplicate name")
            seen.add(rule.name)
            rules.append(rule)
        return cls(tuple(rules), frozenset(allow), frozenset(block), source)


def _no_unknown_keys(data: Mapping[Any, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise ValueError(f"{where}: unknown key {key!r}; allowed: {', '.join(allowed)}")


def _id_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where}: must be a list of external ids")
    for item in value:
        if not isinstance(item, str) or not item:
            # YAML reads 12345 as a number; an id must be quoted to stay the same string.
            raise ValueError(f"{where}: {item!r} is not a non-empty string (quote it in YAML)")
    return value


def _risk_level(value: Any, where: str) -> str:
    level = value.upper() if isinstance(value, str) else None
    if level not in _RISK_RANK:
        raise ValueError(f"{where}: unknown risk level {value!r}; use {', '.join(RISK_LEVELS)}")
    return level


def _parse_rule(raw: Any, source: str, index: int) -> Rule:
    where = f"{source}: rules[{index}]"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: a rule must be a mapping with keys {', '.join(_RULE_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: key 'name' must be a non-empty string")
    where = f"{source}: rule {name!r} (rules[{index}])"
    _no_unknown_keys(raw, _RULE_KEYS, where)

    when = raw.get("when")
    if not isinstance(when, Mapping) or not when:
        raise ValueError(
            f"{where}: key 'when' must be a mapping with at least one of {', '.join(_WHEN_KEYS)}"
        )
    _no_unknown_keys(when, _WHEN_KEYS, f"{where}: when")
    flag = when.get("flag")
    if flag is not None and flag not in FLAG_CODES:
        raise ValueError(
            f"{where}: when.flag: unknown flag code {flag!r}; known: {', '.join(FLAG_CODES)}"
        )
    min_severity = None
    if "min_severity" in when:
        if flag is None:
            raise ValueError(f"{where}: when.min_severity needs when.flag")
        raw_severity = when["min_severity"]
        try:
            min_severity = Severity(str(raw_severity).lower())
        except ValueError:
            raise ValueError(
                f"{where}: when.min_severity: unknown severity {raw_severity!r}; "
                f"use {', '.join(s.value for s in Severity)}"
            ) from None
    p_above = when.get("p_risk_above")
    if p_above is not None and (
        isinstance(p_above, bool)
        or not isinstance(p_above, int | float)
        or not math.isfinite(p_above)
        or not 0 <= p_above < 1
    ):
        raise ValueError(f"{where}: when.p_risk_above must be a number in [0, 1), got {p_above!r}")
    history = when.get("history")
    if history is not None:
        states = [history] if isinstance(history, str) else history
        if (
            not isinstance(states, list)
            or not states
            or any(h not in HISTORY_STATES for h in states)
        ):
            raise ValueError(
                f"{where}: when.history must be one of {', '.join(HISTORY_STATES)} or a list of "
                f"them, got {history!r}"
            )
        history = frozenset(states)
    notice = when.get("notice")
    if notice is not None and notice not in (*NOTICE_KINDS, "any"):
        raise ValueError(
            f"{where}: when.notice must be one of {', '.join(NOTICE_KINDS)} or any, got {notice!r}"
        )
    families = when.get("high_flag_families")
    if families is not None and (
        isinstance(families, bool) or not isinstance(families, int) or families < 1
    ):
        raise ValueError(f"{where}: when.high_flag_families must be a whole number >= 1")
    if flag is None and p_above is None and history is None and notice is None and not families:
        raise ValueError(f"{where}: key 'when' needs at least one of {', '.join(_WHEN_KEYS)}")

    then = raw.get("then")
    if not isinstance(then, Mapping):
        raise ValueError(
            f"{where}: key 'then' must be a mapping with min_risk, max_risk or force_risk"
        )
    _no_unknown_keys(then, _THEN_KEYS, f"{where}: then")
    if len(then) != 1:
        raise ValueError(f"{where}: key 'then' needs exactly one of {', '.join(_THEN_KEYS)}")
    ((action, value),) = then.items()
    level = _risk_level(value, f"{where}: then.{action}")
    condition = Condition(
        flag=flag,
        min_severity=min_severity,
        p_risk_above=None if p_above is None else float(p_above),
        history=history,
        notice=notice,
        high_flag_families=families,
    )
    return Rule(name=name, when=condition, action=action, level=level)


def apply_rules(
    rules: RuleSet, *, external_id: str, risk_level: str, facts: Facts
) -> tuple[str, list[RuleHit]]:
    """The final risk level and the hits that led to it, in the order they applied.

    The block list decides first (HIGH), then the allow list (LOW); either one ends the
    evaluation. Otherwise every rule runs in order on the level so far.
    """
    level = _risk_level(risk_level, "risk_level")
    if external_id in rules.block_external_ids:
        return RiskLevel.HIGH.value, [
            RuleHit(
                "block_external_ids", "block", f"external id on the block list; {level} -> HIGH"
            )
        ]
    if external_id in rules.allow_external_ids:
        return RiskLevel.LOW.value, [
            RuleHit("allow_external_ids", "allow", f"external id on the allow list; {level} -> LOW")
        ]
    hits = []
    for rule in rules.rules:
        why = rule.when.explain(facts)
        if why is None:
            continue
        before = level
        rank, target = _RISK_RANK[level], _RISK_RANK[rule.level]
        if (
            rule.action == "force_risk"
            or (rule.action == "min_risk" and target > rank)
            or (rule.action == "max_risk" and target < rank)
        ):
            level = rule.level
        outcome = f"{before} -> {level}" if level != before else f"stays {level}"
        hits.append(
            RuleHit(rule.name, rule.action, f"{why}; {rule.action} {rule.level}: {outcome}")
        )
    return level, hits
