"""Recurrent networks over bus, rail and the next day's type, predicting tomorrow's bus and rail.

Both series are predicted so that the model can be rolled out 14 days (its own bus forecast
feeds the next step). `multivariate_rnn` is the chapter's multivariate model, SimpleRNN(32) +
Dense(1) → rail, with a twin of it for bus beside it (two branches, no shared weights) so it can
roll out; `multitask_rnn` is the chapter's multitask model, one SimpleRNN(32) + Dense(2).
"""

import keras

from pipeline.families.keras_family import KerasFamily


class MultivariateRnn(KerasFamily):
    name = "multivariate_rnn"
    targets = ("bus", "rail")
    independent_targets = True
    learning_rate = 0.05

    def build(self):
        inputs = keras.Input((None, len(self.input_columns)))
        outputs = []
        for target in self.targets:
            state = keras.layers.SimpleRNN(32, name=f"{target}_rnn")(inputs)
            outputs.append(keras.layers.Dense(1, name=f"{target}_next")(state))
        return keras.Model(inputs, keras.layers.Concatenate()(outputs))


class RobustMultivariateRnn(MultivariateRnn):
    """Beyond the chapter: multivariate_rnn trained on the robust recipe (KerasHyper.recipe)."""

    name = "multivariate_robust"
    recipe = "robust"


class MultitaskRnn(KerasFamily):
    name = "multitask_rnn"
    targets = ("bus", "rail")
    learning_rate = 0.02

    def build(self):
        return keras.Sequential([
            keras.Input((None, len(self.input_columns))),
            keras.layers.SimpleRNN(32),
            keras.layers.Dense(len(self.targets)),
        ])
