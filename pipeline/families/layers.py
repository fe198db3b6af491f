"""Custom Keras layers and metrics, registered so that saved models load without custom_objects."""

import keras


@keras.saving.register_keras_serializable(package="ridership")
class LNSimpleRNNCell(keras.layers.Layer):
    """A SimpleRNN cell with layer normalization between the linear step and the activation."""

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.output_size = units
        self.simple_rnn_cell = keras.layers.SimpleRNNCell(units, activation=None)
        self.layer_norm = keras.layers.LayerNormalization()
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.simple_rnn_cell.build(input_shape)
        self.layer_norm.build((input_shape[0], self.units))
        super().build(input_shape)

    def call(self, inputs, states, training=False):
        outputs, _ = self.simple_rnn_cell(inputs, states, training=training)
        normalized = self.activation(self.layer_norm(outputs))
        return normalized, [normalized]

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation)}


@keras.saving.register_keras_serializable(package="ridership")
class ColumnMAE(keras.metrics.MeanMetricWrapper):
    """The MAE of one output column, for models that predict several series but are scored on one."""

    def __init__(self, column, name="column_mae", dtype=None):
        super().__init__(self.column_errors, name=name, dtype=dtype)
        self.column = column

    def column_errors(self, y_true, y_pred):
        return keras.ops.abs(y_true[..., self.column] - y_pred[..., self.column])

    def get_config(self):
        return {"column": self.column, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="ridership")
class GatedActivationUnit(keras.layers.Layer):
    """WaveNet's gate: tanh of the first half of the channels times the sigmoid of the second half.

    The chapter's notebook applies its tanh twice; this is the paper's unit, tanh once.
    """

    def call(self, inputs):
        filters, gate = keras.ops.split(inputs, 2, axis=-1)
        return keras.ops.tanh(filters) * keras.ops.sigmoid(gate)
