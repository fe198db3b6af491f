"""A pipeline run driven step by step, as the training DAG drives it, for tests of its steps."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from pipeline import steps, tracking
from pipeline.config import Settings


def prepared(settings: Settings) -> dict:
    """Validate, clean and materialize: the run's manifest, parent run and families to train."""
    checked = steps.validate_source(settings)
    cleaned = steps.clean_snapshot(settings, checked["raw_uri"], checked["data_hash"])
    return steps.materialize_windows(settings, cleaned["clean_uri"], checked["data_hash"], {"trigger": "test"})


def family_runs(settings: Settings, parent: str) -> dict[str, tuple[str, str]]:
    """{family: (status, error tag)} of every family run under a parent run."""
    runs = MlflowClient(settings.mlflow_tracking_uri).search_runs(
        [tracking.experiment_id(settings)], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    return {r.data.tags[tracking.FAMILY_TAG]: (r.info.status, r.data.tags.get("ridership.error", ""))
            for r in runs}
