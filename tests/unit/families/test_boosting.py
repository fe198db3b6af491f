"""The gradient-boosting family: direct rows, no look-ahead, MLflow round trip."""

import numpy as np
import pandas as pd
import pytest

from pipeline import families
from pipeline.config import Settings
from pipeline.families.boosting import COUNTS_FILE, DEDICATED_FILE, MODEL_FILE, PARAMS, WARMUP_DAYS, count_design, design
from pipeline.modelling.scoring import evaluate, scoring_origins
from pipeline.lifecycle.logged_models import load_logged_family
from tests.pipeline_runs import logged_model


SETTINGS = Settings(boosting_history_months=30)


@pytest.fixture(scope="module")
def trained(frame):
    family = families.create("lightgbm", SETTINGS)
    family.fit(None, frame)
    return family


def test_design_uses_only_days_up_to_the_origin(frame):
    origins, horizons = np.array([WARMUP_DAYS + 100] * 3), np.array([1, 7, 14])
    before = design(frame, origins, horizons, "rail")
    changed = frame.copy()
    changed.iloc[WARMUP_DAYS + 101:, changed.columns.get_loc("rail")] *= 3  # the future changes
    pd.testing.assert_frame_equal(design(changed, origins, horizons, "rail"), before)
    level = frame["rail"].iloc[WARMUP_DAYS + 100 - 27: WARMUP_DAYS + 101].mean()
    assert before["level"].iloc[0] == pytest.approx(level)
    # the latest day of the target's weekday: origin itself for h=7, a week before it for h=1
    assert before["same_weekday"].tolist() == pytest.approx(
        [frame["rail"].iloc[p] / level for p in (WARMUP_DAYS + 94, WARMUP_DAYS + 100, WARMUP_DAYS + 100)])
    assert before["target_weekday"].tolist() == [frame.index[WARMUP_DAYS + 100 + h].weekday() for h in (1, 7, 14)]


def test_learns_only_from_days_before_the_scored_window(trained, frame):
    rows, labels = trained.training_rows(frame)
    cutoff = trained.fit_cutoff()
    assert cutoff == pd.Timestamp("2019-02-28")
    assert len(rows) == len(labels) and np.isfinite(labels).all()
    # 30 months to the cutoff, less the warm-up, one row per (origin, horizon) with its target <= cutoff
    days = len(pd.date_range(cutoff - pd.DateOffset(months=30), cutoff))
    assert len(rows) == sum(days - WARMUP_DAYS - h for h in range(1, 15))


def test_forecasts_every_origin_and_round_trips_through_mlflow(trained, frame, tmp_path):
    s = SETTINGS
    scores, forecasts = evaluate(trained, frame, s)
    assert forecasts.shape == (len(scoring_origins(s)), 14) and np.isfinite(forecasts).all()
    assert scores.mae_mean < 40_000  # the seasonal naive scores 42,143 at h=1 here
    history = frame.loc[:"2019-05-31"]
    settings = Settings(home=tmp_path)
    loaded = load_logged_family(settings, logged_model(settings, trained, history))
    origins = scoring_origins(s)
    np.testing.assert_allclose(loaded.forecast(history, origins), forecasts, rtol=1e-9)


def test_refuses_too_short_a_history(frame):
    family = families.create("lightgbm", Settings(boosting_history_months=6))
    with pytest.raises(ValueError, match="days of history"):
        family.fit(None, frame)


def test_the_day_ahead_is_the_mean_of_its_own_model_and_a_model_on_counts(trained, frame):
    assert sorted(trained.dedicated) == [1]
    history = frame.loc[:"2019-05-31"]
    origins = scoring_origins(SETTINGS)
    forecasts = trained.forecast(history, origins)
    positions = history.asfreq("D").index.get_indexer(origins)
    rows = design(history.asfreq("D"), positions, np.ones(len(origins), dtype=int), "rail")
    level = rows.pop("level").to_numpy()
    relative = trained.dedicated[1].predict(rows) * level
    counts = trained.counts.predict(count_design(history.asfreq("D"), positions, "rail"))
    np.testing.assert_allclose(forecasts[:, 0], (relative + counts) / 2, rtol=1e-12)
    assert not np.allclose(forecasts[:, 0], trained.booster.predict(rows) * level, rtol=1e-3)
    assert not np.allclose(relative, counts, rtol=1e-3)  # two different models


def test_the_count_features_use_only_days_up_to_the_origin(frame):
    origin = WARMUP_DAYS + 100
    before = count_design(frame, np.array([origin]), "rail")
    changed = frame.copy()
    changed.iloc[origin + 1:, changed.columns.get_loc("rail")] *= 3
    pd.testing.assert_frame_equal(count_design(changed, np.array([origin]), "rail"), before)
    assert before["count_0"].iloc[0] == frame["rail"].iloc[origin]
    assert before["count_27"].iloc[0] == frame["rail"].iloc[origin - 27]
    assert before["target_weekday"].iloc[0] == frame.index[origin + 1].weekday()


def test_a_model_saved_with_fewer_features_keeps_forecasting(trained, frame, tmp_path):
    """A champion saved by an earlier version (one booster, fewer features) after an upgrade."""
    import lightgbm

    rows, labels = trained.training_rows(frame)
    older = [c for c in rows.columns if not c.endswith("_week") and c != "same_weekday_trend"]
    booster = lightgbm.train({**PARAMS, "verbosity": -1}, lightgbm.Dataset(rows[older], labels), num_boost_round=5)
    trained.save(tmp_path)
    (tmp_path / DEDICATED_FILE.format(1)).unlink()
    (tmp_path / COUNTS_FILE).unlink()
    booster.save_model(str(tmp_path / MODEL_FILE))
    loaded = families.load(tmp_path)
    assert loaded.dedicated == {} and loaded.counts is None
    history = frame.loc[:"2019-05-31"].asfreq("D")
    origins = scoring_origins(SETTINGS)[:3]
    positions = history.index.get_indexer(origins)
    expected = design(history, np.repeat(positions, 14), np.tile(np.arange(1, 15), 3), "rail")
    level = expected.pop("level").to_numpy()
    np.testing.assert_allclose(loaded.forecast(history, origins).ravel(),
                               booster.predict(expected[older]) * level, rtol=1e-12)
