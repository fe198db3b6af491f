"""The one training engine: fit a family, score it with the one scoring protocol and calibrate its
intervals. No MLflow and no storage: the pipeline's steps record what it returns, the benchmarks
compare it."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from pipeline.config import Settings
from pipeline.errors import TrainingError
from pipeline.families.base import Family, FitResult
from pipeline.modelling.scoring import Scores, conformal_halfwidths, evaluate, scoring_origins
from pipeline.inputs.windows import WindowSpec, build_split_windows

WindowSource = Callable[[WindowSpec, Settings], dict]


@dataclass
class Trained:
    family: Family  # fitted, its conformal half-widths in `family.intervals`
    fit: FitResult  # epochs run and per-epoch history
    scores: Scores  # on the scoring window, in riders
    forecasts: np.ndarray  # (scoring origins, horizon) riders, from scoring.scoring_origins
    fit_seconds: float


def build_windows(frame: pd.DataFrame) -> WindowSource:
    """Windows built from the series in memory (benchmarks, ensembles' own members)."""
    return lambda spec, settings: build_split_windows(frame, spec, settings.problem)


def train(family: Family, frame: pd.DataFrame, settings: Settings, windows: WindowSource | None = None) -> Trained:
    """Fit `family` on `frame` (daily rows indexed by date; only rows up to `settings.as_of` are
    learned from and scored), score it on every scoring origin (scoring.evaluate) and attach
    split-conformal interval half-widths from those residuals (scoring.conformal_halfwidths).

    `windows(spec, settings)` gives the training windows of a family with a window spec (default:
    built from `frame`). Raises TrainingError when a forecast is NaN or infinite; whatever the
    family's fit raises propagates.
    """
    spec = family.window_spec()
    arrays = (windows or build_windows(frame))(spec, settings) if spec else None
    started = time.perf_counter()
    fit = family.fit(arrays, frame)
    fit_seconds = time.perf_counter() - started
    scores, forecasts = evaluate(family, frame, settings)
    if not all(math.isfinite(v) for v in scores.metrics().values()):
        raise TrainingError(f"{family.name}: forecasts contain NaN or inf")
    actual = frame.loc[: pd.Timestamp(settings.as_of), settings.target]
    family.intervals = conformal_halfwidths(forecasts, scoring_origins(settings), actual, settings)
    return Trained(family=family, fit=fit, scores=scores, forecasts=forecasts, fit_seconds=fit_seconds)
