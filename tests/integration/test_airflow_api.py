"""What `make run` prints while it waits for a DAG run (scripts/airflow_api.py)."""

import importlib.util

from pipeline.config import PROJECT_ROOT

spec = importlib.util.spec_from_file_location("airflow_api", PROJECT_ROOT / "scripts" / "airflow_api.py")
airflow_api = importlib.util.module_from_spec(spec)
spec.loader.exec_module(airflow_api)


def test_progress_line_counts_finished_tasks_and_names_the_running_families():
    tasks = [
        {"task_id": "validate", "map_index": -1, "state": "success"},
        {"task_id": "retrain_policy", "map_index": -1, "state": "success"},
        {"task_id": "train", "map_index": 0, "rendered_map_index": "lstm", "state": "running"},
        {"task_id": "train", "map_index": 1, "rendered_map_index": "gru", "state": "running"},
        {"task_id": "train", "map_index": 2, "rendered_map_index": "naive", "state": "failed"},
        {"task_id": "train", "map_index": 3, "state": "scheduled"},
        {"task_id": "promote", "map_index": -1, "state": None},
    ]
    assert airflow_api.progress_line(tasks) == (
        "3/7 tasks done (1 failed, 2 success); running: train[lstm], train[gru]")
    assert airflow_api.progress_line(tasks[:1]) == "1/1 tasks done (1 success); running: -"
    assert airflow_api.label(tasks[5]) == "train[3]"
    # a running instance has no rendered label yet (Airflow 3.3 gives its index as a string, seen on
    # a live run): its family comes from what the task maps over
    running = [{"task_id": "train", "map_index": 1, "state": "running"},
               {"task_id": "train", "map_index": 0, "rendered_map_index": "0", "state": "running"}]
    assert airflow_api.progress_line(running, {"train": ["lstm", "gru"]}).endswith("running: train[gru], train[lstm]")


class FakeApi:
    """The answers of Airflow's REST API for one backfilled night that skipped training."""

    def tasks(self, run):
        return [{"task_id": "validate", "map_index": -1, "state": "success", "start_date": "1"},
                {"task_id": "materialize", "map_index": -1, "state": "skipped", "start_date": "2", "try_number": 1},
                {"task_id": "train", "map_index": -1, "state": "skipped", "start_date": None}]

    def result(self, run, task_id):
        return {"cutoff": "2019-06-03", "run_date": "2019-06-03"} if task_id == "validate" else None

    def skip_reason(self, run, task):
        assert task["task_id"] == "materialize"  # only tasks that ran and skipped themselves are asked
        return "training skipped at cutoff 2019-06-03: 2 new day(s) since the last training's cutoff 2019-06-01"


def test_a_backfilled_night_shows_task_states_chosen_values_and_why_tasks_skipped():
    run = {"dag_id": "ridership_training", "dag_run_id": "backfill__2019-06-04", "state": "success",
           "logical_date": "2019-06-03T00:00:00Z"}
    assert airflow_api.night_report(FakeApi(), run, {"validate": ["cutoff"], "promote": ["decision"]}) == [
        "2019-06-03  success  validate=success  materialize=skipped  train=skipped",
        "    validate: cutoff=2019-06-03",
        "    materialize skipped: training skipped at cutoff 2019-06-03: 2 new day(s) since the last training's "
        "cutoff 2019-06-01",
    ]
