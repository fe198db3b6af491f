"""Families for tests, loaded by import path (``RIDERSHIP_FAMILIES=...:Exploding``): ones that
fail on purpose, and an ensemble of two fast members."""

import keras

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
