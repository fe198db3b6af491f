"""The one protocol every model family obeys (statistical and Keras alike).

A family is built from the Settings, fitted on the materialized windows (or on the series),
and forecasts the ``horizon`` days after each origin from history up to that origin. It may
build on other families (``builds_on``), which a pipeline run then trains first and hands over
(``adopt``). ``save``/``load`` round-trip it through a directory, which is what MLflow stores.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pipeline.config import Settings
from pipeline.inputs.windows import WindowSpec

DESCRIPTION_FILE = "family.json"


@dataclass
class FitResult:
    epochs: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)


class Family(ABC):
    name: ClassVar[str]
    # Capability: `start_from` can continue from a previous fit of the same family (warm start).
    warm_starts: ClassVar[bool] = False

    def __init__(self, settings: Settings):
        self.settings = settings
        # Conformal half-widths (riders) per coverage level and horizon, set by engine.train.
        self.intervals: dict[str, list[float]] = {}

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
        same settings and code (pipeline/modelling/warmstart.py decides when), within the warm-start budget
        (Settings.warm_epochs, warm_patience). Raises ValueError when the family cannot warm-start
        or `previous`'s state does not fit this family's architecture."""
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
        """What the family was built with beyond its settings (logged to MLflow, saved with it)."""
        return {}

    @classmethod
    def restore(cls, settings: Settings, params: dict[str, Any]) -> "Family":
        """Re-create a saved family from its settings and params (before its state is loaded)."""
        return cls(settings)

    # -- persistence -----------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write family.json (class, every setting marked `trains`, params, interval half-widths)
        and the learned state into `directory`; families.load reads it back."""
        directory.mkdir(parents=True, exist_ok=True)
        payload = {"family": self.name, "class": f"{type(self).__module__}:{type(self).__qualname__}",
                   "settings": self.settings.training_dict(), "params": self.params(), "intervals": self.intervals}
        (directory / DESCRIPTION_FILE).write_text(json.dumps(payload, indent=2))
        self._save_state(directory)

    def _save_state(self, directory: Path) -> None:
        """Families with learned state write it here."""

    def _load_state(self, directory: Path) -> None:
        """Families with learned state read it here."""


def describe_saved(directory: Path) -> dict[str, Any]:
    return json.loads((Path(directory) / DESCRIPTION_FILE).read_text())
