"""What `make run` prints while it waits for a DAG run (scripts/airflow_api.py)."""

import importlib.util

from pipeline.config import PROJECT_ROOT

spec = importlib.util.spec_from_file_location("airflow_api", PROJECT_ROOT / "scripts" / "airflow_api.py")
airflow_api = importlib.util.module_from_spec(spec)
spec.loader.exec_module(airflow_api)


def test_progress_line_counts_finished_tasks_and_names_the_running_families():
    tasks = [
        {"task_id": "validate", "map_index": -1, "state": "success"},
        {"task_id": "decide", "map_index": -1, "state": "success"},
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
