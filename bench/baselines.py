"""Library baselines for the replay benchmark (statsforecast / mlforecast).

Fits off-the-shelf models on CTA daily rail ridership and writes their point
forecasts and prediction intervals for every (model, origin, horizon) of a replay
plan, so they can be scored next to the pipeline's own forecasts.

It lives outside the ``pipeline`` package and has its own virtualenv
(``.venv-bench``) because statsforecast 2.1.1 / mlforecast 1.1.0 need pandas<3 while
the project pins pandas 3.x; so it imports nothing from ``pipeline``.

    .venv-bench/bin/python bench/baselines.py --series SERIES.csv --plan PLAN.json \\
        --out OUT.csv [--models seasonal_naive,autoarima,mstl,lightgbm_mlforecast,lightgbm_direct]

SERIES.csv: date, day_type (W/A/U), rail (bus ignored), daily and gap-free; rail may be empty on
the days after the data's last one (their day types are the known future a forecast may use).
PLAN.json: {"horizon": h, "levels": [80, 95], "periods": [{"retrain": R, "origins": [...]}]}.
At R each model is fitted on rail <= R only; from each origin O >= R of that period
it forecasts O+1..O+h from rail <= O without refitting. Day types of target days are
used as known-future covariates (lightgbm only); rail after O never is.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd

MODELS = ("seasonal_naive", "autoarima", "mstl", "lightgbm_mlforecast", "lightgbm_direct")
# statsforecast models: training window in days (None = all history up to R).
SF_INPUT_SIZE = {"seasonal_naive": None, "autoarima": 3 * 365, "mstl": 4 * 365}
DAY_TYPES = ("W", "A", "U")


def fail(msg: str) -> None:
    sys.exit(f"baselines.py: error: {msg}")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_series(path: str) -> pd.DataFrame:
    df = pd.read_csv(path, dtype={"day_type": str})
    missing = {"date", "day_type", "rail"} - set(df.columns)
    if missing:
        fail(f"{path}: missing columns {sorted(missing)}")
    df["ds"] = pd.to_datetime(df["date"], format="%Y-%m-%d", errors="coerce")
    if df["ds"].isna().any():
        fail(f"{path}: unparseable dates, e.g. {df.loc[df['ds'].isna(), 'date'].iloc[0]!r}")
    df = df.sort_values("ds").reset_index(drop=True)
    if df["ds"].duplicated().any() or (df["ds"].diff().dropna() != pd.Timedelta(days=1)).any():
        fail(f"{path}: dates must be unique and daily without gaps")
    bad = ~df["day_type"].isin(DAY_TYPES)
    if bad.any():
        fail(f"{path}: day_type must be one of {DAY_TYPES}, got {df.loc[bad, 'day_type'].iloc[0]!r}")
    df["y"] = pd.to_numeric(df["rail"], errors="coerce").astype(float)
    df["unique_id"] = "rail"
    for t in DAY_TYPES[1:]:  # one-hot day type, weekday is the baseline
        df[f"is_{t}"] = (df["day_type"] == t).astype(np.int8)
    return df[["unique_id", "ds", "y", "day_type", "is_A", "is_U"]]


def load_plan(path: str, series: pd.DataFrame) -> dict:
    with open(path) as fh:
        plan = json.load(fh)
    for key in ("horizon", "levels", "periods"):
        if key not in plan:
            fail(f"{path}: missing key {key!r}")
    h = plan["horizon"]
    try:
        levels = sorted(int(lv) for lv in plan["levels"])
    except (TypeError, ValueError):
        fail(f"{path}: levels must be a list of integers, got {plan['levels']!r}")
    if not isinstance(h, int) or isinstance(h, bool) or h < 1:
        fail(f"{path}: horizon must be a positive integer")
    if not levels or any(not 0 < lv < 100 for lv in levels):
        fail(f"{path}: levels must be numbers in (0, 100)")
    first, last = series["ds"].iloc[0], series["ds"].iloc[-1]
    periods = []
    for p in plan["periods"]:
        try:
            r = pd.Timestamp(p["retrain"])
            origins = sorted(pd.Timestamp(o) for o in p["origins"])
        except (KeyError, TypeError, ValueError) as exc:
            fail(f"{path}: bad period {p!r}: {exc}")
        if not origins:
            fail(f"{path}: period {r.date()} has no origins")
        if origins[0] < r:
            fail(f"{path}: origin {origins[0].date()} is before its retrain date {r.date()}")
        if r <= first or origins[-1] + pd.Timedelta(days=h) > last:
            fail(f"{path}: period {r.date()}: retrain date and origins + horizon "
                 f"({(origins[-1] + pd.Timedelta(days=h)).date()}) must lie in the series' dates "
                 f"({first.date()}..{last.date()}; rail may be empty after the data's last day)")
        if series.loc[series["ds"] <= origins[-1], "y"].isna().any():
            fail(f"{path}: period {r.date()}: rail has missing values up to {origins[-1].date()}")
        periods.append((r, origins))
    return {"h": h, "levels": levels, "periods": periods}


def sf_model(name: str):
    from statsforecast.models import MSTL, AutoARIMA, SeasonalNaive

    if name == "seasonal_naive":
        return SeasonalNaive(season_length=7, alias=name)
    if name == "autoarima":
        return AutoARIMA(season_length=7, alias=name)
    return MSTL(season_length=[7, 365], alias=name)


def run_statsforecast(name, series, r, origins, h, levels):
    """Fit at R, then `forward` from every day R..last origin (cross_validation, refit=False)."""
    from statsforecast import StatsForecast

    last = origins[-1]
    df = series.loc[series["ds"] <= last, ["unique_id", "ds", "y"]]
    # h placeholder rows after the last origin: cross_validation needs them as "actuals",
    # but never reads them for fitting/forecasting; real future rail is not passed at all.
    pad = pd.DataFrame({"unique_id": "rail", "ds": pd.date_range(last, periods=h + 1, freq="D")[1:],
                        "y": df["y"].iloc[-1]})
    df = pd.concat([df, pad], ignore_index=True)
    sf = StatsForecast(models=[sf_model(name)], freq="D", n_jobs=1)
    cv = sf.cross_validation(df=df, h=h, step_size=1, test_size=(last - r).days + h,
                             input_size=SF_INPUT_SIZE[name], level=levels, refit=False)
    cutoffs = sorted(cv["cutoff"].unique())
    assert cutoffs[0] == r and cutoffs[-1] == last and len(cutoffs) == (last - r).days + 1, \
        f"{name}: cross_validation cutoffs {cutoffs[0]}..{cutoffs[-1]} do not span {r}..{last}"
    assert set(origins) <= set(cutoffs), f"{name}: plan origins missing from cutoffs"
    cv = cv[cv["cutoff"].isin(origins)].rename(columns={"cutoff": "origin", "ds": "target_date",
                                                        name: "forecast"})
    for lv in levels:
        cv = cv.rename(columns={f"{name}-lo-{lv}": f"lower_{lv}", f"{name}-hi-{lv}": f"upper_{lv}"})
    return cv


def run_mlforecast_direct(series, r, origins, h, levels):
    """The direct multi-horizon LightGBM: one model per horizon (mlforecast max_horizon=h), lags
    1..14, 21 and 28 and rolling means of the target, and the target day's day of week, day of
    year and day type, given as dynamic exogenous columns (in direct mode mlforecast pairs a
    horizon's model with the exogenous row of its target day; its date_features would be the
    origin's); trained on all rail <= R with 20 conformal windows, then rolled forward without
    refitting."""
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from mlforecast.utils import PredictionIntervals

    name = "lightgbm_direct"
    model = lgb.LGBMRegressor(n_estimators=500, learning_rate=0.05, num_leaves=31,
                              min_child_samples=20, subsample=0.8, subsample_freq=1,
                              colsample_bytree=0.8, random_state=0, n_jobs=1,
                              deterministic=True, force_row_wise=True, verbosity=-1)
    fcst = MLForecast(models={name: model}, freq="D", lags=[*range(1, 15), 21, 28],
                      lag_transforms={1: [RollingMean(window_size=7), RollingMean(window_size=28)],
                                      7: [RollingMean(window_size=4)]}, num_threads=1)
    frame = series[["unique_id", "ds", "y", "is_A", "is_U"]].assign(
        dow=series["ds"].dt.dayofweek, doy=series["ds"].dt.dayofyear)
    exog = ["unique_id", "ds", "is_A", "is_U", "dow", "doy"]
    fcst.fit(frame.loc[frame["ds"] <= r], static_features=[], max_horizon=h,
             prediction_intervals=PredictionIntervals(n_windows=20, h=h))
    out, seen = [], r
    for o in origins:
        if o > seen:
            fcst.update(frame.loc[(frame["ds"] > seen) & (frame["ds"] <= o)])
            seen = o
        x_df = frame.loc[(frame["ds"] > o) & (frame["ds"] <= o + pd.Timedelta(days=h)), exog]
        out.append(fcst.predict(h=h, X_df=x_df, level=levels).assign(origin=o))
    res = pd.concat(out, ignore_index=True).rename(columns={"ds": "target_date", name: "forecast"})
    for lv in levels:
        res = res.rename(columns={f"{name}-lo-{lv}": f"lower_{lv}", f"{name}-hi-{lv}": f"upper_{lv}"})
    return res


def run_mlforecast(series, r, origins, h, levels):
    """Train LightGBM on all rail <= R (+ conformal calibration), then roll the stored
    series forward to each origin with `update` (no refit) and predict from there."""
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from mlforecast.utils import PredictionIntervals

    model = lgb.LGBMRegressor(n_estimators=500, learning_rate=0.05, num_leaves=31,
                              min_child_samples=20, subsample=0.8, subsample_freq=1,
                              colsample_bytree=0.8, random_state=0, n_jobs=1,
                              deterministic=True, force_row_wise=True, verbosity=-1)
    fcst = MLForecast(models={"lightgbm_mlforecast": model}, freq="D",
                      lags=[1, 7, 14, 21, 28, 364],
                      lag_transforms={1: [RollingMean(window_size=7), RollingMean(window_size=28)]},
                      date_features=["dayofweek", "dayofyear", "month"], num_threads=1)
    cols = ["unique_id", "ds", "y", "is_A", "is_U"]
    fcst.fit(series.loc[series["ds"] <= r, cols], static_features=[],
             prediction_intervals=PredictionIntervals(n_windows=10, h=h))
    out, seen = [], r
    for o in origins:
        if o > seen:  # append actuals (seen, o] to the stored series, no refit
            fcst.update(series.loc[(series["ds"] > seen) & (series["ds"] <= o), cols])
            seen = o
        x_df = series.loc[(series["ds"] > o) & (series["ds"] <= o + pd.Timedelta(days=h)),
                          ["unique_id", "ds", "is_A", "is_U"]]
        pred = fcst.predict(h=h, X_df=x_df, level=levels)
        out.append(pred.assign(origin=o))
    res = pd.concat(out, ignore_index=True).rename(
        columns={"ds": "target_date", "lightgbm_mlforecast": "forecast"})
    for lv in levels:
        res = res.rename(columns={f"lightgbm_mlforecast-lo-{lv}": f"lower_{lv}",
                                  f"lightgbm_mlforecast-hi-{lv}": f"upper_{lv}"})
    return res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(models) - set(MODELS)
    if unknown or not models:
        fail(f"unknown models {sorted(unknown)}; choose from {','.join(MODELS)}")
    series = load_series(args.series)
    plan = load_plan(args.plan, series)
    h, levels = plan["h"], plan["levels"]
    level_cols = [f"{b}_{lv}" for lv in levels for b in ("lower", "upper")]
    frames = []
    for name in models:
        t_model = time.perf_counter()
        for r, origins in plan["periods"]:
            t0 = time.perf_counter()
            if name == "lightgbm_mlforecast":
                res = run_mlforecast(series, r, origins, h, levels)
            elif name == "lightgbm_direct":
                res = run_mlforecast_direct(series, r, origins, h, levels)
            else:
                res = run_statsforecast(name, series, r, origins, h, levels)
            res["horizon"] = (res["target_date"] - res["origin"]).dt.days
            assert len(res) == len(origins) * h and set(res["horizon"]) == set(range(1, h + 1))
            frames.append(res.assign(model=name, retrain=r))
            log(f"{name} period {r.date()} ({len(origins)} origins): {time.perf_counter() - t0:.1f}s")
        log(f"{name} total: {time.perf_counter() - t_model:.1f}s")
    out = pd.concat(frames, ignore_index=True)
    for c in ("retrain", "origin", "target_date"):
        out[c] = out[c].dt.strftime("%Y-%m-%d")
    out = out[["model", "retrain", "origin", "horizon", "target_date", "forecast", *level_cols]]
    out.sort_values(["model", "retrain", "origin", "horizon"]).to_csv(args.out, index=False)
    log(f"wrote {len(out)} rows to {args.out}")


if __name__ == "__main__":
    main()
