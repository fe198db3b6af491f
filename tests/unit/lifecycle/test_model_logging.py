"""save → MLflow → load → forecast is exact, custom layers included."""

import numpy as np
import pandas as pd
import pytest

from pipeline import families
from pipeline.config import Settings
from pipeline.lifecycle.logged_models import load_pyfunc, model_input
from pipeline.inputs.windows import build_split_windows
from tests.pipeline_runs import logged_model


@pytest.mark.parametrize("name", ["ln_rnn", "wavenet_gated", "sarima", "robust_ensemble"])
def test_pyfunc_round_trip_gives_identical_forecasts(name, frame, tmp_path):
    s = Settings(epochs=2, train_months=6, home=tmp_path)
    family = families.create(name, s)
    spec = family.window_spec()
    family.fit(build_split_windows(frame, spec, s.problem) if spec else None, frame)
    history = frame.loc[:"2019-05-31"]
    loaded = load_pyfunc(s, logged_model(s, family, history))
    served = loaded.predict(model_input(history))
    direct = family.forecast(history, pd.DatetimeIndex([history.index[-1]]))[0]
    np.testing.assert_array_equal(served["forecast"].to_numpy(), direct.astype("float64"))
    assert list(served["target_date"].dt.date.astype(str))[:2] == ["2019-06-01", "2019-06-02"]
    # and the unwrapped family is the same model
    origins = pd.date_range("2019-05-01", "2019-05-05")
    np.testing.assert_array_equal(loaded.unwrap_python_model().family.forecast(history, origins),
                                  family.forecast(history, origins))
    if name == "robust_ensemble":  # members trained on their own windows, averaged in order
        assert [m.name for m in family.members] == ["gru_calendar", "ahead_rnn_calendar", "multivariate_robust"]
        each = np.stack([m.forecast(history, origins) for m in family.members])
        assert not np.allclose(each[0], each[1])
        np.testing.assert_allclose(family.forecast(history, origins), each.mean(axis=0), rtol=1e-6)
