"""Realized accuracy: stored forecasts scored against the actuals that have since arrived.

A champion whose realized MAE exceeds its validation MAE by the configured factor is
flagged as drifted (the forecast DAG then fails its drift check, visibly).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pandas as pd

from pipeline.lifecycle import tracking
from pipeline.io import forecasts
from pipeline.config import Settings
from pipeline.modelling.scoring import realized_errors

log = logging.getLogger(__name__)
MONITORING_RUN_KEY = "realized-accuracy"


def summarize(rows: pd.DataFrame, levels: tuple[int, ...]) -> dict[str, dict[str, Any]]:
    out = {}
    for version, group in rows.groupby("model_version"):
        summary = {"rows": int(len(group)), "mae": float(group["abs_error"].mean()),
                   "mae_by_horizon": {int(h): float(g["abs_error"].mean()) for h, g in group.groupby("horizon")}}
        for level in levels:
            column = f"covered_{level}"
            if column in group and group[column].notna().any():
                summary[f"coverage_{level}"] = float(group[column].mean())
        out[str(int(version))] = summary
    return out


def realized_accuracy(settings: Settings, frame: pd.DataFrame) -> dict[str, Any]:
    """Score every stored forecast that has an actual; log it to MLflow; flag drift."""
    rows = realized_errors(forecasts.stored(settings), frame[settings.target], settings.interval_levels)
    versions = summarize(rows, settings.interval_levels) if not rows.empty else {}
    mlflow_client = tracking.client(settings)
    drifted = []
    for version, summary in versions.items():
        tags = mlflow_client.get_model_version(settings.registered_model, version).tags
        validation = float(tags.get(tracking.CANDIDATE_MAE_TAG) or math.nan)
        summary["validation_mae"] = validation
        summary["ratio"] = summary["mae"] / validation if validation else math.nan
        if summary["rows"] >= settings.horizon and summary["ratio"] > settings.drift_factor:
            drifted.append(version)
    message = "; ".join(
        f"model version {v} drifted: realized MAE {versions[v]['mae']:,.0f} over {versions[v]['rows']} forecasts "
        f"is {versions[v]['ratio']:.2f}× its validation MAE {versions[v]['validation_mae']:,.0f} "
        f"(limit {settings.drift_factor}×)" for v in drifted)
    board = realized_leaderboard(settings, frame)
    if versions or not board.empty:
        run_id = _log(settings, versions)
        tracking.client(settings).set_tag(run_id, tracking.DRIFTED_TAG, ",".join(drifted))  # read by the retrain policy
        if not board.empty:
            _log_leaderboard(settings, run_id, board, frame)
    if drifted:
        log.warning("%s", message)
    return {"last_actual": frame.index[-1].date().isoformat(), "versions": versions, "drifted": drifted,
            "drift_factor": settings.drift_factor, "message": message,
            "realized_leaderboard": board.reset_index().to_dict("records")}


CHAMPION_ROW = "champion (published forecasts)"
WINDOWS_DAYS = (30, 90, 365)


def realized_rows(settings: Settings, frame: pd.DataFrame, days: int = max(WINDOWS_DAYS)) -> pd.DataFrame:
    """The scored forecasts of the last `days` days of targets: the champion's as published and
    every shadow family's, one row per (model, origin, horizon) with abs_error."""
    from pipeline.modelling import intervals

    last = frame.index[-1].date()
    targets = (last - pd.Timedelta(days=days - 1), last)
    actual = frame[settings.target]
    champion = intervals.published(forecasts.stored(settings, targets=targets))
    shadow = forecasts.stored_shadow(settings, targets=targets)
    rows = [realized_errors(champion, actual, ()).assign(model=CHAMPION_ROW)]
    if not shadow.empty:
        # a family forecast each origin once per training; the latest training's counts
        shadow = shadow.sort_values("trained_as_of").drop_duplicates(["as_of", "target_date", "family"], keep="last")
        rows.append(realized_errors(shadow, actual, ()).rename(columns={"family": "model"}))
    rows = [r for r in rows if not r.empty]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["model", "target_date", "abs_error"])


def realized_leaderboard(settings: Settings, frame: pd.DataFrame) -> pd.DataFrame:
    """Realized MAE (riders) of the champion and of every shadow family over the last 30, 90 and
    365 days of targets (columns mae_30d, mae_90d, mae_365d; NaN without forecasts there), best
    over 90 days first; empty before any outcome."""
    rows = realized_rows(settings, frame)
    if rows.empty:
        return pd.DataFrame()
    last = pd.Timestamp(frame.index[-1])
    targets = pd.to_datetime(rows["target_date"])
    board = pd.DataFrame({f"mae_{d}d": rows[targets > last - pd.Timedelta(days=d)].groupby("model")["abs_error"].mean()
                          for d in WINDOWS_DAYS})
    board["forecasts_365d"] = rows.groupby("model").size()
    return board.sort_values(["mae_90d", "mae_365d"])


def _log_leaderboard(settings: Settings, run_id: str, board: pd.DataFrame, frame: pd.DataFrame) -> None:
    """The realized leaderboard as metrics (realized_mae_<days>d_<model>), a table and a plot of each
    model's realized MAE over time (28-day rolling mean by target day) on the monitoring run."""
    import re

    metrics = {f"realized_{column}_{re.sub(r'[^0-9A-Za-z_]+', '_', model).strip('_')}": value
               for model, row in board.iterrows() for column, value in row.items()
               if column.startswith("mae_") and math.isfinite(value)}
    tracking.log_metrics(settings, run_id, metrics)
    table = board.reset_index().rename(columns={"index": "model"})
    tracking.log_artifact_bytes(settings, run_id, "realized_leaderboard.csv", table.to_csv(index=False).encode())
    header = "| model | " + " | ".join(table.columns[1:]) + " |\n|---|" + "---:|" * (len(table.columns) - 1) + "\n"
    lines = ["| " + " | ".join([str(r[0])] + [f"{v:,.0f}" for v in r[1:]]) + " |" for r in table.itertuples(index=False)]
    tracking.log_artifact_bytes(settings, run_id, "realized_leaderboard.md", (header + "\n".join(lines) + "\n").encode())
    tracking.log_artifact_bytes(settings, run_id, "realized_mae.png", _plot(realized_rows(settings, frame), board))


def _plot(rows: pd.DataFrame, board: pd.DataFrame) -> bytes:
    from pipeline.nightly.plots import figure, png

    daily = rows.assign(day=pd.to_datetime(rows["target_date"])).groupby(["model", "day"])["abs_error"].mean()
    fig, ax = figure(11, 5)
    for model in board.index:
        series = daily.loc[model].asfreq("D").rolling(28, min_periods=7).mean()
        ax.plot(series.index, series.values, label=model, linewidth=2.5 if model == CHAMPION_ROW else 1.0)
    ax.set(title="Realized MAE over time (28-day rolling mean by target day)", ylabel="MAE (riders)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return png(fig)


def _log(settings: Settings, versions: dict[str, dict[str, Any]]) -> str:
    metrics = {}
    for version, summary in versions.items():
        metrics[f"realized_mae_v{version}"] = summary["mae"]
        metrics.update({f"realized_mae_v{version}_h{h:02d}": v for h, v in summary["mae_by_horizon"].items()})
        metrics.update({f"{k}_v{version}": v for k, v in summary.items() if k.startswith("coverage_")})
    run_id = tracking.parent_run(settings, MONITORING_RUN_KEY, {tracking.KIND_TAG: "monitoring"})
    tracking.log_metrics(settings, run_id, metrics)
    return run_id


def accuracy(rows: pd.DataFrame, levels: tuple[int, ...]) -> dict[str, Any]:
    """Realized accuracy of forecast rows scored by `realized_errors` (one model's, or a group's).

    rows: one per (origin, horizon) with columns horizon, target_date, abs_error and
    covered_<level>. Returns MAE in riders at h=1 (`mae_h1`), the mean of the per-horizon MAEs
    (`mae_mean`), the MAE over all pairs (`mae_pooled`), over the holiday-adjacent targets and the
    others (`mae_holiday`, `mae_ordinary`; pipeline.inputs.calendar.holiday_adjacent), per target month
    (`mae_by_month`, "YYYY-MM"), per horizon, the fraction of actuals inside each interval
    (`coverage_<level>`, overall and `coverage_by_horizon`), and the number of pairs. Raises
    ValueError on no rows.
    """
    from pipeline.inputs.calendar import holiday_adjacent

    if rows.empty:
        raise ValueError("no forecast has an actual to be scored against")
    targets = pd.to_datetime(rows["target_date"])
    near_holiday = targets.dt.date.map(holiday_adjacent).to_numpy(bool)
    by_horizon = rows.groupby("horizon")["abs_error"].mean()
    out: dict[str, Any] = {
        "mae_h1": float(by_horizon.get(1, math.nan)),
        "mae_mean": float(by_horizon.mean()),
        "mae_pooled": float(rows["abs_error"].mean()),
        "mae_holiday": float(rows["abs_error"][near_holiday].mean()) if near_holiday.any() else math.nan,
        "mae_ordinary": float(rows["abs_error"][~near_holiday].mean()) if (~near_holiday).any() else math.nan,
        "mae_by_month": {m: float(v) for m, v in rows["abs_error"].groupby(targets.dt.strftime("%Y-%m")).mean().items()},
        "mae_by_horizon": {int(h): float(v) for h, v in by_horizon.items()},
        "pairs": int(len(rows)),
        "holiday_pairs": int(near_holiday.sum()),
    }
    for level in levels:
        covered = rows.get(f"covered_{level}")
        if covered is not None:
            out[f"coverage_{level}"] = float(covered.mean())
            out[f"coverage_{level}_by_horizon"] = {int(h): float(v) for h, v in
                                                   covered.groupby(rows["horizon"]).mean().items()}
    return out
