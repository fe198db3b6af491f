"""SimpleRNN(32) over bus, rail and the next day's type, predicting tomorrow's bus and rail."""

import keras

from pipeline.families.keras_family import KerasFamily


class MultivariateRnn(KerasFamily):
    name = "multivariate_rnn"
    targets = ("bus", "rail")
    learning_rate = 0.05

    def build(self):
        return keras.Sequential([
            keras.Input((None, len(self.inputs))),
            keras.layers.SimpleRNN(32),
            keras.layers.Dense(len(self.targets)),
        ])
