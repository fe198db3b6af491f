"""Families for tests, loaded by import path (``RIDERSHIP_FAMILIES=...:Exploding``): ones that
fail on purpose, an ensemble of two fast members, and a toy family that builds on another
through the family protocol alone."""

import json

import keras
import numpy as np
import pandas as pd

from pipeline import families
from pipeline.families.base import Family, FitResult
from pipeline.families.ensemble import FamilyEnsemble
from pipeline.families.linear import Linear
from pipeline.families.naive import SeasonalNaive


class Exploding(SeasonalNaive):
    name = "exploding"

    def fit(self, windows, frame):
        raise RuntimeError("exploding family: simulated training crash")


class Diverging(Linear):
    """The linear model with an output that turns NaN, as a diverging network's does."""

    name = "diverging"

    def build(self):
        model = super().build()
        model.add(keras.layers.Lambda(lambda x: x * float("nan")))
        return model


class NaiveAndLinear(FamilyEnsemble):
    name = "naive_and_linear"
    member_families = ("naive", "linear")


class NaivePlusBias(Family):
    """naive's forecast plus its mean error over the last 28 days before the as-of date: a family
    that declares a member (Family.builds_on) and adopts it, without being an Ensemble."""

    name = "naive_plus_bias"

    def __init__(self, problem, hyper=None):
        super().__init__(problem, hyper)
        self.base, self.bias = None, 0.0

    def builds_on(self):
        return [("naive", self.problem.seed)]

    def adopt(self, trained):
        super().adopt({k: v for k, v in trained.items() if k not in self.builds_on()})
        self.base = trained.get(self.builds_on()[0])

    def fit(self, windows, frame):
        if self.base is None:
            self.base = families.family_class("naive")(self.problem)
        history = frame.loc[: pd.Timestamp(self.problem.as_of)]
        origins = history.index[-29:-1]
        actual = history[self.problem.target].reindex(origins + pd.Timedelta(days=1)).to_numpy()
        self.bias = float(np.mean(actual - self.base.forecast(history, origins)[:, 0]))
        return FitResult()

    def forecast(self, frame, origins):
        return self.base.forecast(frame, origins) + self.bias

    def _save_state(self, directory):
        self.base.save(directory / "base")
        (directory / "bias.json").write_text(json.dumps(self.bias))

    def _load_state(self, directory):
        self.base = families.load(directory / "base")
        self.bias = json.loads((directory / "bias.json").read_text())
