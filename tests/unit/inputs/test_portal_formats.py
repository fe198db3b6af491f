"""The live portal's shapes read to the same series as the shipped file."""

from datetime import datetime

import pandas as pd
import pytest

from pipeline import families
from pipeline.inputs import data
from pipeline.config import Settings
from pipeline.errors import DataValidationError
from pipeline.modelling.scoring import evaluate
from pipeline.inputs.validation import validate


def _rows(raw_bytes):
    lines = raw_bytes.decode().splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def _iso(us_date: str, suffix: str = ".000") -> str:
    return datetime.strptime(us_date, "%m/%d/%Y").strftime("%Y-%m-%dT00:00:00") + suffix


def socrata_export(raw_bytes, suffix=".000") -> bytes:
    """The API export: ISO timestamps, every field quoted."""
    header, rows = _rows(raw_bytes)
    quoted = [",".join(f'"{v}"' for v in header)]
    quoted += [",".join(f'"{v}"' for v in [_iso(r[0], suffix), *r[1:]]) for r in rows]
    return ("\n".join(quoted) + "\n").encode()


def spreadsheet_resave(raw_bytes, blank_rows=3) -> bytes:
    """Thousands separators in quoted counts, a byte-order mark, CRLF and trailing empty rows."""
    header, rows = _rows(raw_bytes)
    out = [",".join(header)] + [",".join([r[0], r[1], *(f'"{int(v):,}"' for v in r[2:])]) for r in rows]
    out += [",,,,"] * blank_rows + [""] * 2
    return b"\xef\xbb\xbf" + "\r\n".join(out).encode() + b"\r\n"


@pytest.mark.parametrize("shape", ["socrata", "socrata_utc", "spreadsheet"])
def test_portal_shapes_clean_to_the_shipped_series_and_score_the_same(shape, raw_bytes, frame):
    content = {"socrata": lambda: socrata_export(raw_bytes), "socrata_utc": lambda: socrata_export(raw_bytes, ".000Z"),
               "spreadsheet": lambda: spreadsheet_resave(raw_bytes)}[shape]()
    parsed = data.clean(data.parse_raw(content, f"{shape}.csv"))
    pd.testing.assert_frame_equal(parsed, frame)
    settings = Settings()
    assert evaluate(families.create("naive", settings), parsed, settings)[0].mae_h1 == pytest.approx(42_143.27, abs=0.01)


def test_blank_rows_are_skipped_and_counted(raw_bytes, tmp_path):
    raw = data.parse_raw(spreadsheet_resave(raw_bytes, blank_rows=50), "resaved.csv")
    assert raw.attrs["skipped_blank_rows"] == 52 and len(raw) == 7701  # 50 all-comma rows, 2 empty lines
    report = validate(raw, uri="resaved.csv", as_of=Settings().as_of, train_start=Settings().train_start,
                      max_count=5_000_000, docs_uri=str(tmp_path / "docs"))
    assert report.rows == 7701 and report.skipped_blank_rows == 52


def test_a_day_is_never_shifted_by_a_time_zone(raw_bytes):
    raw = data.parse_raw(socrata_export(raw_bytes, ".000+09:00"), "tokyo.csv")
    assert data.typed_view(raw)[data.DATE_COLUMN].min() == pd.Timestamp("2001-01-01")


def test_every_bad_line_is_named_up_to_the_limit(raw_bytes, tmp_path):
    from pipeline.inputs.validation import LISTED_LINES

    header, rows = _rows(raw_bytes)
    for r in rows[:30]:
        r[3] = "lots"  # rail_boardings not a number on file lines 2..31
    content = ("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n").encode()
    raw = data.parse_raw(content, "bad.csv")
    with pytest.raises(DataValidationError) as caught:
        validate(raw, uri="bad.csv", as_of=Settings().as_of, train_start=Settings().train_start,
                 max_count=5_000_000, docs_uri=str(tmp_path / "docs"))
    message = str(caught.value)
    assert "rail_boardings" in message and "30 bad row(s)" in message
    assert all(f"line {n}:" in message for n in range(2, 2 + LISTED_LINES))
    assert f"line {2 + LISTED_LINES}:" not in message
    assert f"first {LISTED_LINES} of 30" in message


def test_validate_json_prints_the_report_on_failure_too(raw_bytes, tmp_path, monkeypatch, capsys):
    import json

    from pipeline.entry.cli import EXIT_BAD_DATA, main

    monkeypatch.setenv("RIDERSHIP_HOME", str(tmp_path / "state"))
    header, rows = _rows(raw_bytes)
    rows[5][1] = "X"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n")
    assert main(["validate", "--data", str(bad), "--json"]) == EXIT_BAD_DATA
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False and report["data_docs_uri"]
    assert [f["column"] for f in report["failures"]] == ["day_type"]
    assert "line 7:" in report["failures"][0]["examples"]
