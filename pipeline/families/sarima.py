"""SARIMA(1,0,0)(0,1,1,7) refitted at every origin on the days since the start of validation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from pipeline.families.base import Family

ORDER = (1, 0, 0)
SEASONAL_ORDER = (0, 1, 1, 7)
# Refits never look back further than this, so an old champion stays cheap to run.
MAX_FIT_DAYS = 365


class Sarima(Family):
    name = "sarima"

    def __init__(self, problem, hyper=None, fit_start: str | None = None):
        super().__init__(problem, hyper)
        self.fit_start = pd.Timestamp(fit_start or problem.valid_start)

    def forecast(self, frame: pd.DataFrame, origins: pd.DatetimeIndex) -> np.ndarray:
        from statsmodels.tsa.arima.model import ARIMA

        series = frame[self.problem.target].astype(float).asfreq("D")
        out = np.empty((len(origins), self.problem.horizon))
        for i, origin in enumerate(origins):
            start = max(self.fit_start, origin - pd.Timedelta(days=MAX_FIT_DAYS))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence chatter on short refits
                fitted = ARIMA(series[start:origin], order=ORDER, seasonal_order=SEASONAL_ORDER).fit()
                out[i] = fitted.forecast(self.problem.horizon)
        return out

    @classmethod
    def restore(cls, problem, hyper, params):
        return cls(problem, hyper, fit_start=params["fit_start"])

    def params(self) -> dict:
        return {"order": list(ORDER), "seasonal_order": list(SEASONAL_ORDER),
                "fit_start": self.fit_start.date().isoformat(), "max_fit_days": MAX_FIT_DAYS}
