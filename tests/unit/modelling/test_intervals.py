"""Adaptive, normalized conformal intervals on fixtures: the level moves with the misses, each day
type gets its own width, bounds stay >= 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.modelling import intervals

WEEKDAYS = pd.bdate_range("2019-01-07", periods=400)  # Mondays to Fridays: day type W, no holiday among them
WEEKDAYS = WEEKDAYS[~WEEKDAYS.isin(pd.to_datetime(["2019-01-21", "2019-02-18", "2019-05-27", "2019-07-04",
                                                   "2019-09-02", "2019-11-28", "2019-12-25", "2020-01-01"]))]


def _realized(n: int, miss_every: int, seed: int = 0, days=WEEKDAYS) -> pd.DataFrame:
    """n outcomes at horizon 1 on weekdays: relative errors uniform on 0..10 %, the stored 80 %
    bounds missing one outcome in `miss_every`."""
    rng = np.random.default_rng(seed)
    forecast = np.full(n, 500_000.0)
    actual = forecast * (1 + rng.uniform(0, 0.10, n) * rng.choice([-1, 1], n))
    missed = np.arange(n) % miss_every == miss_every - 1
    lower = np.where(missed, actual + 1, actual - 1)  # a miss: the actual lies below the interval
    return pd.DataFrame({"horizon": 1, "target_date": days[:n], "forecast": forecast, "actual": actual,
                         "lower_80": lower, "upper_80": actual + 1})


def _quantile(rows: pd.DataFrame, alpha: float) -> float:
    relative = np.abs(rows["actual"] / rows["forecast"] - 1).to_numpy()
    return intervals.conformal_quantile(np.sort(relative / np.median(relative)), alpha)


def test_the_level_follows_the_misses_of_the_stored_bounds():
    rows = _realized(200, 5)
    on_target = intervals.adaptive_widths(rows, (80,), 1, gamma=0.005, min_scores=28)
    # missed 1 in 5 = 20 %, as they should: the level stays at alpha = 0.2
    assert on_target.quantiles["80"][0] == pytest.approx(_quantile(rows, 0.2))
    # missed 1 in 2: alpha_T = 0.2 + 0.005 (200 x 0.2 - 100) = -0.1, the floor: the widest
    under = intervals.adaptive_widths(_realized(200, 2), (80,), 1, gamma=0.005, min_scores=28).quantiles["80"][0]
    assert under == pytest.approx(_quantile(_realized(200, 2), 0.001))
    # never missed: alpha_T = 0.2 + 0.005 x 40 = 0.4, a narrower interval
    never = _realized(200, 10**6)
    over = intervals.adaptive_widths(never, (80,), 1, gamma=0.005, min_scores=28).quantiles["80"][0]
    assert over == pytest.approx(_quantile(never, 0.4)) and over < _quantile(never, 0.2)


def test_the_closed_form_is_the_recursive_update():
    rng = np.random.default_rng(4)
    misses = rng.random(150) < 0.3
    alpha, gamma = 0.2, 0.01
    level = alpha
    for miss in misses:  # Gibbs & Candes' update, one outcome at a time
        level = level + gamma * (alpha - miss)
    assert level == pytest.approx(alpha + gamma * (len(misses) * alpha - misses.sum()))


def test_each_day_type_gets_an_interval_of_its_own_width():
    days = pd.date_range("2017-01-02", periods=1050, freq="D")
    types = pd.Series(intervals.day_types(days.date))
    # a Sunday's or holiday's relative error is twice a weekday's, a Saturday's one and a half
    spread = types.map({"W": 0.04, "A": 0.06, "U": 0.08}).to_numpy()
    rng = np.random.default_rng(5)
    prior = pd.DataFrame({"horizon": 1, "day_type": types, "score": spread * rng.uniform(0, 2, len(days))})
    widths = intervals.adaptive_widths(pd.DataFrame(), (80,), 1, gamma=0.005, min_scores=28, prior=prior)
    predictions = pd.DataFrame({"target_date": pd.to_datetime(["2019-06-10", "2019-06-15", "2019-06-16"]),
                                "horizon": 1, "forecast": 100_000.0, "lower_80": 0.0, "upper_80": 0.0})
    adapted, changed = intervals.apply(predictions, widths)
    half = (adapted["upper_80"] - adapted["forecast"]).to_numpy()
    assert changed == [1]
    assert half[1] / half[0] == pytest.approx(widths.scale["A"] / widths.scale["W"])
    assert 1.7 < half[2] / half[0] < 2.3  # Sunday against Monday: twice as wide
    # each day type is covered about as often as the level says (scores of the calibration itself)
    covered = {t: np.mean(prior.loc[prior.day_type == t, "score"] <= widths.quantiles["80"][0] * widths.scale[t])
               for t in "WAU"}
    assert all(0.7 < c < 0.92 for c in covered.values()), covered


def test_too_few_scores_keep_the_models_intervals_and_lower_bounds_stay_at_or_above_0():
    few = intervals.adaptive_widths(_realized(20, 5), (80,), 2, gamma=0.005, min_scores=28)
    assert few.quantiles == {"80": [None, None]}
    predictions = pd.DataFrame({"target_date": pd.to_datetime(["2019-06-10", "2019-06-11"]), "horizon": [1, 2],
                                "forecast": [100_000.0, 100_000.0], "lower_80": [90_000.0, 90_000.0],
                                "upper_80": [110_000.0, 110_000.0]})
    adapted, changed = intervals.apply(predictions, intervals.Widths({"80": [1.5, None]}, {"W": 1.0, "A": 1.0, "U": 1.0}))
    assert changed == [1]
    assert adapted.loc[0, ["lower_80", "upper_80"]].tolist() == [0.0, 250_000.0]
    assert adapted.loc[1, ["lower_80", "upper_80"]].tolist() == [90_000.0, 110_000.0]


def test_backtest_scores_calibrate_before_any_outcome():
    table = pd.DataFrame({"window": ["year-1"] * 40 + ["recent"], "horizon": 1,
                          "target_date": list(WEEKDAYS[:40]) + [WEEKDAYS[40]],
                          "forecast": np.linspace(90.0, 110.0, 41)})
    actual = pd.Series(100.0, index=WEEKDAYS)
    prior = intervals.backtest_scores(table, actual, windows={"year-1"})
    assert len(prior) == 40 and set(prior["day_type"]) == {"W"}
    assert prior["score"].max() == pytest.approx(10 / 90)
    widths = intervals.adaptive_widths(pd.DataFrame(), (80,), 1, gamma=0.005, min_scores=28, prior=prior)
    assert widths.quantiles["80"][0] == pytest.approx(
        intervals.conformal_quantile(np.sort(prior["score"] / prior["score"].median()), 0.2))


def test_the_published_forecast_of_a_day_is_the_latest_version_that_made_it():
    stamp = pd.Timestamp("2019-06-01T06:00", tz="UTC")
    stored = pd.DataFrame({"as_of": ["2019-06-01"] * 2, "target_date": ["2019-06-02"] * 2, "model_version": [3, 4],
                           "forecast": [1.0, 2.0], "created_at": [stamp, stamp + pd.Timedelta(hours=1)]})
    assert intervals.published(stored)["forecast"].tolist() == [2.0]
