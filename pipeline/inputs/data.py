"""Loading the raw CTA file and cleaning it into a daily series.

The raw file is read as text so that validation can point at the exact offending lines;
``clean`` runs only on data that passed validation.
"""

from __future__ import annotations

import hashlib
import io

import pandas as pd

from pipeline.io import storage
from pipeline.errors import DataSourceError

DATE_COLUMN = "service_date"
DAY_TYPE_COLUMN = "day_type"
COUNT_COLUMNS = ("bus", "rail_boardings", "total_rides")
RAW_COLUMNS = (DATE_COLUMN, DAY_TYPE_COLUMN, *COUNT_COLUMNS)
DAY_TYPES = ("W", "A", "U")
DATE_FORMAT = "%m/%d/%Y"
ISO_DATE = r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
# The chapter's short names for the cleaned frame.
CLEAN_RENAMES = {DATE_COLUMN: "date", "rail_boardings": "rail"}


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def read_source(uri: str) -> bytes:
    data = storage.read_bytes(uri)
    if not data.strip():
        raise DataSourceError(f"data source {uri} is empty (0 data bytes)")
    return data


def parse_raw(data: bytes, uri: str) -> pd.DataFrame:
    """CSV bytes -> frame of strings, one row per data line (index 0 is file line 2)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataSourceError(
            f"data source {uri} is not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}"
        ) from exc
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.ParserError as exc:
        raise DataSourceError(f"data source {uri} is not a well-formed CSV file: {exc}") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataSourceError(f"data source {uri} has no header and no rows") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.fillna("")
    # Spreadsheets that re-save the export leave empty or all-comma rows: no data, skipped, counted.
    empty = (frame.apply(lambda column: column.str.strip()) == "").all(axis=1)
    blank_lines = sum(1 for line in text.splitlines()[1:] if not line.strip())  # read_csv skips them itself
    frame = frame[~empty]
    if frame.empty:
        raise DataSourceError(
            f"data source {uri} has a header ({', '.join(frame.columns)}) but no data rows"
        )
    frame.attrs["skipped_blank_rows"] = int(empty.sum()) + blank_lines
    return frame


def parse_dates(values: pd.Series) -> pd.Series:
    """Service dates as written by the portal's CSV export (MM/DD/YYYY) or its API export (ISO,
    2019-05-31T00:00:00.000, with or without a zone): the calendar day written, never shifted by a
    time or a zone. Anything else becomes NaT."""
    text = values.str.strip()
    iso = text.str.fullmatch(ISO_DATE)
    written = pd.to_datetime(text.where(~iso), format=DATE_FORMAT, errors="coerce")
    named = pd.to_datetime(text.where(iso).str[:10], format="%Y-%m-%d", errors="coerce")
    # one resolution whichever form the file uses (an all-NaT parse comes back in seconds)
    return written.astype("datetime64[us]").fillna(named.astype("datetime64[us]"))


def parse_counts(values: pd.Series) -> pd.Series:
    """Counts, with or without thousands separators ("827,394"); anything else becomes NaN."""
    text = values.str.strip()
    grouped = text.str.fullmatch(r"\d{1,3}(,\d{3})+")
    return pd.to_numeric(text.where(~grouped, text.str.replace(",", "")), errors="coerce")


def as_it_stood(data: bytes, day, uri: str) -> bytes:
    """The source as it stood on `day`, as CSV: its rows dated up to that day (a replay of history).
    A source without a readable date column is served whole, for validation to reject."""
    frame = parse_raw(data, uri)
    if DATE_COLUMN not in frame.columns:
        return data
    return frame[parse_dates(frame[DATE_COLUMN]) <= pd.Timestamp(day)].to_csv(index=False).encode()


def typed_view(raw: pd.DataFrame) -> pd.DataFrame:
    """Parse dates and counts; unparseable cells become NaT/NaN for validation to report."""
    typed = pd.DataFrame(index=raw.index)
    typed[DATE_COLUMN] = parse_dates(raw[DATE_COLUMN])
    typed[DAY_TYPE_COLUMN] = raw[DAY_TYPE_COLUMN].str.strip()
    for column in COUNT_COLUMNS:
        typed[column] = parse_counts(raw[column])
    return typed


def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """Validated raw frame -> daily frame indexed by date with day_type, bus, rail (ints).

    Exact duplicate rows are dropped (the source repeats two whole months); the total
    column is dropped because it is bus + rail by construction.
    """
    typed = typed_view(raw[list(RAW_COLUMNS)]).drop_duplicates()
    frame = (
        typed.rename(columns=CLEAN_RENAMES)
        .drop(columns="total_rides")
        .sort_values("date")
        .set_index("date")
        .asfreq("D")
    )
    if frame.isna().any().any():
        raise ValueError("clean() got data with gaps or duplicates: validate it first")
    frame[["bus", "rail"]] = frame[["bus", "rail"]].astype("int64")
    frame.index.name = "date"
    return frame


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def from_parquet_bytes(data: bytes) -> pd.DataFrame:
    frame = pd.read_parquet(io.BytesIO(data))
    return frame.asfreq("D")
