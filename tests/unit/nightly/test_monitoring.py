import pandas as pd
import pytest

from pipeline.nightly.monitoring import summarize
from pipeline.modelling.scoring import realized_errors


def test_realized_mae_equals_a_hand_computation():
    stored = pd.DataFrame({
        "as_of": ["2019-06-01"] * 3 + ["2019-06-02"] * 2,
        "target_date": ["2019-06-02", "2019-06-03", "2019-06-30", "2019-06-03", "2019-06-04"],
        "model_version": [1, 1, 1, 2, 2],
        "horizon": [1, 2, 29, 1, 2],
        "forecast": [110.0, 180.0, 5.0, 210.0, 250.0],
        "lower_80": [100.0, 170.0, 0.0, 190.0, 240.0],
        "upper_80": [120.0, 190.0, 10.0, 230.0, 260.0],
    })
    actual = pd.Series([100.0, 200.0, 300.0], index=pd.to_datetime(["2019-06-02", "2019-06-03", "2019-06-04"]))
    rows = realized_errors(stored, actual, (80,))
    assert len(rows) == 4  # 2019-06-30 has no actual yet
    summary = summarize(rows, (80,))
    # v1: |110-100| = 10 and |180-200| = 20 → 15; v2: |210-200| = 10, |250-300| = 50 → 30
    assert summary["1"]["mae"] == pytest.approx(15.0)
    assert summary["2"]["mae"] == pytest.approx(30.0)
    assert summary["1"]["mae_by_horizon"] == {1: 10.0, 2: 20.0}
    # coverage: 100 ∈ [100,120] yes, 200 ∈ [170,190] no; 200 ∈ [190,230] yes, 300 ∈ [240,260] no
    assert summary["1"]["coverage_80"] == 0.5 and summary["2"]["coverage_80"] == 0.5
