"""Models already in a registry keep working when the code changes: versions older commits trained
and registered (tests/fixtures/legacy_registry/<commit>, made by its make.py: 649e351, before the
packages; c601f9a, before the families had their own hyper-parameters and the modules their names
now) load and forecast as they did, roll back, are re-scored by the gate, and warm-start the next
training."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from pipeline.nightly import runner, steps
from pipeline.config import Settings

FIXTURES = sorted(p.parent for p in (Path(__file__).parents[1] / "fixtures" / "legacy_registry").glob("*/fixture.json"))
# the columns where MLflow keeps absolute paths of the home the fixture was made in
LOCATIONS = (("experiments", "artifact_location"), ("runs", "artifact_uri"), ("tags", "value"),
             ("logged_models", "artifact_location"), ("model_versions", "source"),
             ("model_versions", "storage_location"), ("model_version_tags", "value"))


@pytest.fixture(params=FIXTURES, ids=[p.name for p in FIXTURES])
def fixture(request) -> Path:
    return request.param


@pytest.fixture
def meta(fixture) -> dict:
    return json.loads((fixture / "fixture.json").read_text())


@pytest.fixture
def legacy(fixture, meta, tmp_path) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(fixture / "home", home)
    with sqlite3.connect(home / "mlflow.db") as db:
        for table, column in LOCATIONS:
            db.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)", (meta["home"], str(home)))
    settings = meta["settings"]
    return Settings(home=home, families=tuple(settings["families"]), epochs=settings["epochs"],
                    backtest_years=tuple(settings["backtest_years"]), as_of=date.fromisoformat(meta["nights"][-1]))


def test_the_fixtures_are_those_of_two_older_layouts():
    assert [p.name for p in FIXTURES] == ["649e351", "c601f9a"]


def test_the_fixture_was_made_by_an_older_commit_and_holds_two_versions(fixture, legacy, meta):
    with sqlite3.connect(legacy.home / "mlflow.db") as db:
        versions = db.execute("SELECT version FROM model_versions ORDER BY version").fetchall()
    assert versions == [(1,), (2,)] and meta["commit"].startswith(fixture.name)


def test_a_legacy_champion_forecasts_what_it_forecast_when_it_was_logged(legacy, meta):
    result = steps.forecast_from_source(legacy)

    assert (result["model_version"], result["model_family"]) == (meta["champion"]["version"], meta["champion"]["family"])
    assert result["forecast"] == meta["forecast"]


def test_a_legacy_version_rolls_back_and_forecasts(legacy):
    rolled = steps.rollback_champion(legacy, "check the older version", "pytest", "1")

    assert str(rolled["version"]) == "1"
    assert steps.forecast_from_source(legacy)["model_version"] == 1


def test_a_legacy_version_warm_starts_the_next_training_of_its_family(legacy):
    # A change to linear's model code fails this, as it should retrain from scratch, unless
    # bench/same_fits.py finds every family fits alike (a refactor: warmstart.EQUIVALENT_CODE).
    night = runner.train_all(legacy.with_overrides(as_of=date(2019, 6, 30), warm_epochs=2))

    assert (night.trainings["linear"]["mode"], night.failures) == ("warm", {}), night.trainings


def test_the_gate_rescores_a_legacy_champion_that_tonight_cannot_refit(legacy, meta):
    decision = runner.train_and_promote(legacy.with_overrides(as_of=date(2019, 6, 30), families=("naive",))).decision

    assert str(decision["champion_version"]) == str(meta["champion"]["version"])
    assert "linear of the champion's combination did not finish tonight" in decision["reason"]
    assert 0 < decision["comparison"]["incumbent_loss"] < float("inf")
