"""Families get the Problem and their own hyper-parameters from the registry, never the whole Settings."""

import ast
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import families
from pipeline.config import Settings
from pipeline.families.base import DESCRIPTION_FILE, NoHyper

FAMILIES_DIR = Path(families.__file__).parent


def test_no_family_module_reads_the_settings():
    named = {}
    for path in sorted(FAMILIES_DIR.glob("*.py")):
        if path.name == "__init__.py":  # the registry: where the Settings meet a family
            continue
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        if "Settings" in names or "settings" in attributes:
            named[path.name] = sorted(({"Settings"} & names) | ({"settings"} & attributes))
    assert named == {}


@pytest.mark.parametrize("name", list(families.FAMILIES))
def test_every_family_holds_the_problem_and_its_own_hyper_parameters(name):
    family = families.create(name, Settings(horizon=7, seed=3))
    assert not hasattr(family, "settings")
    assert (family.problem.horizon, family.problem.seed) == (7, 3)
    assert dataclasses.is_dataclass(family.hyper) and isinstance(family.hyper, type(family).Hyper)


def test_a_hyper_parameter_comes_from_the_setting_of_its_name_and_only_that_one():
    gru = families.create("gru", Settings(epochs=3, batch_size=8))
    assert (gru.hyper.epochs, gru.hyper.batch_size) == (3, 8)
    lightgbm = families.create("lightgbm", Settings(boosting_history_months=12, tf_threads=2))
    assert (lightgbm.hyper.history_months, lightgbm.hyper.threads) == (12, 2)
    # a setting lightgbm does not declare leaves it as it was; naive has none to configure
    assert families.create("lightgbm", Settings(epochs=3, batch_size=8)).hyper == families.create("lightgbm", Settings()).hyper
    assert families.create("naive", Settings(epochs=3)).hyper == NoHyper()


def test_an_ensemble_holds_its_members_hyper_parameters_and_builds_them_with_its_seeds():
    ensemble = families.create("robust_ensemble", Settings(epochs=3, seed=5))
    assert sorted(ensemble.hyper.members) == ["ahead_rnn_calendar", "gru_calendar", "multivariate_robust"]
    assert {h.epochs for h in ensemble.hyper.members.values()} == {3}
    member = ensemble._member("gru_calendar", 6)
    assert (member.hyper.epochs, member.problem.seed) == (3, 6)


def test_a_family_saved_with_the_settings_of_an_older_version_loads_and_forecasts_alike(frame, tmp_path):
    settings = Settings(epochs=1, train_months=6, seed=7)
    family = families.create("multivariate_ensemble", settings)
    family.members = [families.create("multivariate_robust", settings.with_overrides(seed=7))]
    for member in family.members:
        member.model = member.build()
        member.model.jit_compile = member.hyper.jit_compile  # as a loaded model forecasts
    family.save(tmp_path)
    saved = json.loads((tmp_path / DESCRIPTION_FILE).read_text())
    assert saved["hyper"]["members"]["multivariate_robust"]["epochs"] == 1 and saved["problem"]["seed"] == 7
    origins = pd.date_range("2019-05-01", "2019-05-10")
    loaded = families.load(tmp_path)
    assert loaded.hyper == family.hyper and loaded.problem == family.problem
    np.testing.assert_array_equal(loaded.forecast(frame, origins), family.forecast(frame, origins))
    # the older description: the training settings instead of the problem and hyper-parameters
    for description in [tmp_path / DESCRIPTION_FILE, *tmp_path.glob(f"members/*/{DESCRIPTION_FILE}")]:
        values = json.loads(description.read_text())
        values["settings"] = settings.training_dict()
        del values["problem"], values["hyper"]
        description.write_text(json.dumps(values))
    older = families.load(tmp_path)
    assert older.hyper == family.hyper and older.problem == family.problem
    np.testing.assert_array_equal(older.forecast(frame, origins), family.forecast(frame, origins))


def test_a_description_with_a_retired_or_a_new_field_still_loads(tmp_path):
    family = families.create("linear", Settings(epochs=3))
    family.model = family.build()
    family.save(tmp_path)
    values = json.loads((tmp_path / DESCRIPTION_FILE).read_text())
    del values["hyper"]["steps_per_execution"], values["problem"]["protocol"]  # added after it was saved
    values["hyper"]["retired_knob"], values["problem"]["retired_field"] = 1, 2  # since removed
    (tmp_path / DESCRIPTION_FILE).write_text(json.dumps(values))

    loaded = families.load(tmp_path)

    assert loaded.hyper == family.hyper and loaded.problem == family.problem  # the missing ones at their defaults
