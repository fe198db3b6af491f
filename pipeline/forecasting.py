"""Batch forecasting with the champion: the next `horizon` days, stored with upsert semantics."""

from __future__ import annotations

import io
import logging
from datetime import date, datetime, timezone

import pandas as pd
import sqlalchemy as sa

from pipeline import storage, tracking
from pipeline.config import Settings
from pipeline.errors import NoChampionError
from pipeline.registry import current_champion

log = logging.getLogger(__name__)

metadata = sa.MetaData()
forecasts_table = sa.Table(
    "forecasts", metadata,
    sa.Column("as_of", sa.Date, primary_key=True),
    sa.Column("target_date", sa.Date, primary_key=True),
    sa.Column("model_version", sa.Integer, primary_key=True),
    sa.Column("horizon", sa.Integer, nullable=False),
    sa.Column("forecast", sa.Float, nullable=False),
    sa.Column("model_family", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
KEY = ("as_of", "target_date", "model_version")


def engine(settings: Settings) -> sa.Engine:
    if settings.forecast_db_uri.startswith("sqlite:///"):
        storage.local_path(settings.forecast_db_uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    db = sa.create_engine(settings.forecast_db_uri)
    metadata.create_all(db)
    return db


def upsert(settings: Settings, rows: list[dict]) -> int:
    """Insert or update rows by (as_of, target_date, model_version) in one transaction."""
    db = engine(settings)
    if db.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(forecasts_table).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=list(KEY),
        set_={c: statement.excluded[c] for c in ("horizon", "forecast", "model_family")},
    )
    with db.begin() as connection:
        connection.execute(statement)
    return len(rows)


def stored(settings: Settings, as_of: date | None = None) -> pd.DataFrame:
    query = sa.select(forecasts_table).order_by(*[forecasts_table.c[k] for k in KEY])
    if as_of is not None:
        query = query.where(forecasts_table.c.as_of == as_of)
    with engine(settings).connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all(), columns=[c.name for c in forecasts_table.c])


def forecast(settings: Settings, frame: pd.DataFrame) -> dict:
    """Forecast the horizon after the as-of date with the champion, store rows and a plot."""
    import mlflow

    from pipeline.serving import model_input

    champion = current_champion(settings)
    if champion is None:
        raise NoChampionError(f"registered model {settings.registered_model!r} has no "
                              f"@{settings.champion_alias} alias yet: run the training pipeline first")
    history = frame.loc[: pd.Timestamp(settings.as_of)]
    origin = history.index[-1].date()
    if origin < settings.as_of:
        log.warning("data ends %s, before as-of %s: forecasting from %s", origin, settings.as_of, origin)
    # Load the version, not the alias: the alias may move while this task runs.
    model = tracking.with_retries(settings, lambda: mlflow.pyfunc.load_model(
        f"models:/{settings.registered_model}/{champion.version}"), "load the champion")
    predictions = model.predict(model_input(history))
    family = champion.tags.get(tracking.FAMILY_TAG, "unknown")
    created = datetime.now(timezone.utc)
    rows = [{"as_of": origin, "target_date": pd.Timestamp(r.target_date).date(), "horizon": int(r.horizon),
             "forecast": float(r.forecast), "model_version": int(champion.version),
             "model_family": family, "created_at": created}
            for r in predictions.itertuples()]
    upsert(settings, rows)
    plot_uri = storage.join(settings.artifact_root, "forecasts", origin.isoformat(),
                            f"forecast-v{champion.version}.png")
    storage.write_bytes(plot_uri, plot(history, predictions, settings, champion.version, family))
    return {"as_of": origin.isoformat(), "model_version": champion.version, "model_family": family,
            "rows": len(rows), "plot_uri": plot_uri,
            "forecast": [{"target_date": r["target_date"].isoformat(), "forecast": round(r["forecast"])}
                         for r in rows]}


def plot(history: pd.DataFrame, predictions: pd.DataFrame, settings: Settings, version: str,
         family: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recent = history[settings.target].iloc[-8 * 7:]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(recent.index, recent.values, label=f"{settings.target} (actual)", color="tab:blue")
    ax.plot(pd.to_datetime(predictions["target_date"]), predictions["forecast"], "o--",
            label=f"forecast v{version} ({family})", color="tab:orange")
    ax.set_title(f"CTA {settings.target} boardings: next {settings.horizon} days after {history.index[-1].date()}")
    ax.set_ylabel("boardings per day")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
