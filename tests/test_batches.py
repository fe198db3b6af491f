import keras
import numpy as np
import pytest

from pipeline.config import Settings
from pipeline.families.batches import ChapterBatches, shuffle_buffer


def test_shuffle_buffer_permutes_only_within_reach_of_the_buffer():
    stream = np.arange(1000)
    out = shuffle_buffer(stream, 256, np.random.default_rng(0))
    assert sorted(out) == list(stream)
    position = np.empty_like(out)
    position[out] = np.arange(len(out))
    # Element p enters the buffer after p - 255 elements have left it: it cannot come out before.
    assert (position >= stream - 255).all()
    assert (position != stream).mean() > 0.9
    assert (position - stream).max() > 255  # and it can stay in the buffer for long


def test_a_buffer_of_one_keeps_the_order():
    np.testing.assert_array_equal(shuffle_buffer(np.arange(50), 1, np.random.default_rng(0)), np.arange(50))


class Recording(ChapterBatches):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.served = {}  # epoch -> windows served; epoch 0: Keras peeking at shapes
        self.epoch = 0

    def on_epoch_begin(self):
        super().on_epoch_begin()
        self.epoch += 1

    def __getitem__(self, index):
        X, y = super().__getitem__(index)
        self.served.setdefault(self.epoch, []).extend(X[:, 0, 0].astype(int))
        return X, y


@pytest.mark.parametrize("chronological", [True, False])
def test_keras_fit_serves_every_window_once_per_epoch_in_a_new_local_order(chronological):
    n, batch = 300, 8  # buffer of 64 windows
    X = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n, 3, 1)).copy()
    y = np.zeros((n, 1), np.float32)
    batches = Recording(X, y, batch, seed=42, chronological=chronological)
    model = keras.Sequential([keras.Input((3, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    model.fit(batches, epochs=2, shuffle=False, verbose=0)
    first, second = (np.array(batches.served[epoch]) for epoch in (1, 2))
    assert sorted(first) == sorted(second) == list(range(n))
    assert not np.array_equal(first, second)
    stream = np.arange(n) if chronological else np.random.RandomState(42).permutation(n)
    rank = np.empty(n, int)
    rank[stream] = np.arange(n)
    # Each epoch is the stream (chronological, or the seed's fixed permutation) locally shuffled.
    for epoch in (first, second):
        assert (np.arange(n) >= rank[epoch] - 63).all()


def test_same_seed_same_batches():
    X, y = np.zeros((100, 2, 1), np.float32), np.zeros((100, 1), np.float32)
    a, b = (ChapterBatches(X, y, 8, seed=7, chronological=False) for _ in range(2))
    for _ in range(3):
        a.on_epoch_begin(), b.on_epoch_begin()
        np.testing.assert_array_equal(a.order, b.order)


def test_window_order_is_validated():
    with pytest.raises(ValueError, match="window_order"):
        Settings(window_order="random")
