"""Ensembles in a pipeline run: they train after the other families and adopt the members the run
has trained (the same models, not a second training of them); a member the run lacks or failed
to train, they train themselves."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline import families
from pipeline.lifecycle import tracking
from pipeline.modelling import engine
from pipeline.nightly import steps
from pipeline.config import Settings
from pipeline.families.linear import Linear
from pipeline.lifecycle.logged_models import load_logged_family
from tests.pipeline_runs import prepared

PAIR = "tests.fault_families:NaiveAndLinear"
ORIGINS = pd.date_range("2019-05-01", "2019-05-10")


def logged_family(settings: Settings, run_id: str):
    return load_logged_family(settings, tracking.client(settings).get_run(run_id).data.tags[tracking.MODEL_URI_TAG])


def train(settings: Settings, run: dict, name: str) -> dict:
    return steps.train_family(settings, name, run["manifest_uri"], run["parent_run_id"])


def test_an_ensemble_trains_last_and_adopts_the_members_its_run_trained(tmp_path, frame, monkeypatch):
    settings = Settings(home=tmp_path, epochs=2, train_months=6, families=(PAIR, "naive", "linear"))
    run = prepared(settings)
    assert steps.stages_of(run) == [["naive", "linear"], [PAIR]]
    members = {name: train(settings, run, name) for name in run["stages"]["train"]}

    def train_again(self, windows, frame):
        raise AssertionError("the ensemble trained a member the run had already trained")

    monkeypatch.setattr(Linear, "fit", train_again)
    result = train(settings, run, PAIR)

    assert result["epochs"] == 0
    tags = tracking.client(settings).get_run(result["run_id"]).data.tags
    assert json.loads(tags[tracking.ADOPTED_MEMBERS_TAG]) == {name: members[name]["run_id"] for name in members}
    each = [logged_family(settings, members[name]["run_id"]).forecast(frame, ORIGINS) for name in ("naive", "linear")]
    ensemble = logged_family(settings, result["run_id"])
    np.testing.assert_allclose(ensemble.forecast(frame, ORIGINS), np.mean(each, axis=0), rtol=1e-6)


def test_an_ensemble_trains_a_member_its_run_failed_to_train(tmp_path, frame, monkeypatch):
    settings = Settings(home=tmp_path, epochs=2, train_months=6, families=("naive", "linear", PAIR))
    run = prepared(settings)
    train(settings, run, "naive")
    with monkeypatch.context() as patch:
        patch.setattr(Linear, "fit", lambda self, windows, frame: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            train(settings, run, "linear")

    result = train(settings, run, PAIR)

    assert result["epochs"] == 2  # linear, trained by the ensemble
    tags = tracking.client(settings).get_run(result["run_id"]).data.tags
    assert list(json.loads(tags[tracking.ADOPTED_MEMBERS_TAG])) == ["naive"]
    forecasts = logged_family(settings, result["run_id"]).forecast(frame, ORIGINS)
    assert forecasts.shape == (len(ORIGINS), 14) and np.isfinite(forecasts).all()


def test_adopted_members_take_the_runs_settings_and_must_be_members(tmp_path, frame):
    settings = Settings(epochs=2, seed=7, train_months=6)
    ensemble = families.create(PAIR, settings)
    engine.train(families.create("linear", settings), frame, settings).family.save(tmp_path / "linear")
    loaded = families.load(tmp_path / "linear")  # as a run's member is loaded from MLflow
    ensemble.adopt({("linear", 7): loaded})
    assert loaded.params()["epochs_max"] == 2
    with pytest.raises(ValueError, match=r"has no member \[\('linear', 8\)\]"):
        ensemble.adopt({("linear", 8): loaded})


def test_a_family_registered_with_a_member_trains_in_the_stage_after_it_and_adopts_it(tmp_path, frame, monkeypatch):
    # registered like any family: a line in the registry, no other change to the library
    monkeypatch.setitem(families.FAMILIES, "naive_plus_bias", "tests.fault_families")
    settings = Settings(home=tmp_path, train_months=6, families=("naive_plus_bias", "naive", "linear"))
    assert families.training_stages(settings) == [["naive", "linear"], ["naive_plus_bias"]]
    run = prepared(settings)
    naive = train(settings, run, "naive")
    result = train(settings, run, "naive_plus_bias")
    tags = tracking.client(settings).get_run(result["run_id"]).data.tags
    assert json.loads(tags[tracking.ADOPTED_MEMBERS_TAG]) == {"naive": naive["run_id"]}
    toy = logged_family(settings, result["run_id"])
    base = logged_family(settings, naive["run_id"]).forecast(frame, ORIGINS)
    np.testing.assert_allclose(toy.forecast(frame, ORIGINS), base + toy.bias)
    assert toy.bias != 0


def test_members_that_build_on_each_other_in_a_cycle_are_refused(monkeypatch):
    from tests import fault_families

    monkeypatch.setattr(fault_families.SeasonalNaive, "builds_on", lambda self: [("naive_plus_bias", 42)],
                        raising=False)
    monkeypatch.setitem(families.FAMILIES, "naive_plus_bias", "tests.fault_families")
    with pytest.raises(ValueError, match="cycle: naive_plus_bias -> naive -> naive_plus_bias"):
        families.training_stages(Settings(families=("naive_plus_bias", "naive")))


def test_training_and_promotion_set_nothing_process_wide(tmp_path):
    import mlflow

    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    settings = Settings(home=tmp_path, train_months=6, families=("naive",))
    run = prepared(settings)
    train(settings, run, "naive")
    decision = steps.promote_best(settings, run["manifest_uri"], run["parent_run_id"], run["run_key"])
    assert decision["decision"] == "promoted"
    assert (mlflow.get_tracking_uri(), mlflow.get_registry_uri()) == before  # never the run's store
    assert settings.mlflow_tracking_uri not in before and mlflow.active_run() is None
