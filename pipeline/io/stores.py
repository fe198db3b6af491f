"""The SQL stores: MLflow's SQLite store created or migrated once per process, under a lock, whichever
process gets there first; the project's own databases migrated by an explicit step (`migrate`).

Six commands started together on a fresh home would otherwise each run MLflow's migrations on the
same SQLite file and leave it half-migrated for good. Each process takes the lock the first time
it opens a store; the first one creates or migrates it, the others find it ready.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import sqlalchemy as sa

from pipeline.errors import RidershipError

log = logging.getLogger(__name__)
SQLITE = "sqlite:///"
# An arbitrary 64-bit key naming the schema lock among PostgreSQL advisory locks.
SCHEMA_LOCK_KEY = 0x72696465727369  # "riders" + "i"
_ready: set[tuple[str, str]] = set()
_ready_lock = threading.Lock()


class StoreError(RidershipError):
    """A store cannot be opened: it is damaged or half-migrated, and says what to do."""


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (created if missing), released when the block ends or the
    process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len(SQLITE):]) if uri.startswith(SQLITE) else None


def _once(kind: str, uri: str, create: Callable[[], None]) -> None:
    """Run `create` for this store once per process, under a lock shared by every process."""
    with _ready_lock:
        if (kind, uri) in _ready:
            return
        path = sqlite_path(uri)
        if path is None:
            create()
        else:
            with file_lock(path.with_name(path.name + ".lock")):
                create()
        _ready.add((kind, uri))


def ensure_mlflow_store(tracking_uri: str) -> None:
    """Create or migrate MLflow's SQLite tracking and registry store at `tracking_uri` (other URIs:
    nothing to do, a server owns its store). A store left half-migrated by a crash is set aside
    and created anew when it holds no run and no registered model; otherwise StoreError names it
    and what to do."""
    path = sqlite_path(tracking_uri)
    if path is None:
        return

    def create() -> None:
        try:
            _open_mlflow(tracking_uri)
        except Exception as exc:
            cause = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            if not path.exists() or _holds_anything(path):
                raise StoreError(
                    f"the MLflow store {path} cannot be opened ({cause}); it was probably interrupted while being "
                    f"created or upgraded. It holds runs or models: restore it from a backup, or run "
                    f"`mlflow db upgrade {tracking_uri}`; to start afresh, move it and "
                    f"{path.parent / 'artifacts'} aside") from exc
            aside = path.with_name(f"{path.name}.broken-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}")
            _forget_engines(tracking_uri)  # their pooled connections still hold the old file
            path.rename(aside)
            log.warning("the MLflow store %s was half-created and held nothing (%s); moved it to %s and created "
                        "it anew", path, cause, aside)
            _open_mlflow(tracking_uri)

    path.parent.mkdir(parents=True, exist_ok=True)
    _once("mlflow", tracking_uri, create)


def _open_mlflow(tracking_uri: str) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    client.search_experiments(max_results=1)  # creates or migrates the tracking tables
    client.search_registered_models(max_results=1)  # ... and the registry's


def _forget_engines(tracking_uri: str) -> None:
    """Drop the engines MLflow's stores keep per database URI (class-level caches of its SQLAlchemy
    stores), so that the next open connects to the file now at that path."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    for store in (TrackingStore, RegistryStore):
        engine = getattr(store, "_engine_map", {}).pop(tracking_uri, None)
        if engine is not None:
            engine.dispose()


def _holds_anything(path: Path) -> bool:
    """Whether an SQLite MLflow store has any run or registered model (unreadable: assume it has)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return any(db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None
                       for table in ("runs", "registered_models") if table in tables)
    except sqlite3.Error:
        return True


@functools.lru_cache(maxsize=None)
def engine(uri: str) -> sa.Engine:
    """The process's engine on the SQL database `uri` (an SQLite file's folder is created); no DDL."""
    path = sqlite_path(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(uri)


def shown(uri: str) -> str:
    """The database URI without its password, for messages."""
    return sa.engine.make_url(uri).render_as_string(hide_password=True)


def migrate(uri: str, schema: Callable[[sa.Connection], None]) -> None:
    """Run `schema(connection)`, which creates or migrates tables, in one transaction under a lock (a
    file lock for SQLite, an advisory lock on PostgreSQL), so that processes started together do not
    race. Raises StoreError naming the database when that fails."""
    db = engine(uri)
    path = sqlite_path(uri)
    lock = file_lock(path.with_name(path.name + ".lock")) if path is not None else contextlib.nullcontext()
    try:
        with lock, db.begin() as connection:
            if db.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            schema(connection)
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"cannot create or migrate the tables of {shown(uri)}: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:300]}") from exc


def writable(uri: str, table: sa.Table) -> sa.Engine:
    """The engine of `uri` once `table` exists there with every column it declares; else StoreError:
    the database was not migrated (the explicit step that creates tables did not run)."""
    db = engine(uri)
    with db.connect() as connection:
        inspector = sa.inspect(connection)
        missing = ([table.name] if not inspector.has_table(table.name) else
                   sorted({c.name for c in table.c} - {c["name"] for c in inspector.get_columns(table.name)}))
    if missing:
        raise StoreError(f"the database {shown(uri)} is not migrated (missing: {', '.join(missing)}): run "
                         "`ridership migrate`, or the DAG's migrate task")
    return db


def has_table(connection: sa.Connection, name: str) -> bool:
    return sa.inspect(connection).has_table(name)
