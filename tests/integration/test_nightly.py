"""Nightly operation: the data cutoff, a stale source, the retrain policy over replayed nights."""

from datetime import date

import pytest

from pipeline.inputs import data
from pipeline.lifecycle import tracking
from pipeline.nightly import steps
from pipeline.config import Settings
from pipeline.errors import DataValidationError


def test_a_stale_source_fails_validation_naming_both_dates(tmp_path):
    with pytest.raises(DataValidationError, match="stale source") as caught:
        steps.validate_source(Settings(home=tmp_path, as_of=date(2026, 11, 28)))
    assert "2021-11-30" in str(caught.value) and "2026-11-28" in str(caught.value)
    assert caught.value.failures[0]["expectation"] == "source_is_fresh"


def test_the_cutoff_is_the_last_day_of_the_source_up_to_the_run_date(tmp_path):
    checked = steps.validate_source(Settings(home=tmp_path, as_of=date(2021, 12, 20)))
    assert (checked["cutoff"], checked["run_date"]) == ("2021-11-30", "2021-12-20")
    assert steps.validate_source(Settings(home=tmp_path, as_of=date(2019, 5, 31)))["cutoff"] == "2019-05-31"


def test_the_replay_source_serves_the_file_as_it_stood(raw_bytes):
    served = data.as_it_stood(raw_bytes, date(2019, 5, 29), "x.csv")
    dates = data.parse_dates(data.parse_raw(served, "x.csv")[data.DATE_COLUMN])
    assert dates.max() == data.pd.Timestamp("2019-05-29") and dates.min() == data.pd.Timestamp("2001-01-01")
    assert served.splitlines()[0] == raw_bytes.splitlines()[0]


def _night(settings: Settings, day: date) -> str:
    """One scheduled night as the training DAG runs it: migrate, validate, clean, retrain_policy, then train and promote."""
    night = settings.with_overrides(as_of=day)
    steps.migrate_stores(night)
    checked = steps.validate_source(night)
    steps.clean_snapshot(night, checked["raw_uri"], checked["data_hash"])
    policy = steps.retrain_policy(night, checked["cutoff"])
    if not policy["retrain"]:
        return f"skip: {policy['reason']}"
    night = night.with_overrides(as_of=date.fromisoformat(checked["cutoff"]))
    run = steps.materialize_windows(night, steps.latest_clean(night)["clean_uri"], checked["data_hash"])
    steps.train_family(night, "naive", run["manifest_uri"], run["parent_run_id"])
    decision = steps.promote_best(night, run["manifest_uri"], run["parent_run_id"], run["run_key"])
    return f"retrain: v{decision['version']} as of {decision['as_of']}"


def test_replayed_nights_retrain_or_skip_by_the_policy(tmp_path):
    settings = Settings(home=tmp_path, families=("naive",), replay_source=True, retrain_min_new_days=2)
    nights = [_night(settings, date(2019, 5, d)) for d in (28, 29, 30, 31)]
    assert nights[0] == "retrain: v1 as of 2019-05-28"
    assert nights[1] == "skip: 1 new day(s) since the last training's cutoff 2019-05-28, fewer than 2"
    assert nights[2] == "retrain: v2 as of 2019-05-30"
    assert nights[3].startswith("skip: 1 new day(s)")
    # a night whose source has nothing new changes nothing, even when it asks again
    assert _night(settings, date(2019, 5, 30)) == (
        "skip: no new data: the source ends 2019-05-30, the last training used data up to 2019-05-30")
    assert steps.retrain_policy(settings, "2019-05-30", force=True)["reason"] == "forced from the trigger form"
    # drift flagged by the last forecast run retrains whatever the count of new days
    monitoring = tracking.parent_run(settings, "realized-accuracy", {"ridership.kind": "monitoring"})
    tracking.client(settings).set_tag(monitoring, tracking.DRIFTED_TAG, "2")
    policy = steps.retrain_policy(settings, "2019-05-31")
    assert policy["retrain"] and policy["reason"] == "the last forecast run flagged drift (2)"
