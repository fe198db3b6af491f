"""Roll the champion back: move @champion to an earlier version the gate validated.

Triggered by hand (the form asks for the version, empty for the previous champion, and the
reason); the move, who asked and why are recorded on the version and in the champion history,
and the champion asset is published so that `ridership_forecast` forecasts again with it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, Metadata, Param, dag, task

from pipeline.config import CHAMPION_ASSET_NAME, Settings, champion_asset_uri
from pipeline.nightly.results import Migrated

SETTINGS = Settings.from_env()
CHAMPION = Asset(name=CHAMPION_ASSET_NAME, uri=champion_asset_uri(SETTINGS))


@dag(
    dag_id="ridership_rollback",
    schedule=None,
    start_date=pendulum.datetime(2019, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ridership", "registry"],
    doc_md=__doc__,
    params={
        "version": Param(None, type=["null", "string"], description="version to restore (empty: the previous champion)"),
        "reason": Param("", type="string", minLength=3, description="why (recorded with the version)"),
    },
)
def ridership_rollback():
    @task
    def migrate() -> Migrated:
        """Create or migrate the stores a rollback writes to (idempotent)."""
        from airflow.sdk import get_current_context

        from pipeline.entry.orchestration import settings_for
        from pipeline.nightly import steps

        return steps.migrate_stores(settings_for(get_current_context())[0])

    @task(outlets=[CHAMPION])
    def rollback():
        from airflow.sdk import get_current_context

        from pipeline.entry.orchestration import settings_for
        from pipeline.nightly import steps

        context = get_current_context()
        params, dag_run = context["params"], context["dag_run"]
        who = f"{getattr(dag_run, 'triggering_user_name', None) or 'airflow'} (run {dag_run.run_id})"
        settings = settings_for(context)[0]
        moved = steps.rollback_champion(settings, params["reason"], who, params.get("version") or None)
        yield Metadata(CHAMPION, {"version": moved["version"], "family": moved["family"], "as_of": moved["as_of"],
                                  "rollback": True})

    migrate() >> rollback()


ridership_rollback()
