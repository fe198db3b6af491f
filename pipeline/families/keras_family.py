"""What every Keras family shares: the training recipes and the ways to reach H days.

A subclass declares its inputs, targets, output mode, the chapter's learning rate and the recipe
it trains on by default (KerasHyper.recipe), and writes ``build``.
Output modes:
- ``rollout``: predicts the next day of its targets and is fed its own predictions H times
  (future day types come from the calendar);
- ``direct``: predicts the H days at once;
- ``seq2seq``: predicts H days after every input step; the last step is the forecast.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from pipeline.inputs.calendar import day_types
from pipeline.errors import TrainingError
from pipeline.families.base import Family, FitResult
from pipeline.inputs.windows import (FEATURES, WindowSpec, calendar_columns, feature_frame, one_hot_day_types,
                              origin_inputs)

MODEL_FILE = "model.keras"
PROGRESS_EPOCHS = 10
log = logging.getLogger(__name__)
MOMENTUM = 0.9


@dataclass(frozen=True)
class KerasHyper:
    """How a Keras family trains (each field is the Settings field of its name; see its comment there)."""
    seq_length: int  # days of input before the origin (a conv family reads seq_length_factor times more)
    epochs: int
    patience: int
    batch_size: int
    window_order: str  # "chapter" or "uniform"
    recipe: str  # "family" (the family's own), "chapter" or "robust"
    robust_learning_rate: float
    robust_huber_delta: float  # riders
    warm_epochs: int
    warm_patience: int
    jit_compile: bool
    steps_per_execution: int


def steps_per_call(windows: int, batch_size: int, steps_per_execution: int) -> int:
    """Train steps per compiled call: `steps_per_execution` rounded down to a divisor of an
    epoch's batches (a call must not run into the next epoch's batches), a whole epoch for 0."""
    per_epoch = math.ceil(windows / batch_size)
    wanted = per_epoch if steps_per_execution <= 0 else min(steps_per_execution, per_epoch)
    return max(k for k in range(1, wanted + 1) if per_epoch % k == 0)


class KerasFamily(Family):
    inputs: ClassVar[tuple[str, ...]] = FEATURES
    targets: ClassVar[tuple[str, ...]] = ("rail",)
    mode: ClassVar[str] = "rollout"
    learning_rate: ClassVar[float]
    seq_length_factor: ClassVar[int] = 1  # conv families read longer windows
    calendar_inputs: ClassVar[bool] = False  # also read the day types of the next H days
    # Each target has its own branch in `build` (no shared weights): the loss is then summed over
    # targets rather than averaged, so that every branch trains as its single-target model would.
    independent_targets: ClassVar[bool] = False
    # What the family trains on when KerasHyper.recipe leaves it to the family: "chapter" or
    # "robust" (see Settings.recipe).
    recipe: ClassVar[str] = "chapter"
    warm_starts = True
    Hyper = KerasHyper

    def __init__(self, problem, hyper):
        super().__init__(problem, hyper)
        self.model = None
        self.warm = False  # set by start_from: the next fit continues from the model it holds
        if self.mode == "rollout" and (self.calendar_inputs
                                       or not set(self.inputs) <= set(self.targets) | set(FEATURES[2:])):
            raise TypeError(f"{self.name}: a rollout family must predict every series it reads")

    # -- what subclasses define -------------------------------------------------------------
    def build(self):
        raise NotImplementedError

    def prepare_targets(self, y: np.ndarray) -> np.ndarray:
        """Hook for families whose outputs are a transform of the window targets."""
        return y

    # -- protocol ---------------------------------------------------------------------------
    @property
    def seq_length(self) -> int:
        return self.hyper.seq_length * self.seq_length_factor

    @property
    def input_columns(self) -> tuple[str, ...]:
        return self.inputs + (calendar_columns(self.problem.horizon) if self.calendar_inputs else ())

    def window_spec(self) -> WindowSpec:
        ahead = 1 if self.mode == "rollout" else self.problem.horizon
        return WindowSpec(self.input_columns, self.targets, self.seq_length, ahead, self.mode == "seq2seq")

    def start_from(self, previous: Family) -> None:
        import keras

        if getattr(previous, "model", None) is None:
            raise ValueError(f"{self.name}: the previous fit holds no Keras model")
        keras.utils.set_random_seed(self.problem.seed)
        model = self.build()
        try:
            model.set_weights(previous.model.get_weights())
        except ValueError as exc:
            raise ValueError(f"{self.name}: the previous model's weights do not fit this architecture: {exc}") from exc
        self.model, self.warm = model, True

    def fit(self, windows, frame) -> FitResult:
        import keras

        keras.utils.set_random_seed(self.problem.seed)
        if not self.warm:
            self.model = self.build()
        # A warm start's budget is never above a start from scratch's.
        epochs, patience = ((min(self.hyper.warm_epochs, self.hyper.epochs),
                             min(self.hyper.warm_patience, self.hyper.patience)) if self.warm
                            else (self.hyper.epochs, self.hyper.patience))
        metrics, monitor = self.stopping_metrics()
        batches = self._training_batches(windows["X_fit"], self.prepare_targets(windows["y_fit"]))
        self.model.compile(
            loss=self.loss(),
            loss_weights=float(len(self.targets)) if self.independent_targets else None,
            optimizer=self.optimizer(),
            metrics=metrics,
            jit_compile=self.hyper.jit_compile,
            steps_per_execution=steps_per_call(len(windows["X_fit"]), self.hyper.batch_size, self.hyper.steps_per_execution),
        )
        stop = keras.callbacks.EarlyStopping(
            monitor=monitor, mode="min", patience=patience, restore_best_weights=True
        )
        history = self.model.fit(
            **batches,
            validation_data=(windows["X_stop"], self.prepare_targets(windows["y_stop"])),
            epochs=epochs,
            callbacks=[stop, keras.callbacks.TerminateOnNaN(), self._progress(monitor, epochs),
                       *self.extra_callbacks(monitor)], verbose=0,
        ).history
        self.warm = False  # a later fit starts from scratch unless start_from is called again
        losses = history.get("loss", [])
        if not losses or not all(math.isfinite(v) for v in losses):
            raise TrainingError(f"{self.name}: training loss became non-finite (NaN/inf) "
                                f"after {len(losses)} epoch(s)")
        return FitResult(epochs=len(losses), history={k: [float(v) for v in vs] for k, vs in history.items()})

    def _progress(self, monitor: str, epochs: int):
        """A callback that logs every PROGRESS_EPOCHS epochs: epoch, loss, the monitored MAE in
        riders and the seconds so far (the task log shows a training advance)."""
        import keras

        family, scale, started = self, self.problem.scale, time.perf_counter()

        class Progress(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                if (epoch + 1) % PROGRESS_EPOCHS == 0:
                    log.info("%s epoch %d/%d: loss %.5f, %s %s riders, %.0f s", family.name, epoch + 1,
                             epochs, logs.get("loss", math.nan), monitor,
                             f"{logs.get(monitor, math.nan) * scale:,.0f}", time.perf_counter() - started)

        return Progress()

    def stopping_metrics(self) -> tuple[list, str]:
        """The metrics compiled in, and the one early stopping watches."""
        from pipeline.families.layers import ColumnMAE

        if len(self.targets) > 1:
            # Stop on the series that is scored, not on the average with the ones that feed the rollout.
            scored = ColumnMAE(self.targets.index(self.problem.target), name=f"{self.problem.target}_mae")
            return ["mae", scored], f"val_{self.problem.target}_mae"
        return ["mae"], "val_mae"

    def _training_batches(self, X: np.ndarray, y: np.ndarray) -> dict:
        """fit()'s data arguments for the configured window order (see pipeline/families/batches.py)."""
        if self.hyper.window_order == "uniform":
            return {"x": X, "y": y, "batch_size": self.hyper.batch_size, "shuffle": True}
        from pipeline.families.batches import ChapterBatches

        batches = ChapterBatches(X, y, self.hyper.batch_size, self.problem.seed,
                                 chronological=self.mode == "seq2seq")
        return {"x": batches, "shuffle": False, "steps_per_epoch": batches.batches_per_epoch}

    @property
    def training_recipe(self) -> str:
        return self.recipe if self.hyper.recipe == "family" else self.hyper.recipe

    @property
    def robust(self) -> bool:
        return self.training_recipe == "robust"

    @property
    def huber_delta_riders(self) -> float:
        """The chapter's threshold is Keras' default, 1.0 in scaled units."""
        return self.hyper.robust_huber_delta if self.robust else self.problem.scale

    @property
    def optimizer_learning_rate(self) -> float:
        return self.hyper.robust_learning_rate if self.robust else self.learning_rate

    def loss(self):
        import keras

        return keras.losses.Huber(delta=self.huber_delta_riders / self.problem.scale)

    def optimizer(self):
        """The recipe's optimizer (variants of the recipe override it: bench/recipe_variants.py)."""
        import keras

        if self.robust:
            return keras.optimizers.Adam(learning_rate=self.optimizer_learning_rate)
        return keras.optimizers.SGD(learning_rate=self.optimizer_learning_rate, momentum=MOMENTUM)

    def extra_callbacks(self, monitor: str) -> list:
        """Callbacks besides early stopping on `monitor`: none in the chapter's recipe."""
        return []

    def forecast(self, frame: pd.DataFrame, origins: pd.DatetimeIndex) -> np.ndarray:
        if self.model is None:
            raise RuntimeError(f"{self.name} has not been fitted or loaded")
        features = feature_frame(frame.loc[: origins.max()], self.problem.scale,
                                 self.problem.horizon if self.calendar_inputs else 0)
        X = origin_inputs(features, origins, self.window_spec())
        if self.mode == "rollout":
            scaled = self._rollout(X, origins)
        else:
            out = self._predict(X)
            scaled = out[:, -1, :] if self.mode == "seq2seq" else out
        return scaled * self.problem.scale

    def _predict(self, X: np.ndarray) -> np.ndarray:
        import keras

        return keras.ops.convert_to_numpy(self.model(X, training=False))

    def _rollout(self, X: np.ndarray, origins: pd.DatetimeIndex) -> np.ndarray:
        horizon = self.problem.horizon
        target_pos = self.targets.index(self.problem.target)
        input_pos = {c: i for i, c in enumerate(self.inputs)}
        next_type_cols = [input_pos[c] for c in FEATURES[2:] if c in input_pos]
        window = X.copy()
        out = np.empty((len(origins), horizon), dtype=np.float32)
        for h in range(horizon):
            # H calls: traced once (XLA where it was fitted so) rather than eager, where an RNN
            # steps through its time steps in Python; a single call (_predict) is cheaper eagerly.
            step = np.asarray(self.model.predict_on_batch(window)).reshape(len(origins), len(self.targets))
            out[:, h] = step[:, target_pos]
            row = np.zeros((len(origins), 1, len(self.inputs)), dtype=np.float32)
            for k, column in enumerate(self.targets):
                row[:, 0, input_pos[column]] = step[:, k]
            if next_type_cols:
                # the appended row is day origin+h+1; its "next day" is origin+h+2
                nxt = day_types([(o + timedelta(days=h + 2)).date() for o in origins])
                row[:, 0, next_type_cols] = one_hot_day_types(nxt)
            window = np.concatenate([window[:, 1:], row], axis=1)
        return out

    def params(self) -> dict:
        return {"inputs": list(self.inputs), "calendar_inputs": self.calendar_inputs,
                "targets": list(self.targets), "mode": self.mode,
                "recipe": self.training_recipe, "learning_rate": self.optimizer_learning_rate,
                "seq_length": self.seq_length,
                "epochs_max": self.hyper.epochs, "patience": self.hyper.patience,
                "batch_size": self.hyper.batch_size, "window_order": self.hyper.window_order,
                "optimizer": "Adam" if self.robust else f"SGD(momentum={MOMENTUM})",
                "loss": "huber" + (", summed over targets" if self.independent_targets else ""),
                "huber_delta_riders": self.huber_delta_riders}

    def _save_state(self, directory: Path) -> None:
        self.model.save(directory / MODEL_FILE)

    def _load_state(self, directory: Path) -> None:
        import keras

        self.model = keras.saving.load_model(directory / MODEL_FILE, compile=False)
        # Forecast as the fitted model did (XLA or not): the same forecasts to the last bit.
        self.model.jit_compile = self.hyper.jit_compile
