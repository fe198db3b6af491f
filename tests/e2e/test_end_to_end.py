"""Both DAGs for real (``airflow dags test``) on throwaway Airflow, MLflow and forecast databases.

One module-scoped state: the training DAG promotes a champion and the forecast DAG stores 14
rows; then a file with a missing column fails the training DAG at validation and leaves the
champion, the registry and the stored forecasts exactly as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, Settings

AIRFLOW = str(Path(sys.executable).parent / "airflow")
AS_OF = "2019-05-31"
PAIR = "tests.fault_families:NaiveAndLinear"
TOY = "tests.fault_families:NaivePlusBias"  # builds on naive through the family protocol, not an Ensemble


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("e2e")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("RIDERSHIP_", "AIRFLOW"))}
    environ.update({
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "RIDERSHIP_HOME": str(home / "state"),
        "RIDERSHIP_EPOCHS": "2",
        # and an ensemble of two of them, which must train after them and adopt them
        "RIDERSHIP_FAMILIES": f"naive,sarima,linear,multivariate_rnn,lightgbm,{PAIR},{TOY}",
        "PYTHONPATH": str(PROJECT_ROOT),  # where the tasks find the test ensemble
        "RIDERSHIP_TRAIN_MONTHS": "6",  # tiny training sets: this checks wiring, not accuracy
        "RIDERSHIP_TRAINING_SCHEDULE": "none",
        "RIDERSHIP_FORECAST_SCHEDULE": "none",
        "RIDERSHIP_DRIFT_FACTOR": "5",  # 2-epoch models drift by design; tested on its own below
    })
    subprocess.run([AIRFLOW, "db", "migrate"], env=environ, check=True, capture_output=True, timeout=600)
    return environ


def run_dag(env: dict[str, str], dag_id: str, **conf) -> str:
    """Run a DAG in-process with `airflow dags test`; return the final state of the run."""
    out = subprocess.run(
        [AIRFLOW, "dags", "test", dag_id, "--conf", json.dumps({"as_of": AS_OF, **conf})],
        env=env, capture_output=True, text=True, timeout=1200,
    )
    log = out.stdout + out.stderr
    Path(env["RIDERSHIP_HOME"], f"{dag_id}.log").write_text(log)
    finished = re.findall(rf"DagRun Finished: dag_id={dag_id},.*?state=(\w+)", log)
    return finished[-1] if finished else f"unfinished (exit {out.returncode})"


def registry_state(settings: Settings) -> dict:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(settings.mlflow_tracking_uri)
    versions = client.search_model_versions(f"name = '{settings.registered_model}'")
    champion = client.get_model_version_by_alias(settings.registered_model, settings.champion_alias)
    return {"champion": str(champion.version),
            "versions": sorted((str(v.version), tuple(sorted(v.tags.items()))) for v in versions)}


def forecast_rows(settings: Settings) -> list[tuple]:
    path = settings.forecast_db_uri[len("sqlite:///"):]
    with sqlite3.connect(path) as db:
        return db.execute("SELECT * FROM forecasts ORDER BY as_of, target_date, model_version").fetchall()


@pytest.fixture(scope="module")
def trained(env) -> Settings:
    assert run_dag(env, "ridership_training") == "success", _tail(env, "ridership_training")
    assert run_dag(env, "ridership_forecast") == "success", _tail(env, "ridership_forecast")
    return Settings.from_env(env)


def db_digests(settings: Settings) -> dict[str, str]:
    return {uri: hashlib.sha256(Path(uri[len("sqlite:///"):]).read_bytes()).hexdigest()
            for uri in (settings.mlflow_tracking_uri, settings.forecast_db_uri)}


def _tail(env, dag_id) -> str:
    return Path(env["RIDERSHIP_HOME"], f"{dag_id}.log").read_text()[-12000:]


def test_training_promotes_a_champion_and_forecast_stores_14_rows(trained):
    state = registry_state(trained)
    assert state["champion"] == "1"
    rows = forecast_rows(trained)
    assert len(rows) == 14
    assert {r[0] for r in rows} == {AS_OF}
    assert [r[1] for r in rows][0] == "2019-06-01" and [r[1] for r in rows][-1] == "2019-06-14"
    assert all(100_000 < r[4] < 2_000_000 for r in rows)  # plausible daily rail boardings


def test_every_family_ran_as_a_mapped_task_and_was_logged(trained, env):
    from pipeline.nightly import report

    summary = report.summary(trained)
    assert sorted(r["family"] for r in summary["leaderboard"]) == sorted(trained.families)
    # the first training of a state: every family from scratch, as the leaderboard says
    assert {r["mode"] for r in summary["leaderboard"]} == {"scratch"}
    # the fit's own seconds (a run also scores, logs and backtests), named so in the table too
    assert all(r["fit_seconds"] >= 0 for r in summary["leaderboard"]) and " fit_seconds " in summary["text"]
    assert " mode " in summary["text"].splitlines()[1]
    log = Path(env["RIDERSHIP_HOME"], "ridership_training.log").read_text()
    started = set(re.findall(r"starting task_id=(train\w*) map_index=(\d+)", log))
    assert started == ({("train", str(index)) for index in range(len(trained.families) - 2)}
                       | {("train_after_members", "0"), ("train_after_members", "1")})


def test_the_ensemble_trained_last_and_adopted_the_member_the_run_trained(trained):
    from pipeline.lifecycle import tracking
    from pipeline.nightly import report, steps

    parent = report.latest_parent_run(trained)
    runs = {r.family: r for r in tracking.finished_family_runs(trained, parent.run_id)}
    ensemble, toy = runs.pop(PAIR), runs.pop(TOY)
    assert ensemble.start >= max(r.end for r in runs.values())
    # a family that only declares a member trains after it and adopts it, like an ensemble
    assert toy.start >= runs["naive"].end
    tags = {r.family: tracking.client(trained).get_run(r.run_id).data.tags for r in (ensemble, toy)}
    assert json.loads(tags[TOY][tracking.ADOPTED_MEMBERS_TAG]) == {"naive": runs["naive"].run_id}
    assert json.loads(tags[PAIR][tracking.ADOPTED_MEMBERS_TAG]) == {
        name: runs[name].run_id for name in ("naive", "linear")}
    assert ensemble.metrics["epochs"] == 0  # nothing trained twice


def test_runs_and_versions_carry_their_lineage(trained):
    from mlflow.tracking import MlflowClient

    from pipeline.lifecycle import tracking
    from pipeline.nightly import report

    client = MlflowClient(trained.mlflow_tracking_uri)
    parent = report.latest_parent_run(trained)
    lineage = ("ridership.data_hash", "ridership.windows_manifest", "ridership.code_version",
               "ridership.dag_id", "ridership.airflow_run_id", "ridership.as_of", "ridership.config_digest")
    for key in lineage:
        assert client.get_run(parent.run_id).data.tags.get(key), key
    children = tracking.finished_family_runs(trained, parent.run_id)
    assert len(children) == len(trained.families)
    for child in children:
        assert all(client.get_run(child.run_id).data.tags.get(k) for k in lineage)
        assert {"mae_h1", "mae_mean", "mae_h14", "epochs"} <= set(child.metrics)
    version = client.get_model_version(trained.registered_model, "1")
    assert all(version.tags.get(k) for k in lineage)
    assert version.tags["ridership.decision"] == "promoted"
    assert version.tags["ridership.decision_reason"] == "no champion yet"
    artifacts = {a.path for a in client.list_artifacts(parent.run_id)}
    assert {"leaderboard.csv", "leaderboard.md", "mae_by_horizon.png", "validation_best3.png", "data_docs"} <= artifacts


def test_forecasts_carry_prediction_intervals(trained):
    from pipeline.io import forecasts

    rows = forecasts.stored(trained)
    assert ((rows["lower_95"] <= rows["lower_80"]) & (rows["lower_80"] <= rows["forecast"])
            & (rows["forecast"] <= rows["upper_80"]) & (rows["upper_80"] <= rows["upper_95"])).all()
    assert (rows["upper_80"] > rows["lower_80"]).all()


def test_rerunning_the_same_date_changes_nothing(trained, env):
    before_registry, before_rows = registry_state(trained), forecast_rows(trained)
    assert run_dag(env, "ridership_training") == "success", _tail(env, "ridership_training")
    # the retrain policy skips the night: the source has no day beyond the last training's cutoff
    assert "training skipped at cutoff 2019-05-31: no new data" in _tail(env, "ridership_training")
    assert run_dag(env, "ridership_forecast") == "success", _tail(env, "ridership_forecast")
    assert registry_state(trained) == before_registry  # no second version, no second promotion
    assert forecast_rows(trained) == before_rows


def test_backfill_over_three_dates_replays_history(trained, env):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(trained.mlflow_tracking_uri)
    for as_of in ("2019-06-30", "2019-07-31", "2019-08-31"):
        assert run_dag(env, "ridership_training", as_of=as_of) == "success", _tail(env, "ridership_training")
        assert run_dag(env, "ridership_forecast", as_of=as_of) == "success", _tail(env, "ridership_forecast")
    versions = sorted(client.search_model_versions(f"name = '{trained.registered_model}'"), key=lambda v: int(v.version))
    assert [v.tags["ridership.as_of"] for v in versions] == ["2019-05-31", "2019-06-30", "2019-07-31", "2019-08-31"]
    champion = "1"
    for v in versions[1:]:  # each night's combination was gated against the champion of its night
        assert v.tags["ridership.champion_version"] == champion
        gate = json.loads(v.tags["ridership.backtest_scores"])
        assert [w["window"] for w in gate["windows"]] == ["recent", "year-1", "year-2"]
        assert json.loads(v.tags["ridership.combination"]) == gate["chosen"]
        # the champion's recipe refitted, or a challenger that clearly beat it on the backtests
        assert v.tags["ridership.decision"] == "promoted"
        if gate["chosen"] != gate["challenger"]:  # the challenger did not win clearly
            assert "the champion's combination, refitted: the challenger" in v.tags["ridership.decision_reason"]
        champion = str(v.version)
    assert registry_state(trained)["champion"] == champion
    as_ofs = {r[0] for r in forecast_rows(trained)}
    assert {"2019-06-30", "2019-07-31", "2019-08-31"} <= as_ofs

    before_registry, before_rows = registry_state(trained), forecast_rows(trained)
    assert run_dag(env, "ridership_training", as_of="2019-07-31") == "success"
    assert run_dag(env, "ridership_forecast", as_of="2019-07-31") == "success"
    assert registry_state(trained) == before_registry and forecast_rows(trained) == before_rows


def test_drift_fails_the_check_but_keeps_the_forecasts(trained, env):
    strict = {**env, "RIDERSHIP_DRIFT_FACTOR": "0.5"}  # any realized error above half the validation MAE
    assert run_dag(strict, "ridership_forecast", as_of="2019-08-31") == "failed"
    log = _tail(strict, "ridership_forecast")
    assert "drifted: realized MAE" in log and "task_id=check_drift" in log
    assert "2019-08-31" in {r[0] for r in forecast_rows(trained)}


def test_bad_data_fails_validation_and_keeps_champion_and_forecasts(trained, env, tmp_path, raw_bytes):
    before_registry, before_rows = registry_state(trained), forecast_rows(trained)
    before_bytes = db_digests(trained)
    bad = tmp_path / "missing_column.csv"
    bad.write_text("\n".join(",".join(line.split(",")[:3] + line.split(",")[4:])
                             for line in raw_bytes.decode().splitlines()))
    bad_env = {**env, "RIDERSHIP_DATA_URI": str(bad)}
    assert run_dag(bad_env, "ridership_training") == "failed"
    log = _tail(bad_env, "ridership_training")
    assert "missing column(s): rail_boardings" in log
    after = log.split("missing column")[-1]
    assert not re.search(r"task_id=(train|train_after_members|promote)\b", after)  # nothing trained or promoted
    assert db_digests(trained) == before_bytes  # MLflow store and forecasts: byte for byte
    assert registry_state(trained) == before_registry
    assert forecast_rows(trained) == before_rows
    # the forecast DAG keeps working with the existing champion and the last good data
    assert run_dag(bad_env, "ridership_forecast") == "success"
    assert forecast_rows(trained) == before_rows
