"""Linear model: one Dense unit over the last 56 days of rail."""

import keras

from pipeline.families.keras_family import KerasFamily


class Linear(KerasFamily):
    name = "linear"
    inputs = ("rail",)
    learning_rate = 0.02

    def build(self):
        return keras.Sequential([
            keras.Input((self.seq_length, len(self.input_columns))),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ])
