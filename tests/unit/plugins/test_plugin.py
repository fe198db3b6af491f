"""The Airflow UI links resolve to the run, version and docs that each task produced."""

import importlib.util

import pytest

from pipeline.config import PROJECT_ROOT

spec = importlib.util.spec_from_file_location("ridership_links", PROJECT_ROOT / "plugins" / "ridership_links.py")
links = importlib.util.module_from_spec(spec)
spec.loader.exec_module(links)
UI = "http://mlflow.example:5000/"


@pytest.mark.parametrize("task_id", ["train", "train_after_members"])
def test_training_task_links_to_its_mlflow_run(task_id):
    value = {"family": "gru", "run_id": "abc123", "experiment_id": "7"}
    assert links.link_for("run", task_id, value, UI, "ridership") == "http://mlflow.example:5000/#/experiments/7/runs/abc123"


def test_promote_links_to_the_registered_version():
    value = {"decision": "kept_champion", "version": "12"}
    assert links.link_for("version", "promote", value, UI, "ridership") == \
        "http://mlflow.example:5000/#/models/ridership/versions/12"


def test_validate_links_to_data_docs():
    value = {"data_docs_uri": "/state/artifacts/datadocs/abc-2019-05-31/index.html"}
    assert links.link_for("docs", "validate", value, UI, "ridership") == \
        "file:///state/artifacts/datadocs/abc-2019-05-31/index.html"


@pytest.mark.parametrize("kind,task_id,value", [
    ("run", "promote", {"run_id": "x"}),  # a button only on its own task
    ("run", "train", None),               # a failed training has no return value
    ("version", "promote", {"decision": "x"}),
])
def test_no_link_where_there_is_nothing_to_open(kind, task_id, value):
    assert links.link_for(kind, task_id, value, UI, "ridership") == ""


def test_plugin_registers_the_three_links():
    names = sorted(link.name for link in links.RidershipPlugin.global_operator_extra_links)
    assert names == ["Data docs", "MLflow run", "Model version"]
