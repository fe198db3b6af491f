"""Batch forecasting with the champion: the next `horizon` days, stored with upsert semantics."""

from __future__ import annotations

import functools
import io
import logging
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import sqlalchemy as sa

from pipeline import storage, stores, tracking
from pipeline.calendar import day_type
from pipeline.config import Settings
from pipeline.errors import NoChampionError
from pipeline.registry import champion_for

log = logging.getLogger(__name__)

KEY = ("as_of", "target_date", "model_version")
UPSERT_CHUNK = 500


def interval_columns(settings: Settings) -> list[str]:
    return [f"{side}_{level}" for level in settings.interval_levels for side in ("lower", "upper")]


def forecasts_table(settings: Settings) -> sa.Table:
    return sa.Table(
        "forecasts", sa.MetaData(),
        sa.Column("as_of", sa.Date, primary_key=True),
        sa.Column("target_date", sa.Date, primary_key=True),
        sa.Column("model_version", sa.Integer, primary_key=True),
        sa.Column("horizon", sa.Integer, nullable=False),
        sa.Column("forecast", sa.Float, nullable=False),
        *[sa.Column(name, sa.Float, nullable=True) for name in interval_columns(settings)],
        sa.Column("model_family", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def connect(settings: Settings) -> tuple[sa.Engine, sa.Table]:
    """The engine and the table; the table is created, or given the interval columns it lacks, once
    per process (stores.sql_engine), not on every read."""
    table = forecasts_table(settings)

    def schema(connection: sa.Connection) -> None:
        table.metadata.create_all(connection)
        present = {c["name"] for c in sa.inspect(connection).get_columns(table.name)}
        for name in interval_columns(settings):
            if name not in present:  # a new coverage level on an existing table
                connection.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{name}" FLOAT'))

    levels = ",".join(map(str, settings.interval_levels))
    return stores.sql_engine(settings.forecast_db_uri, schema, f"forecasts[{levels}]"), table


SHADOW_KEY = ("as_of", "target_date", "family", "run_id")
SHADOW = sa.Table(
    "shadow_forecasts", sa.MetaData(),
    sa.Column("as_of", sa.Date, primary_key=True),
    sa.Column("target_date", sa.Date, primary_key=True),
    sa.Column("family", sa.String(128), primary_key=True),
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("horizon", sa.Integer, nullable=False),
    sa.Column("forecast", sa.Float, nullable=False),
    sa.Column("trained_as_of", sa.Date, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def connect_shadow(settings: Settings) -> sa.Engine:
    """The engine of the shadow forecasts (every family of the last training, forecasting beside the
    champion), stored apart from the champion's."""
    return stores.sql_engine(settings.forecast_db_uri, lambda c: SHADOW.metadata.create_all(c), "shadow_forecasts")


def upsert(settings: Settings, rows: list[dict], shadow: bool = False) -> int:
    """Insert or update rows by (as_of, target_date, model_version), or, for shadow forecasts, by
    (as_of, target_date, family, run_id), in one transaction."""
    if shadow:
        db, table, key = connect_shadow(settings), SHADOW, SHADOW_KEY
    else:
        (db, table), key = connect(settings), KEY
    if db.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    updated = [c.name for c in table.c if c.name not in key and c.name != "created_at"]
    with db.begin() as connection:
        for first in range(0, len(rows), UPSERT_CHUNK):  # SQLite caps the variables of one statement
            statement = insert(table).values(rows[first:first + UPSERT_CHUNK])
            connection.execute(statement.on_conflict_do_update(
                index_elements=list(key), set_={c: statement.excluded[c] for c in updated}))
    return len(rows)


def stored(settings: Settings, as_of: date | None = None, targets: tuple[date, date] | None = None) -> pd.DataFrame:
    """Stored forecast rows (of one origin `as_of`, or with target dates in `targets`, inclusive)."""
    db, table = connect(settings)
    query = sa.select(table).order_by(*[table.c[k] for k in KEY])
    if as_of is not None:
        query = query.where(table.c.as_of == as_of)
    if targets is not None:
        query = query.where(table.c.target_date.between(*targets))
    with db.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all(), columns=[c.name for c in table.c])


def stored_shadow(settings: Settings, targets: tuple[date, date] | None = None) -> pd.DataFrame:
    """Stored shadow forecast rows (with target dates in `targets`, inclusive)."""
    db = connect_shadow(settings)
    query = sa.select(SHADOW).order_by(*[SHADOW.c[k] for k in SHADOW_KEY])
    if targets is not None:
        query = query.where(SHADOW.c.target_date.between(*targets))
    with db.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all(), columns=[c.name for c in SHADOW.c])


def forecast(settings: Settings, frame: pd.DataFrame) -> dict:
    """Forecast the horizon after the as-of date with the champion, store rows and a plot."""
    from pipeline import runtime
    from pipeline.serving import model_input

    runtime.configure(settings)  # before the champion's Keras model is loaded

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
    from pipeline.serving import load_pyfunc

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
    """The model's predictions with adaptive conformal bounds (pipeline/intervals.py) at every
    horizon with enough scores: the champion's on its backtest windows (`backtests`, rows of
    backtest.forecast_table) and the outcomes of the published forecasts in the last
    interval_window_days; returns them and a line saying which intervals were used."""
    from pipeline import intervals
    from pipeline.scoring import realized_errors

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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recent = history[settings.target].iloc[-8 * 7:]
    fig, ax = plt.subplots(figsize=(10, 4))
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
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
