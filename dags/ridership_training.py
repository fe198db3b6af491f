"""Nightly retraining of every model family, then promotion of the best one.

validate (Great Expectations; finds the run's data cutoff, the source's last day up to the
logical date, and fails a stale source) → clean → decide (the retrain policy: skips the rest,
visibly and with its reason, when too few new days arrived) → materialize windows → train[family] (mapped, in
parallel) → train_ensemble[family] (mapped; ensembles average the members that train[…] has just
trained instead of training them again) → promote (gate vs. the current champion) → publish the
champion asset, which triggers `ridership_forecast`. The run's logical date is the data cutoff
(as-of date); the trigger form can override it and the families/epochs for one run.

All ML logic lives in `pipeline.steps`; each task calls one step. Heavy libraries are imported
inside the tasks only, so parsing this file stays cheap.
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import Asset, CronDataIntervalTimetable, Metadata, Param, TriggerRule, dag, task

from pipeline.config import CHAMPION_ASSET_NAME, Settings, champion_asset_uri, schedule_or_none

SETTINGS = Settings.from_env()
CHAMPION = Asset(name=CHAMPION_ASSET_NAME, uri=champion_asset_uri(SETTINGS))
SCHEDULE = schedule_or_none(SETTINGS.training_schedule)


def _context(cutoff: str | None = None):
    """This task's settings and lineage; at the run's data cutoff once validation has found it."""
    from airflow.sdk import get_current_context

    from pipeline.config import parse_date
    from pipeline.orchestration import settings_for

    settings, lineage = settings_for(get_current_context())
    return (settings.with_overrides(as_of=parse_date(cutoff)) if cutoff else settings), lineage


@dag(
    dag_id="ridership_training",
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC") if SCHEDULE else None,
    start_date=pendulum.datetime(2019, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two trainings at once would race for the champion alias
    tags=["ridership", "training"],
    doc_md=__doc__,
    params={
        "as_of": Param(None, type=["null", "string"], format="date", description="data cutoff (default: logical date)"),
        "epochs": Param(None, type=["null", "integer"], minimum=1, description="maximum epochs per family"),
        "families": Param(None, type=["null", "string"], description="comma-separated subset of families"),
        "force": Param(False, type="boolean", description="retrain even when the retrain policy would skip"),
    },
    default_args={"retries": 0},
)
def ridership_training():
    @task
    def validate() -> dict:
        from pipeline import steps

        settings, _ = _context()
        return steps.validate_source(settings)

    @task
    def clean(checked: dict) -> dict:
        from pipeline import steps

        settings, _ = _context()
        return steps.clean_snapshot(settings, checked["raw_uri"], checked["data_hash"])

    @task
    def decide(checked: dict) -> dict:
        """Skips the rest of the run (visibly, with the reason) when the retrain policy says so."""
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowSkipException

        from pipeline import steps

        settings, _ = _context(checked["cutoff"])
        force = bool(get_current_context()["params"].get("force"))
        policy = steps.retrain_policy(settings, checked["cutoff"], force)
        if not policy["retrain"]:
            raise AirflowSkipException(f"training skipped at cutoff {checked['cutoff']}: {policy['reason']}")
        return policy

    @task
    def materialize(checked: dict, cleaned: dict) -> dict:
        from pipeline import steps

        settings, lineage = _context(checked["cutoff"])
        return steps.materialize_windows(settings, cleaned["clean_uri"], checked["data_hash"], lineage,
                                         checked["data_docs_uri"])

    @task
    def families(run: dict) -> list[str]:
        return run["families"]

    @task
    def ensembles(run: dict) -> list[str]:
        return run["ensembles"]

    @task(map_index_template="{{ family }}")
    def train(family: str, run: dict) -> dict:
        from pipeline import steps

        settings, lineage = _context(run["as_of"])
        return steps.train_family(settings, family, run["manifest_uri"], run["parent_run_id"], lineage)

    # After every member, trained, failed or none at all: the ensemble trains a member the run
    # lacks itself (and cannot start without the run's windows: it needs `materialize`'s values).
    train_ensemble = train.override(task_id="train_ensemble", trigger_rule=TriggerRule.ALL_DONE)

    @task
    def promote(run: dict) -> dict:
        from pipeline import steps

        settings, lineage = _context(run["as_of"])
        return steps.promote_best(settings, run["manifest_uri"], run["parent_run_id"], run["run_key"], lineage)

    @task(outlets=[CHAMPION])
    def publish_champion(decision: dict):
        from airflow.sdk.exceptions import AirflowSkipException

        if decision["decision"] != "promoted" or decision.get("rerun"):
            raise AirflowSkipException(f"champion unchanged: {decision['reason']}")
        yield Metadata(CHAMPION, {"version": decision["version"], "family": decision["family"],
                                  "as_of": decision["as_of"]})

    checked = validate()
    cleaned = clean(checked)  # before the policy: a skipped night still forecasts from its newest day
    run = materialize(checked, cleaned)
    cleaned >> decide(checked) >> run
    trained = train.partial(run=run).expand(family=families(run))
    averaged = train_ensemble.partial(run=run).expand(family=ensembles(run))
    # Either stage may be empty (a mapped task over no families is skipped), and some trainings may
    # fail: promotion waits for both to end, whatever their outcome, and ranks what finished.
    trainings_ended = EmptyOperator(task_id="trainings_ended", trigger_rule=TriggerRule.ALL_DONE)
    decision = promote(run)
    trained >> averaged >> trainings_ended >> decision
    trained >> trainings_ended
    publish_champion(decision)


ridership_training()
