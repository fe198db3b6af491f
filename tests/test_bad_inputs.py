"""The bad-input corpus (tests/data/bad/): each file fails `ridership validate` with its message.

`expected.json` lists every case with the message the user must get and the column it names.
"""

import json
import re
from pathlib import Path

import pytest

from pipeline.cli import EXIT_BAD_DATA, main

CORPUS = Path(__file__).parent / "data" / "bad"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())


def test_corpus_is_complete():
    assert len(EXPECTED) >= 15
    for name, case in EXPECTED.items():
        assert case.get("absent") or case.get("url") or (CORPUS / name).exists(), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_rejects_with_a_clear_message(name, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RIDERSHIP_HOME", str(tmp_path))
    case = EXPECTED[name]
    source = name if case.get("url") else str(CORPUS / name)
    assert main(["validate", "--data", source]) == EXIT_BAD_DATA
    err = capsys.readouterr().err
    assert case["message"] in err
    assert "Traceback" not in err
    if case["column"]:
        assert f"column {case['column']}" in err
    if case["column"] and "missing column" not in case["message"] and "must cover" not in case["message"]:
        assert re.search(r"line \d+: service_date=", err), err  # example rows, by file line
    assert not (tmp_path / "artifacts" / "raw").exists()  # nothing snapshotted from bad data
