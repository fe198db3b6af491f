"""Sequence-to-sequence forecasters: 14 days ahead predicted after every input step.

Training on every step multiplies the error signal; the forecast is the last step's output.
"""

import keras

from pipeline.families.keras_family import KerasFamily
from pipeline.families.layers import LNSimpleRNNCell


class Seq2SeqFamily(KerasFamily):
    mode = "seq2seq"
    learning_rate = 0.1

    def recurrent_layer(self):
        raise NotImplementedError

    def build(self):
        return keras.Sequential([
            keras.Input((None, len(self.input_columns))),
            self.recurrent_layer(),
            keras.layers.Dense(self.problem.horizon),
        ])


class Seq2SeqRnn(Seq2SeqFamily):
    name = "seq2seq_rnn"

    def recurrent_layer(self):
        return keras.layers.SimpleRNN(32, return_sequences=True)


class LayerNormRnn(Seq2SeqFamily):
    name = "ln_rnn"

    def recurrent_layer(self):
        return keras.layers.RNN(LNSimpleRNNCell(32), return_sequences=True)


class Lstm(Seq2SeqFamily):
    name = "lstm"

    def recurrent_layer(self):
        return keras.layers.LSTM(32, return_sequences=True)


class Gru(Seq2SeqFamily):
    name = "gru"

    def recurrent_layer(self):
        return keras.layers.GRU(32, return_sequences=True)


class ConvGru(Seq2SeqFamily):
    """A strided convolution halves 112 input days before a GRU; targets are subsampled to match."""

    name = "conv_gru"
    seq_length_factor = 2
    kernel_size, strides = 4, 2

    def prepare_targets(self, y):
        return y[:, self.kernel_size - 1::self.strides]

    def build(self):
        return keras.Sequential([
            keras.Input((None, len(self.input_columns))),
            keras.layers.Conv1D(32, kernel_size=self.kernel_size, strides=self.strides, activation="relu"),
            keras.layers.GRU(32, return_sequences=True),
            keras.layers.Dense(self.problem.horizon),
        ])


class GruCalendar(Gru):
    """Beyond the chapter: the GRU also reads, at every step, the day types of the next 14 days,
    and trains on the robust recipe (KerasHyper.recipe)."""

    name = "gru_calendar"
    calendar_inputs = True
    recipe = "robust"
