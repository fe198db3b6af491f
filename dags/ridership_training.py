"""Nightly retraining of every model family, then promotion of the best one.

migrate (the stores) → validate (Great Expectations; finds the run's data cutoff, the source's last day up to the
logical date, and fails a stale source) → clean → retrain_policy → materialize
windows (skipped, visibly and with the policy's reason, when too few new days arrived: so is the
rest of the run) → train[family] (mapped, in parallel) → train_after_members[family] (mapped:
families that build on members trained the stage before, e.g. ensembles) → leaderboard (once
every training has ended, whatever its outcome) → promote (gate vs. the current champion) →
publish the champion asset, which triggers `ridership_forecast`. The run's logical date is the
data cutoff (as-of date); the trigger form can override it and the families/epochs for one run,
or train every family from scratch instead of warm-starting it (pipeline/modelling/warmstart.py).

All ML logic lives in `pipeline.nightly.steps`; each task calls one step. Heavy libraries are imported
inside the tasks only, so parsing this file stays cheap.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Metadata, Param, TriggerRule, chain, dag, task

from pipeline.config import CHAMPION_ASSET_NAME, TRAINING_STAGES, Settings, champion_asset_uri, schedule_or_none
from pipeline.nightly.results import (Checked, Cleaned, Decision, Migrated, Policy, PreparedRun, Trained,
                                      TrainingsEnded)

SETTINGS = Settings.from_env()
CHAMPION = Asset(name=CHAMPION_ASSET_NAME, uri=champion_asset_uri(SETTINGS))
SCHEDULE = schedule_or_none(SETTINGS.training_schedule)


def _context(cutoff: str | None = None, models: bool = False):
    """This task's settings and lineage (at the run's data cutoff once validation has found it), its
    process set up first; `models`: the task trains or loads models (Keras is set up too)."""
    from airflow.sdk import get_current_context

    from pipeline.config import parse_date
    from pipeline.entry.orchestration import settings_for

    settings, lineage = settings_for(get_current_context(), models=models)
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
        "from_scratch": Param(False, type="boolean",
                              description="train every family from scratch instead of warm-starting it"),
    },
    default_args={"retries": 0},
)
def ridership_training():
    @task
    def migrate() -> Migrated:
        """Create or migrate the stores this run writes to (idempotent)."""
        from pipeline.nightly import steps

        return steps.migrate_stores(_context()[0])

    @task
    def validate() -> Checked:
        from pipeline.nightly import steps

        settings, _ = _context()
        return steps.validate_source(settings)

    @task
    def clean(checked: Checked) -> Cleaned:
        from pipeline.nightly import steps

        settings, _ = _context()
        return steps.clean_snapshot(settings, checked["raw_uri"], checked["data_hash"])

    @task
    def retrain_policy(checked: Checked) -> Policy:
        """The retrain policy's verdict: retrain or not, and why."""
        from airflow.sdk import get_current_context

        from pipeline.nightly import steps

        settings, _ = _context(checked["cutoff"])
        return steps.retrain_policy(settings, checked["cutoff"], bool(get_current_context()["params"].get("force")))

    @task
    def materialize(checked: Checked, cleaned: Cleaned, policy: Policy) -> PreparedRun:
        """Skips the rest of the run (visibly, with the reason) when the retrain policy says so."""
        from airflow.sdk.exceptions import AirflowSkipException

        from pipeline.nightly import steps

        if not policy["retrain"]:
            raise AirflowSkipException(f"training skipped at cutoff {checked['cutoff']}: {policy['reason']}")
        settings, lineage = _context(checked["cutoff"], models=True)
        return steps.materialize_windows(settings, cleaned["clean_uri"], checked["data_hash"], lineage,
                                         checked["data_docs_uri"])

    @task
    def families(run: PreparedRun, stage: str) -> list[str]:
        """A stage's families (Airflow maps only over a task's whole return value)."""
        return run["stages"][stage]

    # One retry: a training whose process was killed (out of memory, a lost worker) or whose
    # tracking server was briefly away trains again into a new MLflow run.
    @task(map_index_template="{{ family }}", retries=1, retry_delay=pendulum.duration(seconds=20))
    def train(family: str, run: PreparedRun) -> Trained:
        from pipeline.nightly import steps

        settings, lineage = _context(run["as_of"], models=True)
        return steps.train_family(settings, family, run["manifest_uri"], run["parent_run_id"], lineage)

    @task(trigger_rule=TriggerRule.ALL_DONE)  # once every training has ended, whatever its outcome
    def leaderboard(run: PreparedRun | None, policy: Policy | None) -> TrainingsEnded:
        """The families that finished, ranked, and those that did not."""
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from pipeline.nightly import steps

        if run is None and policy is not None and not policy["retrain"]:
            raise AirflowSkipException(f"nothing trained: {policy['reason']}")
        if run is None:
            raise AirflowFailException("nothing trained: a task before the trainings failed")
        return steps.trainings_ended(_context(run["as_of"])[0], run)

    @task
    def promote(run: PreparedRun, board: TrainingsEnded) -> Decision:
        from pipeline.nightly import steps

        settings, lineage = _context(run["as_of"], models=True)
        return steps.promote_best(settings, run["manifest_uri"], run["parent_run_id"], run["run_key"], lineage)

    @task(outlets=[CHAMPION])
    def publish_champion(decision: Decision):
        from airflow.sdk.exceptions import AirflowSkipException

        if decision["decision"] != "promoted" or decision.get("rerun"):
            raise AirflowSkipException(f"champion unchanged: {decision['reason']}")
        yield Metadata(CHAMPION, {"version": decision["version"], "family": decision["family"],
                                  "as_of": decision["as_of"]})

    checked = validate()
    migrate() >> checked
    cleaned = clean(checked)  # before the policy: a skipped night still forecasts from its newest day
    policy = retrain_policy(checked)
    cleaned >> policy
    run = materialize(checked, cleaned, policy)
    # Stages from the library, each once the one before has ended whatever its trainings' outcome
    # (a stage whose families list is empty is skipped); promotion after the last.
    stages = []
    for stage in TRAINING_STAGES:
        rule = TriggerRule.ALL_DONE_MIN_ONE_SUCCESS if stages else TriggerRule.ALL_SUCCESS
        names = families.override(task_id=f"{stage}_families")(run, stage)
        stages.append(train.override(task_id=stage, trigger_rule=rule).partial(run=run).expand(family=names))
    board = leaderboard(run, policy)
    chain(*stages, board)
    decision = promote(run, board)
    publish_champion(decision)


ridership_training()
