import keras
import numpy as np
import pytest

from pipeline.config import Settings
from pipeline.families.batches import ChapterBatches, shuffle_buffer
from pipeline.families.keras_family import steps_per_call


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
        self.served = {}  # batch index -> windows served (Keras peeks at the first batches for their shapes)

    def __getitem__(self, index):
        X, y = super().__getitem__(index)
        self.served[index] = X[:, 0, 0].astype(int).tolist()
        return X, y


@pytest.mark.parametrize("chronological", [True, False])
def test_keras_fit_serves_every_window_once_per_epoch_in_a_new_local_order(chronological):
    n, batch = 300, 8  # buffer of 64 windows
    X = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n, 3, 1)).copy()
    y = np.zeros((n, 1), np.float32)
    batches = Recording(X, y, batch, seed=42, chronological=chronological)
    per_epoch = batches.batches_per_epoch
    model = keras.Sequential([keras.Input((3, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd", steps_per_execution=steps_per_call(n, batch, 0))
    model.fit(batches, epochs=2, steps_per_epoch=per_epoch, shuffle=False, verbose=0)
    first, second = (np.concatenate([batches.served[i] for i in range(e * per_epoch, (e + 1) * per_epoch)])
                     for e in (0, 1))
    assert sorted(first) == sorted(second) == list(range(n))
    assert not np.array_equal(first, second)
    stream = np.arange(n) if chronological else np.random.RandomState(42).permutation(n)
    rank = np.empty(n, int)
    rank[stream] = np.arange(n)
    # Each epoch is the stream (chronological, or the seed's fixed permutation) locally shuffled.
    for epoch in (first, second):
        assert (np.arange(n) >= rank[epoch] - 63).all()


def test_each_epoch_is_drawn_once_in_epoch_order_whatever_batch_is_asked_first():
    X, y = np.arange(100, dtype=np.float32)[:, None, None], np.zeros((100, 1), np.float32)
    a, b = (ChapterBatches(X, y, 8, seed=7, chronological=False) for _ in range(2))
    late = b[3 * b.batches_per_epoch + 2]  # epoch 3 first: epochs 0..2 are drawn before it
    for epoch in range(4):
        assert sorted(a.order(epoch)) == list(range(100))
        np.testing.assert_array_equal(a.order(epoch), b.order(epoch))
    np.testing.assert_array_equal(late[0][:, 0, 0], a.order(3)[16:24])
    assert not np.array_equal(a.order(0), a.order(1))
    # the last batch of an epoch is the short one
    assert len(a[a.batches_per_epoch - 1][0]) == 100 - 8 * 12


@pytest.mark.parametrize("setting, windows, expected", [(0, 1025, 33), (32, 1025, 11), (1, 1025, 1),
                                                       (0, 64, 2), (500, 64, 2), (5, 96, 3)])
def test_a_compiled_call_never_runs_into_the_next_epoch(setting, windows, expected):
    assert steps_per_call(windows, 32, setting) == expected


def test_window_order_is_validated():
    with pytest.raises(ValueError, match="window_order"):
        Settings(window_order="random")
