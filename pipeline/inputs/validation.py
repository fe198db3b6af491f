"""The Great Expectations suite for the CTA ridership file.

Two stages: the schema (columns present) and then the content. Each failure is reported with
the column, what was expected and example offending file lines; an HTML data-docs site is
written either way so an operator can look at the whole result.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from pipeline.io import storage
from pipeline.inputs.data import COUNT_COLUMNS, DATE_COLUMN, DAY_TYPE_COLUMN, DAY_TYPES, RAW_COLUMNS, typed_view
from pipeline.errors import DataValidationError, StorageError

log = logging.getLogger(__name__)

# Bad lines named in a failure message, per expectation (the data docs list them all).
LISTED_LINES = 20
SUM_COLUMN = "bus + rail_boardings"
GAP_COLUMN = "days since previous date"


@dataclass(frozen=True)
class Check:
    """One expectation with the sentence an operator reads when it fails."""

    expectation: object
    column: str
    meaning: str


@dataclass
class ValidationReport:
    rows: int
    unique_days: int
    first_date: date
    last_date: date
    expectations: int
    data_docs_uri: str
    skipped_blank_rows: int = 0


def _schema_checks(gxe) -> list[Check]:
    # Extra columns are tolerated (the portal may add some); missing ones are not.
    return [
        Check(
            gxe.ExpectTableColumnsToMatchSet(column_set=list(RAW_COLUMNS), exact_match=False),
            "(table)",
            f"the file must have the columns {', '.join(RAW_COLUMNS)}",
        )
    ]


def _content_checks(gxe, max_count: int) -> list[Check]:
    checks = [
        Check(gxe.ExpectColumnValuesToNotBeNull(column=DATE_COLUMN), DATE_COLUMN,
              "dates must be valid MM/DD/YYYY dates or ISO dates (YYYY-MM-DD, optionally with a time)"),
        Check(gxe.ExpectColumnValuesToBeInSet(column=DAY_TYPE_COLUMN, value_set=list(DAY_TYPES)),
              DAY_TYPE_COLUMN, "day_type must be W (weekday), A (Saturday) or U (Sunday/holiday)"),
    ]
    for column in COUNT_COLUMNS:
        checks += [
            Check(gxe.ExpectColumnValuesToNotBeNull(column=column), column,
                  "counts must be present and numeric"),
            Check(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=max_count),
                  column, f"counts must lie between 0 and {max_count:,} boardings a day"),
        ]
    checks += [
        Check(gxe.ExpectColumnPairValuesToBeEqual(column_A="total_rides", column_B=SUM_COLUMN),
              "total_rides", "total_rides must equal bus + rail_boardings"),
        Check(gxe.ExpectColumnValuesToBeUnique(column=DATE_COLUMN), DATE_COLUMN,
              "each date must appear once (rows that differ only in values are conflicting)"),
        Check(gxe.ExpectColumnValuesToBeInSet(column=GAP_COLUMN, value_set=[1]), DATE_COLUMN,
              "dates must be consecutive days with no gaps"),
    ]
    return checks


def _content_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Typed frame without exact duplicates, plus the derived columns the suite checks."""
    typed = typed_view(raw).drop_duplicates()
    typed[SUM_COLUMN] = typed["bus"] + typed["rail_boardings"]
    dates = typed[DATE_COLUMN].dropna().drop_duplicates().sort_values()
    gaps = (dates.diff().dt.days).reindex(typed.index)
    typed[GAP_COLUMN] = gaps
    return typed


def _run_suite(context, name: str, frame: pd.DataFrame, checks: list[Check]):
    import great_expectations as gx

    source = context.data_sources.add_pandas(f"{name}_source")
    batch = source.add_dataframe_asset(f"{name}_frame").add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name=f"ridership_{name}"))
    by_id = {}
    for check in checks:
        by_id[suite.add_expectation(check.expectation).id] = check
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"ridership_{name}", data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"ridership_{name}",
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
            result_format={"result_format": "COMPLETE"},
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    # results do not come back in suite order: pair them with their checks by id
    return [(r, by_id[r.expectation_config.id]) for run in result.run_results.values() for r in run.results]


def _example_lines(raw: pd.DataFrame, indices: list) -> str:
    shown = []
    for index in list(indices)[:LISTED_LINES]:
        if index in raw.index:
            values = ", ".join(f"{c}={raw.at[index, c]!r}" for c in RAW_COLUMNS if c in raw.columns)
            shown.append(f"line {int(index) + 2}: {values}")
    more = f" (first {LISTED_LINES} of {len(indices)})" if len(indices) > LISTED_LINES else ""
    return "; ".join(shown) + more


def _describe(result, check: Check, raw: pd.DataFrame) -> dict:
    details = result.result or {}
    indices = details.get("unexpected_index_list") or []
    # Pair expectations report index dicts; column expectations report plain indices.
    indices = [i.get("index", i) if isinstance(i, dict) else i for i in indices]
    failure = {
        "expectation": result.expectation_config.type,
        "column": check.column,
        "meaning": check.meaning,
        "unexpected_count": details.get("unexpected_count", len(indices)),
        "examples": _example_lines(raw, indices),
    }
    if check.column == "(table)":
        observed = set(details.get("observed_value") or raw.columns)
        missing = [c for c in RAW_COLUMNS if c not in observed]
        extra = [c for c in raw.columns if c not in RAW_COLUMNS]
        failure["column"] = ", ".join(missing)
        failure["examples"] = f"missing column(s): {', '.join(missing)}" + (
            f"; unexpected column(s): {', '.join(extra)}" if extra else ""
        )
    return failure


def format_failures(uri: str, failures: list[dict], total: int, docs: str) -> str:
    lines = [f"data validation failed for {uri}: {len(failures)} of {total} expectations failed "
             f"(data docs: {docs})"]
    for f in failures:
        count = f" — {f['unexpected_count']} bad row(s)" if f.get("unexpected_count") else ""
        lines.append(f"  - column {f['column']}: {f['meaning']}{count}; {f['examples']}")
    return "\n".join(lines)


def _context(docs_dir: Path):
    import great_expectations as gx

    # GX forces INFO on this logger at import; its temporary-directory line is noise here
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    context.add_data_docs_site(
        "ridership",
        {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    return context


def validate(raw: pd.DataFrame, *, uri: str, as_of: date, train_start: date,
             max_count: int, docs_uri: str) -> ValidationReport:
    """Run the suite on a raw (string) frame; raise DataValidationError listing every failure."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    staging = storage.local_copy_dir(docs_uri)
    failures: list[dict] = []
    total = 0
    try:  # Great Expectations writes the data docs as it validates
        context = _context(staging)
        schema = _schema_checks(_gxe())
        results = _run_suite(context, "schema", raw, schema)
        total += len(schema)
        failures += [_describe(r, c, raw) for r, c in results if not r.success]
        if not failures:
            content = _content_checks(_gxe(), max_count)
            frame = _content_frame(raw)
            results = _run_suite(context, "content", frame, content)
            total += len(content)
            failures += [_describe(r, c, raw) for r, c in results if not r.success]
            if not failures:
                failures += _coverage_failures(frame, as_of, train_start)
                total += 1
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise StorageError(f"cannot write the data docs of {uri} at {staging}: {exc.strerror or exc}") from exc

    docs_uri = storage.publish_dir(staging, docs_uri)  # keeps an identical earlier copy, drops the staging one
    if failures:
        raise DataValidationError(format_failures(uri, failures, total, docs_uri), failures, docs_uri)
    dates = frame[DATE_COLUMN]
    return ValidationReport(
        rows=len(raw),
        unique_days=int(dates.nunique()),
        first_date=dates.min().date(),
        last_date=dates.max().date(),
        expectations=total,
        data_docs_uri=docs_uri,
        skipped_blank_rows=raw.attrs.get("skipped_blank_rows", 0),
    )


def _coverage_failures(frame: pd.DataFrame, as_of: date, train_start: date) -> list[dict]:
    first, last = frame[DATE_COLUMN].min().date(), frame[DATE_COLUMN].max().date()
    if first <= train_start and last >= as_of:
        return []
    return [{
        "expectation": "data_covers_training_span",
        "column": DATE_COLUMN,
        "meaning": f"data must cover {train_start} .. {as_of} (training span up to the as-of date)",
        "unexpected_count": 0,
        "examples": f"the file covers {first} .. {last}",
    }]


def _gxe():
    import great_expectations.expectations as gxe

    return gxe
