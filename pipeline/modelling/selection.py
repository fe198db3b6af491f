"""Choosing the champion's combination on backtest forecasts, and keeping the incumbent's unless
the challenger clearly wins. Pure functions of forecast tables; no MLflow.

- Weights: greedy ensemble selection with replacement (Caruana, Niculescu-Mizil, Crew & Ksikes,
  "Ensemble selection from libraries of models", ICML 2004), the default ensemble of
  AutoGluon-TimeSeries: start empty, add the candidate that most lowers the loss of the average,
  `rounds` times; a candidate's weight is the share of rounds that picked it. Combining rather
  than crowning one winner is what forecasting practice recommends (Hibon & Evgeniou, "To
  combine or not to combine", IJF 2005; the M4 competition).
- Loss: each window's MAE divided by the window's mean actual (so that windows in years of other
  ridership levels compare), weighted by the window's weight (backtest.weighted).
- The incumbent rule: a one-sided paired test of the daily loss differences, the variance of
  their mean from Newey-West (HAC) standard errors within each window (consecutive days and
  overlapping horizons are correlated; Diebold & Mariano, "Comparing predictive accuracy", 1995).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

KEYS = ["window", "origin", "horizon"]


@dataclass(frozen=True)
class Evidence:
    """Signed errors of every candidate on the pairs every one of them forecast.

    errors: (pairs, candidates) forecast - actual, riders; weight: (pairs,) each pair's share of
    the loss (window weight / (pairs in the window x the window's mean actual)); pairs: window,
    origin, horizon, target_date, actual per pair; candidates: names, column order of `errors`.
    """
    pairs: pd.DataFrame
    errors: np.ndarray
    weight: np.ndarray
    candidates: tuple[str, ...]
    dropped: dict[str, str]  # candidate -> why it cannot carry weight

    def loss(self, weights: dict[str, float]) -> float:
        return loss(self, self.combined_errors(weights))

    def combined_errors(self, weights: dict[str, float]) -> np.ndarray:
        vector = np.array([weights.get(c, 0.0) for c in self.candidates])
        return self.errors @ (vector / vector.sum())

    def window_losses(self, weights: dict[str, float]) -> dict[str, float]:
        """Each window's relative MAE (MAE / mean actual) for this combination."""
        errors = np.abs(self.combined_errors(weights))
        out = {}
        for window, rows in self.pairs.groupby("window", sort=False).groups.items():
            rows = np.asarray(rows)
            out[window] = float(errors[rows].mean() / self.pairs["actual"].to_numpy()[rows].mean())
        return out


def evidence(tables: dict[str, pd.DataFrame], actual: pd.Series, window_weights: dict[str, float]) -> Evidence:
    """The evidence for choosing among candidates.

    tables: per candidate, its backtest rows (backtest.forecast_table: window, origin, horizon,
    target_date, forecast); actual: the series by date; window_weights: per window name, its weight.
    A candidate that lacks a pair of a window of positive weight (its backtest there failed), or
    forecast a non-finite value, is dropped with the reason; windows of weight 0 are left out.
    Raises ValueError when no candidate is left.
    """
    counted = {w for w, weight in window_weights.items() if weight > 0}
    wanted = None
    for table in tables.values():
        present = table[table["window"].isin(counted)]
        keys = set(map(tuple, present[KEYS].astype(str).to_numpy()))
        wanted = keys if wanted is None else wanted | keys
    dropped, kept = {}, {}
    for name, table in tables.items():
        present = table[table["window"].isin(counted)]
        missing = counted - set(present["window"])
        if missing:
            dropped[name] = f"no backtest on {', '.join(sorted(missing))}"
        elif not np.isfinite(present["forecast"].to_numpy(float)).all():
            dropped[name] = "non-finite backtest forecasts"
        elif len(present) != len(wanted):
            dropped[name] = f"{len(wanted) - len(present)} backtest pairs missing"
        else:
            kept[name] = present.sort_values(KEYS).reset_index(drop=True)
    if not kept:
        raise ValueError(f"no candidate has forecasts on every counted backtest window: {dropped}")
    names = tuple(sorted(kept))
    pairs = kept[names[0]][KEYS + ["target_date"]].copy()
    pairs["actual"] = actual.reindex(pd.to_datetime(pairs["target_date"])).to_numpy(float)
    if not np.isfinite(pairs["actual"]).all():
        raise ValueError("a backtest target has no actual")
    errors = np.column_stack([kept[n]["forecast"].to_numpy(float) - pairs["actual"].to_numpy() for n in names])
    per_window = pairs.groupby("window")["actual"].agg(["size", "mean"])
    share = pairs["window"].map(lambda w: window_weights[w] / (per_window.loc[w, "size"] * per_window.loc[w, "mean"]))
    weight = share.to_numpy(float) / sum(window_weights[w] for w in per_window.index)
    return Evidence(pairs, errors, weight, names, dropped)


def loss(ev: Evidence, errors: np.ndarray) -> float:
    """The weighted relative MAE of signed `errors` (pairs,) on the evidence's pairs."""
    return float(np.sum(ev.weight * np.abs(errors)))


def greedy_weights(ev: Evidence, rounds: int, tolerance: float = math.inf) -> dict[str, float]:
    """Greedy ensemble selection with replacement over the evidence's candidates (Caruana et al.
    2004): `rounds` picks, each the candidate whose addition gives the lowest loss of the running
    average (ties: the first name), among the candidates whose own loss is within `tolerance`
    (relative) of the best one's. Returns {candidate: share of picks} for those picked."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    own = np.abs(ev.errors).T @ ev.weight
    pool = np.flatnonzero(own <= own.min() * (1 + tolerance))
    errors = ev.errors[:, pool]
    picks: dict[str, int] = {}
    total = np.zeros(len(ev.pairs))
    for done in range(rounds):
        trial = (total[:, None] + errors) / (done + 1)
        scores = np.abs(trial).T @ ev.weight
        best = int(np.argmin(scores))
        name = ev.candidates[pool[best]]
        picks[name] = picks.get(name, 0) + 1
        total += errors[:, best]
    return {name: count / rounds for name, count in sorted(picks.items())}


@dataclass(frozen=True)
class Comparison:
    """Challenger against incumbent on the same pairs: losses, the improvement relative to the
    incumbent's loss (positive: the challenger is better) and its HAC t statistic."""
    incumbent_loss: float
    challenger_loss: float
    improvement: float
    t: float
    days: int

    def wins(self, margin: float, z: float) -> bool:
        return self.improvement > margin and self.t >= z


def compare(ev: Evidence, incumbent: dict[str, float], challenger: dict[str, float]) -> Comparison:
    """Paired comparison on the evidence: per window and target day, the weighted loss difference
    (incumbent - challenger); their weighted mean over windows, with the variance of each window's
    mean from Newey-West standard errors (lags: the horizon) and windows taken as independent."""
    import statsmodels.api as sm

    inc = np.abs(ev.combined_errors(incumbent)) * ev.weight
    cha = np.abs(ev.combined_errors(challenger)) * ev.weight
    frame = ev.pairs[["window", "target_date"]].assign(diff=inc - cha)
    daily = frame.groupby(["window", "target_date"], sort=True)["diff"].sum()
    mean, variance, days = 0.0, 0.0, 0
    lags = int(ev.pairs["horizon"].max())
    for _, series in daily.groupby(level=0):
        values = series.to_numpy(float)
        n = len(values)
        days += n
        mean += values.sum()  # the window's share of the total difference
        if n > 1 and np.ptp(values) > 0:
            fit = sm.OLS(values, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": min(lags, n - 1)})
            variance += (n * float(fit.bse[0])) ** 2
    incumbent_loss, challenger_loss = float(inc.sum()), float(cha.sum())
    t = mean / math.sqrt(variance) if variance > 0 else (math.inf if mean > 0 else 0.0)
    return Comparison(incumbent_loss, challenger_loss, mean / incumbent_loss if incumbent_loss else 0.0, t, days)
