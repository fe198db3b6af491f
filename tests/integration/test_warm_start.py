"""Warm starts: a family continues from its last fit when only the data grew, and trains from
scratch when its settings or code changed, after max_warm_starts in a row, or when forced; the
run's tags say which mode ran."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from pipeline import families
from pipeline.lifecycle import tracking
from pipeline.modelling import warmstart
from pipeline.nightly import steps
from pipeline.config import Settings
from pipeline.families.keras_family import KerasFamily
from pipeline.modelling.warmstart import SCRATCH, WARM, PastFit, choose, key_of, warm_key_parts
from tests.pipeline_runs import prepared

MAY, JUNE, JULY = date(2019, 5, 31), date(2019, 6, 30), date(2019, 7, 31)


def test_the_trigger_forms_from_scratch_and_the_environment_force_a_start_from_scratch():
    from pipeline.entry.orchestration import run_overrides

    assert run_overrides({"from_scratch": True, "force": True}) == {"from_scratch": True}
    assert run_overrides({"from_scratch": False}) == {}  # unticked: the configured value stands
    assert Settings.from_env({"RIDERSHIP_FROM_SCRATCH": "true"}).from_scratch
    assert not Settings.from_env({}).from_scratch


def warm_key(family, settings: Settings) -> str:
    return key_of(warm_key_parts(family, settings))


def past(settings: Settings, name: str, as_of: date, warm_starts: int = 0, run_id: str = "r1") -> PastFit:
    parts = warm_key_parts(families.create(name, settings), settings)
    return PastFit(run_id, as_of, key_of(parts), warm_starts, "models:/m", parts)


def test_a_family_continues_from_its_latest_earlier_fit_with_the_same_key():
    settings = Settings(as_of=JUNE)
    linear = families.create("linear", settings)
    fits = [past(settings, "linear", date(2019, 4, 30), run_id="april"), past(settings, "linear", MAY, 2, "may"),
            past(settings, "linear", JULY, run_id="july")]  # a fit on a later cutoff is not a past one

    start = choose(linear, settings, fits)

    assert (start.mode, start.previous.run_id, start.warm_starts) == (WARM, "may", 3)
    assert "30 days of data later" in start.reason


@pytest.mark.parametrize("change, reason", [
    ({"seq_length": 28}, "changed since run may (as of 2019-05-31): param seq_length 56 -> 28, setting seq_length 56 -> 28"),
    ({"epochs": 3}, "changed since run may (as of 2019-05-31): param epochs_max 500 -> 3, setting epochs 500 -> 3"),
    ({"from_scratch": True}, "forced from scratch"),
    ({"warm_start": False}, "warm starts are off"),
    ({"max_warm_starts": 0}, "warm starts are off"),
    ({"max_warm_starts": 2}, "2 warm start(s) in a row up to run may"),
])
def test_a_change_forced_or_a_long_run_of_warm_starts_trains_from_scratch(change, reason):
    before = Settings(as_of=MAY)
    tonight = before.with_overrides(as_of=JUNE, **change)

    start = choose(families.create("linear", tonight), tonight, [past(before, "linear", MAY, 2, "may")])

    assert (start.mode, start.previous) == (SCRATCH, None)
    assert reason in start.reason


def test_a_fit_recorded_without_its_key_parts_still_says_that_the_key_changed():
    before, tonight = Settings(as_of=MAY), Settings(as_of=JUNE, epochs=3)
    fit = past(before, "linear", MAY, run_id="may")
    older = PastFit(fit.run_id, fit.as_of, fit.warm_key, fit.warm_starts, fit.model_uri)  # no parts

    start = choose(families.create("linear", tonight), tonight, [older])

    assert start.mode == SCRATCH
    assert start.reason == "settings, params or model code changed since run may (as of 2019-05-31)"
    assert start.key == warm_key(families.create("linear", tonight), tonight)


def test_the_cutoff_family_list_and_warm_budget_are_not_in_the_key():
    settings = Settings(as_of=MAY)
    other = settings.with_overrides(as_of=JUNE, families=("linear",), warm_epochs=7, warm_patience=3)
    assert warm_key(families.create("linear", settings), settings) == warm_key(families.create("linear", other), other)
    assert warm_key(families.create("linear", settings), settings) != warm_key(families.create("lstm", settings), settings)


def test_families_without_warm_starts_and_first_fits_train_from_scratch():
    settings = Settings(as_of=JUNE)
    assert choose(families.create("naive", settings), settings, [past(settings, "naive", MAY)]).reason == \
        "naive has no warm start"
    assert choose(families.create("linear", settings), settings, []).mode == SCRATCH


def test_a_previous_model_of_another_architecture_is_refused():
    previous = families.create("linear", Settings(seq_length=28))
    previous.model = previous.build()
    linear = families.create("linear", Settings())
    with pytest.raises(ValueError, match="do not fit this architecture"):
        linear.start_from(previous)
    assert linear.model is None and not linear.warm


def logged_weights(settings: Settings, run_id: str) -> list[np.ndarray]:
    from pipeline.lifecycle.logged_models import load_logged_family

    uri = tracking.client(settings).get_run(run_id).data.tags[tracking.MODEL_URI_TAG]
    return load_logged_family(settings, uri).model.get_weights()


def test_nightly_trainings_warm_start_from_the_last_fit_and_tag_the_mode(tmp_path, monkeypatch):
    # No seasonal backtests: their refits would be fits too, and this test counts the nightly ones.
    base = Settings(home=tmp_path, epochs=2, warm_epochs=3, warm_patience=2, train_months=6, families=("linear",),
                    backtest_years=())
    first_weights = []
    fit = KerasFamily.fit

    def spy(self, windows, frame):
        first_weights.append(self.model.get_weights() if self.warm else None)
        return fit(self, windows, frame)

    monkeypatch.setattr(KerasFamily, "fit", spy)

    def night(settings: Settings) -> tuple[dict, dict]:
        run = prepared(settings)
        result = steps.train_family(settings, "linear", run["manifest_uri"], run["parent_run_id"])
        return result, tracking.client(settings).get_run(result["run_id"]).data.tags

    may, may_tags = night(base.with_overrides(as_of=MAY))
    june, june_tags = night(base.with_overrides(as_of=JUNE))
    july, july_tags = night(base.with_overrides(as_of=JULY, seq_length=28))

    assert (may["mode"], may_tags[tracking.TRAINING_MODE_TAG], may_tags[tracking.WARM_STARTS_TAG]) == \
        (SCRATCH, SCRATCH, "0")
    assert first_weights[0] is None
    # June starts from May's logged weights exactly, and its training moves them.
    assert (june["mode"], june_tags[tracking.TRAINING_MODE_TAG]) == (WARM, WARM)
    assert june_tags[tracking.WARM_FROM_RUN_TAG] == may["run_id"]
    # its budget: warm_epochs (3), but never more than a start from scratch's epochs (2)
    assert june_tags[tracking.WARM_STARTS_TAG] == "1" and 1 <= june["epochs"] <= 2
    may_weights, june_weights = logged_weights(base, may["run_id"]), logged_weights(base, june["run_id"])
    assert len(first_weights[1]) == len(may_weights) > 0
    for started, logged in zip(first_weights[1], may_weights):
        np.testing.assert_array_equal(started, logged)
    assert any(not np.array_equal(a, b) for a, b in zip(june_weights, may_weights))
    # A settings change (a shorter input window: another architecture) trains from scratch.
    assert (july["mode"], july_tags[tracking.TRAINING_MODE_TAG]) == (SCRATCH, SCRATCH)
    assert "changed since run " + june["run_id"] in july_tags[tracking.TRAINING_MODE_REASON_TAG]
    assert "setting seq_length 56 -> 28" in july_tags[tracking.TRAINING_MODE_REASON_TAG]
    assert july_tags[tracking.WARM_KEY_TAG] == warmstart.key_of(json.loads(july_tags[tracking.WARM_KEY_PARTS_TAG]))
    assert tracking.WARM_FROM_RUN_TAG not in july_tags and first_weights[2] is None


def test_a_previous_model_that_does_not_load_means_a_start_from_scratch(tmp_path, monkeypatch):
    settings = Settings(home=tmp_path, as_of=JUNE)
    linear = families.create("linear", settings)
    monkeypatch.setattr(tracking, "past_fits", lambda s, name: [past(settings, "linear", MAY, run_id="gone")])
    monkeypatch.setattr("pipeline.lifecycle.logged_models.load_logged_family", lambda s, uri: (_ for _ in ()).throw(OSError("no file")))

    start = steps.warm_start(settings, linear)

    assert start.mode == warmstart.SCRATCH
    assert start.reason == "run gone's model does not continue (OSError: no file)"
    assert start.key == warm_key(linear, settings)  # tonight's fit can be continued from tomorrow
    assert not linear.warm
