import numpy as np
import pandas as pd
import pytest

from pipeline import families
from pipeline.config import Settings
from pipeline.families.ensemble import SeedEnsemble
from pipeline.families.keras_family import KerasFamily
from pipeline.modelling.scoring import evaluate, scoring_origins
from pipeline.inputs.windows import build_split_windows


def test_naive_reproduces_the_chapter(frame):
    scores, _ = evaluate(families.create("naive", Settings()), frame, Settings())
    assert scores.mae_h1 == pytest.approx(42_143, abs=1)
    assert scores.mape_h1 == pytest.approx(8.99, abs=0.01)


def test_sarima_reproduces_the_chapter(frame):
    scores, forecasts = evaluate(families.create("sarima", Settings()), frame, Settings())
    assert scores.mae_h1 == pytest.approx(32_041, abs=1)
    assert forecasts.shape == (105, 14) and np.isfinite(forecasts).all()


KERAS_FAMILIES = [n for n in families.FAMILIES if issubclass(families.family_class(n), KerasFamily)]


def test_every_chapter_family_is_registered():
    assert set(families.FAMILIES) == {
        "naive", "sarima", "linear", "simple_rnn_1", "simple_rnn", "deep_rnn", "multivariate_rnn",
        "multitask_rnn", "ahead_rnn", "seq2seq_rnn", "ln_rnn", "lstm", "gru", "conv_gru", "wavenet",
        "wavenet_gated", "ahead_rnn_calendar", "gru_calendar", "multivariate_robust", "multivariate_ensemble",
        "robust_ensemble", "lightgbm"}


@pytest.mark.parametrize("name", KERAS_FAMILIES)
def test_keras_families_train_two_epochs_and_forecast_every_origin(name, frame):
    s = Settings(epochs=2, train_months=6)
    family = families.create(name, s)
    result = family.fit(build_split_windows(frame, family.window_spec(), s.problem), frame)
    assert result.epochs == 2 and len(result.history["loss"]) == 2
    scores, forecasts = evaluate(family, frame, s)
    assert forecasts.shape == (len(scoring_origins(s)), 14)
    assert np.isfinite(forecasts).all() and np.isfinite(scores.mae_mean)


class LastWeek(KerasFamily):
    """A 'trained' model whose next-day output is known: the rail value 7 days before."""

    name = "last_week"
    inputs = ("rail",)
    learning_rate = 0.0

    def build(self):
        import keras

        inputs = keras.Input((self.seq_length, 1))
        outputs = keras.layers.Lambda(lambda x: x[:, -7, :])(inputs)
        return keras.Model(inputs, outputs)


def test_rollout_feeds_predictions_back(frame):
    s = Settings()
    family = families.build(LastWeek, s)
    family.model = family.build()
    rolled = family.forecast(frame.loc[:"2019-05-31"], scoring_origins(s))
    naive = families.create("naive", s).forecast(frame.loc[:"2019-05-31"], scoring_origins(s))
    # Copying the value a week back, rolled out 14 days, is exactly the seasonal naive forecast.
    np.testing.assert_allclose(rolled, naive, rtol=1e-5)


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(KeyError, match="naive"):
        families.create("prophet", Settings())


def test_rollout_family_must_predict_what_it_reads():
    class Broken(KerasFamily):
        name = "broken"
        inputs = ("bus", "rail")
        learning_rate = 0.1

    with pytest.raises(TypeError, match="must predict every series"):
        families.build(Broken, Settings())


def test_save_and_load_round_trip(frame, tmp_path):
    s = Settings(epochs=1, train_months=6)
    family = families.create("multivariate_rnn", s)
    family.fit(build_split_windows(frame, family.window_spec(), s.problem), frame)
    family.save(tmp_path / "m")
    loaded = families.load(tmp_path / "m")
    origins = pd.date_range("2019-05-01", "2019-05-10")
    np.testing.assert_array_equal(family.forecast(frame, origins), loaded.forecast(frame, origins))


def test_multivariate_rnn_is_the_chapter_model_with_a_twin_for_bus(frame):
    s = Settings(epochs=2, train_months=6)
    family = families.create("multivariate_rnn", s)
    result = family.fit(build_split_windows(frame, family.window_spec(), s.problem), frame)
    # Early stopping watched the scored series (rail), not the average with bus.
    assert len(result.history["val_rail_mae"]) == 2
    X = np.random.default_rng(0).random((3, 56, 5), dtype=np.float32)
    before = family._predict(X)
    bus_rnn = family.model.get_layer("bus_rnn")
    bus_rnn.set_weights([w + 1.0 for w in bus_rnn.get_weights()])
    after = family._predict(X)
    # The rail forecast does not depend on the bus branch: no shared weights.
    np.testing.assert_array_equal(after[:, 1], before[:, 1])
    assert not np.allclose(after[:, 0], before[:, 0])


def test_seed_ensemble_forecasts_the_average_of_its_members(frame, tmp_path, monkeypatch):
    assert families.family_class("multivariate_ensemble").size == 5
    monkeypatch.setattr(SeedEnsemble, "size", 2)  # fewer members, same behaviour, less time
    s = Settings(epochs=2, train_months=6, seed=7)
    ensemble = families.create("multivariate_ensemble", s)
    assert ensemble.window_spec() == families.create("multivariate_robust", s).window_spec()
    result = ensemble.fit(build_split_windows(frame, ensemble.window_spec(), s.problem), frame)
    assert [m.name for m in ensemble.members] == ["multivariate_robust"] * 2
    assert [huber_threshold(m.model.loss) for m in ensemble.members] == [pytest.approx(0.02)] * 2
    assert [m.problem.seed for m in ensemble.members] == [7, 8]
    assert result.epochs == 4 and len(result.history["multivariate_robust_seed8_val_rail_mae"]) == 2
    _, forecasts = evaluate(ensemble, frame, s)
    assert forecasts.shape == (len(scoring_origins(s)), 14) and np.isfinite(forecasts).all()
    origins = pd.date_range("2019-05-01", "2019-05-10")
    each = np.stack([m.forecast(frame, origins) for m in ensemble.members])
    assert not np.allclose(each[0], each[1])  # the seeds did draw different networks
    np.testing.assert_allclose(ensemble.forecast(frame, origins), each.mean(axis=0), rtol=1e-6)
    ensemble.save(tmp_path / "m")
    loaded = families.load(tmp_path / "m")
    assert [m.problem.seed for m in loaded.members] == [7, 8]
    np.testing.assert_array_equal(loaded.forecast(frame, origins), ensemble.forecast(frame, origins))
    # saved before members.json (members/seed<N>): a champion promoted then still loads
    (tmp_path / "m" / "members.json").unlink()
    members = tmp_path / "m" / "members"
    for seed in (7, 8):
        (members / f"multivariate_robust_seed{seed}").rename(members / f"seed{seed}")
    legacy = families.load(tmp_path / "m")
    assert [m.problem.seed for m in legacy.members] == [7, 8]
    np.testing.assert_array_equal(legacy.forecast(frame, origins), ensemble.forecast(frame, origins))


def test_robust_ensemble_averages_the_robust_families_at_the_configured_seed():
    ensemble = families.create("robust_ensemble", Settings(seed=7))
    assert ensemble.builds_on() == [("gru_calendar", 7), ("ahead_rnn_calendar", 7), ("multivariate_robust", 7)]
    # its members read different windows: none is materialized for it, each member builds its own
    assert ensemble.window_spec() is None
    params = ensemble.params()
    assert params["members"] == "gru_calendar:7,ahead_rnn_calendar:7,multivariate_robust:7"
    assert {params[f"{name}.recipe"] for name, _ in ensemble.builds_on()} == {"robust"}
    assert params["gru_calendar.calendar_inputs"] is True and params["multivariate_robust.mode"] == "rollout"


def test_the_window_order_is_logged_with_the_family(monkeypatch):
    # It changes what is trained (bench/results/recipe-variants.md): runs must say which one.
    assert families.create("gru", Settings()).params()["window_order"] == "chapter"
    monkeypatch.setenv("RIDERSHIP_WINDOW_ORDER", "uniform")
    assert families.create("gru", Settings.from_env()).params()["window_order"] == "uniform"
    ensemble = families.create("multivariate_ensemble", Settings(window_order="uniform"))
    assert ensemble.params()["multivariate_robust.window_order"] == "uniform"


def huber_threshold(loss) -> float:
    """Huber's delta, read off its slope beyond the threshold (Keras' get_config omits it)."""
    far = [float(loss(np.zeros((1, 1)), np.full((1, 1), error))) for error in (5.0, 6.0)]
    return far[1] - far[0]


def training_recipe(family) -> tuple[str, float, float]:
    """The optimizer's class and learning rate, and the Huber threshold in scaled units."""
    import keras

    optimizer = family.optimizer()
    return (type(optimizer).__name__, float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
            huber_threshold(family.loss()))


def test_the_recipe_decides_optimizer_and_huber_threshold(monkeypatch):
    # The chapter's Huber() on counts in millions is squared error for every error seen here.
    chapter, robust = families.create("multivariate_rnn", Settings()), families.create("multivariate_robust", Settings())
    assert training_recipe(chapter) == ("SGD", pytest.approx(0.05), pytest.approx(1.0))
    assert chapter.optimizer().momentum == pytest.approx(0.9)
    assert training_recipe(robust) == ("Adam", pytest.approx(0.001), pytest.approx(0.02))
    assert {k: chapter.params()[k] for k in ("recipe", "optimizer", "learning_rate", "huber_delta_riders")} == {
        "recipe": "chapter", "optimizer": "SGD(momentum=0.9)", "learning_rate": 0.05, "huber_delta_riders": 1_000_000}
    assert {k: robust.params()[k] for k in ("recipe", "optimizer", "learning_rate", "huber_delta_riders")} == {
        "recipe": "robust", "optimizer": "Adam", "learning_rate": 0.001, "huber_delta_riders": 20_000}
    # beyond the chapter, every family trains on the robust recipe; the chapter's keep theirs
    assert {name: families.create(name, Settings()).params()["recipe"]
            for name in ("gru", "gru_calendar", "ahead_rnn", "ahead_rnn_calendar")} == {
        "gru": "chapter", "gru_calendar": "robust", "ahead_rnn": "chapter", "ahead_rnn_calendar": "robust"}

    monkeypatch.setenv("RIDERSHIP_ROBUST_HUBER_DELTA", "10000")
    monkeypatch.setenv("RIDERSHIP_ROBUST_LEARNING_RATE", "0.003")
    settings = Settings.from_env()
    robust_here = ("Adam", pytest.approx(0.003), pytest.approx(0.01))
    assert training_recipe(families.create("multivariate_robust", settings)) == robust_here
    ensemble = families.create("multivariate_ensemble", settings)
    assert ensemble.params()["multivariate_robust.huber_delta_riders"] == 10_000
    assert training_recipe(families.create("gru", settings)) == ("SGD", pytest.approx(0.1), pytest.approx(1.0))

    # one recipe imposed on every family, to compare families under the same recipe
    monkeypatch.setenv("RIDERSHIP_RECIPE", "robust")
    assert training_recipe(families.create("gru", Settings.from_env())) == robust_here
    monkeypatch.setenv("RIDERSHIP_RECIPE", "chapter")
    imposed = families.create("multivariate_robust", Settings.from_env())
    assert training_recipe(imposed) == ("SGD", pytest.approx(0.05), pytest.approx(1.0))
    assert imposed.params()["recipe"] == "chapter"
    for bad, field in (({"recipe": "fast"}, "recipe"), ({"robust_learning_rate": 0}, "robust_learning_rate"),
                       ({"robust_huber_delta": 0}, "robust_huber_delta")):
        with pytest.raises(ValueError, match=field):
            Settings(**bad)


def test_keras_training_logs_its_progress(frame, caplog):
    import logging

    from pipeline.families.keras_family import PROGRESS_EPOCHS

    s = Settings(epochs=PROGRESS_EPOCHS, train_months=6)
    family = families.create("linear", s)
    with caplog.at_level(logging.INFO, logger="pipeline.families.keras_family"):
        family.fit(build_split_windows(frame, family.window_spec(), s.problem), frame)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith(f"linear epoch {PROGRESS_EPOCHS}/{PROGRESS_EPOCHS}: loss ")
    assert "val_mae" in lines[0] and lines[0].endswith(" s")
