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
    """Batches of (X, y) in the chapter's order, a new local shuffle at every epoch, served as one
    endless stream: batch i is batch i % batches_per_epoch of epoch i // batches_per_epoch.

    Fit with steps_per_epoch=batches_per_epoch: Keras then keeps one iterator for the whole
    training. A stream that ends every epoch makes it build a new tf.data iterator per epoch,
    which costs more than a small net's epoch of train steps.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, batch_size: int, seed: int, chronological: bool):
        super().__init__()
        self.X, self.y, self.batch_size = X, y, batch_size
        self.stream = np.arange(len(X))
        if not chronological:
            np.random.RandomState(seed).shuffle(self.stream)
        self.rng = np.random.default_rng(seed)
        self.orders: list[np.ndarray] = []

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.X) / self.batch_size)

    @property
    def num_batches(self) -> None:
        return None  # endless

    def order(self, epoch: int) -> np.ndarray:
        """The windows of `epoch` (from 0) in the order they are served; every epoch's order is
        drawn once, in epoch order, whatever order Keras asks for batches in."""
        while len(self.orders) <= epoch:
            self.orders.append(shuffle_buffer(self.stream, self.batch_size * BUFFER_BATCHES, self.rng))
        return self.orders[epoch]

    def __getitem__(self, index: int):
        epoch, position = divmod(index, self.batches_per_epoch)
        rows = self.order(epoch)[position * self.batch_size:(position + 1) * self.batch_size]
        return self.X[rows], self.y[rows]
