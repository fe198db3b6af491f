"""WaveNet: stacks of dilated causal convolutions (rates 1, 2, 4, 8, twice).

`wavenet` is the chapter's plain stack; `wavenet_gated` adds the paper's gated activation
units (tanh × sigmoid) with residual and skip connections.
"""

import keras

from pipeline.families.seq2seq import Seq2SeqFamily

DILATIONS = (1, 2, 4, 8) * 2
CHANNELS = 32


class WaveNet(Seq2SeqFamily):
    name = "wavenet"

    def build(self):
        layers = [keras.Input((None, len(self.input_columns)))]
        layers += [keras.layers.Conv1D(CHANNELS, 2, padding="causal", activation="relu", dilation_rate=rate)
                   for rate in DILATIONS]
        layers += [keras.layers.Conv1D(self.settings.horizon, 1)]
        return keras.Sequential(layers)


class GatedWaveNet(Seq2SeqFamily):
    name = "wavenet_gated"

    def build(self):
        inputs = keras.Input((None, len(self.input_columns)))
        x = keras.layers.Conv1D(CHANNELS, 1)(inputs)
        skips = []
        for rate in DILATIONS:
            filtered = keras.layers.Conv1D(CHANNELS, 2, padding="causal", dilation_rate=rate, activation="tanh")(x)
            gate = keras.layers.Conv1D(CHANNELS, 2, padding="causal", dilation_rate=rate, activation="sigmoid")(x)
            z = keras.layers.Conv1D(CHANNELS, 1)(keras.layers.Multiply()([filtered, gate]))
            skips.append(z)
            x = keras.layers.Add()([x, z])
        out = keras.layers.Activation("relu")(keras.layers.Add()(skips))
        out = keras.layers.Conv1D(CHANNELS, 1, activation="relu")(out)
        return keras.Model(inputs, keras.layers.Conv1D(self.settings.horizon, 1)(out))
