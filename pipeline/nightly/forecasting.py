"""Batch forecasting with the champion: the next `horizon` days, stored with upsert semantics."""

from __future__ import annotations

import functools
import logging
from datetime import date, datetime, timedelta, timezone

import pandas as pd

from pipeline.io import storage
from pipeline.io.forecasts import interval_columns, stored, upsert
from pipeline.lifecycle import tracking
from pipeline.inputs.calendar import day_type
from pipeline.config import Settings
from pipeline.errors import NoChampionError
from pipeline.lifecycle.registry import champion_for

log = logging.getLogger(__name__)


def forecast(settings: Settings, frame: pd.DataFrame) -> dict:
    """Forecast the horizon after the as-of date with the champion, store rows and a plot."""
    from pipeline.lifecycle.logged_models import model_input

    champion = champion_for(settings, settings.as_of)
    if champion is None:
        raise NoChampionError(f"registered model {settings.registered_model!r} has no "
                              f"@{settings.champion_alias} alias as of {settings.as_of}: "
                              "run the training pipeline first")
    history = frame.loc[: pd.Timestamp(settings.as_of)]
    origin = history.index[-1].date()
    if origin < settings.as_of:
        log.warning("data ends %s, before as-of %s: forecasting from %s", origin, settings.as_of, origin)
    # Load the version, not the alias: the alias may move while this task runs.
    model = tracking.with_retries(settings, lambda: _load_version(
        settings.mlflow_tracking_uri, settings.registered_model, str(champion.version)), "load the champion")
    predictions, adapted = adaptive_intervals(settings, model.predict(model_input(history)), history,
                                              _calibration(settings.mlflow_tracking_uri, champion.run_id,
                                                           champion.tags.get(tracking.BACKTEST_SCORES_TAG, "")))
    family = champion.tags.get(tracking.FAMILY_TAG, "unknown")
    created = datetime.now(timezone.utc)
    bounds = [c for c in interval_columns(settings) if c in predictions.columns]
    rows = [{"as_of": origin, "target_date": pd.Timestamp(r["target_date"]).date(), "horizon": int(r["horizon"]),
             "forecast": float(r["forecast"]), **{c: float(r[c]) for c in bounds},
             "model_version": int(champion.version), "model_family": family, "created_at": created}
            for _, r in predictions.iterrows()]
    upsert(settings, rows)
    plot_uri = storage.join(settings.artifact_root, "forecasts", origin.isoformat(),
                            f"forecast-v{champion.version}.png")
    storage.write_bytes(plot_uri, plot(history, predictions, settings, champion.version, family))
    return {"as_of": origin.isoformat(), "model_version": champion.version, "model_family": family,
            "rows": len(rows), "plot_uri": plot_uri, "intervals": adapted,
            "forecast": [{"target_date": r["target_date"].isoformat(), "day_type": day_type(r["target_date"]),
                          "horizon": r["horizon"], "forecast": round(r["forecast"]),
                          **{c: round(r[c]) for c in bounds}, "model_version": r["model_version"]}
                         for r in rows]}


@functools.lru_cache(maxsize=2)
def _load_version(tracking_uri: str, registered_model: str, version: str):
    """A registered version's pyfunc; a version never changes, so a process forecasting many
    nights (a replay) loads it once."""
    from pipeline.lifecycle.logged_models import load_pyfunc

    return load_pyfunc(Settings(mlflow_tracking_uri=tracking_uri), f"models:/{registered_model}/{version}")


@functools.lru_cache(maxsize=4)
def _calibration(tracking_uri: str, run_id: str, gate_summary: str) -> pd.DataFrame | None:
    """The backtest rows of the run a version was registered from, on the windows that counted
    when the gate chose it (None for a version from before backtests)."""
    import json

    table = tracking.backtest_forecasts(Settings(mlflow_tracking_uri=tracking_uri), run_id) if run_id else None
    if table is None:
        return None
    counted = [w["window"] for w in json.loads(gate_summary).get("windows", []) if w.get("weight", 0) > 0] \
        if gate_summary else sorted(set(table["window"]))
    return table[table["window"].isin(counted)]


def adaptive_intervals(settings: Settings, predictions: pd.DataFrame, history: pd.DataFrame,
                       backtests: pd.DataFrame | None = None) -> tuple[pd.DataFrame, str]:
    """The model's predictions with adaptive conformal bounds (pipeline/modelling/intervals.py) at every
    horizon with enough scores: the champion's on its backtest windows (`backtests`, rows of
    backtest.forecast_table) and the outcomes of the published forecasts in the last
    interval_window_days; returns them and a line saying which intervals were used."""
    from pipeline.modelling import intervals
    from pipeline.modelling.scoring import realized_errors

    origin = history.index[-1].date()
    first = origin - timedelta(days=settings.interval_window_days)
    rows = intervals.published(stored(settings, targets=(first, origin)))
    rows = rows[pd.to_datetime(rows["as_of"]) < pd.Timestamp(origin)]
    realized = realized_errors(rows, history[settings.target], ()).sort_values(["target_date", "as_of"])
    prior = intervals.backtest_scores(backtests, history[settings.target]) if backtests is not None else None
    widths = intervals.adaptive_widths(realized, settings.interval_levels, settings.horizon, settings.interval_gamma,
                                       settings.interval_min_scores, prior)
    adapted, horizons = intervals.apply(predictions, widths)
    backtested = 0 if prior is None else len(prior)
    if not horizons:
        return adapted, f"the model's split-conformal intervals ({len(realized)} outcomes so far)"
    return adapted, (f"adaptive conformal at horizons {horizons[0]}..{horizons[-1]} from {backtested} backtest "
                     f"scores and {len(realized)} outcomes since {first}")


def plot(history: pd.DataFrame, predictions: pd.DataFrame, settings: Settings, version: str,
         family: str) -> bytes:
    from pipeline.nightly.plots import figure, png

    recent = history[settings.target].iloc[-8 * 7:]
    fig, ax = figure(10, 4)
    ax.plot(recent.index, recent.values, label=f"{settings.target} (actual)", color="tab:blue")
    dates = pd.to_datetime(predictions["target_date"])
    for level, alpha in zip(sorted(settings.interval_levels, reverse=True), (0.15, 0.3)):
        if f"lower_{level}" in predictions:
            ax.fill_between(dates, predictions[f"lower_{level}"], predictions[f"upper_{level}"],
                            color="tab:orange", alpha=alpha, label=f"{level}% interval")
    ax.plot(dates, predictions["forecast"], "o--", label=f"forecast v{version} ({family})", color="tab:orange")
    ax.set_title(f"CTA {settings.target} boardings: next {settings.horizon} days after {history.index[-1].date()}")
    ax.set_ylabel("boardings per day")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return png(fig)
