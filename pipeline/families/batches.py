"""The order in which training windows reach the optimizer, as the chapter's tf.data pipelines
serve them, computed in NumPy so that every Keras backend trains on the same batches.

The chapter builds its datasets in two ways, and the order changes what the nets learn:
- ``timeseries_dataset_from_array(shuffle=True, seed=42)`` permutes the windows once with
  NumPy's RandomState(seed), then passes them through ``Dataset.shuffle(batch_size * 8)``,
  which redraws only that local order every epoch;
- ``to_seq2seq_dataset(shuffle=True)`` skips the permutation: chronological windows through the
  same shuffle buffer, so each batch holds windows from a few neighbouring months.
"""

from __future__ import annotations

import math

import keras
import numpy as np

BUFFER_BATCHES = 8  # tf.data shuffle buffer, in batches, in both of the chapter's pipelines


def shuffle_buffer(order: np.ndarray, buffer_size: int, rng: np.random.Generator) -> np.ndarray:
    """What ``tf.data.Dataset.shuffle(buffer_size)`` yields from a stream in `order`: it fills a
    buffer, emits a random element of it and puts the next element of the stream in its place."""
    buffer = list(order[:buffer_size])
    out = []
    for incoming in order[buffer_size:]:
        k = rng.integers(len(buffer))
        out.append(buffer[k])
        buffer[k] = incoming
    out.extend(buffer[k] for k in rng.permutation(len(buffer)))
    return np.asarray(out, dtype=np.int64)


class ChapterBatches(keras.utils.PyDataset):
    """Batches of (X, y) in the chapter's order; a new local shuffle at every epoch."""

    def __init__(self, X: np.ndarray, y: np.ndarray, batch_size: int, seed: int, chronological: bool):
        super().__init__()
        self.X, self.y, self.batch_size = X, y, batch_size
        self.stream = np.arange(len(X))
        if not chronological:
            np.random.RandomState(seed).shuffle(self.stream)
        self.rng = np.random.default_rng(seed)
        self.order = self.stream

    def on_epoch_begin(self) -> None:
        self.order = shuffle_buffer(self.stream, self.batch_size * BUFFER_BATCHES, self.rng)

    def __len__(self) -> int:
        return math.ceil(len(self.X) / self.batch_size)

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.X[rows], self.y[rows]
