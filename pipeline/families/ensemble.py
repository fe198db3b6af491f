"""Beyond the chapter: families whose forecast is the average of member families' forecasts.

`robust_ensemble` averages three families at the configured seed, the same models the run trains
on their own; `multivariate_ensemble` averages one family over five seeds.

Members are declared through the protocol (`builds_on`): a pipeline run trains them first and the
ensemble adopts them; members the run did not train are trained at fit time, from windows built
from the same series when they read other windows than the run materialized.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from pipeline.families.base import Family, FitResult, members

MEMBERS_DIR = "members"
MEMBERS_FILE = "members.json"


@dataclass(frozen=True)
class EnsembleHyper:
    members: Mapping[str, Any] = members()  # each member family's own hyper-parameters, by name


class Ensemble(Family):
    Hyper = EnsembleHyper

    def __init__(self, problem, hyper):
        super().__init__(problem, hyper)
        self.members: list[Family] = []
        self.adopted: dict[tuple[str, int], Family] = {}

    def adopt(self, trained: dict[tuple[str, int], Family]) -> None:
        unknown = set(trained) - set(self.builds_on())
        if unknown:
            raise ValueError(f"{self.name} has no member {sorted(unknown)}; its members: {self.builds_on()}")
        self.adopted = dict(trained)

    def _member(self, name: str, seed: int) -> Family:
        from pipeline import families

        return families.family_class(name)(dataclasses.replace(self.problem, seed=seed), self.hyper.members[name])

    @staticmethod
    def _label(member: Family) -> str:
        return f"{member.name}_seed{member.problem.seed}"

    def window_spec(self):
        specs = {self._member(name, seed).window_spec() for name, seed in self.builds_on()}
        return specs.pop() if len(specs) == 1 else None

    def fit(self, windows, frame: pd.DataFrame) -> FitResult:
        from pipeline.inputs.windows import build_split_windows

        self.members, history, epochs = [], {}, 0
        for name, seed in self.builds_on():
            member = self.adopted.get((name, seed))
            if member is None:
                member = self._member(name, seed)
                spec = member.window_spec()
                arrays = windows if windows is not None or spec is None else build_split_windows(
                    frame, spec, member.problem)
                result = member.fit(arrays, frame)
                epochs += result.epochs
                history.update({f"{self._label(member)}_{key}": values for key, values in result.history.items()})
            self.members.append(member)
        return FitResult(epochs=epochs, history=history)

    def forecast(self, frame: pd.DataFrame, origins: pd.DatetimeIndex) -> np.ndarray:
        if not self.members:
            raise RuntimeError(f"{self.name} has not been fitted or loaded")
        return np.mean([member.forecast(frame, origins) for member in self.members], axis=0)

    def params(self) -> dict:
        specs = self.builds_on()
        params = {"members": ",".join(f"{name}:{seed}" for name, seed in specs)}
        for name in dict.fromkeys(name for name, _ in specs):
            member_params = self._member(name, self.problem.seed).params()
            params.update({f"{name}.{key}": value for key, value in member_params.items()})
        return params

    def _save_state(self, directory: Path) -> None:
        labels = [self._label(member) for member in self.members]
        for label, member in zip(labels, self.members):
            member.save(directory / MEMBERS_DIR / label)
        (directory / MEMBERS_FILE).write_text(json.dumps(labels))

    def _load_state(self, directory: Path) -> None:
        from pipeline import families

        if (directory / MEMBERS_FILE).exists():
            labels = json.loads((directory / MEMBERS_FILE).read_text())
        else:  # saved before members.json: seed ensembles with members/seed<N>
            labels = sorted((d.name for d in (directory / MEMBERS_DIR).iterdir()),
                            key=lambda label: int(label.removeprefix("seed")))
        self.members = [families.load(directory / MEMBERS_DIR / label) for label in labels]


class SeedEnsemble(Ensemble):
    """One family trained with `size` seeds: the configured one and the next ones."""

    member: ClassVar[str]
    size: ClassVar[int] = 5

    @classmethod
    def member_names(cls) -> tuple[str, ...]:
        return (cls.member,)

    def builds_on(self) -> list[tuple[str, int]]:
        return [(self.member, self.problem.seed + k) for k in range(self.size)]


class FamilyEnsemble(Ensemble):
    """Several families, each trained with the configured seed."""

    member_families: ClassVar[tuple[str, ...]]

    @classmethod
    def member_names(cls) -> tuple[str, ...]:
        return cls.member_families

    def builds_on(self) -> list[tuple[str, int]]:
        return [(name, self.problem.seed) for name in self.member_families]


class MultivariateEnsemble(SeedEnsemble):
    name = "multivariate_ensemble"
    member = "multivariate_robust"


class RobustEnsemble(FamilyEnsemble):
    name = "robust_ensemble"
    member_families = ("gru_calendar", "ahead_rnn_calendar", "multivariate_robust")
