"""Seasonal naive: each day is forecast by the same weekday of the last observed week."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.families.base import Family

SEASON_DAYS = 7


class SeasonalNaive(Family):
    name = "naive"

    def forecast(self, frame: pd.DataFrame, origins: pd.DatetimeIndex) -> np.ndarray:
        series = frame[self.problem.target]
        out = np.empty((len(origins), self.problem.horizon))
        for h in range(1, self.problem.horizon + 1):
            # the latest day <= origin that shares the target's weekday
            lag = SEASON_DAYS * int(np.ceil(h / SEASON_DAYS))
            out[:, h - 1] = series.reindex(origins + pd.Timedelta(days=h - lag)).to_numpy()
        return out

    def params(self) -> dict:
        return {"season_days": SEASON_DAYS}
