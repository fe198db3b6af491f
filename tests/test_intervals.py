"""Adaptive conformal intervals on fixtures: the level moves with the misses, bounds stay >= 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import intervals


def _realized(n: int, miss_every: int, seed: int = 0) -> pd.DataFrame:
    """n outcomes at horizon 1: relative errors uniform on 0..10 %, the stored 80 % bounds missing
    one outcome in `miss_every`."""
    rng = np.random.default_rng(seed)
    forecast = np.full(n, 500_000.0)
    actual = forecast * (1 + rng.uniform(0, 0.10, n) * rng.choice([-1, 1], n))
    missed = np.arange(n) % miss_every == miss_every - 1
    lower = np.where(missed, actual + 1, actual - 1)  # a miss: the actual lies below the interval
    return pd.DataFrame({"horizon": 1, "forecast": forecast, "actual": actual,
                         "lower_80": lower, "upper_80": actual + 1})


def test_the_level_follows_the_misses_of_the_stored_bounds():
    plain = np.sort(np.abs(_realized(200, 5)["actual"] / 500_000 - 1))
    at_level = intervals.conformal_quantile(plain, 0.20)
    # the stored bounds missed 1 in 5 = 20 %, as they should: the level stays, so does the width
    on_target = intervals.adaptive_quantiles(_realized(200, 5), (80,), 1, gamma=0.005, min_scores=28)
    assert on_target["80"][0] == pytest.approx(at_level)
    # missed 1 in 2: alpha_T = 0.2 + 0.005 (200 x 0.2 - 100) = -0.1, the floor: the widest
    under = intervals.adaptive_quantiles(_realized(200, 2), (80,), 1, gamma=0.005, min_scores=28)["80"][0]
    assert under == pytest.approx(plain[-1])
    # never missed: alpha_T = 0.2 + 0.005 x 40 = 0.4, the 60 % quantile: narrower
    over = intervals.adaptive_quantiles(_realized(200, 10**6), (80,), 1, gamma=0.005, min_scores=28)["80"][0]
    assert over == pytest.approx(intervals.conformal_quantile(plain, 0.4)) and over < at_level


def test_the_closed_form_is_the_recursive_update():
    rng = np.random.default_rng(4)
    misses = rng.random(150) < 0.3
    alpha, gamma = 0.2, 0.01
    level = alpha
    for miss in misses:  # Gibbs & Candes' update, one outcome at a time
        level = level + gamma * (alpha - miss)
    assert level == pytest.approx(alpha + gamma * (len(misses) * alpha - misses.sum()))


def test_too_few_outcomes_keep_the_models_intervals_and_lower_bounds_stay_at_or_above_0():
    few = intervals.adaptive_quantiles(_realized(20, 5), (80,), 2, gamma=0.005, min_scores=28)
    assert few == {"80": [None, None]}
    predictions = pd.DataFrame({"horizon": [1, 2], "forecast": [100_000.0, 100_000.0],
                                "lower_80": [90_000.0, 90_000.0], "upper_80": [110_000.0, 110_000.0]})
    adapted, changed = intervals.apply(predictions, {"80": [1.5, None]})
    assert changed == [1]
    assert adapted.loc[0, ["lower_80", "upper_80"]].tolist() == [0.0, 250_000.0]
    assert adapted.loc[1, ["lower_80", "upper_80"]].tolist() == [90_000.0, 110_000.0]


def test_the_published_forecast_of_a_day_is_the_latest_version_that_made_it():
    stamp = pd.Timestamp("2019-06-01T06:00", tz="UTC")
    stored = pd.DataFrame({"as_of": ["2019-06-01"] * 2, "target_date": ["2019-06-02"] * 2, "model_version": [3, 4],
                           "forecast": [1.0, 2.0], "created_at": [stamp, stamp + pd.Timedelta(hours=1)]})
    assert intervals.published(stored)["forecast"].tolist() == [2.0]


def test_backtest_scores_calibrate_before_any_outcome_and_beside_them():
    prior = {1: np.linspace(0.0, 0.2, 101)}  # relative errors 0 .. 20 % on the backtest windows
    empty = pd.DataFrame(columns=["horizon", "forecast", "actual", "lower_80", "upper_80"])
    before = intervals.adaptive_quantiles(empty, (80,), 1, gamma=0.005, min_scores=28, prior=prior)["80"][0]
    assert before == pytest.approx(intervals.conformal_quantile(prior[1], 0.2))  # the 82nd of 101: 0.162
    # outcomes with small errors, all inside their bounds: the quantile of both, at a level moved up
    after = intervals.adaptive_quantiles(_realized(200, 10**6), (80,), 1, gamma=0.005, min_scores=28,
                                         prior=prior)["80"][0]
    both = np.sort(np.concatenate([np.abs(_realized(200, 10**6)["actual"] / 500_000 - 1), prior[1]]))
    assert after == pytest.approx(intervals.conformal_quantile(both, 0.4)) and after < before


def test_backtest_scores_are_relative_errors_per_horizon():
    actual = pd.Series([100.0, 200.0], index=pd.to_datetime(["2019-06-02", "2019-06-03"]))
    table = pd.DataFrame({"window": ["year-1", "year-1", "recent"], "horizon": [1, 2, 1],
                          "target_date": ["2019-06-02", "2019-06-03", "2019-06-03"], "forecast": [80.0, 250.0, 200.0]})
    scores = intervals.backtest_scores(table, actual, windows={"year-1"})
    assert {h: s.tolist() for h, s in scores.items()} == {1: [0.25], 2: [0.2]}
