"""Faults found by trying the CLI as a new user would, each with the right behaviour."""

import json
import os
import subprocess
import sys

import pytest

from pipeline.entry.cli import main
from pipeline.config import PROJECT_ROOT, Settings

FAST = {"RIDERSHIP_TRAIN_MONTHS": "6", "RIDERSHIP_EPOCHS": "2"}


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RIDERSHIP_HOME", str(tmp_path / "state"))
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    return tmp_path


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_promote_finds_the_families_trained_for_that_date_and_data(cli_env, capsys):
    assert main(["train", "naive", "linear", "--json"]) == 0
    trained = _json(capsys)
    assert main(["promote", "--json"]) == 0
    decision = _json(capsys)
    assert decision["decision"] == "promoted" and decision["family"] in ("naive", "linear")
    runs = {r["run_id"] for r in trained["trained"]}
    assert decision["candidate_run_id"] in runs


def test_promote_without_training_says_what_to_run(cli_env, capsys):
    assert main(["promote"]) == 1
    assert "ridership train" in capsys.readouterr().err


def test_forecast_uses_the_data_it_is_given(cli_env, capsys, raw_bytes):
    assert main(["train", "naive", "--json"]) == 0 and main(["promote", "--json"]) == 0
    capsys.readouterr()
    assert main(["forecast", "--json"]) == 0
    from_snapshot = _json(capsys)
    # the same file with every rail count doubled: the seasonal naive must forecast twice as much
    lines = raw_bytes.decode().splitlines()
    doubled = [lines[0]] + [",".join(f[:3] + [str(2 * int(f[3])), str(int(f[2]) + 2 * int(f[3]))])
                            for f in (line.split(",") for line in lines[1:])]
    other = cli_env / "other.csv"
    other.write_text("\n".join(doubled) + "\n")
    assert main(["forecast", "--data", str(other), "--json"]) == 0
    from_other = _json(capsys)
    assert [r["forecast"] for r in from_other["forecast"]] == [2 * r["forecast"] for r in from_snapshot["forecast"]]
    assert from_other["data_uri"] == str(other)


def test_forecast_refuses_a_missing_data_file(cli_env, capsys):
    assert main(["forecast", "--data", str(cli_env / "missing.csv")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_two_promotions_started_together_register_one_version(cli_env, capsys):
    assert main(["train", "naive", "--json"]) == 0
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-m", "pipeline.entry.cli", "promote", "--json"]
    both = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in both]
    assert [p.returncode for p in both] == [0, 0], [err[-2000:] for _, err in outputs]
    decisions = [json.loads(out) for out, _ in outputs]
    assert {d["version"] for d in decisions} == {"1"}
    assert sorted(d["rerun"] for d in decisions) == [False, True]  # one decided, the other found it
    from mlflow.tracking import MlflowClient

    settings = Settings.from_env()
    versions = MlflowClient(settings.mlflow_tracking_uri).search_model_versions(f"name = '{settings.registered_model}'")
    assert [str(v.version) for v in versions] == ["1"]


def test_forecast_json_rows_carry_day_type_bounds_and_version(cli_env, capsys):
    assert main(["train", "naive", "--json"]) == 0 and main(["promote", "--json"]) == 0
    capsys.readouterr()
    assert main(["forecast", "--json"]) == 0
    rows = _json(capsys)["forecast"]
    assert [r["horizon"] for r in rows] == list(range(1, 15))
    assert [r["day_type"] for r in rows[:3]] == ["A", "U", "W"]  # Sat Jun 1, Sun Jun 2, Mon Jun 3 2019
    assert all(0 <= r["lower_95"] <= r["lower_80"] <= r["forecast"] <= r["upper_80"] <= r["upper_95"] for r in rows)
    assert {r["model_version"] for r in rows} == {1}


def test_rollback_moves_the_alias_records_history_and_refuses_what_it_must(cli_env, capsys):
    import mlflow

    from pipeline.lifecycle import registry

    # linear after 2 epochs is poor, then the seasonal naive beats it: versions 1 and 2, both promoted
    assert main(["train", "linear", "--json"]) == 0 and main(["promote", "--json"]) == 0
    assert main(["train", "naive", "--json"]) == 0
    capsys.readouterr()
    assert main(["promote", "--json"]) == 0
    assert _json(capsys)["decision"] == "promoted"
    settings = Settings.from_env()
    assert str(registry.current_champion(settings).version) == "2"

    assert main(["rollback", "--to", "99", "--reason", "typo"]) == 1
    assert "has no version 99" in capsys.readouterr().err
    assert main(["rollback", "--to", "2", "--reason", "no-op"]) == 1
    assert "already the champion" in capsys.readouterr().err
    # a version registered by hand, outside the gate, is refused
    client = mlflow.tracking.MlflowClient(settings.mlflow_tracking_uri)
    source = client.get_model_version(settings.registered_model, "1").source
    client.create_model_version(settings.registered_model, source)
    assert main(["rollback", "--to", "3", "--reason", "sneak"]) == 1
    assert "never validated" in capsys.readouterr().err

    assert main(["rollback", "--reason", "naive forecasts a holiday as a weekday", "--json"]) == 0
    moved = _json(capsys)
    assert (moved["version"], moved["from_version"], moved["family"]) == ("1", "2", "linear")
    assert str(registry.current_champion(settings).version) == "1"
    tags = client.get_model_version(settings.registered_model, "1").tags
    assert tags["ridership.rollback_reason"] == "naive forecasts a holiday as a weekday"
    assert tags["ridership.rolled_back_from"] == "2" and tags["ridership.rollback_by"].endswith("(cli)")
    assert "linear, trained on data up to 2019-05-31" in client.get_model_version(settings.registered_model,
                                                                                  "1").description
    assert "prediction intervals" in client.get_registered_model(settings.registered_model).description

    assert main(["champions", "--json"]) == 0
    history = _json(capsys)["champions"]
    assert [(e["version"], e["event"]) for e in history] == [("1", "promoted"), ("2", "promoted"), ("1", "rollback")]
    assert history[0]["until"] == history[1]["since"] and history[-1]["until"] is None
