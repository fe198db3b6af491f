"""The Great Expectations suite: the real file passes, each kind of bad file fails clearly."""

from datetime import date

import pytest

from pipeline.inputs import data
from pipeline.errors import DataValidationError
from pipeline.inputs.validation import validate

HEADER = "service_date,day_type,bus,rail_boardings,total_rides"


def run(raw, tmp_path, as_of=date(2019, 5, 31)):
    return validate(raw, uri="test.csv", as_of=as_of, train_start=date(2016, 1, 1),
                    max_count=5_000_000, docs_uri=str(tmp_path / "docs"))


def lines_of(raw_bytes):
    return raw_bytes.decode().splitlines()


def parsed(lines):
    return data.parse_raw("\n".join(lines).encode(), "test.csv")


def test_real_file_passes_and_writes_data_docs(raw_frame, tmp_path):
    report = run(raw_frame, tmp_path)
    assert report.rows == 7701 and report.unique_days == 7639
    assert report.first_date == date(2001, 1, 1) and report.last_date == date(2021, 11, 30)
    assert (tmp_path / "docs" / "index.html").exists()


def test_missing_column_is_named(raw_frame, tmp_path):
    with pytest.raises(DataValidationError, match="missing column\\(s\\): rail_boardings") as err:
        run(raw_frame.drop(columns=["rail_boardings"]), tmp_path)
    assert err.value.failures[0]["column"] == "rail_boardings"
    assert (tmp_path / "docs" / "index.html").exists()


def test_renamed_column_names_both(raw_frame, tmp_path):
    with pytest.raises(DataValidationError, match="missing column\\(s\\): bus; unexpected column\\(s\\): buses"):
        run(raw_frame.rename(columns={"bus": "buses"}), tmp_path)


def test_extra_column_is_tolerated(raw_frame, tmp_path):
    assert run(raw_frame.assign(note="x"), tmp_path).rows == 7701


@pytest.mark.parametrize("line_no,replacement,column,message", [
    (5, "01/04/2001,X,100,100,200", "day_type", "day_type must be W"),
    (5, "01/04/2001,W,100,100,201", "total_rides", "total_rides must equal bus \\+ rail_boardings"),
    (5, "01/04/2001,W,-100,100,0", "bus", "counts must lie between 0"),
    (5, "01/04/2001,W,abc,100,100", "bus", "counts must be present and numeric"),
    (5, "2001-13-04,W,100,100,200", "service_date", "valid MM/DD/YYYY"),  # ISO-shaped, no 13th month
    (5, "01/04/2001,W,90000000,100,90000100", "bus", "between 0 and 5,000,000"),
])
def test_bad_rows_are_reported_with_column_and_line(raw_bytes, tmp_path, line_no, replacement, column, message):
    lines = lines_of(raw_bytes)
    lines[line_no - 1] = replacement
    with pytest.raises(DataValidationError, match=message) as err:
        run(parsed(lines), tmp_path)
    failure = next(f for f in err.value.failures if f["column"] == column)
    assert f"line {line_no}:" in failure["examples"]


def test_conflicting_duplicate_date(raw_bytes, tmp_path):
    lines = lines_of(raw_bytes)
    lines.insert(5, "01/04/2001,W,1,1,2")
    with pytest.raises(DataValidationError, match="each date must appear once"):
        run(parsed(lines), tmp_path)


def test_gap_in_dates(raw_bytes, tmp_path):
    lines = lines_of(raw_bytes)
    del lines[10]
    with pytest.raises(DataValidationError, match="consecutive days with no gaps") as err:
        run(parsed(lines), tmp_path)
    assert "01/11/2001" in str(err.value)  # the first date after the gap


def test_data_must_cover_the_training_span(raw_bytes, tmp_path):
    with pytest.raises(DataValidationError, match="must cover 2016-01-01 .. 2019-05-31"):
        run(parsed(lines_of(raw_bytes)[:1000]), tmp_path)
