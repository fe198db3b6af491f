"""Challengers in the shadows, scored and logged; the champion's intervals adapting to outcomes."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipeline.lifecycle import tracking
from pipeline.io import forecasts
from pipeline.nightly import monitoring, runner, steps
from pipeline.config import Settings


@pytest.fixture(scope="module")
def served(tmp_path_factory, frame):
    """Two families trained as of 2019-05-31 and promoted, then 45 nights of champion and shadow
    forecasts, as the forecast DAG makes them."""
    settings = Settings(home=tmp_path_factory.mktemp("shadow"), families=("naive", "lightgbm"), train_months=6,
                        backtest_years=(1,))
    decision = runner.train_and_promote(settings).decision
    nights = [steps.forecast_next(settings.with_overrides(as_of=day.date()))
              for day in pd.date_range("2019-06-01", "2019-07-15")]
    for day in pd.date_range("2019-06-01", "2019-07-15"):
        steps.shadow_forecast(settings.with_overrides(as_of=day.date()))
    return settings, decision, nights


def test_every_family_of_the_training_forecasts_in_the_shadows(served):
    settings, _, _ = served
    shadow = forecasts.stored_shadow(settings)
    assert set(shadow["family"]) == {"naive", "lightgbm"}
    assert shadow.groupby("family")["as_of"].nunique().to_dict() == {"naive": 45, "lightgbm": 45}
    assert set(shadow["trained_as_of"]) == {date(2019, 5, 31)}
    assert len(shadow) == 2 * 45 * settings.horizon
    # stored apart: the champion's table holds the champion's rows only
    assert len(forecasts.stored(settings)) == 45 * settings.horizon


def test_realized_leaderboard_is_scored_and_logged_to_mlflow(served, frame):
    settings, decision, _ = served
    report = monitoring.realized_accuracy(settings, frame.loc[:"2019-07-15"])
    board = {row["model"]: row for row in report["realized_leaderboard"]}
    assert set(board) == {monitoring.CHAMPION_ROW, "naive", "lightgbm"}
    assert board["lightgbm"]["mae_30d"] < board["naive"]["mae_30d"]
    if decision["members"] == {"lightgbm": 1.0}:  # the champion is lightgbm: the same forecasts
        assert board[monitoring.CHAMPION_ROW]["mae_30d"] == pytest.approx(board["lightgbm"]["mae_30d"])
    client = MlflowClient(settings.mlflow_tracking_uri)
    run = client.search_runs([tracking.experiment_id(settings)], f"tags.`{tracking.KIND_TAG}` = 'monitoring'")[0]
    assert run.data.metrics["realized_mae_30d_naive"] == pytest.approx(board["naive"]["mae_30d"])
    assert {"realized_leaderboard.md", "realized_leaderboard.csv", "realized_mae.png"} <= {
        a.path for a in client.list_artifacts(run.info.run_id)}


def test_the_champions_intervals_are_calibrated_on_its_backtests_then_on_outcomes(served):
    _, _, nights = served
    # from the first night: the champion's scores on its backtest windows, the weeks ahead a year earlier included
    assert re.match(r"adaptive conformal at horizons 1\.\.14 from \d+ backtest scores and 0 outcomes", nights[0]["intervals"])
    assert re.match(r"adaptive conformal at horizons 1\.\.14 from \d+ backtest scores and [1-9]\d+ outcomes",
                    nights[-1]["intervals"])
    for night in nights:
        assert all(row["lower_80"] >= 0 and row["lower_95"] <= row["lower_80"] <= row["forecast"]
                   <= row["upper_80"] <= row["upper_95"] for row in night["forecast"])
