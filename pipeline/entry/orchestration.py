"""Turning an orchestrator's task context into Settings and lineage, without importing Airflow.

The DAG files pass Airflow's context mapping here; only plain attributes are read from it.
"""

from __future__ import annotations

from typing import Any, Mapping

from pipeline.entry import runtime
from pipeline.config import Settings, parse_date

RUN_PARAMS = ("as_of", "epochs", "families", "data_uri", "from_scratch")


def run_overrides(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Trigger-form parameters (None or empty means: keep the configured value)."""
    params = params or {}
    overrides = {k: params.get(k) for k in RUN_PARAMS if params.get(k) not in (None, "", [], False)}
    if "as_of" in overrides:
        overrides["as_of"] = parse_date(overrides["as_of"])
    if isinstance(overrides.get("families"), str):
        overrides["families"] = tuple(f.strip() for f in overrides["families"].split(",") if f.strip())
    elif "families" in overrides:
        overrides["families"] = tuple(overrides["families"])
    if "epochs" in overrides:
        overrides["epochs"] = int(overrides["epochs"])
    return overrides


def settings_for(context: Mapping[str, Any], as_of_from_events: bool = False,
                 models: bool = False) -> tuple[Settings, dict[str, Any]]:
    """Settings for this task: environment, then trigger params, then the run's as-of date.

    The as-of date is, in order: the `as_of` param; for asset-triggered runs, the as-of date
    carried by the triggering event; the run's logical date; the configured default. Every task
    calls this first: it is the task's entry point, so it also sets up the task's process
    (`runtime.configure`: logs, and Keras and its thread pools for a task that trains or loads
    models, `models`).
    """
    dag_run = context.get("dag_run")
    logical = context.get("logical_date")
    overrides = run_overrides(context.get("params"))
    if "as_of" not in overrides and as_of_from_events:
        event_as_of = _as_of_from_events(context.get("triggering_asset_events"))
        if event_as_of:
            overrides["as_of"] = event_as_of
    if "as_of" not in overrides and logical is not None:
        overrides["as_of"] = logical.date()
    ti = context.get("ti")
    lineage = {
        "dag_id": getattr(dag_run, "dag_id", None),
        "airflow_run_id": getattr(dag_run, "run_id", None),
        "logical_date": logical.isoformat() if logical is not None else None,
        "task_id": getattr(ti, "task_id", None),
    }
    settings = Settings.from_env(**overrides)
    runtime.configure(settings, models=models)
    return settings, lineage


def _as_of_from_events(events: Mapping[str, Any] | None):
    latest = None
    for asset_events in (events or {}).values():
        for event in asset_events:
            as_of = parse_date((getattr(event, "extra", None) or {}).get("as_of"))
            if as_of and (latest is None or as_of > latest):
                latest = as_of
    return latest
