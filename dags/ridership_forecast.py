"""Batch forecast of the next days with the `champion` model, stored in the forecasts table.

Runs when the champion asset changes (a promotion in `ridership_training`) and daily. The
as-of date is the `as_of` param, else the one carried by the promotion event, else the
logical date; the forecast starts after the last validated day up to it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from pipeline.config import CHAMPION_ASSET_NAME, Settings, champion_asset_uri, schedule_or_none
from pipeline.nightly.results import Forecast, Migrated, ShadowForecast

SETTINGS = Settings.from_env()
CHAMPION = Asset(name=CHAMPION_ASSET_NAME, uri=champion_asset_uri(SETTINGS))
DAILY = schedule_or_none(SETTINGS.forecast_schedule)


def _settings(models: bool = False):
    """This task's settings, its process set up first; `models`: the task loads models."""
    from airflow.sdk import get_current_context

    from pipeline.entry.orchestration import settings_for

    return settings_for(get_current_context(), as_of_from_events=True, models=models)[0]


@dag(
    dag_id="ridership_forecast",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable(DAILY, timezone="UTC"), assets=[CHAMPION])
    if DAILY else [CHAMPION],
    start_date=pendulum.datetime(2019, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ridership", "forecast"],
    doc_md=__doc__,
    params={"as_of": Param(None, type=["null", "string"], format="date", description="forecast origin")},
)
def ridership_forecast():
    @task
    def migrate() -> Migrated:
        """Create or migrate the forecast database (idempotent)."""
        from pipeline.nightly import steps

        return steps.migrate_stores(_settings())

    @task
    def forecast() -> Forecast:
        from pipeline.nightly import steps

        return steps.forecast_next(_settings(models=True))

    @task
    def shadow_forecast() -> ShadowForecast:
        """Every family of the last training forecasts too, stored apart: the challengers' record."""
        from pipeline.nightly import steps

        return steps.shadow_forecast(_settings(models=True))

    @task
    def score_realized() -> dict:
        from pipeline.nightly import steps

        return steps.score_realized(_settings())

    @task
    def check_drift(report: dict) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        if report["drifted"]:
            raise AirflowFailException(report["message"])

    forecasts = [forecast(), shadow_forecast()]
    migrate() >> forecasts
    check_drift(forecasts >> score_realized())


ridership_forecast()
