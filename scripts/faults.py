"""Faults under the real scheduler (`make faults`, started by scripts/faults.sh, which sets the
environment): each scenario is provoked during a real DAG run and what it left is checked and
written to a report. Exits non-zero when a check fails."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))

from airflow_api import Api  # noqa: E402
from machine import describe  # noqa: E402

SERVICES = {
    "api-server": lambda: ["airflow", "api-server", "--host", "127.0.0.1", "--port", os.environ["AIRFLOW_PORT"]],
    "scheduler": lambda: ["airflow", "scheduler"],
    "dag-processor": lambda: ["airflow", "dag-processor"],
    "mlflow": lambda: ["mlflow", "server", "--backend-store-uri", f"sqlite:///{HOME / 'mlflow-server.db'}",
                       "--artifacts-destination", str(HOME / "mlflow-artifacts"), "--host", "127.0.0.1",
                       "--port", os.environ["MLFLOW_PORT"], "--workers", "1"],
}
HOME = Path(".")
RUNNING: dict[str, subprocess.Popen] = {}
REPORT: list[str] = []
FAILED: list[str] = []


def start(name: str) -> None:
    log = open(HOME / "logs" / f"{name}.log", "a")
    RUNNING[name] = subprocess.Popen(SERVICES[name](), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def kill(name: str, sig: int = signal.SIGKILL, group: bool = True) -> None:
    process = RUNNING.pop(name)
    try:
        os.killpg(process.pid, sig) if group else os.kill(process.pid, sig)
    except ProcessLookupError:
        pass
    process.wait(timeout=60)


def wait_for(url: str, seconds: int = 180) -> None:
    import urllib.request

    for _ in range(seconds):
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except Exception:
            time.sleep(1)
    raise SystemExit(f"{url} did not answer in {seconds} s")


def say(line: str = "") -> None:
    print(line, flush=True)
    REPORT.append(line)


def check(ok: bool, what: str) -> None:
    say(f"- {'OK' if ok else 'FAILED'}: {what}")
    if not ok:
        FAILED.append(what)


def trigger(api: Api, as_of: str, tag: str) -> str:
    run_id = f"faults__{tag}__{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    api._call("PATCH", "/api/v2/dags/ridership_training", {"is_paused": False})
    api._call("POST", "/api/v2/dags/ridership_training/dagRuns",
              {"dag_run_id": run_id, "logical_date": None, "conf": {"as_of": as_of}})
    return run_id


def run_state(api: Api, run_id: str) -> tuple[str, list[dict]]:
    path = f"/api/v2/dags/ridership_training/dagRuns/{run_id}"
    return api._call("GET", path)["state"], api._call("GET", f"{path}/taskInstances?limit=1000")["task_instances"]


def wait_run(api: Api, run_id: str, timeout: float = 1800) -> tuple[str, list[dict]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state, tasks = run_state(api, run_id)
        if state in ("success", "failed"):
            return state, tasks
        time.sleep(3)
    return "timed out", run_state(api, run_id)[1]


def training(api: Api, run_id: str, family: str) -> dict | None:
    """The running training task instance of `family` (its map index found from the stage's input)."""
    families = api.result({"dag_id": "ridership_training", "dag_run_id": run_id}, "train_families") or []
    if family not in families:
        return None
    index = families.index(family)
    _, tasks = run_state(api, run_id)
    return next((t for t in tasks if t["task_id"] == "train" and t["map_index"] == index), None)


def epochs_trained(run_id: str, task: dict) -> int:
    """The last epoch the training task's log reports (its progress line every 10 epochs)."""
    logs = HOME / "airflow" / "logs" / "dag_id=ridership_training" / f"run_id={run_id}" / "task_id=train"
    text = "".join(p.read_text(errors="replace") for p in logs.glob(f"map_index={task['map_index']}/*.log"))
    epochs = re.findall(r"linear epoch (\d+)/", text)
    return int(epochs[-1]) if epochs else 0


def mlflow_state(settings, as_of: str) -> dict:
    """Per family, the statuses of its runs under the night's pipeline run; and the night's versions."""
    from pipeline.lifecycle import tracking

    client = tracking.client(settings)
    parent = tracking.latest_pipeline_run(settings.with_overrides(as_of=datetime.fromisoformat(as_of).date()))
    runs = client.search_runs([tracking.experiment_id(settings)],
                              f"tags.`mlflow.parentRunId` = '{parent.run_id}'") if parent else []
    statuses: dict[str, list[str]] = {}
    for run in runs:
        statuses.setdefault(run.data.tags.get(tracking.FAMILY_TAG, "?"), []).append(run.info.status)
    versions = [v for v in client.search_model_versions(f"name = '{settings.registered_model}'")
                if v.tags.get(tracking.AS_OF_TAG) == as_of]
    registered_from = {v.run_id for v in versions}
    finished = {r.info.run_id for r in runs if r.info.status == "FINISHED"}
    return {"runs": {k: sorted(v) for k, v in statuses.items()}, "versions": [v.version for v in versions],
            "registered_finished_runs_only": registered_from <= finished}


def linear_mid_epoch(api: Api, run_id: str) -> dict | None:
    """Wait until linear's training task runs and has logged a few epochs (None if the run ended first)."""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        task = training(api, run_id, "linear")
        if task and task["state"] == "running" and epochs_trained(run_id, task) >= 20:
            return task
        if run_state(api, run_id)[0] in ("success", "failed"):
            return None
        time.sleep(1)
    return None


def trigger_and_catch_linear(api: Api, as_of: str, tag: str) -> str | None:
    """Trigger a training run and wait until linear trains in it (its run id; None, and a failed
    check, if the run ended first)."""
    run_id = trigger(api, as_of, tag)
    if linear_mid_epoch(api, run_id):
        return run_id
    check(False, "linear was caught in the middle of its training")
    return None


def outcome(api: Api, settings, run_id: str, as_of: str) -> tuple[str, list[dict], dict]:
    """Wait for the run to end; say its tasks' states and tries and what it left in MLflow."""
    state, tasks = wait_run(api, run_id)
    after = mlflow_state(settings, as_of)
    say(f"DAG run: {state}; tasks: {json.dumps(tries(tasks))}")
    say(f"MLflow runs per family: {after['runs']}; versions as of {as_of}: {after['versions']}")
    return state, tasks, after


def tries(tasks: list[dict]) -> dict:
    return {f"{t['task_id']}[{t['map_index']}]" if t["map_index"] >= 0 else t["task_id"]:
            (t["state"], t.get("try_number")) for t in tasks}


def scenario_together(api: Api, settings) -> None:
    say("\n## 1. Three `ridership train` and a DAG run started together on a fresh home")
    env = {**os.environ}
    commands = [subprocess.Popen(["ridership", "train", "naive", "--as-of", day], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for day in ("2019-05-28", "2019-05-29", "2019-05-30")]
    run_id = trigger(api, "2019-05-31", "together")
    codes = [(c.wait(timeout=900), c.stderr.read()[-300:]) for c in commands]
    state, tasks = wait_run(api, run_id)
    say(f"CLI exit codes: {[c for c, _ in codes]}; DAG run: {state}")
    check(all(c == 0 for c, _ in codes), "every CLI training succeeded")
    check(state == "success", "the DAG run succeeded")


def scenario_kill_task(api: Api, settings) -> None:
    say("\n## 2. A training task's process killed with SIGKILL in the middle of an epoch")
    as_of = "2019-06-30"
    run_id = trigger(api, as_of, "kill-task")
    killed = None
    task = linear_mid_epoch(api, run_id)
    if task and task.get("pid"):  # the task's own process, as Airflow recorded it
        say(f"train[linear] running (try {task['try_number']}, pid {task['pid']}), "
            f"its log reports epoch {epochs_trained(run_id, task)}: SIGKILL to {task['pid']}")
        try:
            os.kill(task["pid"], signal.SIGKILL)
            killed = task["pid"]
        except ProcessLookupError:
            pass
    state, _, after = outcome(api, settings, run_id, as_of)
    check(killed is not None, "the training was killed mid-epoch")
    check(state in ("success", "failed"), f"the run ended ({state}): the task was retried or failed visibly")
    check(all(s == ["FINISHED"] for f, s in after["runs"].items() if f not in ("linear", "combination")),
          "the other families finished, once each")
    check("FINISHED" not in after["runs"].get("linear", []) or after["runs"]["linear"].count("FINISHED") == 1,
          "linear trained into a new MLflow run after the kill, at most once")
    check(after["registered_finished_runs_only"] and len(after["versions"]) == 1,
          "one version, registered from finished runs only")


def scenario_kill_scheduler(api: Api, settings) -> None:
    say("\n## 3. The scheduler killed with SIGKILL during the trainings and started again")
    as_of = "2019-07-31"
    run_id = trigger_and_catch_linear(api, as_of, "kill-scheduler")
    if run_id is None:
        return
    say("trainings running: SIGKILL to the scheduler's process (its task processes are left alone)")
    kill("scheduler", group=False)
    time.sleep(20)
    start("scheduler")
    say("scheduler started again")
    state, _, after = outcome(api, settings, run_id, as_of)
    check(state == "success", "the run completed")
    check(all(s.count("FINISHED") <= 1 for s in after["runs"].values()),
          "no family finished twice under the night's pipeline run")
    check(len(after["versions"]) == 1 and after["registered_finished_runs_only"], "one version, from finished runs")


def scenario_restart_mlflow(api: Api, settings) -> None:
    say("\n## 4. The MLflow server killed in the middle of a training and started again 20 s later")
    as_of = "2019-08-31"
    run_id = trigger_and_catch_linear(api, as_of, "restart-mlflow")
    if run_id is None:
        return
    kill("mlflow")
    say("MLflow server killed")
    time.sleep(20)
    start("mlflow")
    wait_for(f"http://127.0.0.1:{os.environ['MLFLOW_PORT']}/health")
    say("MLflow server started again")
    state, _, after = outcome(api, settings, run_id, as_of)
    logs = "\n".join(p.read_text(errors="replace") for p in (HOME / "airflow" / "logs").rglob("*.log")
                     if "restart-mlflow" in str(p))
    retried = sorted({line.split('"event":')[-1][:160] for line in logs.splitlines()
                      if "failed (attempt" in line or "TrackingUnavailable" in line or "Retrying (" in line})
    say("task log lines about the outage: " + (" | ".join(retried[:4]) or "none (MLflow's client retried quietly)"))
    check(state in ("success", "failed"), f"the run ended ({state})")
    check(state == "success" or bool(retried), "it completed, or its failure names the tracking server")
    check(len(after["versions"]) <= 1, "at most one version")


def main() -> int:
    global HOME
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--report", required=True)
    args = parser.parse_args()
    HOME = Path(args.home)
    from pipeline.config import Settings

    settings = Settings.from_env()
    began = time.monotonic()
    say(f"# Faults under the real scheduler\n\nRun {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {describe()} "
        f"by `make faults` (scripts/faults.sh): Airflow 3 LocalExecutor on SQLite, an MLflow tracking server, families "
        f"{', '.join(settings.families)} ({settings.epochs} epochs for linear, so that it can be killed mid-epoch), "
        "train tasks with one retry.")
    try:
        for name in SERVICES:
            start(name)
        wait_for(f"http://127.0.0.1:{os.environ['MLFLOW_PORT']}/health")
        wait_for(f"http://127.0.0.1:{os.environ['AIRFLOW_PORT']}/api/v2/monitor/health")
        api = Api(os.environ["AIRFLOW_API_URL"], os.environ["AIRFLOW_API_USER"], os.environ["AIRFLOW_API_PASSWORD"])
        for _ in range(60):  # the dag-processor must have parsed the DAG
            if api._call("GET", "/api/v2/dags/ridership_training", missing_ok=True):
                break
            time.sleep(2)
        for scenario in (scenario_together, scenario_kill_task, scenario_kill_scheduler, scenario_restart_mlflow):
            scenario(api, settings)
    finally:
        for name in list(RUNNING):
            kill(name, signal.SIGTERM)
    say(f"\nWall time {(time.monotonic() - began) / 60:.1f} min; {len(FAILED)} check(s) failed; state in {HOME}.")
    Path(args.report).write_text("\n".join(REPORT) + "\n")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
