"""AutoGluon-TimeSeries as an optional AutoML baseline for the replay benchmark.

Same command line, input and output as bench/baselines.py (its SERIES.csv, PLAN.json and OUT.csv
formats), one model named "autogluon". It runs in its own environment (.venv-autogluon, made by
`make bench-autogluon-venv`: AutoGluon pins its own pandas, torch and LightGBM).

    .venv-autogluon/bin/python bench/autogluon_baseline.py --series SERIES.csv --plan PLAN.json \\
        --out OUT.csv [--models autogluon] [--time-limit SECONDS]

At each retrain date R a TimeSeriesPredictor (prediction_length = the plan's horizon, eval_metric
MAE, quantiles for the plan's interval levels) is fitted on rail <= R with AutoGluon's "light"
hyper-parameter preset less its pretrained models (Chronos-2, Toto-2: their weights cannot be
downloaded here): SeasonalNaive, ETS, Theta, RecursiveTabular, DirectTabular and AutoGluon's
weighted ensemble over them (Caruana et al. 2004, fitted on its validation window). Known covariates:
the target day's day type (one-hot) and calendar (day of week, day of year); AutoGluon's tabular
models add their own date features. Four validation windows of `horizon` days choose the models
and the ensemble's weights (the preset has one). From each origin O >= R of that period the fitted predictor
forecasts O+1..O+h from rail <= O (the global models are not refitted; the local ones, ETS and
Theta, are fitted on each series passed to predict, as AutoGluon always does).
Source: Shchur et al. 2023, "AutoGluon-TimeSeries: AutoML for Probabilistic Time Series
Forecasting" (AutoML Conf).
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import fail, load_plan, load_series, log  # noqa: E402 (same formats, same checks)

MODELS = ("autogluon",)
# AutoGluon's "light" preset (autogluon.timeseries.configs.hyperparameter_presets) less Chronos2 and Toto2.
LIGHT_WITHOUT_PRETRAINED = {"SeasonalNaive": {}, "ETS": {}, "Theta": {}, "RecursiveTabular": {}, "DirectTabular": {}}
KNOWN = ["is_A", "is_U", "dow", "doy"]
# The preset's 1 validation window chose and weighted the models on 14 days; 4 were better on each
# development period (bench/results/autogluon-validation-windows.md).
VAL_WINDOWS = 4


def frame(series: pd.DataFrame):
    from autogluon.timeseries import TimeSeriesDataFrame

    df = series.assign(dow=series["ds"].dt.dayofweek, doy=series["ds"].dt.dayofyear)
    df = df.rename(columns={"unique_id": "item_id", "ds": "timestamp", "y": "target"})
    return TimeSeriesDataFrame.from_data_frame(df[["item_id", "timestamp", "target", *KNOWN]])


def quantiles(levels: list[int]) -> list[float]:
    """The quantiles whose pairs bound each central interval, plus the median."""
    tails = [(100 - lv) / 200 for lv in levels]
    return sorted({round(q, 6) for t in tails for q in (t, 1 - t)} | {0.5})


def run_period(data, r, origins, h, levels, workdir: Path, time_limit: int | None, val_windows: int) -> pd.DataFrame:
    from autogluon.timeseries import TimeSeriesPredictor

    stamps = data.index.get_level_values("timestamp")
    predictor = TimeSeriesPredictor(prediction_length=h, eval_metric="MAE", freq="D", known_covariates_names=KNOWN,
                                    quantile_levels=quantiles(levels), path=str(workdir / f"ag-{r.date()}"),
                                    verbosity=0)
    predictor.fit(data[stamps <= r], hyperparameters=LIGHT_WITHOUT_PRETRAINED, time_limit=time_limit,
                  num_val_windows=val_windows, random_seed=0)
    out = []
    for o in origins:
        future = data[(stamps > o) & (stamps <= o + pd.Timedelta(days=h))][KNOWN]
        pred = predictor.predict(data[stamps <= o], known_covariates=future).reset_index()
        res = pd.DataFrame({"origin": o, "target_date": pred["timestamp"], "forecast": pred["mean"]})
        for lv in levels:
            tail = round((100 - lv) / 200, 6)
            res[f"lower_{lv}"] = pred[str(tail)].clip(lower=0)
            res[f"upper_{lv}"] = pred[str(round(1 - tail, 6))]
        out.append(res)
    board = predictor.leaderboard()
    log(f"autogluon {r.date()}: best {board['model'].iloc[0]} (validation MAE {-board['score_val'].iloc[0]:,.0f})")
    return pd.concat(out, ignore_index=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default="autogluon")
    ap.add_argument("--time-limit", type=int, default=None, help="seconds per fit (default: none)")
    ap.add_argument("--val-windows", type=int, default=VAL_WINDOWS,
                    help="validation windows of `horizon` days that choose and weight the models")
    args = ap.parse_args(argv)
    if [m.strip() for m in args.models.split(",") if m.strip()] != ["autogluon"]:
        fail(f"unknown models {args.models!r}; this script runs only 'autogluon'")
    logging.getLogger("autogluon").setLevel(logging.ERROR)
    series = load_series(args.series)
    plan = load_plan(args.plan, series)
    h, levels = plan["h"], plan["levels"]
    data = frame(series)
    frames, began = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="autogluon-") as tmp:
        for r, origins in plan["periods"]:
            t0 = time.perf_counter()
            res = run_period(data, r, origins, h, levels, Path(tmp), args.time_limit, args.val_windows)
            res["horizon"] = (res["target_date"] - res["origin"]).dt.days
            assert len(res) == len(origins) * h and set(res["horizon"]) == set(range(1, h + 1))
            frames.append(res.assign(model="autogluon", retrain=r))
            log(f"autogluon period {r.date()} ({len(origins)} origins): {time.perf_counter() - t0:.1f}s")
    log(f"autogluon total: {time.perf_counter() - began:.1f}s")
    out = pd.concat(frames, ignore_index=True)
    for c in ("retrain", "origin", "target_date"):
        out[c] = out[c].dt.strftime("%Y-%m-%d")
    level_cols = [f"{b}_{lv}" for lv in levels for b in ("lower", "upper")]
    out = out[["model", "retrain", "origin", "horizon", "target_date", "forecast", *level_cols]]
    out.sort_values(["retrain", "origin", "horizon"]).to_csv(args.out, index=False)
    log(f"wrote {len(out)} rows to {args.out}")


if __name__ == "__main__":
    main()
