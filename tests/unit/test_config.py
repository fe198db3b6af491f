from datetime import date

import pytest

from pipeline.config import Settings


def test_defaults_reproduce_the_chapter_splits():
    s = Settings()
    assert s.as_of == date(2019, 5, 31)
    assert s.train_start == date(2016, 1, 1)
    assert s.valid_start == date(2019, 1, 1)
    assert s.score_start == date(2019, 3, 1)
    assert (s.seq_length, s.horizon) == (56, 14)


def test_splits_follow_the_as_of_date():
    s = Settings(as_of=date(2019, 8, 15))
    assert s.valid_start == date(2019, 3, 16)
    assert s.score_start == date(2019, 5, 16)
    assert s.train_start == date(2016, 3, 16)


def test_environment_overrides_every_kind_of_field(tmp_path):
    s = Settings.from_env({
        "RIDERSHIP_AS_OF": "2019-06-30", "RIDERSHIP_EPOCHS": "3", "RIDERSHIP_FAMILIES": "naive, linear",
        "RIDERSHIP_HOME": str(tmp_path), "RIDERSHIP_PROMOTION_MARGIN": "0.05",
    })
    assert s.as_of == date(2019, 6, 30) and s.epochs == 3
    assert s.families == ("naive", "linear")
    assert s.promotion_margin == 0.05
    assert s.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert s.forecast_db_uri == f"sqlite:///{tmp_path / 'forecasts.db'}"


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ValueError, match="RIDERSHIP_EPOCHS='many' is not a valid int"):
        Settings.from_env({"RIDERSHIP_EPOCHS": "many"})
    # a yes/no that is neither is refused, not read as "no"
    with pytest.raises(ValueError, match="RIDERSHIP_WARM_START='maybe' is not a valid bool"):
        Settings.from_env({"RIDERSHIP_WARM_START": "maybe"})
    assert Settings.from_env({"RIDERSHIP_WARM_START": "off"}).warm_start is False
    with pytest.raises(ValueError, match="max_warm_starts must be at least 0, got -1"):
        Settings.from_env({"RIDERSHIP_MAX_WARM_STARTS": "-1"})


def test_digest_ignores_storage_but_not_training_choices(tmp_path):
    base = Settings()
    assert base.digest() == Settings(home=tmp_path).digest()
    assert base.digest() != Settings(epochs=3).digest()
    assert base.digest() != Settings(as_of=date(2019, 6, 30)).digest()


def test_digest_is_the_fields_marked_trains_so_a_new_unmarked_field_changes_no_run_key(tmp_path):
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class WithNewStorageField(Settings):
        cache_uri: str = "s3://bucket/cache"

    assert WithNewStorageField().digest() == Settings().digest()
    assert Settings(tf_threads=4, jit_compile=False, freshness_days=3).digest() == Settings().digest()
    assert Settings(robust_huber_delta=1.0).digest() != Settings().digest()
    assert set(Settings().training_dict()) >= {"as_of", "horizon", "seed", "recipe", "epochs", "interval_levels"}


def test_settings_round_trip_through_their_training_dict():
    settings = Settings(as_of=date(2018, 6, 30), horizon=7, seed=3, interval_levels=(90,), tf_threads=4)
    again = Settings.from_dict(settings.training_dict())
    assert again.training_dict() == settings.training_dict() and again.digest() == settings.digest()
    assert again.tf_threads == Settings().tf_threads  # not saved: back to its default


def test_make_run_refuses_a_bad_setting_before_starting_airflow(tmp_path):
    import os
    import subprocess

    from pipeline.config import PROJECT_ROOT

    env = {**os.environ, "RIDERSHIP_HOME": str(tmp_path / "state"), "RIDERSHIP_WARM_EPOCHS": "0"}
    done = subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "run_local.sh")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "invalid configuration: warm_epochs must be at least 1, got 0" in done.stderr
    assert not (tmp_path / "state").exists()  # nothing started, nothing written
