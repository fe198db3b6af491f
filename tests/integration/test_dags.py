"""The DAG files: they parse, wire the expected tasks, map training, and stay light to import."""

import subprocess
import sys

import pytest

from pipeline.config import PROJECT_ROOT

DAGS = PROJECT_ROOT / "dags"
HEAVY = ("tensorflow", "keras", "mlflow", "great_expectations", "pandas", "statsmodels", "matplotlib")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"ridership_training", "ridership_forecast", "ridership_rollback"}


def test_training_dag_wires_the_pipeline(dagbag):
    dag = dagbag.dags["ridership_training"]
    assert set(dag.task_ids) == {"migrate", "validate", "clean", "retrain_policy", "materialize", "train_families", "train",
                                 "train_after_members_families", "train_after_members", "leaderboard",
                                 "promote", "publish_champion"}
    forecast = dagbag.dags["ridership_forecast"]
    assert set(forecast.task_ids) == {"migrate", "forecast", "shadow_forecast", "score_realized", "check_drift"}
    # the stores are migrated, explicitly, before anything reads or writes them
    assert dag.get_task("validate").upstream_task_ids == {"migrate"}
    assert forecast.get_task("forecast").upstream_task_ids == forecast.get_task("shadow_forecast").upstream_task_ids \
        == {"migrate"}
    # the challengers' forecasts are scored with the champion's
    assert forecast.get_task("score_realized").upstream_task_ids == {"forecast", "shadow_forecast"}
    assert dag.get_task("clean").upstream_task_ids == {"validate"}
    # the retrain policy runs after the newest day is cleaned (a skipped night still forecasts from it)
    assert dag.get_task("retrain_policy").upstream_task_ids == {"validate", "clean"}
    assert dag.get_task("materialize").upstream_task_ids == {"validate", "clean", "retrain_policy"}
    assert dag.params["force"] is False and dag.params["from_scratch"] is False
    # a stage after the stage before has ended, whatever its trainings' outcome; promotion after all
    assert dag.get_task("train").upstream_task_ids == {"materialize", "train_families"}
    assert dag.get_task("train_after_members").upstream_task_ids == {
        "materialize", "train_after_members_families", "train"}
    assert dag.get_task("train_after_members").trigger_rule == "all_done_min_one_success"
    assert dag.get_task("leaderboard").upstream_task_ids == {"retrain_policy", "materialize", "train_after_members"}
    assert dag.get_task("leaderboard").trigger_rule == "all_done"
    assert dag.get_task("promote").upstream_task_ids == {"materialize", "leaderboard"}
    assert dag.get_task("promote").trigger_rule == "all_success"
    assert dag.max_active_runs == 1


@pytest.mark.parametrize("task_id", ["train", "train_after_members"])
def test_training_is_dynamically_mapped_and_labelled(dagbag, task_id):
    train = dagbag.dags["ridership_training"].get_task(task_id)
    assert train.is_mapped
    assert train.map_index_template == "{{ family }}"


def test_promotion_publishes_the_champion_asset_that_schedules_forecasts(dagbag):
    outlets = dagbag.dags["ridership_training"].get_task("publish_champion").outlets
    assert [a.name for a in outlets] == ["ridership_champion"]
    forecast = dagbag.dags["ridership_forecast"]
    assert "ridership_champion" in str(forecast.timetable.asset_condition)
    assert forecast.timetable.timetable.expression == "0 6 * * *"  # and daily


def test_rollback_dag_asks_for_version_and_reason_and_publishes_the_champion(dagbag):
    dag = dagbag.dags["ridership_rollback"]
    assert dag.task_ids == ["migrate", "rollback"] and type(dag.timetable).__name__ == "NullTimetable"  # by hand
    assert dag.get_task("rollback").upstream_task_ids == {"migrate"}
    assert set(dag.params) == {"version", "reason"}
    assert [a.name for a in dag.get_task("rollback").outlets] == ["ridership_champion"]


@pytest.mark.parametrize("module", ["ridership_training", "ridership_forecast", "ridership_rollback"])
def test_dag_files_import_no_heavy_library(module):
    code = (f"import sys; sys.path.insert(0, {str(DAGS)!r}); import {module}; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
