"""Backtest windows: where the gate scores every candidate before choosing and combining.

Two kinds, each forecast by a fit that saw no day of it:

- ``recent``: the scoring window of the training itself (scoring.scoring_origins: the
  `score_months` before the cutoff), forecast by the fit the training scored.
- ``year-k``: the weeks the next retrain period will forecast, k years earlier. A retrain at
  cutoff C serves the origins C .. C + backtest_days - 1; shifted by 364·k days (52·k weeks, so
  weekdays line up) those are the origins F .. F + backtest_days - 1 with F = C - 364·k, forecast
  at every horizon by the family fitted as of F. A Nov-30 retrain is thus judged on the December
  of one and two years before, Christmas week included (as AutoTS's "seasonal 364" validation and
  Amazon Forecast's backtest offsets do).

A year-earlier window may lie in another regime (a retrain in mid-2021 would be judged on 2020's
collapse): its weight is 0 when the ridership level before it and the level before the cutoff
differ by more than `regime_tolerance` (a ratio), else `seasonal_weight`. No MLflow here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from pipeline.config import Settings
from pipeline.modelling.scoring import scoring_origins

RECENT = "recent"
WEEKS_YEAR = 364
LEVEL_DAYS = 28


@dataclass(frozen=True)
class Window:
    """A backtest window: forecasts from `origins` (at every horizon) by a fit as of `fit_cutoff`;
    only targets in `first_target`..`last_target` count."""
    name: str
    fit_cutoff: date
    origins: pd.DatetimeIndex
    first_target: date
    last_target: date
    weight: float = 1.0
    note: str = ""

    def describe(self) -> dict:
        return {"window": self.name, "fit_cutoff": self.fit_cutoff.isoformat(),
                "origins": f"{self.origins[0].date()}..{self.origins[-1].date()}",
                "targets": f"{self.first_target}..{self.last_target}", "weight": round(self.weight, 4),
                "note": self.note}


def recent_window(settings: Settings) -> Window:
    """The training's own scoring window (fit cutoff: the as-of date; the family's protocol keeps
    the scored days out of its fit)."""
    return Window(RECENT, settings.as_of, scoring_origins(settings), settings.score_start, settings.as_of)


def seasonal_windows(settings: Settings) -> list[Window]:
    """The year-k windows (k in settings.backtest_years) of a retrain at settings.as_of, at unit
    weight (see `weighted`): origins F .. F + backtest_days - 1 with F = as_of - 364·k, targets
    F + 1 .. F + backtest_days - 1 + horizon."""
    out = []
    for years in settings.backtest_years:
        cutoff = settings.as_of - timedelta(days=WEEKS_YEAR * years)
        origins = pd.date_range(cutoff, periods=settings.backtest_days, freq="D")
        out.append(Window(f"year-{years}", cutoff, origins, cutoff + timedelta(days=1),
                          origins[-1].date() + timedelta(days=settings.horizon)))
    return out


def level(series: pd.Series, day: date, days: int = LEVEL_DAYS) -> float:
    """Mean of `series` over the `days` days up to `day` (NaN without data)."""
    recent = series.loc[pd.Timestamp(day) - pd.Timedelta(days=days - 1): pd.Timestamp(day)]
    return float(recent.mean()) if len(recent) else math.nan


def weighted(windows: list[Window], series: pd.Series, settings: Settings) -> list[Window]:
    """The windows with their weights: the recent one 1, a year-earlier one `seasonal_weight`, or
    0 when its level (the 28 days before its fit cutoff) and the level before the cutoff differ by
    more than the ratio 1 + regime_tolerance either way, or when it has no data."""
    now = level(series, settings.as_of)
    limit = math.log1p(settings.regime_tolerance)
    out = []
    for window in windows:
        if window.name == RECENT:
            out.append(window)
            continue
        then = level(series, window.fit_cutoff)
        ratio = then / now if now and math.isfinite(then) and math.isfinite(now) else math.nan
        if not math.isfinite(ratio) or ratio <= 0:
            weight, note = 0.0, "no data"
        elif abs(math.log(ratio)) > limit:
            weight, note = 0.0, f"another regime: level {ratio:.2f}x today's"
        else:
            weight, note = settings.seasonal_weight, f"level {ratio:.2f}x today's"
        out.append(Window(window.name, window.fit_cutoff, window.origins, window.first_target,
                          window.last_target, weight, note))
    return out


def target_pairs(window: Window, horizon: int) -> pd.DataFrame:
    """Every (origin, horizon) of the window whose target counts: columns origin, horizon,
    target_date (Timestamps), one row per pair, origin-major."""
    origins = window.origins.repeat(horizon)
    horizons = np.tile(np.arange(1, horizon + 1), len(window.origins))
    targets = origins + pd.to_timedelta(horizons, unit="D")
    rows = pd.DataFrame({"origin": origins, "horizon": horizons, "target_date": targets})
    inside = (targets >= pd.Timestamp(window.first_target)) & (targets <= pd.Timestamp(window.last_target))
    return rows[inside].reset_index(drop=True)


def forecast_table(window: Window, forecasts: np.ndarray) -> pd.DataFrame:
    """A family's forecasts (len(origins), H) on `window` as rows: window, origin, horizon,
    target_date, forecast (riders), for the targets that count."""
    forecasts = np.asarray(forecasts, dtype=float)
    if forecasts.shape[0] != len(window.origins):
        raise ValueError(f"{window.name}: {forecasts.shape[0]} forecast rows for {len(window.origins)} origins")
    pairs = target_pairs(window, forecasts.shape[1])
    position = window.origins.get_indexer(pairs["origin"])
    pairs["forecast"] = forecasts[position, pairs["horizon"].to_numpy() - 1]
    return pairs.assign(window=window.name)[["window", "origin", "horizon", "target_date", "forecast"]]
