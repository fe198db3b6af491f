"""Ensembles in a pipeline run: they train after the other families and adopt the members the run
has trained (the same models, not a second training of them); a member the run lacks or failed
to train, they train themselves."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline import families, steps, tracking
from pipeline.config import Settings
from pipeline.families.linear import Linear
from pipeline.serving import MODEL_URI_TAG, load_logged_family
from tests.pipeline_runs import prepared

PAIR = "tests.fault_families:NaiveAndLinear"
ORIGINS = pd.date_range("2019-05-01", "2019-05-10")


def logged_family(settings: Settings, run_id: str):
    return load_logged_family(tracking.client(settings).get_run(run_id).data.tags[MODEL_URI_TAG])


def train(settings: Settings, run: dict, name: str) -> dict:
    return steps.train_family(settings, name, run["manifest_uri"], run["parent_run_id"])


def test_an_ensemble_trains_last_and_adopts_the_members_its_run_trained(tmp_path, frame, monkeypatch):
    settings = Settings(home=tmp_path, epochs=2, train_months=6, families=(PAIR, "naive", "linear"))
    run = prepared(settings)
    assert run["families"] == ["naive", "linear"] and run["ensembles"] == [PAIR]
    members = {name: train(settings, run, name) for name in run["families"]}

    def train_again(self, windows, frame):
        raise AssertionError("the ensemble trained a member the run had already trained")

    monkeypatch.setattr(Linear, "fit", train_again)
    result = train(settings, run, PAIR)

    assert result["epochs"] == 0
    tags = tracking.client(settings).get_run(result["run_id"]).data.tags
    assert json.loads(tags[steps.ADOPTED_MEMBERS_TAG]) == {name: members[name]["run_id"] for name in members}
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
    assert list(json.loads(tags[steps.ADOPTED_MEMBERS_TAG])) == ["naive"]
    forecasts = logged_family(settings, result["run_id"]).forecast(frame, ORIGINS)
    assert forecasts.shape == (len(ORIGINS), 14) and np.isfinite(forecasts).all()


def test_adopted_members_take_the_runs_settings_and_must_be_members():
    ensemble = families.create(PAIR, Settings(epochs=2, seed=7))
    loaded = families.create("linear", Settings(seed=7))  # as loaded: only what forecasting needs
    ensemble.adopt({("linear", 7): loaded})
    assert loaded.params()["epochs_max"] == 2
    with pytest.raises(ValueError, match=r"has no member \[\('linear', 8\)\]"):
        ensemble.adopt({("linear", 8): loaded})
