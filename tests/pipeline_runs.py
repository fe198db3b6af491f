"""A pipeline run driven step by step, as the training DAG drives it, for tests of its steps."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from pipeline.lifecycle import tracking
from pipeline.nightly import steps
from pipeline.config import Settings
from pipeline.lifecycle.logged_models import log_family_model


def prepared(settings: Settings) -> dict:
    """Migrate the stores, validate, clean and materialize (steps.prepare), as the training DAG's first
    tasks do: the run's manifest, parent run and stages."""
    steps.migrate_stores(settings)
    return steps.prepare(settings, {"trigger": "test"})[1]


def logged_model(settings: Settings, family, history) -> str:
    """Log `family` as the pyfunc model of a new run, as a training step does; its model URI."""
    run_id = tracking.client(settings).create_run(tracking.experiment_id(settings)).info.run_id
    return log_family_model(settings, run_id, family, history)


def family_runs(settings: Settings, parent: str) -> dict[str, tuple[str, str]]:
    """{family: (status, error tag)} of every family run under a parent run."""
    runs = MlflowClient(settings.mlflow_tracking_uri).search_runs(
        [tracking.experiment_id(settings)], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    return {r.data.tags[tracking.FAMILY_TAG]: (r.info.status, r.data.tags.get(tracking.ERROR_TAG, ""))
            for r in runs}
