"""The production topology, natively: `scripts/e2e_celery.sh` (= `make e2e-celery`).

PostgreSQL, Redis, an S3 API (moto's server), an MLflow tracking server that proxies artifacts to
it, and Airflow on CeleryExecutor with two workers whose home folders are separate, all on
127.0.0.1; the DAGs are triggered through the REST API. Tiny epochs and training sets:
this checks the topology and the wiring, not accuracy.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT

# Not the defaults of the script, so that a `make e2e-celery` left running cannot interfere.
PORTS = {"E2E_PG_PORT": 15433, "E2E_REDIS_PORT": 16380, "E2E_MLFLOW_PORT": 15001, "E2E_AIRFLOW_PORT": 18081,
         "E2E_S3_PORT": 15002}


@pytest.fixture(scope="module")
def celery_run(tmp_path_factory, pytestconfig) -> tuple[subprocess.CompletedProcess, str]:
    home = tmp_path_factory.mktemp("celery")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("RIDERSHIP_", "AIRFLOW"))}
    environ.update({"E2E_HOME": str(home), "RIDERSHIP_TRAIN_MONTHS": "6",
                    **{name: str(port) for name, port in PORTS.items()}})
    done = subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "e2e_celery.sh")], env=environ,
                          capture_output=True, text=True, timeout=1500)
    # Shown in the test log even when everything passes: which worker ran which task.
    shown = [line for line in done.stdout.splitlines()
             if re.match(r"(triggered|ridership_\w+: |task |train |trainings by worker|race: |OK: |Celery end|object store keys"
                          r"|worker-\d folder|forecast tasks by worker)", line)]
    with pytestconfig.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        pytestconfig.pluginmanager.get_plugin("terminalreporter").write_line(
            "\n".join(["", "native Celery end-to-end run:", *shown]))
    return done, str(home)


def test_both_dags_succeed_through_the_rest_api(celery_run):
    done, home = celery_run
    assert done.returncode == 0, f"e2e_celery.sh failed (state in {home}):\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    assert "ridership_training: success" in done.stdout
    assert "ridership_forecast: success" in done.stdout
    assert "Celery end-to-end run passed" in done.stdout
    # progress while a run is waited for: tasks done of all, the families training
    assert re.search(r"^\[\s*\d+ s\] \d+/\d+ tasks done .*; running: .*train\[", done.stdout, re.MULTILINE)


def test_trainings_ran_on_both_workers_and_champion_is_on_the_server(celery_run):
    done, _ = celery_run
    workers = set(re.findall(r"^train\s+\S+\s+success\s+(worker-\d)\b", done.stdout, re.MULTILINE))
    assert workers == {"worker-1", "worker-2"}, done.stdout[-4000:]
    assert re.search(r"@champion on the MLflow server -> ridership version \d+", done.stdout)


def test_workers_share_no_disk_and_champion_loads_from_an_empty_home(celery_run):
    done, home = celery_run
    assert "Celery end-to-end run passed (s3)" in done.stdout
    assert "OK: no worker's folder holds a file another task read" in done.stdout, done.stdout[-4000:]
    assert re.search(r"^OK: @champion loaded in a third process with an empty home and no object-store "
                     r"credentials; it forecast \d+ rows", done.stdout, re.MULTILINE), done.stdout[-4000:]
    # The pipeline's files are in the bucket; neither worker's folder holds any of them.
    listing = re.search(r"^object store keys: (.*)$", done.stdout, re.MULTILINE).group(1)
    for prefix in ("pipeline/windows", "pipeline/clean", "pipeline/datadocs", "pipeline/forecasts", "mlflow/"):
        assert prefix in listing, listing
    for worker in ("worker-1", "worker-2"):
        held = [p for p in Path(home, "homes", worker).rglob("*") if p.is_file()]
        assert not [p for p in held if p.suffix in (".npz", ".parquet", ".json", ".html", ".png", ".db")], held


def test_two_promotions_started_together_on_postgresql_leave_one_version(celery_run):
    done, _ = celery_run
    assert "OK: two promotions started together left one version" in done.stdout, done.stdout[-4000:]


def test_everything_started_is_stopped(celery_run):
    done, home = celery_run
    assert done.returncode == 0
    for port in PORTS.values():
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on {port}"
    # Every process the script started inherited E2E_HOME: none may outlive it (log servers included).
    marker = f"E2E_HOME={home}".encode()
    survivors = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                survivors.append((environ.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue  # gone, or not ours to read
    assert survivors == [], survivors


def test_task_logs_have_no_error_lines_from_start_up_chatter(celery_run):
    """Airflow shows every stderr line of a task as an ERROR: TensorFlow's start-up messages,
    warnings and MLflow's notices must arrive as what they are (INFO, WARNING) instead."""
    _, home = celery_run
    logs = sorted(Path(home, "airflow", "logs").glob("dag_id=ridership_*/**/*.log"))
    assert any("task_id=train" in str(f) for f in logs), f"no training task logs under {home}"
    records = [json.loads(line) for f in logs for line in f.read_text().splitlines() if line.startswith("{")]
    errors = [r["event"][:200] for r in records if r.get("level") in ("error", "critical")]
    assert errors == []
    # Whatever TensorFlow printed on this processor (oneDNN, the cudart probe, cpu_feature_guard or
    # nothing: tests/unit/entry/test_runtime.py makes the native output itself) is kept for whoever needs it,
    # at INFO; and the trainings did log their progress.
    chatter = [r for r in records if str(r.get("event", "")).startswith("tensorflow: ")]
    assert all(r.get("level") == "info" for r in chatter), chatter[:3]
    assert any(r.get("level") == "info" and str(r.get("event", "")).startswith("trained ") for r in records)
