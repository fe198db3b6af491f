"""The stores: MLflow's embedded store created and migrated once, whoever comes first, a damaged
store named with what to do; the forecast database migrated by its explicit step alone."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from pipeline.config import PROJECT_ROOT, Settings
from pipeline.errors import RidershipError
from pipeline.io import champion_history, forecasts, stores
from pipeline.lifecycle import tracking
from pipeline.nightly import steps


def test_six_trainings_started_together_on_a_fresh_home_all_succeed(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIDERSHIP_")}
    env.update({"RIDERSHIP_HOME": str(tmp_path / "fresh"), "RIDERSHIP_TRAIN_MONTHS": "6"})
    commands = [subprocess.Popen([sys.executable, "-m", "pipeline.entry.cli", "train", "naive", "--as-of", f"2019-05-{day}"],
                                 cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for day in range(21, 27)]
    outcomes = [(c.wait(timeout=600), c.stderr.read()) for c in commands]
    assert [code for code, _ in outcomes] == [0] * 6, [err[-2000:] for code, err in outcomes if code]
    settings = Settings(home=tmp_path / "fresh")
    runs = tracking.client(settings).search_runs([tracking.experiment_id(settings)],
                                                 f"tags.`{tracking.FAMILY_TAG}` = 'naive'")
    nightly = [r for r in runs if tracking.BACKTEST_TAG not in r.data.tags]  # not the seasonal backtests' refits
    assert sorted(r.data.tags[tracking.AS_OF_TAG] for r in nightly) == [f"2019-05-{day}" for day in range(21, 27)]


def _half_migrated(path, with_a_run: bool) -> None:
    """What a process killed in the middle of MLflow's migrations leaves: tables of an old revision."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version VALUES ('90e64c465722')")
        db.execute("CREATE TABLE _alembic_tmp_latest_metrics (key VARCHAR(250))")
        db.execute("CREATE TABLE runs (run_uuid VARCHAR(32))")
        if with_a_run:
            db.execute("INSERT INTO runs VALUES ('0123456789abcdef0123456789abcdef')")


@pytest.fixture
def fresh_process_state(monkeypatch):
    monkeypatch.setattr(stores, "_ready", set())


def test_an_empty_half_migrated_store_is_set_aside_and_created_anew(tmp_path, fresh_process_state):
    settings = Settings(home=tmp_path)
    path = tmp_path / "mlflow.db"
    _half_migrated(path, with_a_run=False)
    assert tracking.experiment_id(settings)  # opens, creates the experiment
    aside = list(tmp_path.glob("mlflow.db.broken-*"))
    assert len(aside) == 1 and path.exists()


def test_a_half_migrated_store_with_runs_is_named_and_left_alone(tmp_path, fresh_process_state):
    settings = Settings(home=tmp_path)
    path = tmp_path / "mlflow.db"
    _half_migrated(path, with_a_run=True)
    with pytest.raises(RidershipError, match=rf"the MLflow store {path} cannot be opened.*holds runs or models.*"
                                             r"mlflow db upgrade"):
        tracking.client(settings)
    assert not list(tmp_path.glob("mlflow.db.broken-*"))
    with sqlite3.connect(path) as db:  # MLflow's own attempt to upgrade it changed no run
        assert db.execute("SELECT run_uuid FROM runs").fetchall() == [("0123456789abcdef0123456789abcdef",)]


def test_the_cli_says_so_without_a_traceback(tmp_path):
    _half_migrated(tmp_path / "mlflow.db", with_a_run=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIDERSHIP_")}
    done = subprocess.run([sys.executable, "-m", "pipeline.entry.cli", "promote"], cwd=PROJECT_ROOT, timeout=300,
                          env={**env, "RIDERSHIP_HOME": str(tmp_path)}, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: the MLflow store {tmp_path / 'mlflow.db'} cannot be opened")
    assert "Traceback" not in done.stderr


def _tables(path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_the_forecast_database_is_migrated_by_its_explicit_step_alone(tmp_path):
    settings = Settings(home=tmp_path)
    path = tmp_path / "forecasts.db"
    # a read before any migration finds nothing stored and creates nothing
    assert forecasts.stored(settings).empty and forecasts.stored_shadow(settings).empty and champion_history.events(settings) == []
    assert _tables(path) == set()
    # a write names the database and what to run
    with pytest.raises(stores.StoreError, match=rf"the database sqlite:///{path} is not migrated \(missing: "
                                                r"forecasts\): run `ridership migrate`"):
        forecasts.upsert(settings, [])
    # the step creates the three tables, once; a new coverage level adds its columns to the forecasts
    assert steps.migrate_stores(settings)["created"] == ["forecasts", "shadow_forecasts", "champion_history"]
    assert steps.migrate_stores(settings) == {"database": f"sqlite:///{path}", "created": [], "added": []}
    wider = settings.with_overrides(interval_levels=(50, 80, 95))
    with pytest.raises(stores.StoreError, match=r"missing: lower_50, upper_50"):
        forecasts.upsert(wider, [])
    assert forecasts.migrate(wider)["added"] == ["lower_50", "upper_50"]
    assert _tables(path) == {"forecasts", "shadow_forecasts", "champion_history"}
