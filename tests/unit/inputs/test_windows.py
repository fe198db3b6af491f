from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import Settings
from pipeline.inputs.windows import WindowSpec, build_split_windows, make_windows, materialize, load_windows, window_starts


def test_windows_match_keras_on_the_chapters_toy_example():
    import keras

    series = np.arange(6, dtype=np.float32)
    expected = list(keras.utils.timeseries_dataset_from_array(series, targets=series[3:], sequence_length=3,
                                                              batch_size=100))[0]
    spec = WindowSpec(("rail",), ("rail",), seq_length=3)
    X, y = make_windows(series[:, None], spec, [0], [0], np.arange(3))
    np.testing.assert_array_equal(X[..., 0], np.asarray(expected[0]))
    np.testing.assert_array_equal(y[:, 0], np.asarray(expected[1]))


def test_seq2seq_targets_are_the_next_h_values_after_each_step():
    series = np.arange(20, dtype=np.float32)[:, None]
    spec = WindowSpec(("rail",), ("rail",), seq_length=4, ahead=3, seq2seq=True)
    X, y = make_windows(series, spec, [0], [0], np.arange(2))
    assert X.shape == (2, 4, 1) and y.shape == (2, 4, 3)
    np.testing.assert_array_equal(y[1, 2], [4, 5, 6])  # step 2 of window 1 is value 3


def test_chapter_protocol_windows_have_the_books_shapes(frame):
    s = Settings(protocol="chapter")
    arrays = build_split_windows(frame, WindowSpec(("rail",), ("rail",), 56), s.problem)
    # train 2016-01..2018-12 = 1096 days → 1040 windows; valid 2019-01..05 = 151 days → 95
    assert arrays["X_fit"].shape == (1040, 56, 1) and arrays["X_stop"].shape == (95, 56, 1)


def test_honest_protocol_never_trains_or_stops_on_scored_days(frame):
    s = Settings()
    spec = WindowSpec(("bus", "rail", "next_W", "next_A", "next_U"), ("rail",), 56, ahead=14)
    stop = window_starts(frame.loc[:"2019-05-31"].index, spec, s.valid_start, pd.Timestamp(s.score_start).date()
                         - pd.Timedelta(days=1), inputs_inside=False)
    last_target = frame.index[stop.max() + 56 + 14 - 1]
    assert last_target < pd.Timestamp(s.score_start)


def test_materialize_writes_once_and_reads_back(frame, settings):
    spec = WindowSpec(("rail",), ("rail",), 56)
    manifest = materialize(frame, [spec], settings, "abc", "clean.parquet")
    written = Path(manifest["specs"][spec.name]["uri"]).stat().st_mtime_ns
    again = materialize(frame, [spec], settings, "abc", "clean.parquet")
    assert again["uri"] == manifest["uri"]
    assert Path(again["specs"][spec.name]["uri"]).stat().st_mtime_ns == written  # not rewritten
    arrays = load_windows(manifest, spec)
    assert arrays["X_fit"].shape[1:] == (56, 1) and arrays["y_fit"].dtype == np.float32
