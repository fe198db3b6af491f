"""Univariate recurrent networks on rail alone: one unit, one layer of 32, and three layers."""

import keras

from pipeline.families.keras_family import KerasFamily


class SimpleRnn1(KerasFamily):
    name = "simple_rnn_1"
    inputs = ("rail",)
    learning_rate = 0.02

    def build(self):
        return keras.Sequential([keras.Input((None, 1)), keras.layers.SimpleRNN(1)])


class SimpleRnn(KerasFamily):
    name = "simple_rnn"
    inputs = ("rail",)
    learning_rate = 0.05

    def build(self):
        return keras.Sequential([keras.Input((None, 1)), keras.layers.SimpleRNN(32), keras.layers.Dense(1)])


class DeepRnn(KerasFamily):
    name = "deep_rnn"
    inputs = ("rail",)
    learning_rate = 0.01

    def build(self):
        return keras.Sequential([
            keras.Input((None, 1)),
            keras.layers.SimpleRNN(32, return_sequences=True),
            keras.layers.SimpleRNN(32, return_sequences=True),
            keras.layers.SimpleRNN(32),
            keras.layers.Dense(1),
        ])
