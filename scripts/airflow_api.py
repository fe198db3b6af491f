"""Run a DAG through Airflow's public REST API (v2) with a JWT, wait for it, report its tasks.

    python scripts/airflow_api.py run DAG_ID [--conf JSON] [--run-id ID] [--timeout 1800] [--json OUT]
    python scripts/airflow_api.py backfill DAG_ID [--show TASK:KEY,KEY ...] [--timeout 7200] [--json OUT]

The API URL and credentials come from AIRFLOW_API_URL, AIRFLOW_API_USER and
AIRFLOW_API_PASSWORD. Prints one line per task instance (task, map index, state, the
worker host that ran it, seconds) and exits non-zero unless the run succeeded. While it waits,
it prints the run's progress whenever it changes (tasks done of all, running tasks by family,
elapsed seconds), at least once a minute. `backfill` waits for the DAG's latest backfill (made
with `airflow backfill create`) and prints one block per night: the run's state, each task's
state (mapped tasks counted by state), the values named by --show from the tasks' return values,
and why each task that ran was skipped.
Standard library only, so it also runs outside the project's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timezone
from urllib.parse import quote


FINISHED = {"success", "failed", "skipped", "upstream_failed", "removed"}
PROGRESS_EVERY = 60  # seconds between progress lines when nothing changed


class Api:
    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url.rstrip("/")
        token = self._call("POST", "/auth/token", {"username": user, "password": password}, auth=False)
        self.token = token["access_token"]

    def _call(self, method: str, path: str, body: dict | None = None, auth: bool = True,
              missing_ok: bool = False) -> dict:
        request = urllib.request.Request(self.url + path, method=method,
                                         data=None if body is None else json.dumps(body).encode())
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if missing_ok and exc.code == 404:
                return {}
            raise SystemExit(f"{method} {path}: HTTP {exc.code}: {exc.read().decode()[:500]}") from exc

    def run(self, dag_id: str, run_id: str, conf: dict, timeout: float) -> tuple[dict, list[dict]]:
        self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                   {"dag_run_id": run_id, "logical_date": None, "conf": conf})
        print(f"triggered {dag_id} run {run_id} with conf {json.dumps(conf)}", flush=True)
        started = time.monotonic()
        deadline = started + timeout
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}"
        shown, shown_at = "", started
        inputs: dict[str, list] = {}  # mapped task -> what it maps over, to name running instances
        while (run := self._call("GET", path))["state"] not in ("success", "failed"):
            now = time.monotonic()
            if now > deadline:
                raise SystemExit(f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f} s")
            tasks = self._call("GET", f"{path}/taskInstances?limit=1000")["task_instances"]
            for t in tasks:  # Airflow renders a mapped instance's label when it ends, not before
                if t.get("state") == "running" and t["map_index"] >= 0 and t["task_id"] not in inputs:
                    values = self.result({"dag_id": dag_id, "dag_run_id": run_id}, f"{t['task_id']}_families")
                    inputs[t["task_id"]] = values if isinstance(values, list) else []
            line = progress_line(tasks, inputs)
            if line != shown or now - shown_at >= PROGRESS_EVERY:  # what changed, else a heartbeat
                print(f"[{now - started:6.0f} s] {line}", flush=True)
                shown, shown_at = line, now
            time.sleep(3)
        tasks = self._call("GET", f"{path}/taskInstances?limit=1000")["task_instances"]
        return run, tasks

    def backfill(self, dag_id: str, timeout: float) -> tuple[dict, list[dict]]:
        """Unpause dag_id (the scheduler runs no backfill of a paused DAG), wait for its latest
        backfill to complete; its runs, oldest night first."""
        self._call("PATCH", f"/api/v2/dags/{quote(dag_id)}", {"is_paused": False})
        backfills = self._call("GET", f"/api/v2/backfills?dag_id={quote(dag_id)}&limit=100")["backfills"]
        if not backfills:
            raise SystemExit(f"{dag_id} has no backfill: create one with `airflow backfill create`")
        backfill = max(backfills, key=lambda b: b["id"])
        started = time.monotonic()
        shown, shown_at = "", started
        while not (backfill := self._call("GET", f"/api/v2/backfills/{backfill['id']}"))["completed_at"]:
            now = time.monotonic()
            if now > started + timeout:
                raise SystemExit(f"{dag_id} backfill {backfill['id']} not complete after {timeout:.0f} s")
            states = Counter(r["state"] for r in self._runs(dag_id, backfill))
            line = f"{dag_id} backfill {backfill['id']}: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
            if line != shown or now - shown_at >= PROGRESS_EVERY:
                print(f"[{now - started:6.0f} s] {line}", flush=True)
                shown, shown_at = line, now
            time.sleep(5)
        return backfill, self._runs(dag_id, backfill)

    def _runs(self, dag_id: str, backfill: dict) -> list[dict]:
        runs = self._call("GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns?run_type=backfill&order_by=logical_date"
                                 "&limit=1000")["dag_runs"]
        return [r for r in runs if backfill["from_date"][:10] <= (r.get("logical_date") or "")[:10]
                <= backfill["to_date"][:10]]

    def tasks(self, run: dict) -> list[dict]:
        return self._call("GET", f"/api/v2/dags/{quote(run['dag_id'])}/dagRuns/{quote(run['dag_run_id'])}"
                                 "/taskInstances?limit=1000")["task_instances"]

    def result(self, run: dict, task_id: str) -> object:
        """A task's return value (its XCom), or None."""
        path = (f"/api/v2/dags/{quote(run['dag_id'])}/dagRuns/{quote(run['dag_run_id'])}/taskInstances/"
                f"{task_id}/xcomEntries/return_value?deserialize=true")
        try:
            value = self._call("GET", path, missing_ok=True).get("value")
        except SystemExit:
            return None
        return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value

    def skip_reason(self, run: dict, task: dict) -> str:
        """The message a task that ran gave when it skipped itself, from its log."""
        path = (f"/api/v2/dags/{quote(run['dag_id'])}/dagRuns/{quote(run['dag_run_id'])}/taskInstances/"
                f"{task['task_id']}/logs/{max(task.get('try_number') or 1, 1)}?map_index={task['map_index']}")
        content = self._call("GET", path, missing_ok=True).get("content") or []
        reasons = [str(e.get("reason") or "") for e in content if isinstance(e, dict) and e.get("event") == "Skipping task."]
        return next((r for r in reversed(reasons) if r), "")


def label(task: dict, inputs: dict[str, list] | None = None) -> str:
    """task_id, with the mapped task's label (its family), else its input from `inputs` (what
    each mapped task maps over, by task_id), else its index."""
    index = task["map_index"]
    known = (inputs or {}).get(task["task_id"]) or []
    rendered = task.get("rendered_map_index")
    if rendered == str(index):  # while it runs, Airflow 3.3 renders the index itself
        rendered = None
    mapped = rendered or (str(known[index]) if 0 <= index < len(known) else "" if index < 0 else str(index))
    return f"{task['task_id']}[{mapped}]" if mapped else task["task_id"]


def progress_line(tasks: list[dict], inputs: dict[str, list] | None = None) -> str:
    """A run's progress: finished task instances of all known so far, by state, and the running
    ones, named by their family (`label`)."""
    finished = Counter(t["state"] for t in tasks if t.get("state") in FINISHED)
    running = [label(t, inputs) for t in tasks if t.get("state") == "running"]
    states = ", ".join(f"{n} {state}" for state, n in sorted(finished.items()))
    return (f"{sum(finished.values())}/{len(tasks)} tasks done" + (f" ({states})" if states else "")
            + f"; running: {', '.join(running) or '-'}")


def report(run: dict, tasks: list[dict]) -> None:
    print(f"{run['dag_id']}: {run['state']}")
    print(f"{'task':18s} {'map':>18s} {'state':8s} {'worker':16s} {'seconds':>8s}")
    for t in sorted(tasks, key=lambda t: (t.get("start_date") or "", t["map_index"])):
        mapped = t.get("rendered_map_index") or ("" if t["map_index"] < 0 else str(t["map_index"]))
        print(f"{t['task_id']:18s} {mapped:>18s} {t['state'] or '':8s} {t.get('hostname') or '':16s} "
              f"{t.get('duration') or 0:8.1f}")


def night_report(api: Api, run: dict, show: dict[str, list[str]]) -> list[str]:
    """One backfilled night: state, each task's state, chosen return values, skip reasons."""
    tasks = api.tasks(run)
    by_task: dict[str, Counter] = {}
    for t in sorted(tasks, key=lambda t: (t.get("start_date") or "9", t["map_index"])):
        by_task.setdefault(t["task_id"], Counter())[t["state"] or "none"] += 1
    states = "  ".join(f"{task}=" + ("+".join(f"{n} {s}" for s, n in c.items()) if sum(c.values()) > 1
                                     else next(iter(c))) for task, c in by_task.items())
    lines = [f"{(run.get('logical_date') or '')[:10]}  {run['state']:8s} {states}"]
    for task_id, keys in show.items():
        value = api.result(run, task_id)
        if isinstance(value, dict):
            lines.append(f"    {task_id}: " + ", ".join(f"{k}={value.get(k)}" for k in keys))
    for t in tasks:
        if t["state"] == "skipped" and t.get("start_date") and (reason := api.skip_reason(run, t)):
            lines.append(f"    {label(t)} skipped: {reason[:300]}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="trigger a DAG run, wait for it, print its tasks")
    run.add_argument("dag_id")
    run.add_argument("--conf", default="{}")
    run.add_argument("--run-id", help="default: api__<dag_id>__<UTC time>")
    run.add_argument("--timeout", type=float, default=1800)
    run.add_argument("--json", help="also write the run and its task instances here")
    backfill = sub.add_parser("backfill", help="wait for a DAG's latest backfill, print each night")
    backfill.add_argument("dag_id")
    backfill.add_argument("--show", action="append", default=[], metavar="TASK:KEY,KEY",
                          help="return values to print for each night")
    backfill.add_argument("--timeout", type=float, default=7200)
    backfill.add_argument("--json", help="also write the backfill, its runs and the report here")
    args = parser.parse_args()
    api = Api(os.environ.get("AIRFLOW_API_URL", "http://127.0.0.1:8080"),
              os.environ.get("AIRFLOW_API_USER", "admin"), os.environ["AIRFLOW_API_PASSWORD"])
    if args.command == "backfill":
        show = {task: keys.split(",") for task, _, keys in (s.partition(":") for s in args.show)}
        done, runs = api.backfill(args.dag_id, args.timeout)
        print(f"{args.dag_id}: backfill {done['id']} of {done['from_date'][:10]} .. {done['to_date'][:10]}, "
              f"{len(runs)} nights: " + ", ".join(f"{n} {s}" for s, n in Counter(r["state"] for r in runs).items()))
        report_lines = [line for run in runs for line in night_report(api, run, show)]
        print("\n".join(report_lines))
        if args.json:
            with open(args.json, "w") as handle:
                json.dump({"backfill": done, "dag_runs": runs, "report": report_lines}, handle, indent=1)
        return 0 if runs and all(r["state"] == "success" for r in runs) else 1
    run_id = args.run_id or f"api__{args.dag_id}__{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    dag_run, tasks = api.run(args.dag_id, run_id, json.loads(args.conf), args.timeout)
    report(dag_run, tasks)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"run": dag_run, "task_instances": tasks}, handle, indent=1)
    return 0 if dag_run["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
