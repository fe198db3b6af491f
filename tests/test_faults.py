"""Faults: a family that crashes or diverges, all families failing, a killed training task,
an unreachable MLflow server, interrupted writes. The champion and stored data must survive."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipeline import forecasting, registry, steps, storage, tracking
from pipeline.config import Settings
from pipeline.errors import PromotionError, TrainingError
from tests.pipeline_runs import family_runs, prepared

EXPLODING = "tests.fault_families:Exploding"
DIVERGING = "tests.fault_families:Diverging"


def test_failed_families_are_visible_and_survivors_are_promoted(tmp_path):
    settings = Settings(home=tmp_path, epochs=3, families=("naive", EXPLODING, DIVERGING))
    run = prepared(settings)
    steps.train_family(settings, "naive", run["manifest_uri"], run["parent_run_id"])
    with pytest.raises(RuntimeError, match="simulated training crash"):
        steps.train_family(settings, EXPLODING, run["manifest_uri"], run["parent_run_id"])
    with pytest.raises(TrainingError, match="non-finite"):
        steps.train_family(settings, DIVERGING, run["manifest_uri"], run["parent_run_id"])

    runs = family_runs(settings, run["parent_run_id"])
    assert runs["naive"][0] == "FINISHED"
    assert runs[EXPLODING] == ("FAILED", "RuntimeError: exploding family: simulated training crash")
    assert runs[DIVERGING][0] == "FAILED" and "non-finite" in runs[DIVERGING][1]

    decision = steps.promote_best(settings, run["manifest_uri"], run["parent_run_id"], run["run_key"])
    assert decision["decision"] == "promoted" and decision["family"] == "naive"


def test_when_every_family_fails_nothing_is_promoted(tmp_path):
    yesterday = Settings(home=tmp_path, families=("naive",), as_of=pd.Timestamp("2019-05-30").date())
    run = prepared(yesterday)
    steps.train_family(yesterday, "naive", run["manifest_uri"], run["parent_run_id"])
    steps.promote_best(yesterday, run["manifest_uri"], run["parent_run_id"], run["run_key"])
    steps.forecast_next(yesterday)
    versions_before = MlflowClient(yesterday.mlflow_tracking_uri).search_model_versions("name = 'ridership'")
    forecasts_before = forecasting.stored(yesterday)

    settings = Settings(home=tmp_path, families=(EXPLODING,))
    run = prepared(settings)
    with pytest.raises(RuntimeError):
        steps.train_family(settings, EXPLODING, run["manifest_uri"], run["parent_run_id"])
    with pytest.raises(PromotionError, match="no model family finished training.*champion is unchanged"):
        steps.promote_best(settings, run["manifest_uri"], run["parent_run_id"], run["run_key"])
    assert registry.current_champion(settings).version == versions_before[0].version
    versions = MlflowClient(settings.mlflow_tracking_uri).search_model_versions("name = 'ridership'")
    assert [(v.version, v.tags) for v in versions] == [(v.version, v.tags) for v in versions_before]
    pd.testing.assert_frame_equal(forecasting.stored(settings), forecasts_before)


def _train_forever(home: str, manifest_uri: str, parent: str) -> None:
    settings = Settings(home=home, epochs=100_000, patience=100_000, families=("linear",))
    steps.train_family(settings, "linear", manifest_uri, parent)


def test_a_killed_training_leaves_no_run_running_forever_and_the_rerun_succeeds(tmp_path):
    settings = Settings(home=tmp_path, epochs=2, families=("linear",))
    run = prepared(settings)
    worker = multiprocessing.get_context("spawn").Process(
        target=_train_forever, args=(str(tmp_path), run["manifest_uri"], run["parent_run_id"]))
    worker.start()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and family_runs(settings, run["parent_run_id"]).get("linear", ("",))[0] != "RUNNING":
        time.sleep(0.5)
    assert family_runs(settings, run["parent_run_id"])["linear"][0] == "RUNNING"
    os.kill(worker.pid, signal.SIGKILL)  # no chance to clean up, as with an OOM kill
    worker.join()

    steps.train_family(settings, "linear", run["manifest_uri"], run["parent_run_id"])  # the retry
    statuses = MlflowClient(settings.mlflow_tracking_uri).search_runs(
        [tracking.experiment_id(settings)], filter_string=f"tags.`mlflow.parentRunId` = '{run['parent_run_id']}'")
    assert sorted(r.info.status for r in statuses) == ["FINISHED", "KILLED"]


def test_unreachable_tracking_server_fails_after_bounded_retries(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    settings = Settings(home=tmp_path, mlflow_tracking_uri="http://127.0.0.1:9", mlflow_retries=2)
    started = time.monotonic()
    with pytest.raises(tracking.TrackingUnavailable, match="failed to open the experiment after 2 attempt"):
        tracking.experiment_id(settings)
    assert time.monotonic() - started < 60


def test_an_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "manifest.json"
    storage.write_bytes(str(target), b"old")

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        storage.write_bytes(str(target), b"new and much longer")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temporary file left


def test_forecast_upsert_is_one_transaction(tmp_path):
    settings = Settings(home=tmp_path)
    row = {"as_of": pd.Timestamp("2019-05-31").date(), "model_version": 1, "model_family": "naive",
           "created_at": pd.Timestamp.now(tz="UTC").to_pydatetime()}
    good = [{**row, "target_date": pd.Timestamp(f"2019-06-0{h}").date(), "horizon": h, "forecast": 1.0}
            for h in (1, 2)]
    forecasting.upsert(settings, good)
    before = forecasting.stored(settings)
    bad = [{**good[0], "forecast": 2.0}, {**good[1], "forecast": None}]  # second row violates NOT NULL
    with pytest.raises(Exception):
        forecasting.upsert(settings, bad)
    pd.testing.assert_frame_equal(forecasting.stored(settings), before)  # the first row was rolled back
