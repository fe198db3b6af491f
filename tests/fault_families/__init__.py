"""Families that fail on purpose, loaded by import path (``RIDERSHIP_FAMILIES=...:Exploding``)."""

from pipeline.families.linear import Linear
from pipeline.families.naive import SeasonalNaive


class Exploding(SeasonalNaive):
    name = "exploding"

    def fit(self, windows, frame):
        raise RuntimeError("exploding family: simulated training crash")


class Diverging(Linear):
    """The linear model with a learning rate that makes SGD diverge to NaN."""

    name = "diverging"
    learning_rate = 1e9
