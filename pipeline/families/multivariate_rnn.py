"""SimpleRNN(32) over bus, rail and the next day's type, predicting tomorrow's bus and rail.

Both series are predicted so that the model can be rolled out 14 days (its own bus forecast
feeds the next step). `multivariate_rnn` uses the chapter's multivariate learning rate,
`multitask_rnn` the chapter's multitask one.
"""

import keras

from pipeline.families.keras_family import KerasFamily


class MultivariateRnn(KerasFamily):
    name = "multivariate_rnn"
    targets = ("bus", "rail")
    learning_rate = 0.05

    def build(self):
        return keras.Sequential([
            keras.Input((None, len(self.input_columns))),
            keras.layers.SimpleRNN(32),
            keras.layers.Dense(len(self.targets)),
        ])


class MultitaskRnn(MultivariateRnn):
    name = "multitask_rnn"
    learning_rate = 0.02
