"""The one protocol every model family obeys (statistical and Keras alike).

A family is built from the Settings, fitted on the materialized windows (or on the series),
and forecasts the ``horizon`` days after each origin from history up to that origin.
``save``/``load`` round-trip it through a directory, which is what MLflow stores.
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
from pipeline.windows import WindowSpec

DESCRIPTION_FILE = "family.json"
# The Settings fields a saved family needs to forecast again.
SAVED_SETTINGS = ("seq_length", "horizon", "scale", "target", "seed", "as_of")


@dataclass
class FitResult:
    epochs: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)


class Family(ABC):
    name: ClassVar[str]

    def __init__(self, settings: Settings):
        self.settings = settings
        # Conformal half-widths per coverage level and horizon, set by scoring.calibrate.
        self.intervals: dict[str, list[float]] = {}

    def window_spec(self) -> WindowSpec | None:
        """The windows this family trains on; None for families fitted on the series itself."""
        return None

    def history_days(self) -> int:
        """Days of history up to an origin that `forecast` reads beyond its input window, if any
        (the logged model's input example spans at least that many)."""
        return 0

    def fit(self, windows: dict[str, np.ndarray] | None, frame: pd.DataFrame) -> FitResult:
        return FitResult()

    @abstractmethod
    def forecast(self, frame: pd.DataFrame, origins: pd.DatetimeIndex) -> np.ndarray:
        """(len(origins), horizon) forecasts of the target in riders, using rows <= each origin."""

    def params(self) -> dict[str, Any]:
        return {}

    @classmethod
    def restore(cls, settings: Settings, params: dict[str, Any]) -> "Family":
        """Re-create a saved family from its settings and params (before its state is loaded)."""
        return cls(settings)

    # -- persistence -----------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        settings = {k: self.settings.as_dict()[k] for k in SAVED_SETTINGS}
        payload = {"family": self.name, "class": f"{type(self).__module__}:{type(self).__qualname__}",
                   "settings": settings, "params": self.params(), "intervals": self.intervals}
        (directory / DESCRIPTION_FILE).write_text(json.dumps(payload, indent=2))
        self._save_state(directory)

    def _save_state(self, directory: Path) -> None:
        """Families with learned state write it here."""

    def _load_state(self, directory: Path) -> None:
        """Families with learned state read it here."""


def describe_saved(directory: Path) -> dict[str, Any]:
    return json.loads((Path(directory) / DESCRIPTION_FILE).read_text())
