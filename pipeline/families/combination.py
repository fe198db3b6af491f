"""The gate's champion when it combines: a weighted average of member families fitted the same
night, with the weights greedy ensemble selection chose on the backtests (pipeline/modelling/selection.py).

Not trained by a pipeline run: the gate builds it from the run's trained families
(`Combination.of`), so it is not in the families' registry and no run lists it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import Problem
from pipeline.families.base import Family, NoHyper
from pipeline.families.ensemble import Ensemble

WEIGHTS_FILE = "weights.json"


class Combination(Ensemble):
    name = "combination"
    Hyper = NoHyper  # its members come fitted

    def __init__(self, problem, hyper=None):
        super().__init__(problem, hyper)
        self.weights: list[float] = []

    @classmethod
    def of(cls, problem: Problem, members: dict[str, Family], weights: dict[str, float]) -> "Combination":
        """The combination of fitted `members` (by family name) with `weights` (summing to 1).
        Raises ValueError for a weight without a member, or weights that are not positive."""
        if set(weights) - set(members):
            raise ValueError(f"weights for families that are not members: {sorted(set(weights) - set(members))}")
        if not weights or min(weights.values()) <= 0:
            raise ValueError(f"a combination needs positive weights, got {weights}")
        combination = cls(problem)
        names = sorted(weights)
        total = sum(weights.values())
        combination.members = [members[name] for name in names]
        combination.weights = [weights[name] / total for name in names]
        return combination

    def builds_on(self) -> list[tuple[str, int]]:
        return []

    def window_spec(self):
        return None

    def history_days(self) -> int:
        return max((m.history_days() for m in self.members), default=0)

    def member_weights(self) -> dict[str, float]:
        return {m.name: w for m, w in zip(self.members, self.weights)}

    def forecast(self, frame: pd.DataFrame, origins: pd.DatetimeIndex) -> np.ndarray:
        if not self.members:
            raise RuntimeError(f"{self.name} has no members")
        return sum(w * np.asarray(m.forecast(frame, origins), dtype=float) for m, w in zip(self.members, self.weights))

    def params(self) -> dict:
        return {"members": ",".join(f"{name}:{weight:.4f}" for name, weight in self.member_weights().items())}

    @staticmethod
    def _label(member: Family) -> str:
        return member.name

    def _save_state(self, directory: Path) -> None:
        super()._save_state(directory)
        (directory / WEIGHTS_FILE).write_text(json.dumps(self.weights))

    def _load_state(self, directory: Path) -> None:
        super()._load_state(directory)
        self.weights = json.loads((directory / WEIGHTS_FILE).read_text())
