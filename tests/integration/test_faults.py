"""Faults: a family that crashes or diverges, all families failing, a killed training task,
an unreachable MLflow server, interrupted writes. The champion and stored data must survive."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import time

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipeline.io import storage
from pipeline.lifecycle import registry, tracking
from pipeline.io import forecasts
from pipeline.nightly import steps
from pipeline.config import Settings
from pipeline.errors import PromotionError, StorageError, TrainingError
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
    forecasts_before = forecasts.stored(yesterday)

    settings = Settings(home=tmp_path, families=(EXPLODING,))
    run = prepared(settings)
    with pytest.raises(RuntimeError):
        steps.train_family(settings, EXPLODING, run["manifest_uri"], run["parent_run_id"])
    with pytest.raises(PromotionError, match="no model family finished training.*champion is unchanged"):
        steps.promote_best(settings, run["manifest_uri"], run["parent_run_id"], run["run_key"])
    assert registry.current_champion(settings).version == versions_before[0].version
    versions = MlflowClient(settings.mlflow_tracking_uri).search_model_versions("name = 'ridership'")
    assert [(v.version, v.tags) for v in versions] == [(v.version, v.tags) for v in versions_before]
    pd.testing.assert_frame_equal(forecasts.stored(settings), forecasts_before)


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
    with pytest.raises(StorageError, match=f"cannot write {target} .*disk full"):
        storage.write_bytes(str(target), b"new and much longer")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temporary file left


def test_forecast_upsert_is_one_transaction(tmp_path):
    settings = Settings(home=tmp_path)
    forecasts.migrate(settings)
    row = {"as_of": pd.Timestamp("2019-05-31").date(), "model_version": 1, "model_family": "naive",
           "created_at": pd.Timestamp.now(tz="UTC").to_pydatetime()}
    good = [{**row, "target_date": pd.Timestamp(f"2019-06-0{h}").date(), "horizon": h, "forecast": 1.0}
            for h in (1, 2)]
    forecasts.upsert(settings, good)
    before = forecasts.stored(settings)
    bad = [{**good[0], "forecast": 2.0}, {**good[1], "forecast": None}]  # second row violates NOT NULL
    with pytest.raises(Exception):
        forecasts.upsert(settings, bad)
    pd.testing.assert_frame_equal(forecasts.stored(settings), before)  # the first row was rolled back


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of its own (the test needs the right to mount one, which CI's machines give root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], check=True, capture_output=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def test_a_full_disk_while_writing_windows_names_the_path_and_keeps_snapshot_and_champion(small_disk):
    settings = Settings(home=small_disk, families=("linear",), epochs=2, train_months=6, backtest_years=(),
                        as_of=pd.Timestamp("2019-04-30").date())
    run = prepared(settings)
    steps.train_family(settings, "linear", run["manifest_uri"], run["parent_run_id"])
    steps.promote_best(settings, run["manifest_uri"], run["parent_run_id"], run["run_key"])
    champion = registry.current_champion(settings).version
    pointer = steps.latest_clean(settings)
    later = settings.with_overrides(as_of=pd.Timestamp("2019-05-31").date())
    checked = steps.validate_source(later)
    cleaned = steps.clean_snapshot(later, checked["raw_uri"], checked["data_hash"])
    # the next night's windows are new files: leave room for a little, not for them
    used = int(subprocess.run(["du", "-sk", str(small_disk)], capture_output=True, text=True).stdout.split()[0])
    subprocess.run(["mount", "-o", f"remount,size={used + 8}k", str(small_disk)], check=True, capture_output=True)

    with pytest.raises(StorageError, match=rf"cannot write {small_disk}/artifacts/windows/\S+\.npz .*"
                                           r"No space left on device"):
        steps.materialize_windows(later, cleaned["clean_uri"], checked["data_hash"])
    assert registry.current_champion(settings).version == champion
    latest = steps.latest_clean(later)  # the pointer always names a whole snapshot
    assert storage.exists(latest["clean_uri"]) and latest["data_hash"] == pointer["data_hash"]
    # and the next night's validation on the full disk fails naming what it could not write
    with pytest.raises(StorageError, match=r"cannot write the data docs .* No space left on device"):
        steps.validate_source(later.with_overrides(as_of=pd.Timestamp("2019-05-29").date()))
    assert not list(small_disk.rglob("*.tmp")), "a temporary file was left behind"
    assert len(steps.load_clean(latest["clean_uri"])) > 0
