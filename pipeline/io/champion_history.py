"""The champion's history: every move of the alias (a promotion by the gate, a rollback by an
operator), kept in the forecast database beside the forecasts (whose migrate creates its table), since
MLflow keeps only where an alias points now."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from pipeline.io import stores
from pipeline.config import Settings

TABLE = sa.Table(
    "champion_history", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("registered_model", sa.String(256), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("family", sa.String(128), nullable=False),
    sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    sa.Column("event", sa.String(16), nullable=False),  # promoted | rollback
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("by", sa.String(256), nullable=False),
)


def record(settings: Settings, version: str, family: str, event: str, reason: str, by: str) -> None:
    """Append one move of the alias (version, family, promoted|rollback, why, who), timestamped now."""
    with stores.writable(settings.forecast_db_uri, TABLE).begin() as connection:
        connection.execute(TABLE.insert().values(
            registered_model=settings.registered_model, version=version, family=family,
            since=datetime.now(timezone.utc), event=event, reason=reason, by=by))


def events(settings: Settings) -> list[dict[str, Any]]:
    """Every move of the alias, oldest first, each with `until` (the next move's time, None for the
    champion of now)."""
    query = (sa.select(TABLE).where(TABLE.c.registered_model == settings.registered_model)
             .order_by(TABLE.c.since, TABLE.c.id))
    with stores.engine(settings.forecast_db_uri).connect() as connection:
        if not stores.has_table(connection, TABLE.name):  # no move recorded yet
            return []
        rows = [dict(r) for r in connection.execute(query).mappings()]
    for row, following in zip(rows, rows[1:] + [None]):
        row["until"] = following["since"] if following else None
    return rows
