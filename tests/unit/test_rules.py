"""Rules after the model: parsing with clear errors, lists, and how bands move."""

from __future__ import annotations

from pathlib import Path

import pytest

from trustq.rules.flags import FLAG_CODES, Flag, Severity
from trustq.rules.ruleset import Facts, RuleHit, RuleSet, apply_rules


def flag(code: str, severity: Severity = Severity.medium) -> Flag:
    return Flag(code, severity, f"{code}.", {})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def apply(
    rules: RuleSet,
    level: str = "LOW",
    p: float = 0.1,
    flags: list[Flag] | None = None,
    external_id: str = "fl-1",
    history: str = "full",
    notices: frozenset[str] = frozenset(),
) -> tuple[str, list[RuleHit]]:
    facts = Facts(p_risk=p, flags=tuple(flags or []), history=history, notices=notices)
    return apply_rules(rules, external_id=external_id, risk_level=level, facts=facts)


# --- The packaged default --------------------------------------------------------------


def test_the_packaged_default_loads_and_names_known_flags() -> None:
    rules = RuleSet.load(None)
    assert rules.rules
    assert "packaged" in rules.source
    names = [r.name for r in rules.rules]
    assert "off-platform-payment-is-high" in names
    assert all(r.when.flag is None or r.when.flag in FLAG_CODES for r in rules.rules)
    assert rules.allow_external_ids == frozenset() == rules.block_external_ids
    assert RuleSet.load() == rules


def test_the_default_raises_an_off_platform_contact_request_to_medium() -> None:
    level, hits = apply(RuleSet.load(None), flags=[flag("off_platform_request")])
    assert level == "MEDIUM"
    assert [(h.name, h.action) for h in hits] == [
        ("off-platform-contact-at-least-medium", "min_risk")
    ]
    assert "off_platform_request (medium)" in hits[0].detail
    assert "LOW -> MEDIUM" in hits[0].detail


def test_the_default_makes_an_off_platform_payment_request_high() -> None:
    payment = flag("off_platform_request", Severity.high)
    level, hits = apply(RuleSet.load(None), flags=[payment], history="none")
    assert level == "HIGH"
    hit = next(h for h in hits if h.name == "off-platform-payment-is-high")
    assert "LOW -> HIGH" in hit.detail


def test_two_high_flags_of_unrelated_kinds_are_high_and_related_ones_are_not() -> None:
    rules = RuleSet.load(None)
    unrelated = [
        flag("overlapping_timelines", Severity.high),
        flag("perfect_ratings_with_disputes", Severity.high),
    ]
    level, hits = apply(rules, flags=unrelated)
    assert level == "HIGH"
    hit = next(h for h in hits if h.name == "independent-evidence-is-high")
    assert "overlapping_timelines" in hit.detail and "perfect_ratings_with_disputes" in hit.detail
    # Two link flags read the same evidence: one family, not two signs.
    related = [flag("link_wrong_site", Severity.high), flag("link_malformed", Severity.high)]
    level, _ = apply(rules, flags=related)
    assert level != "HIGH"


def test_a_newcomer_is_not_high_on_the_model_alone() -> None:
    rules = RuleSet.load(None)
    level, hits = apply(rules, level="HIGH", p=0.7, history="none")
    assert level == "MEDIUM"
    assert hits[0].name == "newcomers-need-evidence-for-high"
    # With a flag that says why, it is HIGH again.
    payment = flag("off_platform_request", Severity.high)
    assert apply(rules, level="HIGH", p=0.7, history="none", flags=[payment])[0] == "HIGH"
    # A full history's HIGH stands: its projects are the evidence.
    assert apply(rules, level="HIGH", p=0.7, history="full")[0] == "HIGH"


def test_input_the_model_cannot_read_is_reviewed() -> None:
    rules = RuleSet.load(None)
    for level in ("LOW", "HIGH"):
        got, hits = apply(rules, level=level, notices=frozenset({"language"}))
        assert got == "MEDIUM" and hits[0].name == "unreadable-input-is-reviewed"


def test_the_default_leaves_a_clean_profile_alone() -> None:
    assert apply(RuleSet.load(None), level="LOW", flags=[flag("guarantee_language")]) == (
        "LOW",
        [],
    )


# --- Parsing ---------------------------------------------------------------------------

GOOD = """
allow_external_ids: ["fl-good"]
block_external_ids: ["fl-bad", "fl-both"]
rules:
  - name: force-high-when-the-model-is-sure
    when: {p_risk_above: 0.9}
    then: {force_risk: HIGH}
  - name: stuffing-at-least-medium
    when: {flag: keyword_stuffing, min_severity: high}
    then: {min_risk: medium}
"""


def test_a_file_parses_into_rules(tmp_path: Path) -> None:
    rules = RuleSet.load(write(tmp_path, GOOD))
    assert [r.name for r in rules.rules] == [
        "force-high-when-the-model-is-sure",
        "stuffing-at-least-medium",
    ]
    first, second = rules.rules
    assert (first.action, first.level, first.when.p_risk_above) == ("force_risk", "HIGH", 0.9)
    assert (second.action, second.level) == ("min_risk", "MEDIUM")  # case folded
    assert second.when.min_severity == Severity.high
    assert rules.allow_external_ids == {"fl-good"}
    assert rules.block_external_ids == {"fl-bad", "fl-both"}
    assert rules.source == str(tmp_path / "rules.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: [}", "not valid YAML"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("rule: []\n", "top level: unknown key 'rule'"),
        ("rules: {name: x}\n", "rules must be a list"),
        ("allow_external_ids: fl-1\n", "allow_external_ids: must be a list"),
        ("block_external_ids: [12345]\n", "block_external_ids: 12345 is not a non-empty string"),
        ("rules: [just-a-name]\n", "rules[0]: a rule must be a mapping"),
        (
            "rules:\n  - when: {flag: off_platform_request}\n    then: {min_risk: HIGH}\n",
            "rules[0]: key 'name' must be a non-empty string",
        ),
        (
            "rules:\n  - name: r1\n    when: {flag: off_platform_request}\n"
            "    then: {min_risk: HIGH}\n    priority: 3\n",
            "rule 'r1' (rules[0]): unknown key 'priority'",
        ),
        (
            "rules:\n  - name: r1\n    when: {flag: no_such_flag}\n    then: {min_risk: HIGH}\n",
            "rule 'r1' (rules[0]): when.flag: unknown flag code 'no_such_flag'",
        ),
        (
            "rules:\n  - name: r1\n    when: {flags: off_platform_request}\n"
            "    then: {min_risk: HIGH}\n",
            "rule 'r1' (rules[0]): when: unknown key 'flags'",
        ),
        (
            "rules:\n  - name: r1\n    when: {}\n    then: {min_risk: HIGH}\n",
            "rule 'r1' (rules[0]): key 'when' must be a mapping with at least one of",
        ),
        (
            "rules:\n  - name: r1\n    when: {min_severity: high}\n    then: {min_risk: HIGH}\n",
            "rule 'r1' (rules[0]): when.min_severity needs when.flag",
        ),
        (
            "rules:\n  - name: r1\n    when: {flag: off_platform_request, min_severity: severe}\n"
            "    then: {min_risk: HIGH}\n",
            "rule 'r1' (rules[0]): when.min_severity: unknown severity 'severe'",
        ),
        (
            "rules:\n  - name: r1\n    when: {p_risk_above: 1.5}\n    then: {min_risk: HIGH}\n",
            "rule 'r1' (rules[0]): when.p_risk_above must be a number in [0, 1)",
        ),
        (
            "rules:\n  - name: r1\n    when: {p_risk_above: yes}\n    then: {min_risk: HIGH}\n",
            "when.p_risk_above must be a number",
        ),
        (
            "rules:\n  - name: r1\n    when: {flag: off_platform_request}\n"
            "    then: {min_risk: CRITICAL}\n",
            "rule 'r1' (rules[0]): then.min_risk: unknown risk level 'CRITICAL'",
        ),
        (
            "rules:\n  - name: r1\n    when: {flag: off_platform_request}\n"
            "    then: {raise_to: HIGH}\n",
            "rule 'r1' (rules[0]): then: unknown key 'raise_to'",
        ),
        (
            "rules:\n  - name: r1\n    when: {flag: off_platform_request}\n"
            "    then: {min_risk: HIGH, force_risk: LOW}\n",
            "rule 'r1' (rules[0]): key 'then' needs exactly one of",
        ),
        (
            "rules:\n  - name: r1\n    when: {flag: off_platform_request}\n",
            "rule 'r1' (rules[0]): key 'then' must be a mapping",
        ),
        (
            "rules:\n  - name: r1\n    when: {flag: off_platform_request}\n"
            "    then: {min_risk: HIGH}\n"
            "  - name: r1\n    when: {flag: guarantee_language}\n    then: {min_risk: HIGH}\n",
            "rule 'r1' (rules[1]): duplicate name",
        ),
    ],
)
def test_malformed_files_name_the_file_rule_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        RuleSet.load(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert expected in message


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the rules file"):
        RuleSet.load(tmp_path / "nope.yaml")


def test_an_empty_file_means_no_rules(tmp_path: Path) -> None:
    rules = RuleSet.load(write(tmp_path, "# nothing yet\n"))
    assert rules.rules == ()
    assert apply(rules, level="MEDIUM") == ("MEDIUM", [])


# --- Applying --------------------------------------------------------------------------


def test_a_rule_can_force_a_band(tmp_path: Path) -> None:
    rules = RuleSet.load(write(tmp_path, GOOD))
    level, hits = apply(rules, level="LOW", p=0.95)
    assert level == "HIGH"
    assert hits == [
        RuleHit(
            "force-high-when-the-model-is-sure",
            "force_risk",
            "p_risk 0.950 > 0.9; force_risk HIGH: LOW -> HIGH",
        )
    ]
    # "above" is strict.
    assert apply(rules, level="LOW", p=0.9) == ("LOW", [])


def test_force_can_lower_and_min_only_raises() -> None:
    when = {"flag": "guarantee_language"}
    force_low = {"name": "trusted-band", "when": when, "then": {"force_risk": "LOW"}}
    floor = {"name": "floor", "when": when, "then": {"min_risk": "MEDIUM"}}
    rules = RuleSet.from_mapping({"rules": [force_low, floor]})
    level, hits = apply(rules, level="HIGH", flags=[flag("guarantee_language", Severity.low)])
    # In order: forced down to LOW, then raised to the MEDIUM floor.
    assert level == "MEDIUM"
    assert [h.detail.rsplit(": ", 1)[-1] for h in hits] == ["HIGH -> LOW", "LOW -> MEDIUM"]

    level, hits = apply(
        RuleSet.from_mapping({"rules": [floor]}),
        level="HIGH",
        flags=[flag("guarantee_language")],
    )
    assert level == "HIGH"
    assert hits[0].detail.endswith("stays HIGH")  # matched and recorded, changed nothing


def test_min_severity_filters_weaker_flags(tmp_path: Path) -> None:
    rules = RuleSet.load(write(tmp_path, GOOD))
    assert apply(rules, flags=[flag("keyword_stuffing", Severity.medium)]) == ("LOW", [])
    level, hits = apply(
        rules,
        flags=[flag("keyword_stuffing", Severity.medium), flag("keyword_stuffing", Severity.high)],
    )
    assert level == "MEDIUM"
    assert [h.name for h in hits] == ["stuffing-at-least-medium"]
    assert "keyword_stuffing (high)" in hits[0].detail


def test_a_condition_with_flag_and_score_needs_both() -> None:
    when = {"flag": "off_platform_request", "p_risk_above": 0.5}
    rules = RuleSet.from_mapping(
        {"rules": [{"name": "both", "when": when, "then": {"force_risk": "HIGH"}}]}
    )
    off = [flag("off_platform_request")]
    assert apply(rules, p=0.4, flags=off)[0] == "LOW"
    assert apply(rules, p=0.6, flags=[])[0] == "LOW"
    level, hits = apply(rules, p=0.6, flags=off)
    assert level == "HIGH"
    assert hits[0].detail.startswith("flag off_platform_request (medium) and p_risk 0.600 > 0.5")


def test_flags_from_a_model_count_like_rule_flags() -> None:
    rules = RuleSet.load(None)
    model_flag = Flag("off_platform_request", Severity.high, "x.", {}, source="model")
    assert apply(rules, flags=[model_flag])[0] == "HIGH"


def test_block_beats_allow_beats_rules(tmp_path: Path) -> None:
    rules = RuleSet.load(write(tmp_path, GOOD))
    level, hits = apply(rules, external_id="fl-good", level="HIGH", p=0.99)
    assert level == "LOW"
    assert hits == [
        RuleHit("allow_external_ids", "allow", "external id on the allow list; HIGH -> LOW")
    ]
    level, hits = apply(rules, external_id="fl-bad", level="LOW", p=0.01)
    assert level == "HIGH"
    assert [(h.name, h.action) for h in hits] == [("block_external_ids", "block")]

    both = RuleSet.from_mapping(
        {"allow_external_ids": ["fl-both"], "block_external_ids": ["fl-both"]}
    )
    assert apply(both, external_id="fl-both")[0] == "HIGH"


def test_an_unknown_input_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown risk level 'SEVERE'"):
        apply(RuleSet(), level="SEVERE")
    assert apply(RuleSet(), level="medium") == ("MEDIUM", [])


NEW_KEYS = """
rules:
  - name: thin-records-at-most-medium
    when: {history: [none, short]}
    then: {max_risk: MEDIUM}
  - name: any-notice-high
    when: {notice: any, p_risk_above: 0.5}
    then: {min_risk: HIGH}
  - name: three-families
    when: {high_flag_families: 3}
    then: {force_risk: HIGH}
"""


def test_history_notice_and_family_conditions_parse_and_act(tmp_path: Path) -> None:
    rules = RuleSet.load(write(tmp_path, NEW_KEYS))
    assert rules.rules[0].when.history == {"none", "short"}
    assert apply(rules, level="HIGH", history="short")[0] == "MEDIUM"
    assert apply(rules, level="LOW", history="short")[0] == "LOW"  # max_risk never raises
    assert apply(rules, level="HIGH", history="full")[0] == "HIGH"
    assert apply(rules, p=0.6, notices=frozenset({"length"}))[0] == "HIGH"
    assert apply(rules, p=0.6)[0] == "LOW"
    three = [
        flag("overlapping_timelines", Severity.high),
        flag("keyword_stuffing", Severity.high),
        flag("contact_details", Severity.high),
    ]
    assert apply(rules, flags=three)[0] == "HIGH"
    assert apply(rules, flags=three[:2])[0] == "LOW"


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("{history: newcomer}", "when.history must be one of none, short, full"),
        ("{history: []}", "when.history must be one of"),
        ("{notice: spelling}", "when.notice must be one of length, language, not_prose or any"),
        ("{high_flag_families: 0}", "when.high_flag_families must be a whole number >= 1"),
        ("{high_flag_families: true}", "when.high_flag_families must be a whole number >= 1"),
    ],
)
def test_new_condition_keys_are_checked(tmp_path: Path, when: str, expected: str) -> None:
    text = f"rules:\n  - name: r1\n    when: {when}\n    then: {{max_risk: MEDIUM}}\n"
    with pytest.raises(ValueError, match=expected):
        RuleSet.load(write(tmp_path, text))
