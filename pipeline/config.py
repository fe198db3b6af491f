"""The one typed configuration of the pipeline.

Every knob lives here with its default; each can be overridden by an environment variable
named ``RIDERSHIP_<FIELD>`` (upper case), e.g. ``RIDERSHIP_EPOCHS=2`` or
``RIDERSHIP_FAMILIES=naive,linear``. Dates are ISO (``YYYY-MM-DD``).

The split dates derive from ``as_of`` so that a run "as of" any date sees only data up to
it; the defaults reproduce chapter 15 of Hands-On ML (as of 2019-05-31: train 2016-01..2018-12,
validation 2019-01..05, scored targets 2019-03-01..05-31).
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any, get_args, get_origin

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Slowest first: mapped trainings start in this order, so that the longest ones never start last
# and leave a core idle while they finish. Families that build on others train in a later stage
# wherever they stand here.
DEFAULT_FAMILIES = (
    "robust_ensemble", "conv_gru", "lstm", "gru", "wavenet", "wavenet_gated", "ahead_rnn_calendar",
    "gru_calendar", "multivariate_robust",
    "multitask_rnn", "simple_rnn_1", "linear", "ln_rnn", "ahead_rnn", "seq2seq_rnn", "deep_rnn",
    "multivariate_rnn", "simple_rnn", "lightgbm", "sarima", "naive",
)
# The stages of a pipeline run's trainings, each after the members it builds on
# (families.training_stages); the training DAG maps one training task of this name per stage.
TRAINING_STAGES = ("train", "train_after_members")
ENV_PREFIX = "RIDERSHIP_"
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
RECIPES = ("family", "chapter", "robust")


def trains(default: Any) -> Any:
    """A field that changes what a run trains, scores or decides: part of `Settings.digest()` (and
    so of run keys and window keys) and saved with every trained family."""
    return field(default=default, metadata={"trains": True})


def _add_months(day: date, months: int) -> date:
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


DATE_FIELDS = ("as_of", "train_start", "valid_start", "score_start")


@dataclass(frozen=True)
class Problem:
    """What a model family forecasts and from which days it may learn: the part of Settings every
    family shares; what is particular to a family it declares as its own hyper-parameters
    (pipeline/families/base.py), as statsforecast's models take only theirs and get the horizon
    from the caller.

    Dates are days; the splits are those of Settings (train_start <= valid_start <= score_start <=
    as_of); `scale` is riders per unit of the windows' values."""
    target: str
    horizon: int
    scale: float
    seed: int
    protocol: str
    as_of: date
    train_start: date
    valid_start: date
    score_start: date

    def as_dict(self) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Problem":
        """A Problem from `as_dict` output: a name that is no longer a field is dropped, a field
        added since takes the default Settings' value (as Settings.from_dict)."""
        known = {f.name for f in fields(cls)}
        saved = {k: date.fromisoformat(v) if k in DATE_FIELDS else v for k, v in values.items() if k in known}
        defaults = Settings().problem if known - set(saved) else None
        return cls(**saved, **{k: getattr(defaults, k) for k in known - set(saved)})


@dataclass(frozen=True)
class Settings:
    # -- data and time ------------------------------------------------------------------
    data_uri: str = str(PROJECT_ROOT / "data" / "CTA_-_Ridership_-_Daily_Boarding_Totals.csv")
    as_of: date = trains(date(2019, 5, 31))
    train_months: int = trains(36)
    valid_months: int = trains(5)
    score_months: int = trains(3)
    target: str = trains("rail")
    # "honest": early stopping sees only validation days before the scored window;
    # "chapter": early stopping on the whole validation split, as the book does.
    protocol: str = trains("honest")
    # -- windows and forecasting --------------------------------------------------------
    seq_length: int = trains(56)
    horizon: int = trains(14)
    scale: float = trains(1e6)
    # -- training -----------------------------------------------------------------------
    families: tuple[str, ...] = trains(DEFAULT_FAMILIES)
    epochs: int = trains(500)
    patience: int = trains(50)
    batch_size: int = trains(32)
    seed: int = trains(42)
    # Order of the training windows: "chapter" serves them as the book's tf.data pipelines do (a
    # permutation fixed by the seed, chronological for seq2seq windows, then a shuffle buffer of
    # 8 batches redrawn every epoch; pipeline/families/batches.py); "uniform" draws a fresh full
    # permutation every epoch.
    window_order: str = trains("chapter")
    # How the Keras families train (RECIPES). "chapter": SGD with momentum 0.9 at the family's
    # learning rate from the book, on Keras' Huber(), whose threshold of 1.0 on counts in millions
    # is 1,000,000 riders, above every error: squared error, which chases days like a parade
    # Saturday. "robust": Adam at robust_learning_rate on Huber with its threshold at
    # robust_huber_delta riders, near a typical day-ahead error.
    # "family": each family's own, the chapter's for the chapter's families; "chapter" or
    # "robust" imposes one on every family, so that families can be compared under the same
    # recipe (bench/leaderboard.py --recipe).
    recipe: str = trains("family")
    robust_learning_rate: float = trains(0.001)
    robust_huber_delta: float = trains(20_000)
    # Months of history the gradient-boosting family learns from before its cutoff; 0: all of it.
    boosting_history_months: int = trains(0)
    # Warm starts: a family that can (Family.warm_starts) continues from its last trained weights
    # when only the data grew (same family, settings and model code; pipeline/modelling/warmstart.py), for
    # at most warm_epochs with early stopping after warm_patience, and trains from scratch again
    # after max_warm_starts warm starts in a row, or always when from_scratch is set.
    warm_start: bool = trains(True)
    warm_epochs: int = trains(100)
    warm_patience: int = trains(10)
    max_warm_starts: int = trains(8)
    from_scratch: bool = False
    # Threads each training process may use; 0 lets TensorFlow decide.
    tf_threads: int = 1
    # XLA-compile the train step: Keras leaves XLA off on CPU-only TensorFlow, but these small
    # recurrent nets spend most of a step in per-timestep loop overhead, which XLA fuses away.
    jit_compile: bool = True
    # Train steps per compiled call, 0 for a whole epoch: fewer Python round trips, same updates.
    steps_per_execution: int = 0
    # -- validation and the nightly source ----------------------------------------------
    max_daily_boardings: int = 5_000_000
    # A run's data cutoff is the last day of the source up to its as-of date; a source whose last
    # day is more than this many days behind fails validation as stale.
    freshness_days: int = 45
    # The training DAG retrains when this many new days arrived since the last training (or the
    # last forecast run flagged drift, or the trigger form forces it); otherwise it skips.
    retrain_min_new_days: int = 7
    # Serve the source as it stood on the as-of date (its rows up to that day): a replay of
    # history for demonstrations and tests (`airflow backfill create` over past nights).
    replay_source: bool = False
    # -- backtests (pipeline/modelling/backtest.py) --------------------------------------------------
    # Each training also forecasts the weeks its retrain period will forecast, these many years
    # (of 364 days) earlier, with a fit as of then; () turns these seasonal backtests off.
    backtest_years: tuple[int, ...] = trains((1, 2))
    # Origins of a seasonal window: the days a retrain serves (about a month between retrains).
    backtest_days: int = trains(31)
    # A logged fit of the same family, code and settings at most this many days before a
    # window's cutoff stands in for a refit there (the registry's own fits, once it is that old).
    backtest_reuse_days: int = 31
    # -- the gate (pipeline/modelling/selection.py, registry.promote) ---------------------------------
    registered_model: str = "ridership"
    champion_alias: str = "champion"
    # How much a seasonal window counts against the recent one (1.0), and the level ratio beyond
    # which a year-earlier window belongs to another regime and counts for nothing.
    seasonal_weight: float = 1.0
    regime_tolerance: float = 0.25
    # Rounds of greedy ensemble selection (weights in steps of 1/rounds); 1 picks one family, which
    # measured best on the development periods (bench/results/gate-replay.md: the weights that
    # 20 rounds fit on the backtests did worse on the weeks that followed). Only families whose
    # own backtest loss is within combination_tolerance (relative) of the best one's may join.
    combination_rounds: int = 1
    combination_tolerance: float = 10.0
    # The incumbent's combination stays unless the challenger's backtest loss is lower by this
    # relative margin and by at least promotion_z HAC standard errors (a one-sided paired test).
    promotion_margin: float = 0.0
    promotion_z: float = 1.645
    # -- forecasts ------------------------------------------------------------------------
    # Central coverage (%) of the split-conformal prediction intervals stored with forecasts.
    interval_levels: tuple[int, ...] = trains((80, 95))
    # Adaptive conformal intervals (pipeline/modelling/intervals.py): the step of the level after each
    # outcome, the days of outcomes that count, and the outcomes a horizon needs before they
    # replace the model's own split-conformal intervals.
    interval_gamma: float = 0.005
    interval_window_days: int = 365
    interval_min_scores: int = 28
    # Realized MAE above this multiple of the validation MAE flags the champion as drifted.
    drift_factor: float = 1.5
    # -- storage (URIs; local paths by default) ------------------------------------------
    home: Path = PROJECT_ROOT / ".ridership"
    mlflow_tracking_uri: str = ""
    artifact_root: str = ""
    forecast_db_uri: str = ""
    experiment: str = "ridership"
    mlflow_retries: int = 3
    # Where operators open the MLflow UI (links from Airflow tasks point there).
    mlflow_ui_url: str = "http://127.0.0.1:5000"
    # -- orchestration (read by the DAG files; "none" turns a schedule off) ---------------
    training_schedule: str = "@daily"
    forecast_schedule: str = "0 6 * * *"

    def __post_init__(self) -> None:
        # Paths under `home` are filled in here so that overriding `home` moves all of them.
        home = Path(self.home)
        defaults = {
            "mlflow_tracking_uri": f"sqlite:///{home / 'mlflow.db'}",
            "artifact_root": str(home / "artifacts"),
            "forecast_db_uri": f"sqlite:///{home / 'forecasts.db'}",
        }
        for name, value in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)
        object.__setattr__(self, "home", home)
        if self.protocol not in ("honest", "chapter"):
            raise ValueError(f"protocol must be 'honest' or 'chapter', got {self.protocol!r}")
        if self.window_order not in ("chapter", "uniform"):
            raise ValueError(f"window_order must be 'chapter' or 'uniform', got {self.window_order!r}")
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        if self.robust_learning_rate <= 0:
            raise ValueError(f"robust_learning_rate must be positive, got {self.robust_learning_rate!r}")
        if self.robust_huber_delta <= 0:
            raise ValueError(f"robust_huber_delta must be positive (riders), got {self.robust_huber_delta!r}")
        for name, least in (("warm_epochs", 1), ("warm_patience", 1), ("max_warm_starts", 0)):
            if getattr(self, name) < least:
                raise ValueError(f"{name} must be at least {least}, got {getattr(self, name)!r}")
        if self.horizon < 1 or self.seq_length < 1:
            raise ValueError("horizon and seq_length must be positive")
        if any(k < 1 for k in self.backtest_years):
            raise ValueError(f"backtest_years must be positive numbers of years, got {self.backtest_years!r}")
        for name, least in (("backtest_days", 1), ("backtest_reuse_days", 0), ("combination_rounds", 1)):
            if getattr(self, name) < least:
                raise ValueError(f"{name} must be at least {least}, got {getattr(self, name)!r}")
        if self.combination_tolerance < 0:
            raise ValueError(f"combination_tolerance must be >= 0, got {self.combination_tolerance!r}")
        if self.seasonal_weight < 0 or self.regime_tolerance <= 0:
            raise ValueError("seasonal_weight must be >= 0 and regime_tolerance > 0, got "
                             f"{self.seasonal_weight!r}, {self.regime_tolerance!r}")

    # -- derived dates --------------------------------------------------------------------
    @property
    def _day_after(self) -> date:
        return date.fromordinal(self.as_of.toordinal() + 1)

    @property
    def valid_start(self) -> date:
        return _add_months(self._day_after, -self.valid_months)

    @property
    def train_start(self) -> date:
        return _add_months(self.valid_start, -self.train_months)

    @property
    def score_start(self) -> date:
        return _add_months(self._day_after, -self.score_months)

    @property
    def problem(self) -> Problem:
        """What the families forecast, as of this run (Problem)."""
        return Problem(target=self.target, horizon=self.horizon, scale=self.scale, seed=self.seed,
                       protocol=self.protocol, as_of=self.as_of, train_start=self.train_start,
                       valid_start=self.valid_start, score_start=self.score_start)

    @property
    def mlflow_artifact_location(self) -> str | None:
        if self.mlflow_tracking_uri.startswith(("http://", "https://")):
            return None  # a tracking server keeps artifacts where it was told to (proxied)
        return str(Path(self.artifact_root) / "mlflow") if "://" not in self.artifact_root else (
            self.artifact_root.rstrip("/") + "/mlflow"
        )

    def with_overrides(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def digest(self) -> str:
        """A short hash of the fields marked `trains` (not where things are stored or how fast)."""
        return hashlib.sha256(json.dumps(self.training_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def training_dict(self) -> dict[str, Any]:
        """The fields marked `trains`, JSON-able: what the digest and the warm keys hash (and what a
        family saved before families had their own hyper-parameters kept of its settings)."""
        values = self.as_dict()
        return {f.name: values[f.name] for f in fields(self) if f.metadata.get("trains")}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Settings":
        """Settings from `as_dict` or `training_dict` output (the others at their defaults);
        names that are no longer fields are ignored, so that older saved families still load."""
        known = {f.name: f for f in fields(cls)}
        kwargs = {}
        for name, value in values.items():
            if name in known:
                kind = _field_type(known[name])
                kwargs[name] = (date.fromisoformat(value) if kind is date and isinstance(value, str)
                                else Path(value) if kind is Path
                                else tuple(value) if get_origin(kind) is tuple else value)
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = (
                value.isoformat() if isinstance(value, date)
                else str(value) if isinstance(value, Path)
                else list(value) if isinstance(value, tuple)
                else value
            )
        return out

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> "Settings":
        environ = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                kwargs[f.name] = _parse(f, raw)
        kwargs.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kwargs)


def _field_type(f: dataclasses.Field) -> Any:
    return f.type if not isinstance(f.type, str) else eval(f.type, globals())  # noqa: S307


def _parse(f: dataclasses.Field, raw: str) -> Any:
    kind = _field_type(f)
    try:
        if kind is date:
            return date.fromisoformat(raw)
        if kind is Path:
            return Path(raw)
        if get_origin(kind) is tuple:
            if raw.strip().lower() == "none":  # an empty tuple: an empty variable means "the default"
                return ()
            item_type = get_args(kind)[0]
            return tuple(item_type(item.strip()) for item in raw.split(",") if item.strip())
        if kind is bool:
            if raw.lower() not in TRUE + FALSE:
                raise ValueError(f"expected one of {', '.join(TRUE + FALSE)}")
            return raw.lower() in TRUE
        return kind(raw)
    except ValueError as exc:
        name = getattr(kind, "__name__", str(kind))
        raise ValueError(f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not a valid {name}: {exc}") from exc


def schedule_or_none(value: str) -> str | None:
    return None if value.strip().lower() in ("", "none", "off") else value


CHAMPION_ASSET_NAME = "ridership_champion"


def champion_asset_uri(settings: Settings) -> str:
    return f"mlflow://models/{settings.registered_model}@{settings.champion_alias}"


def parse_date(value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


__all__ = ["Settings", "Problem", "parse_date", "PROJECT_ROOT", "DEFAULT_FAMILIES"]
