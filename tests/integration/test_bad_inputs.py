"""The bad-input corpus (tests/data/bad/): each file fails `ridership validate` with its message,
and a training run on it stops at validation with the champion, the registry and the stored
forecasts byte for byte as they were, while forecasting with the champion keeps working.

`expected.json` lists every case with the message the user must get and the column it names.
"""

import hashlib
import json
import re
from pathlib import Path

import pytest

from pipeline.io import forecasts
from pipeline.nightly import steps
from pipeline.entry.cli import EXIT_BAD_DATA, main
from pipeline.config import Settings

CORPUS = Path(__file__).parents[1] / "data" / "bad"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())


def test_corpus_is_complete():
    assert len(EXPECTED) >= 15
    for name, case in EXPECTED.items():
        assert case.get("absent") or case.get("url") or (CORPUS / name).exists(), name


def source_of(name: str) -> str:
    return name if EXPECTED[name].get("url") else str(CORPUS / name)


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> Settings:
    """A champion and 14 stored forecasts, made from the good file."""
    settings = Settings(home=tmp_path_factory.mktemp("production"), families=("naive",))
    steps.migrate_stores(settings)
    checked = steps.validate_source(settings)
    cleaned = steps.clean_snapshot(settings, checked["raw_uri"], checked["data_hash"])
    run = steps.materialize_windows(settings, cleaned["clean_uri"], checked["data_hash"])
    steps.train_family(settings, "naive", run["manifest_uri"], run["parent_run_id"])
    steps.promote_best(settings, run["manifest_uri"], run["parent_run_id"], run["run_key"])
    steps.forecast_next(settings)
    return settings


def digests(settings: Settings) -> dict[str, str]:
    files = [settings.home / "mlflow.db", settings.home / "forecasts.db",
             settings.home / "artifacts" / "clean" / "latest.json"]
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_training_on_bad_data_stops_at_validation_and_changes_nothing(name, production, monkeypatch):
    before = digests(production)
    monkeypatch.setenv("RIDERSHIP_HOME", str(production.home))
    monkeypatch.setenv("RIDERSHIP_FAMILIES", "naive")
    # `promote` runs validate → clean → materialize → promote, as the training DAG does
    assert main(["promote", "--data", source_of(name)]) != 0
    assert digests(production) == before
    assert len(forecasts.stored(production)) == 14
    assert main(["forecast"]) == 0  # the champion still forecasts from the last good data
    assert len(forecasts.stored(production)) == 14


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_rejects_with_a_clear_message(name, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RIDERSHIP_HOME", str(tmp_path))
    case = EXPECTED[name]
    assert main(["validate", "--data", source_of(name)]) == EXIT_BAD_DATA
    err = capsys.readouterr().err
    assert case["message"] in err
    assert "Traceback" not in err
    if case["column"]:
        assert f"column {case['column']}" in err
    if case["column"] and "missing column" not in case["message"] and "must cover" not in case["message"]:
        assert re.search(r"line \d+: service_date=", err), err  # example rows, by file line
    assert not (tmp_path / "artifacts" / "raw").exists()  # nothing snapshotted from bad data
