"""Prediction intervals that keep their coverage over time: adaptive, normalized conformal inference.

- Adaptive (Gibbs & Candès, "Adaptive conformal inference under distribution shift", NeurIPS
  2021): the level used to read the conformal quantile moves after each outcome, up after a miss
  and down after a hit, alpha_{t+1} = alpha_t + gamma (alpha - miss_t), so that the long-run miss
  rate stays at alpha whatever the errors do. Because the update is additive, the level after the
  outcomes of the last `window` days is alpha + gamma (n alpha - misses) over those n outcomes:
  it is recomputed from the stored forecasts and their stored bounds, with no state to keep.
- Normalized (Papadopoulos, Gammerman & Vovk, "Normalized nonconformity measures for regression
  conformal prediction", 2008): a score is the relative error |actual - forecast| / forecast
  divided by the typical relative error of the target's day type (weekday, Saturday, Sunday or
  holiday: a Sunday's relative error is about twice a weekday's), so that one quantile per
  horizon gives each day type an interval of its own width instead of too wide on weekdays and
  too narrow on weekends.

Calibration scores: the champion's on its backtest windows (the weeks ahead a year earlier among
them) and the outcomes of the published forecasts. The bounds are forecast x (1 -+ q x scale of
the target's day type), never below 0. No MLflow, no store: forecasting.forecast feeds it rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.inputs.calendar import day_types

ALPHA_FLOOR = 0.001


def published(stored: pd.DataFrame) -> pd.DataFrame:
    """The product's forecast of each (origin, target): the latest version that forecast it."""
    if stored.empty:
        return stored
    ordered = stored.sort_values(["as_of", "target_date", "created_at", "model_version"])
    return ordered.drop_duplicates(["as_of", "target_date"], keep="last")


def relative_scores(forecast: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """|actual - forecast| / forecast (forecasts below one rider count as one)."""
    return np.abs(np.asarray(actual, float) - forecast) / np.maximum(np.abs(np.asarray(forecast, float)), 1.0)


def scores(rows: pd.DataFrame) -> pd.DataFrame:
    """Calibration scores of forecast rows with actuals (columns horizon, target_date, forecast,
    actual): horizon, day_type of the target, relative error."""
    days = pd.to_datetime(rows["target_date"]).dt.date
    return pd.DataFrame({"horizon": rows["horizon"].to_numpy(int), "day_type": day_types(days),
                         "score": relative_scores(rows["forecast"].to_numpy(float), rows["actual"].to_numpy(float))})


def backtest_scores(table: pd.DataFrame, actual: pd.Series, windows: set[str] | None = None) -> pd.DataFrame:
    """`scores` of backtest rows (backtest.forecast_table: window, horizon, target_date, forecast)
    on the windows named (all when None) whose targets have actuals."""
    if windows is not None:
        table = table[table["window"].isin(windows)]
    truth = actual.reindex(pd.to_datetime(table["target_date"])).to_numpy(float)
    known = np.isfinite(truth)
    return scores(table[known].assign(actual=truth[known]))


@dataclass(frozen=True)
class Widths:
    """Per level, the normalized quantile of each horizon (None: too few scores, the model's own
    interval stands), and the scale of each day type (its median relative error)."""
    quantiles: dict[str, list[float | None]]
    scale: dict[str, float]


def adaptive_widths(realized: pd.DataFrame, levels: tuple[int, ...], horizon: int, gamma: float,
                    min_scores: int, prior: pd.DataFrame | None = None) -> Widths:
    """The normalized conformal quantiles for tonight's forecast.

    realized: the published forecasts whose targets have arrived (columns horizon, target_date,
    forecast, actual, lower_<level>, upper_<level>), already cut to the window that counts; their
    misses move the level. prior: backtest `scores` calibrating beside them. A horizon with fewer
    than `min_scores` scores gets None.
    """
    outcome_scores = scores(realized) if len(realized) else pd.DataFrame(columns=["horizon", "day_type", "score"])
    calibration = pd.concat([outcome_scores, prior if prior is not None else outcome_scores.iloc[:0]],
                            ignore_index=True)
    medians = calibration.groupby("day_type")["score"].median() if len(calibration) else pd.Series(dtype=float)
    overall = float(calibration["score"].median()) if len(calibration) else 1.0
    scale = {t: float(medians.get(t, overall)) or overall or 1.0 for t in ("W", "A", "U")}
    normalized = calibration["score"].to_numpy(float) / calibration["day_type"].map(scale).to_numpy(float) \
        if len(calibration) else np.array([])
    quantiles: dict[str, list[float | None]] = {}
    for level in levels:
        alpha = 1 - level / 100
        bounds = [f"lower_{level}", f"upper_{level}"]
        widths: list[float | None] = []
        for h in range(1, horizon + 1):
            mine = (calibration["horizon"] == h).to_numpy() if len(calibration) else np.array([], bool)
            if mine.sum() < min_scores:
                widths.append(None)
                continue
            rows = realized[realized["horizon"] == h] if len(realized) else realized
            if len(rows) and (not set(bounds) <= set(rows.columns) or rows[bounds].isna().any().any()):
                rows = rows.iloc[:0]  # outcomes without stored bounds cannot say whether they were missed
            actual = rows["actual"].to_numpy(float) if len(rows) else np.array([])
            missed = ((actual < rows[bounds[0]].to_numpy(float)) | (actual > rows[bounds[1]].to_numpy(float))
                      if len(rows) else np.array([], bool))
            level_t = alpha + gamma * (len(rows) * alpha - missed.sum())
            widths.append(conformal_quantile(np.sort(normalized[mine]), min(max(level_t, ALPHA_FLOOR), 1.0)))
        quantiles[str(level)] = widths
    return Widths(quantiles, scale)


def conformal_quantile(sorted_scores: np.ndarray, alpha: float) -> float:
    """The ceil((n + 1)(1 - alpha))-th smallest of n scores (the largest when that exceeds n;
    0 when alpha is 1)."""
    n = len(sorted_scores)
    k = math.ceil((n + 1) * (1 - alpha))
    if k <= 0:
        return 0.0
    return float(sorted_scores[min(k, n) - 1])


def apply(predictions: pd.DataFrame, widths: Widths) -> tuple[pd.DataFrame, list[int]]:
    """`predictions` (target_date, horizon, forecast, lower_/upper_<level>) with the bounds of every
    horizon that has a quantile replaced by forecast x (1 -+ q x scale of the target's day type),
    lower bounds never below 0. Returns the new frame and the horizons changed."""
    out = predictions.copy()
    scale = pd.Series(day_types(pd.to_datetime(out["target_date"]).dt.date), index=out.index).map(widths.scale)
    changed = set()
    for level, per_horizon in widths.quantiles.items():
        for h, q in enumerate(per_horizon, start=1):
            if q is None:
                continue
            rows = out["horizon"] == h
            half = out.loc[rows, "forecast"] * q * scale[rows]
            out.loc[rows, f"lower_{level}"] = np.maximum(out.loc[rows, "forecast"] - half, 0.0)
            out.loc[rows, f"upper_{level}"] = out.loc[rows, "forecast"] + half
            changed.add(h)
    return out, sorted(changed)
