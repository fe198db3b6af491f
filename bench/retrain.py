"""Benchmark (not a test): a full nightly retrain of every family, baseline against product.

    .venv/bin/python bench/retrain.py [--families a,b] [--epochs 500] [--phase all|product|baseline|render]
        [--backtests on,off]

(a) baseline: every family trained one after another in one Python process with the chapter's
    recipe, as a notebook would (TensorFlow's default threads, no XLA, one step per call);
(b) product: the training DAG under the Airflow scheduler (`make run`'s script, LocalExecutor,
    one training per core), all families at the same full recipe, then the forecast DAG;
(c) product, warm-started: the same DAG in the same state a week of data later, the families that
    can continue from (b)'s fits (pipeline/modelling/warmstart.py).
All use the chapter protocol; (a) and (b) score every family on the same target dates, (c) on the
three months up to its own cutoff. (b) and (c) run with the seasonal backtests on (the default:
each training also fits the family one and two years earlier, pipeline/modelling/backtest.py) and off
(RIDERSHIP_BACKTEST_YEARS=none), each in a home of its own. Also measured:
DAG file import time, forecast DAG wall time and one champion forecast call after model load.
Writes bench/results/retrain.md with the date and machine, from retrain-product.json and
retrain-baseline.json beside it; each phase can be run (or rerun) on its own with --phase, and
the baseline records every family as it finishes, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from machine import describe  # noqa: E402
from tqdm import tqdm  # noqa: E402
OUT = ROOT / "bench" / "results" / "retrain.md"
PROTOCOL = "chapter"
BASELINE = {"tf_threads": 0, "jit_compile": False, "steps_per_execution": 1}
# The product's nights: every family from scratch, then a week later (the retrain policy's minimum
# of new days) warm-started.
NIGHTS = (("from scratch", "2019-05-31"), ("warm-started", "2019-06-07"))
PHASE_FILES = {phase: OUT.with_name(f"retrain-{phase}.json") for phase in ("product", "baseline")}
BACKTESTS_OFF = OUT.with_name("retrain-product-backtests-off.json")


def now() -> str:
    return f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"


def baseline(names: list[str], epochs: int) -> None:
    """Runs in its own interpreter so that nothing the product path configured leaks in."""
    from leaderboard import train_one

    started = time.perf_counter()
    result = {"date": now(), "epochs": epochs, "complete": False, "families": [], "machine": describe()}
    bar = tqdm(total=len(names), desc="(a) baseline", unit="family")
    for name in names:
        bar.set_postfix_str(name)
        trained = train_one(name, {"protocol": PROTOCOL, "epochs": epochs, **BASELINE})
        result["families"].append({k: trained[k] for k in ("family", "mae_h1", "mae_mean", "epochs", "seconds")})
        result["wall"] = time.perf_counter() - started
        result["complete"] = len(result["families"]) == len(names)
        PHASE_FILES["baseline"].write_text(json.dumps(result, indent=1))
        bar.write(f"  (a) {name:18s} {trained['seconds']:7.1f} s  h1 {trained['mae_h1']:9,.0f}  "
                  f"mean {trained['mae_mean']:9,.0f}")
        bar.update()


def product(names: list[str], epochs: int, backtests: bool = True) -> dict:
    """The training DAG under the scheduler on NIGHTS in one home: the first night trains every family
    from scratch, the next one warm-starts those that can (pipeline/modelling/warmstart.py); with the seasonal
    backtests on or off."""
    home = Path(tempfile.mkdtemp(prefix="ridership-retrain-"))
    env = {**os.environ, "RIDERSHIP_HOME": str(home), "RIDERSHIP_PROTOCOL": PROTOCOL,
           "RIDERSHIP_EPOCHS": str(epochs), "RIDERSHIP_FAMILIES": ",".join(names),
           "RIDERSHIP_BACKTEST_YEARS": os.environ.get("RIDERSHIP_BACKTEST_YEARS", "1,2") if backtests else "none"}
    os.environ.update({k: env[k] for k in ("RIDERSHIP_HOME", "RIDERSHIP_PROTOCOL", "RIDERSHIP_EPOCHS",
                                           "RIDERSHIP_FAMILIES", "RIDERSHIP_BACKTEST_YEARS")})
    from pipeline.lifecycle import tracking
    from pipeline.config import Settings

    nights = []
    for label, as_of in NIGHTS:
        log = home / f"run_local-{as_of}.log"
        started = time.perf_counter()
        with log.open("w") as sink, tqdm(desc=f"night {as_of} ({label}, backtests {'on' if backtests else 'off'})",
                                         unit="task") as bar:
            script = subprocess.Popen(["bash", str(ROOT / "scripts" / "run_local.sh")],
                                      env={**env, "RIDERSHIP_AS_OF": as_of}, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
            for line in script.stdout:  # run_local.sh's own progress: "[  60 s] 3/25 tasks done ..."
                sink.write(line)
                done = re.search(r"\] (\d+)/(\d+) tasks done.*?(running: .*)?$", line.rstrip())
                if done:
                    bar.total = int(done.group(2))
                    bar.n = int(done.group(1))
                    bar.set_postfix_str((done.group(3) or "")[:80])
                    bar.refresh()
            code = script.wait()
        script_wall = time.perf_counter() - started
        if code != 0:
            sys.exit(f"the product run as of {as_of} failed (exit {code}); see {log}")
        runs, tasks = airflow_timings(home / "airflow" / "airflow.db")
        settings = Settings.from_env(as_of=date.fromisoformat(as_of))
        parent = tracking.latest_pipeline_run(settings)
        board = tracking.leaderboard(settings, parent.run_id)
        run_id = runs["ridership_training"][-1][0]
        families = [{"family": r.family, "mae_h1": r.mae_h1, "mae_mean": r.mae_mean, "epochs": int(r.epochs),
                     "seconds": tasks.get((run_id, r.family), float("nan")), "fit_seconds": r.fit_seconds,
                     "mode": r.mode} for r in board.itertuples()]
        nights.append({"label": label, "as_of": as_of, "script_wall": script_wall,
                       "training_dag": runs["ridership_training"][-1][1],
                       "forecast_dag": runs["ridership_forecast"][-1][1], "families": families})
    return {"date": now(), "epochs": epochs, "home": str(home), "nights": nights, "machine": describe(),
            "backtests": backtests,
            "forecast_call": forecast_call(Settings.from_env(as_of=date.fromisoformat(NIGHTS[-1][1])))}


def airflow_timings(db: Path) -> tuple[dict, dict]:
    """{dag: [(run id, wall seconds)] oldest first} and {(run id, family): mapped training task
    duration}, from Airflow's own records."""
    from pipeline.config import TRAINING_STAGES

    with sqlite3.connect(db) as con:
        runs: dict[str, list] = {}
        for dag, run_id, start, end in con.execute(
                "select dag_id, run_id, start_date, end_date from dag_run order by start_date"):
            runs.setdefault(dag, []).append(
                (run_id, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()))
        tasks = {(run_id, label): duration for run_id, label, duration in con.execute(
            "select run_id, rendered_map_index, duration from task_instance "
            "where dag_id = 'ridership_training' and task_id in (%s)" % ", ".join(f"'{t}'" for t in TRAINING_STAGES))}
    return runs, tasks


def forecast_call(settings) -> dict:
    from pipeline.lifecycle import tracking
    from pipeline.nightly import steps
    from pipeline.lifecycle.registry import champion_for
    from pipeline.lifecycle.logged_models import load_pyfunc, model_input

    champion = champion_for(settings, settings.as_of)
    started = time.perf_counter()
    model = load_pyfunc(settings, f"models:/{settings.registered_model}/{champion.version}")
    loaded = time.perf_counter()
    history = steps.last_good_frame(settings)
    model.predict(model_input(history))
    done = time.perf_counter()
    return {"family": champion.tags.get(tracking.FAMILY_TAG), "load": loaded - started, "predict": done - loaded}


def import_times() -> str:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "import_time.py"), "--repeat", "3"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def render(a: dict | None, b: dict, imports: str, off: dict | None = None) -> str:
    by_family = {r["family"]: r for r in (a or {}).get("families", [])}
    scratch, warm = b["nights"]
    warm_by_family = {r["family"]: r for r in warm["families"]}
    lines = [
        "# Nightly retrain: baseline (a) against the product from scratch (b) and warm-started (c)",
        "",
        f"On {b.get('machine', describe())}, CPU only: (b) and (c) run {b['date']}, with the seasonal backtests "
        f"{'on' if b.get('backtests', True) else 'off'}"
        + (f", (a) run {a['date']}" if a else "") + f". Protocol `{PROTOCOL}`, up to {b['epochs']} epochs, "
        "early stopping patience 50, every family scored on the three months up to its cutoff.",
        "(a): as of 2019-05-31, one process, families one after another, TensorFlow's default threads, no XLA, "
        "one step per call (since 822a068 it also keeps one data iterator for a whole fit, as (b) does; a notebook "
        "builds one per epoch). (b): `ridership_training` as of 2019-05-31 under the Airflow scheduler (LocalExecutor, "
        "one training per core, one TensorFlow thread each, XLA-compiled train steps, an epoch per call, windows "
        "read from the materialized store, slowest families first), every family from scratch. (c): the same "
        f"DAG in the same state {warm['as_of']}, a week of data later: the families that can continue from (b)'s "
        "fit (pipeline/modelling/warmstart.py: up to 100 epochs, patience 10).",
        "Seconds per family: (a) fit + scoring in the notebook process; (b), (c) the whole mapped task "
        "(process start, imports, MLflow logging and model upload included).",
        "",
        "| family | (a) s | (a) mean MAE | (b) s | (b) epochs | (b) MAE h=1 | (b) mean MAE | (b)/(a) "
        "| (c) mode | (c) s | (c) epochs | (c) MAE h=1 | (c) mean MAE |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in sorted(scratch["families"], key=lambda r: r["mae_mean"]):
        base, c = by_family.get(r["family"]), warm_by_family.get(r["family"])
        left = f"{base['seconds']:.0f} | {base['mae_mean']:,.0f}" if base else "– | –"
        ratio = f"{r['mae_mean'] / base['mae_mean']:.3f}" if base else "–"
        right = (f"{c['mode']} | {c['seconds']:.0f} | {c['epochs']} | {c['mae_h1']:,.0f} | {c['mae_mean']:,.0f}"
                 if c else "did not finish | – | – | – | –")
        lines.append(f"| {r['family']} | {left} | {r['seconds']:.0f} | {r['epochs']} | {r['mae_h1']:,.0f} | "
                     f"{r['mae_mean']:,.0f} | {ratio} | {right} |")
    lines += ["", f"- (b) training DAG run from scratch, wall: {scratch['training_dag'] / 60:.1f} min "
                  "(validate → … → promote → publish)",
              f"- (c) training DAG run warm-started, wall: {warm['training_dag'] / 60:.1f} min; "
              f"(b)/(c) {scratch['training_dag'] / warm['training_dag']:.2f}x",
              "- sum over the mapped training tasks: " + "; ".join(
                  f"({k}) {sum(r['seconds'] for r in n['families']):,.0f} s, of which fitting "
                  f"{sum(r['fit_seconds'] or 0 for r in n['families']):,.0f} s" for k, n in (("b", scratch), ("c", warm)))
              + " (the rest: process start, imports, scoring, MLflow logging and model upload)"]
    same = a and {r["family"] for r in a["families"]} == {r["family"] for r in scratch["families"]}
    if a and a.get("complete") and not same:
        lines.append(f"- (a) baseline, wall: {a['wall'] / 60:.1f} min for {len(a['families'])} families, "
                     "not the families of (b): no speed-up computed")
    elif a and a.get("complete"):
        lines.append(f"- (a) baseline, wall: {a['wall'] / 60:.1f} min; speed-up (a)/(b): "
                     f"{a['wall'] / scratch['training_dag']:.2f}x")
    elif a:
        lines.append(f"- (a) baseline: interrupted after {len(a['families'])} families "
                     f"({a['wall'] / 60:.1f} min); no total")
    else:
        lines.append("- (a) baseline: not run")
    if off:
        off_scratch, off_warm = off["nights"]
        lines += [f"- the same nights with the seasonal backtests off (RIDERSHIP_BACKTEST_YEARS=none, run {off['date']}): "
                  f"(b) {off_scratch['training_dag'] / 60:.1f} min, (c) {off_warm['training_dag'] / 60:.1f} min; the "
                  f"backtests cost (b) {scratch['training_dag'] / off_scratch['training_dag']:.2f}x and (c) "
                  f"{warm['training_dag'] / off_warm['training_dag']:.2f}x the training DAG without them (a fresh "
                  "home refits every family one and two years earlier; a registry that has run that long reuses "
                  "its own fits)"]
    call = b["forecast_call"]
    lines += [f"- forecast DAG run, wall: (b) {scratch['forecast_dag']:.0f} s, (c) {warm['forecast_dag']:.0f} s",
              f"- champion ({call['family']}) forecast call: {call['predict']:.2f} s after a "
              f"{call['load']:.1f} s model load",
              "- DAG file import time:", "", "```", imports, "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--families", default="")
    parser.add_argument("--epochs", type=int, default=500)
    # baseline-worker: the baseline's own fresh interpreter, started by --phase baseline
    parser.add_argument("--phase", choices=["all", "product", "baseline", "render", "baseline-worker"],
                        default="all")
    parser.add_argument("--backtests", default="on,off", help="the product's runs: on, off or both")
    args = parser.parse_args()
    from pipeline.config import DEFAULT_FAMILIES

    names = [n for n in args.families.split(",") if n] or list(DEFAULT_FAMILIES)
    if args.phase == "baseline-worker":
        return baseline(names, args.epochs)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    print(f"on {describe()}", flush=True)
    if args.phase in ("all", "product"):
        for mode in args.backtests.split(","):
            print(f"(b), (c) product: the training DAG under the scheduler, backtests {mode}", flush=True)
            target = PHASE_FILES["product"] if mode == "on" else BACKTESTS_OFF
            target.write_text(json.dumps(product(names, args.epochs, mode == "on"), indent=1))
    if args.phase in ("all", "baseline"):
        print("(a) baseline: one process, one family after another", flush=True)
        subprocess.run([sys.executable, __file__, "--phase", "baseline-worker", "--families", ",".join(names),
                        "--epochs", str(args.epochs)], check=True)
    loaded = {p: json.loads(f.read_text()) if f.exists() else None for p, f in PHASE_FILES.items()}
    off = json.loads(BACKTESTS_OFF.read_text()) if BACKTESTS_OFF.exists() else None
    OUT.write_text(render(loaded["baseline"], loaded["product"], import_times(), off))
    print(OUT.read_text())


if __name__ == "__main__":
    main()
