"""Batch forecasting with the champion: the next `horizon` days, stored with upsert semantics."""

from __future__ import annotations

import io
import logging
from datetime import date, datetime, timezone

import pandas as pd
import sqlalchemy as sa

from pipeline import storage, stores, tracking
from pipeline.calendar import day_type
from pipeline.config import Settings
from pipeline.errors import NoChampionError
from pipeline.registry import champion_for

log = logging.getLogger(__name__)

KEY = ("as_of", "target_date", "model_version")


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


def upsert(settings: Settings, rows: list[dict]) -> int:
    """Insert or update rows by (as_of, target_date, model_version) in one transaction."""
    db, table = connect(settings)
    if db.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(rows)
    updated = [c.name for c in table.c if c.name not in KEY and c.name != "created_at"]
    statement = statement.on_conflict_do_update(
        index_elements=list(KEY), set_={c: statement.excluded[c] for c in updated})
    with db.begin() as connection:
        connection.execute(statement)
    return len(rows)


def stored(settings: Settings, as_of: date | None = None) -> pd.DataFrame:
    db, table = connect(settings)
    query = sa.select(table).order_by(*[table.c[k] for k in KEY])
    if as_of is not None:
        query = query.where(table.c.as_of == as_of)
    with db.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all(), columns=[c.name for c in table.c])


def forecast(settings: Settings, frame: pd.DataFrame) -> dict:
    """Forecast the horizon after the as-of date with the champion, store rows and a plot."""
    from pipeline import runtime
    from pipeline.serving import load_pyfunc, model_input

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
    model = tracking.with_retries(settings, lambda: load_pyfunc(
        settings, f"models:/{settings.registered_model}/{champion.version}"), "load the champion")
    predictions = model.predict(model_input(history))
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
            "rows": len(rows), "plot_uri": plot_uri,
            "forecast": [{"target_date": r["target_date"].isoformat(), "day_type": day_type(r["target_date"]),
                          "horizon": r["horizon"], "forecast": round(r["forecast"]),
                          **{c: round(r[c]) for c in bounds}, "model_version": r["model_version"]}
                         for r in rows]}


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
