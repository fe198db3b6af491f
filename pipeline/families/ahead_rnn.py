"""SimpleRNN(32) + Dense(14): the next 14 days of rail at once (direct multi-step)."""

import keras

from pipeline.families.keras_family import KerasFamily


class AheadRnn(KerasFamily):
    name = "ahead_rnn"
    mode = "direct"
    learning_rate = 0.02

    def build(self):
        return keras.Sequential([
            keras.Input((None, len(self.input_columns))),
            keras.layers.SimpleRNN(32),
            keras.layers.Dense(self.problem.horizon),
        ])


class AheadRnnCalendar(AheadRnn):
    """Beyond the chapter: the direct model also reads the day types of the 14 days it forecasts,
    and trains on the robust recipe (KerasHyper.recipe)."""

    name = "ahead_rnn_calendar"
    calendar_inputs = True
    recipe = "robust"
