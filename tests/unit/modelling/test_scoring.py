import numpy as np
import pandas as pd
import pytest

from pipeline.config import Settings
from pipeline.modelling.scoring import score, scoring_origins


def test_every_horizon_is_scored_on_the_chapters_92_target_days():
    s = Settings()
    origins = scoring_origins(s)
    assert origins[0] == pd.Timestamp("2019-02-15") and origins[-1] == pd.Timestamp("2019-05-30")
    actual = pd.Series(1000.0, index=pd.date_range("2019-01-01", "2019-05-31"))
    # a forecast whose error equals the horizon: MAE at h must be exactly h
    forecasts = 1000.0 + np.tile(np.arange(1, 15, dtype=float), (len(origins), 1))
    result = score(forecasts, origins, actual, s)
    assert result.targets == 92
    assert result.mae_by_horizon == pytest.approx(list(range(1, 15)))
    assert result.mae_mean == pytest.approx(7.5)
    assert result.mape_h1 == pytest.approx(0.1)


def test_forecasts_beyond_the_as_of_date_never_count():
    s = Settings()
    origins = scoring_origins(s)
    actual = pd.Series(10.0, index=pd.date_range("2019-01-01", "2019-06-30"))
    forecasts = np.full((len(origins), 14), 10.0)
    for i, origin in enumerate(origins):
        for h in range(1, 15):
            if origin + pd.Timedelta(days=h) > pd.Timestamp("2019-05-31"):
                forecasts[i, h - 1] = 1e9  # would dominate if counted
    assert score(forecasts, origins, actual, s).mae_mean == 0.0


def test_wrong_shape_is_refused():
    s = Settings()
    with pytest.raises(ValueError, match="expected"):
        score(np.zeros((3, 14)), scoring_origins(s), pd.Series(dtype=float), s)


def test_conformal_half_widths_are_the_finite_sample_quantile_of_residuals():
    from pipeline.modelling.scoring import conformal_halfwidths

    s = Settings(interval_levels=(80,))
    origins = scoring_origins(s)
    actual = pd.Series(0.0, index=pd.date_range("2019-01-01", "2019-05-31"))
    # residual at target day d (1..92 in the window) is d, at every horizon
    forecasts = np.zeros((len(origins), 14))
    for i, origin in enumerate(origins):
        for h in range(1, 15):
            forecasts[i, h - 1] = (origin + pd.Timedelta(days=h) - pd.Timestamp("2019-02-28")).days
    widths = conformal_halfwidths(forecasts, origins, actual, s)["80"]
    # n = 92 residuals 1..92: the ceil(93 * 0.8) = 75th smallest is 75
    assert widths == [75.0] * 14
