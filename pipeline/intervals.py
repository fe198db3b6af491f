"""Prediction intervals that keep their coverage over time: adaptive conformal inference.

Gibbs & Candès, "Adaptive conformal inference under distribution shift" (NeurIPS 2021): the
level used to read the conformal quantile moves after each outcome, up after a miss and down
after a hit, alpha_{t+1} = alpha_t + gamma (alpha - miss_t), so that the long-run miss rate
stays at alpha whatever the errors do. Because the update is additive, the level after the
outcomes of the last `window` days is alpha + gamma (n alpha - misses) over those n outcomes:
it is recomputed from the stored forecasts and their stored bounds, with no state to keep.

Scores are relative errors |actual - forecast| / forecast, per horizon, so that a weekday's
interval is wider in riders than a Sunday's. The bounds are forecast x (1 -+ q), never below 0.
No MLflow, no store: forecasting.forecast feeds it the stored rows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

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


def adaptive_quantiles(realized: pd.DataFrame, levels: tuple[int, ...], horizon: int, gamma: float,
                       min_scores: int, prior: dict[int, np.ndarray] | None = None) -> dict[str, list[float | None]]:
    """Relative half-widths q per level and horizon for tonight's forecast.

    realized: the published forecasts whose targets have arrived (columns horizon, forecast,
    actual, lower_<level>, upper_<level>), oldest first, already cut to the window that counts.
    prior: per horizon, relative scores of the champion on its backtest windows (the weeks ahead
    a year earlier among them), which calibrate the intervals beside the outcomes; the level
    moves with the outcomes' misses only. A horizon with fewer than `min_scores` scores in all
    gets None (the model's own intervals stand). Returns {str(level): [q for h = 1..horizon]}.
    """
    out: dict[str, list[float | None]] = {}
    for level in levels:
        alpha = 1 - level / 100
        widths: list[float | None] = []
        for h in range(1, horizon + 1):
            rows = realized[realized["horizon"] == h] if len(realized) else realized
            bounds = [f"lower_{level}", f"upper_{level}"]
            if len(rows) and (not set(bounds) <= set(rows.columns) or rows[bounds].isna().any().any()):
                rows = rows.iloc[:0]  # outcomes without stored bounds cannot say whether they were missed
            earlier = np.asarray((prior or {}).get(h, []), dtype=float)
            if len(rows) + len(earlier) < min_scores:
                widths.append(None)
                continue
            actual, forecast = rows["actual"].to_numpy(float), rows["forecast"].to_numpy(float)
            missed = (actual < rows[bounds[0]].to_numpy(float)) | (actual > rows[bounds[1]].to_numpy(float))
            level_t = alpha + gamma * (len(rows) * alpha - missed.sum())
            scores = np.sort(np.concatenate([relative_scores(forecast, actual), earlier]))
            widths.append(conformal_quantile(scores, min(max(level_t, ALPHA_FLOOR), 1.0)))
        out[str(level)] = widths
    return out


def backtest_scores(table: pd.DataFrame, actual: pd.Series, windows: set[str] | None = None) -> dict[int, np.ndarray]:
    """Per horizon, the relative scores of backtest rows (backtest.forecast_table: window, horizon,
    target_date, forecast) on the windows named (all when None) whose targets have actuals."""
    if windows is not None:
        table = table[table["window"].isin(windows)]
    truth = actual.reindex(pd.to_datetime(table["target_date"])).to_numpy(float)
    known = np.isfinite(truth)
    scores = relative_scores(table["forecast"].to_numpy(float)[known], truth[known])
    horizons = table["horizon"].to_numpy()[known]
    return {int(h): scores[horizons == h] for h in np.unique(horizons)}


def conformal_quantile(sorted_scores: np.ndarray, alpha: float) -> float:
    """The ceil((n + 1)(1 - alpha))-th smallest of n scores (the largest when that exceeds n;
    0 when alpha is 1)."""
    n = len(sorted_scores)
    k = math.ceil((n + 1) * (1 - alpha))
    if k <= 0:
        return 0.0
    return float(sorted_scores[min(k, n) - 1])


def apply(predictions: pd.DataFrame, quantiles: dict[str, list[float | None]]) -> tuple[pd.DataFrame, list[int]]:
    """`predictions` (horizon, forecast, lower_/upper_<level>) with the bounds of every horizon
    that has a quantile replaced by forecast x (1 -+ q), lower bounds never below 0. Returns the
    new frame and the horizons changed."""
    out = predictions.copy()
    changed = set()
    for level, widths in quantiles.items():
        for h, q in enumerate(widths, start=1):
            if q is None:
                continue
            rows = out["horizon"] == h
            out.loc[rows, f"lower_{level}"] = np.maximum(out.loc[rows, "forecast"] * (1 - q), 0.0)
            out.loc[rows, f"upper_{level}"] = out.loc[rows, "forecast"] * (1 + q)
            changed.add(h)
    return out, sorted(changed)
