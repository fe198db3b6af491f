"""The gate's pieces on fixtures: backtest windows, combination weights, the incumbent rule."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipeline.modelling import backtest, selection
from pipeline.config import Settings

DAYS = pd.date_range("2014-01-01", "2019-12-31", freq="D")


def test_backtest_windows_of_a_november_30_retrain():
    settings = Settings(as_of=date(2019, 11, 30))
    recent = backtest.recent_window(settings)
    assert (recent.first_target, recent.last_target) == (date(2019, 9, 1), date(2019, 11, 30))
    assert recent.origins[0] == pd.Timestamp("2019-08-18") and recent.origins[-1] == pd.Timestamp("2019-11-29")
    year1, year2 = backtest.seasonal_windows(settings)
    # 364 and 728 days earlier: the same weekdays, December and Christmas week of 2018 and 2017
    assert (year1.name, year1.fit_cutoff, year1.first_target, year1.last_target) == (
        "year-1", date(2018, 12, 1), date(2018, 12, 2), date(2019, 1, 14))
    assert (year1.origins[0], year1.origins[-1]) == (pd.Timestamp("2018-12-01"), pd.Timestamp("2018-12-31"))
    assert (year2.name, year2.fit_cutoff, year2.first_target, year2.last_target) == (
        "year-2", date(2017, 12, 2), date(2017, 12, 3), date(2018, 1, 15))
    assert year1.fit_cutoff.weekday() == settings.as_of.weekday() == year2.fit_cutoff.weekday()


def test_backtest_windows_of_a_may_31_retrain():
    settings = Settings(as_of=date(2019, 5, 31), backtest_days=31, horizon=14)
    year1, year2 = backtest.seasonal_windows(settings)
    assert (year1.fit_cutoff, year1.first_target, year1.last_target) == (date(2018, 6, 1), date(2018, 6, 2),
                                                                         date(2018, 7, 15))
    assert (year2.fit_cutoff, year2.first_target, year2.last_target) == (date(2017, 6, 2), date(2017, 6, 3),
                                                                         date(2017, 7, 16))
    assert len(year1.origins) == 31
    assert backtest.seasonal_windows(settings.with_overrides(backtest_years=())) == []


def test_a_year_earlier_window_in_another_regime_counts_for_nothing():
    level = pd.Series(500_000.0, index=DAYS)
    level[level.index >= "2019-04-01"] = 150_000.0  # a collapse since the spring before the cutoff
    settings = Settings(as_of=date(2019, 11, 30))
    windows = backtest.weighted([backtest.recent_window(settings)] + backtest.seasonal_windows(settings), level,
                                settings)
    assert [w.weight for w in windows] == [1.0, 0.0, 0.0]
    assert "another regime: level 3.33x today's" in windows[1].note
    steady = backtest.weighted(backtest.seasonal_windows(settings), pd.Series(500_000.0, index=DAYS), settings)
    assert [w.weight for w in steady] == [1.0, 1.0]


def _tables(errors: dict[str, np.ndarray], actual: pd.Series, window: str = "recent") -> dict[str, pd.DataFrame]:
    n = len(next(iter(errors.values())))
    origins = actual.index[:n]
    return {name: pd.DataFrame({"window": window, "origin": origins, "horizon": 1,
                                "target_date": origins + pd.Timedelta(days=1),
                                "forecast": actual.reindex(origins + pd.Timedelta(days=1)).to_numpy() + e})
            for name, e in errors.items()}


ACTUAL = pd.Series(600_000.0, index=DAYS)


def test_greedy_selection_gives_all_weight_to_a_member_that_is_best_everywhere():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 5_000, 300)
    errors = {"best": noise, "biased": noise + 30_000, "noisy": rng.normal(0, 60_000, 300)}
    ev = selection.evidence(_tables(errors, ACTUAL), ACTUAL, {"recent": 1.0})
    assert selection.greedy_weights(ev, 20) == {"best": 1.0}


def test_greedy_selection_combines_members_whose_errors_cancel():
    rng = np.random.default_rng(2)
    common = rng.normal(0, 2_000, 300)
    errors = {"high": common + 20_000, "low": common - 20_000, "noisy": common + rng.normal(0, 60_000, 300)}
    ev = selection.evidence(_tables(errors, ACTUAL), ACTUAL, {"recent": 1.0})
    weights = selection.greedy_weights(ev, 20)
    assert weights == {"high": 0.5, "low": 0.5}
    assert ev.loss(weights) < min(ev.loss({name: 1.0}) for name in errors)


def test_a_candidate_without_a_counted_window_cannot_carry_weight():
    tables = _tables({"a": np.zeros(50), "b": np.full(50, 1_000.0)}, ACTUAL)
    seasonal = _tables({"a": np.zeros(20)}, ACTUAL, window="year-1")
    tables = {"a": pd.concat([tables["a"], seasonal["a"]]), "b": tables["b"]}
    ev = selection.evidence(tables, ACTUAL, {"recent": 1.0, "year-1": 1.0})
    assert ev.candidates == ("a",) and ev.dropped == {"b": "no backtest on year-1"}
    # the same window at weight 0 (another regime) does not count: b is back
    assert selection.evidence(tables, ACTUAL, {"recent": 1.0, "year-1": 0.0}).candidates == ("a", "b")


def test_the_incumbent_stays_on_noisy_ties_and_goes_when_clearly_beaten():
    rng = np.random.default_rng(3)
    days = 180
    # a day's error is shared by neighbouring days (weather spells): autocorrelated noise
    shared = np.convolve(rng.normal(0, 20_000, days + 6), np.ones(7) / 7, mode="valid")
    errors = {"incumbent": shared + rng.normal(0, 15_000, days),
              **{f"twin{k}": shared + rng.normal(0, 15_000, days) for k in range(20)},
              "better": 0.5 * shared + rng.normal(0, 6_000, days)}
    ev = selection.evidence(_tables(errors, ACTUAL), ACTUAL, {"recent": 1.0})
    twins = [selection.compare(ev, {"incumbent": 1.0}, {f"twin{k}": 1.0}) for k in range(20)]
    # the best of 20 equally good challengers looks better by luck, but not clearly
    luckiest = max(twins, key=lambda c: c.improvement)
    assert luckiest.improvement > 0 and not luckiest.wins(margin=0.0, z=1.645)
    assert sum(c.wins(0.0, 1.645) for c in twins) <= 2
    clear = selection.compare(ev, {"incumbent": 1.0}, {"better": 1.0})
    assert clear.improvement > 0.3 and clear.wins(margin=0.0, z=1.645)
    assert not clear.wins(margin=0.9, z=1.645)


def test_comparison_is_a_paired_difference_of_the_same_targets():
    errors = {"a": np.full(40, 10_000.0), "b": np.full(40, 8_000.0)}
    ev = selection.evidence(_tables(errors, ACTUAL), ACTUAL, {"recent": 1.0})
    result = selection.compare(ev, {"a": 1.0}, {"b": 1.0})
    assert result.incumbent_loss == pytest.approx(10_000 / 600_000)
    assert result.improvement == pytest.approx(0.2)
    assert result.t == float("inf") and result.days == 40
