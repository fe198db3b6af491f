"""Beyond the chapter: gradient-boosted trees (LightGBM) that forecast each horizon directly.

One model serves every horizon h = 1..H: a row is an (origin, h) pair whose features are what is
known at the origin (recent levels, the last values of the target's weekday, the same week a
year before, bus) and the calendar covariates of the target day (pipeline.inputs.calendar.covariates),
and whose label is the target day's rail count divided by the 28-day level at the origin. Labels
relative to the level let one model learn from every year since 2001, across the network's
growth and decline, which a 56-day window over 36 months cannot (yearly patterns, holidays).
Direct rather than recursive, so errors do not compound over the horizon (Taieb et al., "A
review and comparison of strategies for multi-step ahead time series forecasting", 2012). The
first DEDICATED_HORIZONS horizons each get a model of their own, trained on their rows only: one
model for every horizon gives a day-ahead forecast too little of its capacity. The day ahead is
the plain average of that model and a second, different one: squared error on the count itself
from the last 14 days, the same weekdays three and four weeks back, the 7- and 28-day means and
the target day's calendar (the features of a direct model such as mlforecast's), whose errors
are not those of the level-relative model's; an equal-weight combination of two forecasts with
different errors is the most robust one (Clemen, "Combining forecasts: a review and annotated
bibliography", IJF 1989).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.inputs.calendar import COVARIATES, covariates
from pipeline.families.base import Family, FitResult, setting

MODEL_FILE = "lightgbm.txt"
DEDICATED_FILE = "lightgbm_h{}.txt"
COUNTS_FILE = "lightgbm_counts_h1.txt"
DEDICATED_HORIZONS = 1
LEVEL_DAYS = 28
YEAR_DAYS = 364  # 52 weeks: the same weekday a year before
WARMUP_DAYS = YEAR_DAYS + 2 * LEVEL_DAYS
# LightGBM parameters (https://lightgbm.readthedocs.io/en/stable/Parameters.html); MAE is what is scored.
# Huber on the level-relative label: a 5 % threshold (about 35,000 riders on a weekday) keeps
# parade days and storms from pulling every leaf.
PARAMS = {"objective": "huber", "alpha": 0.05, "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 40,
          "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
          "verbosity": -1, "deterministic": True, "force_row_wise": True}
ROUNDS = 600
CATEGORICAL = ("day_type", "weekday", "month", "holiday_month")
# The day-ahead model on counts: mlforecast's regression defaults, squared error.
COUNTS_PARAMS = {"objective": "regression", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 20,
                 "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "verbosity": -1,
                 "deterministic": True, "force_row_wise": True}
COUNTS_ROUNDS = 500
COUNT_LAGS = (*range(14), 20, 27)  # days before the origin: the last two weeks, the weekday 3 and 4 weeks back


def _level(values: np.ndarray, ends: np.ndarray, days: int) -> np.ndarray:
    """Mean of values[end - days + 1 .. end] for each end position (NaN where it reaches before 0)."""
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    starts = ends - days + 1
    out = (cumulative[np.clip(ends + 1, 0, None)] - cumulative[np.clip(starts, 0, None)]) / days
    return np.where(starts >= 0, out, np.nan)


def _at(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return np.where(positions >= 0, values[np.clip(positions, 0, None)], np.nan)


def design(frame: pd.DataFrame, origins: np.ndarray, horizons: np.ndarray, target: str) -> pd.DataFrame:
    """Feature rows for (origin position, horizon) pairs of `frame` (daily, gap-free).

    origins, horizons: int arrays of equal length n (positions into frame, days ahead). Every
    value feature uses rows <= the origin only, divided by the 28-day level at the origin.
    Returns an (n, F) frame; `level` is the divisor, not a feature.
    """
    series = frame[target].to_numpy(float)
    bus = frame["bus"].to_numpy(float)
    level = _level(series, origins, LEVEL_DAYS)
    bus_level = _level(bus, origins, LEVEL_DAYS)
    targets = origins + horizons
    same_weekday = targets - 7 * np.ceil(horizons / 7).astype(int)  # last seen day of the target's weekday
    last_year_level = _level(series, origins - YEAR_DAYS, LEVEL_DAYS)
    features = {
        "horizon": horizons,
        "level_ratio_7": _level(series, origins, 7) / level,
        "level_ratio_year": level / last_year_level,
        "origin": _at(series, origins) / level,
        "origin_1": _at(series, origins - 1) / level,
        "same_weekday": _at(series, same_weekday) / level,
        "same_weekday_2": _at(series, same_weekday - 7) / level,
        "same_weekday_3": _at(series, same_weekday - 14) / level,
        "last_year": _at(series, targets - YEAR_DAYS) / last_year_level,
        "last_year_next": _at(series, targets - YEAR_DAYS + 7) / last_year_level,
        "bus_origin": _at(bus, origins) / bus_level,
        "bus_same_weekday": _at(bus, same_weekday) / bus_level,
        # the latest days against a week before: a shock (a storm, a strike) that tomorrow may repeat
        "origin_week": _at(series, origins) / _at(series, origins - 7),
        "origin_1_week": _at(series, origins - 1) / _at(series, origins - 8),
        "same_weekday_trend": _at(series, same_weekday) / _at(series, same_weekday - 7),
        **{f"origin_{k}": _at(series, origins - k) / level for k in range(2, 7)},
        "bus_week": _at(bus, origins) / _at(bus, origins - 7),
    }
    out = _with_target_calendar(features, frame, targets)
    out["level"] = level
    return out


def _with_target_calendar(features: dict, frame: pd.DataFrame, targets: np.ndarray) -> pd.DataFrame:
    """`features` as a frame, with the calendar covariates of each target position of `frame`
    (target_<name> columns, the categorical ones as categories)."""
    first_day = frame.index[0].date()
    days = [first_day + timedelta(days=int(p)) for p in targets]
    out = pd.DataFrame({**features, **{f"target_{k}": v for k, v in covariates(days).items()}})
    for name in CATEGORICAL:
        out[f"target_{name}"] = out[f"target_{name}"].astype("category")
    return out


def count_design(frame: pd.DataFrame, origins: np.ndarray, target: str) -> pd.DataFrame:
    """Day-ahead feature rows on counts for origin positions of `frame` (daily, gap-free): the
    target at each of COUNT_LAGS days before the origin, its 7- and 28-day means up to the origin
    (riders) and the calendar covariates of the day after. (n, F) frame."""
    series = frame[target].to_numpy(float)
    features = {f"count_{k}": _at(series, origins - k) for k in COUNT_LAGS}
    features.update({"mean_7": _level(series, origins, 7), "mean_28": _level(series, origins, LEVEL_DAYS)})
    return _with_target_calendar(features, frame, origins + 1)


def feature_names() -> list[str]:
    dummy = pd.DataFrame({"rail": np.ones(WARMUP_DAYS + 2), "bus": np.ones(WARMUP_DAYS + 2)},
                         index=pd.date_range("2001-01-01", periods=WARMUP_DAYS + 2, freq="D"))
    return [c for c in design(dummy, np.array([WARMUP_DAYS]), np.array([1]), "rail").columns if c != "level"]


@dataclass(frozen=True)
class BoostingHyper:
    history_months: int = setting("boosting_history_months")  # learnt from before the cutoff; 0: all
    threads: int = setting("tf_threads")  # LightGBM's num_threads (0 and 1 both mean one)


class GradientBoosting(Family):
    """LightGBM on direct (origin, horizon) rows; see the module docstring."""

    name = "lightgbm"
    Hyper = BoostingHyper

    def __init__(self, problem, hyper):
        super().__init__(problem, hyper)
        self.booster = None
        self.dedicated: dict[int, object] = {}  # horizon -> its own booster
        self.counts = None  # the day-ahead booster on counts (None in a model saved before it)

    def history_days(self) -> int:
        return WARMUP_DAYS + 1

    def fit_cutoff(self) -> pd.Timestamp:
        """The last day whose value it learns from: the day before the scored window, so that the
        scores stay out of sample (no early stopping: a fixed number of rounds)."""
        return pd.Timestamp(self.problem.score_start) - pd.Timedelta(days=1)

    def history_start(self, frame: pd.DataFrame) -> pd.Timestamp:
        months = self.hyper.history_months
        if months <= 0:
            return frame.index[0]
        return max(frame.index[0], self.fit_cutoff() - pd.DateOffset(months=months))

    def training_rows(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """(rows, labels): a feature row for every (origin, horizon) whose target day lies between
        the start of the history and the fit cutoff, and its label, the target's count divided by
        the 28-day level at the origin (dimensionless). Raises ValueError when the history is
        shorter than the warm-up (a year and two levels) the features need."""
        history = frame.loc[self.history_start(frame): self.fit_cutoff()].asfreq("D")
        last = len(history) - 1
        pairs = [(i, h) for h in range(1, self.problem.horizon + 1) for i in range(WARMUP_DAYS, last - h + 1)]
        if not pairs:
            raise ValueError(f"{self.name}: fewer than {WARMUP_DAYS} days of history before "
                             f"{self.fit_cutoff().date()} to learn from")
        origins, horizons = (np.array(v) for v in zip(*pairs))
        rows = design(history, origins, horizons, self.problem.target)
        labels = history[self.problem.target].to_numpy(float)[origins + horizons] / rows.pop("level").to_numpy()
        keep = np.isfinite(labels)
        return rows[keep], labels[keep]

    def fit(self, windows, frame: pd.DataFrame) -> FitResult:
        import lightgbm

        rows, labels = self.training_rows(frame)
        params = {**PARAMS, "seed": self.problem.seed, "num_threads": max(self.hyper.threads, 1)}
        categorical = [f"target_{c}" for c in CATEGORICAL]
        data = lightgbm.Dataset(rows, labels, categorical_feature=categorical)
        record: dict = {}
        self.booster = lightgbm.train(params, data, num_boost_round=ROUNDS,
                                      valid_sets=[data], valid_names=["train"],
                                      callbacks=[lightgbm.record_evaluation(record)])
        self.dedicated = {}
        for h in range(1, min(DEDICATED_HORIZONS, self.problem.horizon) + 1):
            mine = (rows["horizon"] == h).to_numpy()
            own = lightgbm.Dataset(rows[mine], labels[mine], categorical_feature=categorical)
            self.dedicated[h] = lightgbm.train(params, own, num_boost_round=ROUNDS)
        self.counts = self._fit_counts(frame)
        return FitResult(epochs=ROUNDS, history={"loss": next(iter(record["train"].values()))})

    def _fit_counts(self, frame: pd.DataFrame):
        """The day-ahead booster on counts (count_design), on the same days as the other boosters."""
        import lightgbm

        history = frame.loc[self.history_start(frame): self.fit_cutoff()].asfreq("D")
        origins = np.arange(WARMUP_DAYS, len(history) - 1)
        labels = history[self.problem.target].to_numpy(float)[origins + 1]
        keep = np.isfinite(labels)
        rows = count_design(history, origins, self.problem.target)[keep]
        params = {**COUNTS_PARAMS, "seed": self.problem.seed, "num_threads": max(self.hyper.threads, 1)}
        data = lightgbm.Dataset(rows, labels[keep], categorical_feature=[f"target_{c}" for c in CATEGORICAL])
        return lightgbm.train(params, data, num_boost_round=COUNTS_ROUNDS)

    def forecast(self, frame: pd.DataFrame, origins: pd.DatetimeIndex) -> np.ndarray:
        if self.booster is None:
            raise RuntimeError(f"{self.name} has not been fitted or loaded")
        history = frame.loc[: origins.max()].asfreq("D")
        positions = history.index.get_indexer(origins)
        if (positions < WARMUP_DAYS).any():
            raise ValueError(f"{self.name} needs {WARMUP_DAYS} days of history before each origin")
        horizon = self.problem.horizon
        rows = design(history, np.repeat(positions, horizon), np.tile(np.arange(1, horizon + 1), len(origins)),
                      self.problem.target)
        level = rows.pop("level").to_numpy()
        relative = self._predict(self.booster, rows)
        for h, booster in self.dedicated.items():
            mine = (rows["horizon"] == h).to_numpy()
            relative[mine] = self._predict(booster, rows[mine])
        forecasts = (relative * level).reshape(len(origins), horizon)
        if self.counts is not None:  # the day ahead: the average of the two day-ahead models
            counts = self._predict(self.counts, count_design(history, positions, self.problem.target))
            forecasts[:, 0] = (forecasts[:, 0] + counts) / 2
        return forecasts

    @staticmethod
    def _predict(booster, rows: pd.DataFrame) -> np.ndarray:
        # The booster's own feature list: a model saved by an earlier version, with fewer
        # features, keeps forecasting after the code gains new ones.
        return booster.predict(rows[booster.feature_name()])

    def params(self) -> dict:
        return {**PARAMS, "rounds": ROUNDS, "features": ",".join(feature_names()),
                "dedicated_horizons": min(DEDICATED_HORIZONS, self.problem.horizon),
                "day_ahead": "mean of the level-relative booster and a booster on counts",
                "counts_params": ",".join(f"{k}={v}" for k, v in COUNTS_PARAMS.items()),
                "counts_rounds": COUNTS_ROUNDS, "count_lags": ",".join(map(str, COUNT_LAGS)),
                "history_months": self.hyper.history_months,
                "covariates": ",".join(COVARIATES), "label": f"{self.problem.target} / {LEVEL_DAYS}-day level"}

    def _save_state(self, directory: Path) -> None:
        self.booster.save_model(str(directory / MODEL_FILE))
        for h, booster in self.dedicated.items():
            booster.save_model(str(directory / DEDICATED_FILE.format(h)))
        if self.counts is not None:
            self.counts.save_model(str(directory / COUNTS_FILE))

    def _load_state(self, directory: Path) -> None:
        import lightgbm

        self.booster = lightgbm.Booster(model_file=str(directory / MODEL_FILE))
        self.dedicated = {h: lightgbm.Booster(model_file=str(directory / DEDICATED_FILE.format(h)))
                          for h in range(1, self.problem.horizon + 1)
                          if (directory / DEDICATED_FILE.format(h)).exists()}
        self.counts = (lightgbm.Booster(model_file=str(directory / COUNTS_FILE))
                       if (directory / COUNTS_FILE).exists() else None)
