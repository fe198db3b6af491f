"""Airflow UI glue: buttons on the ridership tasks that open what they produced.

- validate → its Great Expectations data docs
- train[family], train_after_members[family] → the family's MLflow run
- promote → the registered model version it created (and its decision tags)

Each link is built from the task's own return value (XCom), so it points at exactly the
run or version that this task instance wrote.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

from pipeline.config import TRAINING_STAGES

TRAINING_DAG = "ridership_training"
TRAINING_TASKS = TRAINING_STAGES


def link_for(kind: str, task_id: str, value: dict[str, Any] | None, mlflow_ui_url: str,
             model_name: str) -> str:
    """The URL of one button for a task's return value ('' when the task has none)."""
    if not isinstance(value, dict):
        return ""
    base = mlflow_ui_url.rstrip("/")
    if kind == "run" and task_id in TRAINING_TASKS and value.get("run_id"):
        return f"{base}/#/experiments/{value.get('experiment_id', '0')}/runs/{value['run_id']}"
    if kind == "version" and task_id == "promote" and value.get("version"):
        return f"{base}/#/models/{model_name}/versions/{value['version']}"
    if kind == "docs" and task_id == "validate" and value.get("data_docs_uri"):
        uri = value["data_docs_uri"]
        return uri if "://" in uri else f"file://{uri}"
    return ""


def _return_value(ti_key) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(
            run_id=ti_key.run_id, key="return_value", task_ids=ti_key.task_id, dag_ids=ti_key.dag_id,
            map_indexes=ti_key.map_index, limit=1)).first()
        return XComModel.deserialize_value(row) if row is not None else None


class _RidershipLink(BaseOperatorLink):
    kind = ""

    def get_link(self, operator, *, ti_key) -> str:
        if ti_key.dag_id != TRAINING_DAG:
            return ""
        from pipeline.config import Settings

        settings = Settings.from_env()
        return link_for(self.kind, ti_key.task_id, _return_value(ti_key), settings.mlflow_ui_url,
                        settings.registered_model)


class MlflowRunLink(_RidershipLink):
    name = "MLflow run"
    kind = "run"


class ModelVersionLink(_RidershipLink):
    name = "Model version"
    kind = "version"


class DataDocsLink(_RidershipLink):
    name = "Data docs"
    kind = "docs"


class RidershipPlugin(AirflowPlugin):
    name = "ridership"
    global_operator_extra_links = [MlflowRunLink(), ModelVersionLink(), DataDocsLink()]
