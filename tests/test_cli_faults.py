"""Faults found by trying the CLI as a new user would, each with the right behaviour."""

import json
import os
import subprocess
import sys

import pytest

from pipeline.cli import main
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
    command = [sys.executable, "-m", "pipeline.cli", "promote", "--json"]
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
