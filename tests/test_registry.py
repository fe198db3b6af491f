"""The promotion gate: the champion alias only moves to a model that beats it by the margin."""

import math

from pipeline.registry import decide


def test_first_candidate_becomes_champion():
    assert decide(40_000, None, 0.0) == (True, "no champion yet")


def test_a_better_champion_is_kept_against_a_worse_candidate():
    promoted, reason = decide(36_000, 35_000, 0.0)
    assert not promoted and "does not beat champion's 35,000" in reason


def test_a_better_candidate_is_promoted():
    promoted, reason = decide(30_000, 35_000, 0.0)
    assert promoted and "beats champion's 35,000" in reason


def test_the_margin_protects_against_noise():
    assert not decide(34_500, 35_000, 0.02)[0]  # 1.4 % better: not enough
    assert decide(34_000, 35_000, 0.02)[0]  # 2.9 % better: promoted


def test_an_equal_candidate_never_replaces_the_champion():
    assert not decide(35_000, 35_000, 0.0)[0]


def test_a_champion_that_cannot_forecast_is_replaced():
    assert decide(35_000, math.nan, 0.0)[0]
