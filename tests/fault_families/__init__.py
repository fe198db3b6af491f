"""Families that fail on purpose, loaded by import path (``RIDERSHIP_FAMILIES=...:Exploding``)."""

import keras

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
