"""The one protocol every model family obeys (statistical and Keras alike).

A family is built from the Problem (target, horizon, splits, seed: what every family shares) and
its own hyper-parameters (``Hyper``, a dataclass it declares; families.create fills each field from
the Settings field of its name, or the one ``setting(...)`` names), never from the whole Settings. It is fitted on the materialized
windows (or on the series) and forecasts the ``horizon`` days after each origin from history up to
that origin. It may build on other families (``builds_on``), which a pipeline run then trains first
and hands over (``adopt``). ``save``/``load`` round-trip it through a directory, which is what
MLflow stores.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pipeline.config import Problem
from pipeline.inputs.windows import WindowSpec

DESCRIPTION_FILE = "family.json"


@dataclass(frozen=True)
class NoHyper:
    """The hyper-parameters of a family that has none to configure."""


def setting(name: str) -> Any:
    """A hyper-parameter field filled from the Settings field `name` rather than its own name."""
    return field(metadata={"setting": name})


def members() -> Any:
    """A composite family's hyper-parameter field: its members' own hyper-parameters, by family name
    (filled by families.create for the names of Family.member_names)."""
    return field(metadata={"members": True})


@dataclass
class FitResult:
    epochs: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)


class Family(ABC):
    name: ClassVar[str]
    # Capability: `start_from` can continue from a previous fit of the same family (warm start).
    warm_starts: ClassVar[bool] = False
    # The family's own hyper-parameters: a frozen dataclass whose fields families.create fills from
    # the Settings fields of the same names (or the one named by `setting(...)`).
    Hyper: ClassVar[type] = NoHyper

    def __init__(self, problem: Problem, hyper: Any = None):
        self.problem = problem
        self.hyper = self.Hyper() if hyper is None else hyper
        # Conformal half-widths (riders) per coverage level and horizon, set by engine.train; the
        # levels are the engine's business, not the family's.
        self.intervals: dict[str, list[float]] = {}

    @classmethod
    def member_names(cls) -> tuple[str, ...]:
        """The families whose hyper-parameters this one's `members()` field holds. Default: none."""
        return ()

    def window_spec(self) -> WindowSpec | None:
        """The windows this family trains on; None for families fitted on the series itself."""
        return None

    def history_days(self) -> int:
        """Days of history up to an origin that `forecast` reads beyond its input window, if any
        (the logged model's input example spans at least that many)."""
        return 0

    def builds_on(self) -> list[tuple[str, int]]:
        """(family name, seed) of the families this one builds on; they train before it in a
        pipeline run (families.training_stages). Default: none."""
        return []

    def adopt(self, trained: dict[tuple[str, int], "Family"]) -> None:
        """Take over members a run has already trained, by (family name, seed), so that `fit`
        does not train them again. Raises ValueError for one that is not a member."""
        if trained:
            raise ValueError(f"{self.name} builds on no other family; given {sorted(trained)}")

    def start_from(self, previous: "Family") -> None:
        """Make the next `fit` continue from `previous`, this family fitted on fewer days with the
        same hyper-parameters and code (pipeline/modelling/warmstart.py decides when), within the
        warm-start budget its hyper-parameters set (warm_epochs, warm_patience). Raises ValueError
        when the family cannot warm-start or `previous`'s state does not fit this family's architecture."""
        raise ValueError(f"{self.name} cannot warm-start")

    def fit(self, windows: dict[str, np.ndarray] | None, frame: pd.DataFrame) -> FitResult:
        """Learn from `windows` (this family's WindowSpec arrays: inputs (n, seq, features) and
        targets (n, horizon) per split, in the family's scaled units) or, when it has no window
        spec (None), from `frame` (daily rows up to the as-of date). Returns epochs run and the
        per-epoch history. Default: nothing to learn."""
        return FitResult()

    @abstractmethod
    def forecast(self, frame: pd.DataFrame, origins: pd.DatetimeIndex) -> np.ndarray:
        """(len(origins), horizon) forecasts of the target in riders, using rows <= each origin."""

    def params(self) -> dict[str, Any]:
        """What the family was built with, as flat values (logged to MLflow, saved with it)."""
        return {}

    @classmethod
    def restore(cls, problem: Problem, hyper: Any, params: dict[str, Any]) -> "Family":
        """Re-create a saved family from its problem, hyper-parameters and params (before its state
        is loaded)."""
        return cls(problem, hyper)

    # -- persistence -----------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write family.json (class, problem, hyper-parameters, params, interval half-widths) and
        the learned state into `directory`; families.load reads it back."""
        directory.mkdir(parents=True, exist_ok=True)
        payload = {"family": self.name, "class": f"{type(self).__module__}:{type(self).__qualname__}",
                   "problem": self.problem.as_dict(), "hyper": asdict(self.hyper), "params": self.params(),
                   "intervals": self.intervals}
        (directory / DESCRIPTION_FILE).write_text(json.dumps(payload, indent=2))
        self._save_state(directory)

    def _save_state(self, directory: Path) -> None:
        """Families with learned state write it here."""

    def _load_state(self, directory: Path) -> None:
        """Families with learned state read it here."""


def describe_saved(directory: Path) -> dict[str, Any]:
    return json.loads((Path(directory) / DESCRIPTION_FILE).read_text())
