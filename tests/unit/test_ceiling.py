"""The ceiling's posterior on hand-written evidence: it moves the way the generator's
likelihoods say, and refuses evidence the generator cannot produce."""

from __future__ import annotations

import dataclasses

import pytest

from trustq.data.ceiling import Evidence, ProjectEvidence, posterior


def project(**changes) -> ProjectEvidence:
    base = ProjectEvidence(
        ongoing=False,
        cancelled=False,
        disputed=False,
        on_time=True,
        rating=4.7,
        link=True,
        off_stack=False,
        foreign=False,
        odd_budget=False,
        parallel=False,
    )
    return dataclasses.replace(base, **changes)


def newcomer(**shown) -> Evidence:
    return Evidence(
        history="none",
        career_years=4.0,
        claimed_level="mid",
        used_techs=6,
        kept_techs=6,
        shown={"github": True, "linkedin": True, "lookalike_link": False, **shown},
    )


def full(projects: list[ProjectEvidence]) -> Evidence:
    ev = newcomer()
    ev.history = "full"
    ev.projects = projects
    ev.shown["fabricated"] = False
    return ev


def test_each_risky_sign_raises_a_newcomers_probability():
    clean = posterior(newcomer()).p_risky
    assert posterior(newcomer(lookalike_link=True)).p_risky > clean + 0.1
    assert posterior(newcomer(outcome_guarantee=True)).p_risky > clean
    asks = dataclasses.replace(newcomer(), payment_talk="request")
    assert posterior(asks).p_risky > clean + 0.1
    # Honest people write a disclaimer more often: it lowers the probability.
    assert posterior(newcomer(disclaimer=True)).p_risky < clean
    assert posterior(newcomer()).p_takeover == 0.0


def test_an_overclaimed_level_counts_against_the_career_years():
    honest = posterior(newcomer()).p_risky
    expert_claim = dataclasses.replace(newcomer(), claimed_level="expert")
    assert posterior(expert_claim).p_risky > honest + 0.1


def test_a_bad_run_at_the_end_reads_as_a_takeover_and_at_the_start_does_not():
    good = [project() for _ in range(20)]
    # A disputed, late project is rated 1.6 lower anyway; a streak sits 1 lower still.
    bad = [project(disputed=True, rating=2.0, on_time=False, link=False) for _ in range(4)]
    recent = posterior(full(good[:16] + bad))
    early = posterior(full(bad + good[:16]))
    clean = posterior(full(good))
    # A taken-over account's owner had a clean record (low latent risk), so a takeover
    # is risky, not certain: about 0.6.
    assert recent.p_takeover > 0.99 and 0.5 < recent.p_risky < 0.75
    assert early.p_takeover < 0.01 and early.p_risky < recent.p_risky - 0.3
    assert clean.p_takeover < 0.01 and clean.p_risky < 0.2


def test_work_from_another_domain_only_fits_a_takeover_window():
    good = [project() for _ in range(20)]
    late = posterior(full(good[:19] + [project(foreign=True)]))
    assert late.p_takeover == pytest.approx(1.0)
    with pytest.raises(ValueError, match="cannot come from the generator"):
        posterior(full([project(foreign=True)] + good[:19]))


def test_career_years_outside_every_stage_are_refused():
    with pytest.raises(ValueError, match="fit no career stage"):
        posterior(dataclasses.replace(newcomer(), career_years=45.0))
