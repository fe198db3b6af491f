"""WaveNet: stacks of dilated causal convolutions, on 112-day windows as in the chapter.

`wavenet` is the chapter's plain stack (rates 1, 2, 4, 8, twice; it sees 31 days back, so in
56-day windows half of the steps' targets would be predicted from zero padding).
`wavenet_gated` is the chapter's implementation of the paper's WaveNet: gated activation units
(tanh × sigmoid) in residual blocks whose skip connections are summed before the output. The
chapter's code has one block of three layers (rates 1, 2, 4: 8 days back) for a synthetic series;
on ridership it has one of four (rates 1, 2, 4, 8: 16 days back, the same weekday twice).
"""

import keras

from pipeline.families.layers import GatedActivationUnit
from pipeline.families.seq2seq import Seq2SeqFamily

CHANNELS = 32


class WaveNet(Seq2SeqFamily):
    name = "wavenet"
    seq_length_factor = 2
    dilations = (1, 2, 4, 8) * 2

    def build(self):
        layers = [keras.Input((None, len(self.input_columns)))]
        layers += [keras.layers.Conv1D(CHANNELS, 2, padding="causal", activation="relu", dilation_rate=rate)
                   for rate in self.dilations]
        layers += [keras.layers.Conv1D(self.problem.horizon, 1)]
        return keras.Sequential(layers)


class GatedWaveNet(WaveNet):
    name = "wavenet_gated"
    dilations = (1, 2, 4, 8)  # one block of four layers (the paper: three blocks of ten)

    def build(self):
        inputs = keras.Input((None, len(self.input_columns)))
        x = keras.layers.Conv1D(CHANNELS, 2, padding="causal")(inputs)
        skips = []
        for rate in self.dilations:
            z = keras.layers.Conv1D(2 * CHANNELS, 2, padding="causal", dilation_rate=rate)(x)
            z = keras.layers.Conv1D(CHANNELS, 1)(GatedActivationUnit()(z))
            skips.append(z)
            x = keras.layers.Add()([z, x])
        out = keras.layers.Activation("relu")(keras.layers.Add()(skips))
        out = keras.layers.Conv1D(CHANNELS, 1, activation="relu")(out)
        return keras.Model(inputs, keras.layers.Conv1D(self.problem.horizon, 1)(out))
