"""One scoring protocol for every family: rolling origins, the same target dates for all.

For each horizon h the scored targets are exactly the days of the scoring window
(``score_start`` .. ``as_of``), each forecast from origin = target - h. With the default
config that is 2019-03-01 .. 2019-05-31 at every horizon, the chapter's window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from pipeline.config import Settings


@dataclass
class Scores:
    mae_h1: float
    mape_h1: float
    mae_mean: float
    mae_by_horizon: list[float]
    targets: int

    def metrics(self) -> dict[str, float]:
        out = {"mae_h1": self.mae_h1, "mape_h1": self.mape_h1, "mae_mean": self.mae_mean}
        out.update({f"mae_h{h:02d}": v for h, v in enumerate(self.mae_by_horizon, start=1)})
        return out

    def as_dict(self) -> dict:
        return asdict(self)


def scoring_origins(settings: Settings) -> pd.DatetimeIndex:
    first = pd.Timestamp(settings.score_start) - pd.Timedelta(days=settings.horizon)
    return pd.date_range(first, pd.Timestamp(settings.as_of) - pd.Timedelta(days=1), freq="D")


def errors_by_horizon(forecasts: np.ndarray, origins: pd.DatetimeIndex, actual: pd.Series,
                      settings: Settings) -> list[tuple[np.ndarray, np.ndarray]]:
    """For h = 1..H: (|forecast - actual|, actual) over the targets inside the scoring window."""
    if forecasts.shape != (len(origins), settings.horizon):
        raise ValueError(f"forecasts of shape {forecasts.shape}, expected {(len(origins), settings.horizon)}")
    first, last = pd.Timestamp(settings.score_start), pd.Timestamp(settings.as_of)
    out = []
    for h in range(1, settings.horizon + 1):
        targets = origins + pd.Timedelta(days=h)
        inside = (targets >= first) & (targets <= last)
        truth = actual.reindex(targets[inside]).to_numpy(float)
        out.append((np.abs(forecasts[inside, h - 1] - truth), truth))
    return out


def score(forecasts: np.ndarray, origins: pd.DatetimeIndex, actual: pd.Series, settings: Settings) -> Scores:
    by_horizon = errors_by_horizon(forecasts, origins, actual, settings)
    maes = [float(np.mean(errors)) for errors, _ in by_horizon]
    errors_h1, truth_h1 = by_horizon[0]
    return Scores(mae_h1=maes[0], mape_h1=float(np.mean(errors_h1 / truth_h1) * 100), mae_mean=float(np.mean(maes)),
                  mae_by_horizon=maes, targets=len(truth_h1))


def conformal_halfwidths(forecasts: np.ndarray, origins: pd.DatetimeIndex, actual: pd.Series,
                         settings: Settings) -> dict[str, list[float]]:
    """Split-conformal interval half-widths per horizon, from the scoring window's residuals.

    For coverage level L and n residuals, the half-width is the ⌈(n+1)·L⌉-th smallest
    absolute residual (finite-sample valid when the future resembles the calibration days).
    """
    by_horizon = errors_by_horizon(forecasts, origins, actual, settings)
    widths = {}
    for level in settings.interval_levels:
        widths[str(level)] = []
        for errors, _ in by_horizon:
            ranked = np.sort(errors)
            k = min(int(np.ceil((len(ranked) + 1) * level / 100)), len(ranked))
            widths[str(level)].append(float(ranked[k - 1]))
    return widths


def evaluate(family, frame: pd.DataFrame, settings: Settings) -> tuple[Scores, np.ndarray]:
    """Forecast from every scoring origin with history cut at the as-of date, and score."""
    history = frame.loc[: pd.Timestamp(settings.as_of)]
    origins = scoring_origins(settings)
    forecasts = np.asarray(family.forecast(history, origins), dtype=float)
    return score(forecasts, origins, history[settings.target], settings), forecasts


def realized_errors(stored: pd.DataFrame, actual: pd.Series, levels: tuple[int, ...]) -> pd.DataFrame:
    """Stored forecast rows whose target day has an actual, with absolute errors and hits."""
    if stored.empty:
        return stored.assign(actual=[], abs_error=[])
    targets = pd.to_datetime(stored["target_date"])
    known = targets.isin(actual.index)
    rows = stored[known].copy()
    rows["actual"] = actual.reindex(targets[known]).to_numpy(float)
    rows["abs_error"] = (rows["forecast"] - rows["actual"]).abs()
    for level in levels:
        lower, upper = rows.get(f"lower_{level}"), rows.get(f"upper_{level}")
        if lower is not None and upper is not None:
            rows[f"covered_{level}"] = (rows["actual"] >= lower) & (rows["actual"] <= upper)
    return rows
