"""The forecast database: the champion's forecasts, the shadow forecasts of every family of the last
training, and the champion history (pipeline.io.champion_history), in one SQL database.

Its schema is created and migrated by `migrate` alone, an explicit step (the DAGs' `migrate` task,
`ridership migrate`, the start of the runner and of every CLI command that writes): a read never runs
DDL, and finds an empty store where a table does not exist yet; a write to a store that was not
migrated raises StoreError.
"""

from __future__ import annotations

import functools
from datetime import date

import pandas as pd
import sqlalchemy as sa

from pipeline.config import Settings
from pipeline.io import champion_history, stores

KEY = ("as_of", "target_date", "model_version")
UPSERT_CHUNK = 500
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


def interval_columns(settings: Settings) -> list[str]:
    return _interval_columns(tuple(settings.interval_levels))


def _interval_columns(levels: tuple[int, ...]) -> list[str]:
    return [f"{side}_{level}" for level in levels for side in ("lower", "upper")]


@functools.lru_cache(maxsize=None)
def _table(levels: tuple[int, ...]) -> sa.Table:
    return sa.Table(
        "forecasts", sa.MetaData(),
        sa.Column("as_of", sa.Date, primary_key=True),
        sa.Column("target_date", sa.Date, primary_key=True),
        sa.Column("model_version", sa.Integer, primary_key=True),
        sa.Column("horizon", sa.Integer, nullable=False),
        sa.Column("forecast", sa.Float, nullable=False),
        *[sa.Column(name, sa.Float, nullable=True) for name in _interval_columns(levels)],
        sa.Column("model_family", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def forecasts_table(settings: Settings) -> sa.Table:
    return _table(tuple(settings.interval_levels))


def migrate(settings: Settings) -> dict:
    """Create the forecast database's tables that do not exist and add the interval columns of new
    coverage levels to the forecasts table, in one transaction under the schema lock
    (stores.migrate). Idempotent. Returns {"database", "created": [tables], "added": [columns]}.
    Raises StoreError naming the database when that fails."""
    table = forecasts_table(settings)
    done = {"created": [], "added": []}

    def schema(connection: sa.Connection) -> None:
        inspector = sa.inspect(connection)
        for each in (table, SHADOW, champion_history.TABLE):
            if not inspector.has_table(each.name):
                each.create(connection)
                done["created"].append(each.name)
        present = {c["name"] for c in sa.inspect(connection).get_columns(table.name)}
        for name in interval_columns(settings):
            if name not in present:  # a new coverage level on an existing table
                connection.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{name}" FLOAT'))
                done["added"].append(name)

    stores.migrate(settings.forecast_db_uri, schema)
    return {"database": stores.shown(settings.forecast_db_uri), **done}


def upsert(settings: Settings, rows: list[dict], shadow: bool = False) -> int:
    """Insert or update rows by (as_of, target_date, model_version), or, for shadow forecasts, by
    (as_of, target_date, family, run_id), in one transaction. Raises StoreError on a store that was
    not migrated."""
    table, key = (SHADOW, SHADOW_KEY) if shadow else (forecasts_table(settings), KEY)
    db = stores.writable(settings.forecast_db_uri, table)
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


def _read(settings: Settings, table: sa.Table, key: tuple[str, ...], where) -> pd.DataFrame:
    columns = [c.name for c in table.c]
    engine = stores.engine(settings.forecast_db_uri)
    with engine.connect() as connection:
        if not stores.has_table(connection, table.name):  # nothing stored yet
            return pd.DataFrame(columns=columns)
        query = sa.select(table).where(*where).order_by(*[table.c[k] for k in key])
        return pd.DataFrame(connection.execute(query).mappings().all(), columns=columns)


def stored(settings: Settings, as_of: date | None = None, targets: tuple[date, date] | None = None) -> pd.DataFrame:
    """Stored forecast rows (of one origin `as_of`, or with target dates in `targets`, inclusive)."""
    table = forecasts_table(settings)
    where = ([table.c.as_of == as_of] if as_of is not None else []) + (
        [table.c.target_date.between(*targets)] if targets is not None else [])
    return _read(settings, table, KEY, where)


def stored_shadow(settings: Settings, targets: tuple[date, date] | None = None) -> pd.DataFrame:
    """Stored shadow forecast rows (with target dates in `targets`, inclusive)."""
    where = [SHADOW.c.target_date.between(*targets)] if targets is not None else []
    return _read(settings, SHADOW, SHADOW_KEY, where)
