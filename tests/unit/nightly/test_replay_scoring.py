"""Realized accuracy of stored forecasts, computed by hand on a small fixture."""

import math
from datetime import date

import pandas as pd
import pytest

from pipeline.nightly.monitoring import accuracy
from pipeline.modelling.scoring import realized_errors


def fixture():
    actual = pd.Series([100.0, 200.0, 300.0, 400.0],
                       index=pd.to_datetime(["2018-12-24", "2018-12-25", "2018-06-12", "2018-06-13"]))
    stored = pd.DataFrame({
        "as_of": [date(2018, 12, 23), date(2018, 12, 23), date(2018, 6, 11), date(2018, 6, 11), date(2018, 6, 12)],
        "target_date": [date(2018, 12, 24), date(2018, 12, 25), date(2018, 6, 12), date(2018, 6, 13),
                        date(2018, 6, 14)],  # the last has no actual yet: not scored
        "horizon": [1, 2, 1, 2, 2],
        "forecast": [110.0, 170.0, 300.0, 440.0, 1.0],
        "lower_80": [105.0, 150.0, 290.0, 410.0, 0.0],
        "upper_80": [115.0, 190.0, 310.0, 470.0, 2.0],
        "lower_95": [90.0, 150.0, 280.0, 390.0, 0.0],
        "upper_95": [130.0, 250.0, 320.0, 490.0, 2.0],
        "model_version": [1, 1, 1, 1, 1],
    })
    return realized_errors(stored, actual, (80, 95))


def test_accuracy_equals_a_hand_computation():
    got = accuracy(fixture(), (80, 95))
    # errors: Dec 24 h1 10, Dec 25 h2 30, Jun 12 h1 0, Jun 13 h2 40
    assert got["pairs"] == 4 and got["holiday_pairs"] == 2
    assert got["mae_h1"] == pytest.approx((10 + 0) / 2)
    assert got["mae_by_horizon"] == {1: 5.0, 2: 35.0}
    assert got["mae_mean"] == pytest.approx((5 + 35) / 2)
    assert got["mae_pooled"] == pytest.approx((10 + 30 + 0 + 40) / 4)
    assert got["mae_holiday"] == pytest.approx(20.0) and got["mae_ordinary"] == pytest.approx(20.0)
    assert got["mae_by_month"] == {"2018-06": 20.0, "2018-12": 20.0}
    # 80 %: 100 not in [105, 115]; 200 not in [150, 190]; 300 in; 400 not in [410, 470]
    assert got["coverage_80"] == pytest.approx(1 / 4)
    assert got["coverage_95"] == pytest.approx(1.0)
    assert got["coverage_80_by_horizon"] == {1: 0.5, 2: 0.0}


def test_accuracy_refuses_nothing_to_score():
    with pytest.raises(ValueError, match="no forecast"):
        accuracy(fixture().iloc[:0], (80,))
    assert math.isnan(accuracy(fixture().iloc[2:], (80,))["mae_holiday"])
