import json

from pipeline.entry.cli import EXIT_BAD_DATA, main


def test_validate_good_data_prints_json(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RIDERSHIP_HOME", str(tmp_path))
    assert main(["validate", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["valid"] is True and result["rows"] == 7701 and result["unique_days"] == 7639
    assert result["data_docs_uri"].endswith("index.html")


def test_validate_bad_data_exits_non_zero_with_the_reason(capsys, tmp_path, monkeypatch, raw_bytes):
    monkeypatch.setenv("RIDERSHIP_HOME", str(tmp_path))
    bad = tmp_path / "bad.csv"
    lines = raw_bytes.decode().splitlines()
    bad.write_text("\n".join(",".join(l.split(",")[:3] + l.split(",")[4:]) for l in lines))
    assert main(["validate", "--data", str(bad)]) == EXIT_BAD_DATA
    err = capsys.readouterr().err
    assert "missing column(s): rail_boardings" in err and "Traceback" not in err


def test_missing_file_exits_non_zero(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RIDERSHIP_HOME", str(tmp_path))
    assert main(["validate", "--data", str(tmp_path / "none.csv")]) == EXIT_BAD_DATA
    assert "does not exist" in capsys.readouterr().err


def test_forecast_without_champion_says_so(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RIDERSHIP_HOME", str(tmp_path))
    assert main(["forecast"]) == 1
    assert "run the training pipeline first" in capsys.readouterr().err


def test_a_bad_date_or_an_unknown_family_is_named_plainly(capsys, tmp_path, monkeypatch):
    import pytest

    monkeypatch.setenv("RIDERSHIP_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as exit_:
        main(["forecast", "--as-of", "2019-13-01"])
    assert exit_.value.code == 2
    assert "argument --as-of: not a date YYYY-MM-DD: '2019-13-01'" in capsys.readouterr().err
    assert main(["train", "no_such_family"]) == 1
    assert capsys.readouterr().err.startswith("error: unknown model family 'no_such_family'; known: naive,")
