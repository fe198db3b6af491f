import pandas as pd
import pytest

from pipeline.inputs import data
from pipeline.errors import DataSourceError


def test_clean_drops_exact_duplicates_and_is_daily(raw_frame, frame):
    assert len(raw_frame) == 7701
    assert len(frame) == 7639
    assert frame.index.is_monotonic_increasing and frame.index.freq == "D"
    assert frame.index[0] == pd.Timestamp("2001-01-01") and frame.index[-1] == pd.Timestamp("2021-11-30")
    assert list(frame.columns) == ["day_type", "bus", "rail"]


def test_clean_refuses_unvalidated_gaps(raw_frame):
    with pytest.raises(ValueError, match="validate it first"):
        data.clean(raw_frame.drop(index=[100]))


def test_parse_raw_rejects_non_utf8_with_line():
    with pytest.raises(DataSourceError, match="not UTF-8 text: byte 0xff at line 3"):
        data.parse_raw(b"service_date,day_type\n01/01/2001,U\n\xff\n", "x.csv")


def test_parse_raw_rejects_header_only():
    with pytest.raises(DataSourceError, match="no data rows"):
        data.parse_raw(b"service_date,day_type,bus,rail_boardings,total_rides\n", "x.csv")


def test_missing_source_is_named(tmp_path):
    with pytest.raises(DataSourceError, match="does not exist"):
        data.read_source(str(tmp_path / "nope.csv"))


def test_empty_source(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(DataSourceError, match="is empty"):
        data.read_source(str(tmp_path / "empty.csv"))


def test_parquet_round_trip(frame):
    back = data.from_parquet_bytes(data.to_parquet_bytes(frame))
    pd.testing.assert_frame_equal(back, frame, check_freq=False)
