"""Benchmark (not a test): replay the nightly loop over a period and score what it stored.

    make bench-replay REPLAY_ARGS="--first 2018-06-01 --last 2018-12-31"
    .venv/bin/python bench/replay.py --first 2018-06-01 --last 2018-12-31 [--cadence monthly|DAYS]
        [--families a,b] [--workers 2] [--home DIR] [--baselines seasonal_naive,autoarima,mstl,lightgbm_mlforecast|none]
        [--name NAME]

Families warm-start as the nightly DAG's do (pipeline/warmstart.py); RIDERSHIP_FROM_SCRATCH=1
replays with every family trained from scratch at every retrain date.

At every retrain date (the day before --first, then month ends, or every DAYS days) it runs the
pipeline's own steps, the ones the training DAG's tasks call: validate → clean → materialize →
train every family → promote through the real gate. Every day of the period the night's champion
forecasts the next `horizon` days (steps.forecast_next, stored in the forecast table). Each
family trained at a retrain date also forecasts the same origins (for the oracle: the family that,
in hindsight, was best over each period). Library baselines (bench/baselines.py, in their own
environment .venv-bench) are refitted on the same retrain dates and forecast the same origins.
Every forecast whose target lies in [--first, --last] is scored against the actuals with
pipeline.monitoring.accuracy. Writes bench/results/replay-<period>[-NAME].md and .json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
BASELINES = ("seasonal_naive", "autoarima", "mstl", "lightgbm_mlforecast")


def retrain_dates(first, last, cadence: str):
    import pandas as pd

    start = pd.Timestamp(first) - pd.Timedelta(days=1)
    if cadence == "monthly":
        ends = pd.date_range(start, pd.Timestamp(last) - pd.Timedelta(days=1), freq="ME")
        return [start] + [d for d in ends if d > start]
    return list(pd.date_range(start, pd.Timestamp(last) - pd.Timedelta(days=1), freq=f"{int(cadence)}D"))


def periods(first, last, cadence: str) -> list[tuple]:
    """(retrain date, origins) pairs: each retrain's model forecasts from its date to the next's."""
    import pandas as pd

    dates = retrain_dates(first, last, cadence)
    ends = dates[1:] + [pd.Timestamp(last)]
    return [(d, pd.date_range(d, end - pd.Timedelta(days=1))) for d, end in zip(dates, ends)]


def train_and_promote(settings, steps, workers: int) -> tuple[dict, dict, dict]:
    """One night's training run with the DAG's steps; returns the gate's decision, {family: run} and
    {family: training mode} (warm or scratch, as warmstart chose)."""
    from pipeline import tracking

    settings, run = steps.prepare(settings, {"trigger": "replay"})
    # like the DAG's mapped tasks: one process per training, `workers` at a time, stage after stage
    context = multiprocessing.get_context("spawn")  # TensorFlow must not be forked
    modes = {}
    for stage in steps.training_stages(run):
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(steps.train_family, settings, family, run["manifest_uri"], run["parent_run_id"]):
                       family for family in stage}
            for future in as_completed(futures):
                try:
                    modes[futures[future]] = future.result()["mode"]
                except Exception as exc:  # a family that fails is left out of the gate, as in the DAG
                    print(f"  {futures[future]} failed: {type(exc).__name__}: {exc}", flush=True)
    decision = steps.promote_best(settings, run["manifest_uri"], run["parent_run_id"], run["run_key"])
    runs = {r.data.tags[tracking.FAMILY_TAG]: r for r in tracking.finished_family_runs(settings, run["parent_run_id"])}
    return decision, runs, modes


def forecast_rows(family, frame, origins) -> "pd.DataFrame":
    """The family's forecasts from each origin with data up to it, a row per (origin, horizon):
    as_of, horizon, target_date (dates), forecast and the interval bounds (riders)."""
    import numpy as np
    import pandas as pd

    from pipeline.serving import interval_bounds

    values = np.asarray(family.forecast(frame.loc[: origins[-1]], origins), dtype=np.float64)
    horizons = np.tile(np.arange(1, values.shape[1] + 1), len(origins))
    as_of = origins.repeat(values.shape[1])
    rows = pd.DataFrame({"as_of": as_of.date, "horizon": horizons,
                         "target_date": (as_of + pd.to_timedelta(horizons, unit="D")).date,
                         "forecast": values.ravel()})
    for column, bound in interval_bounds(values, family.intervals).items():
        rows[column] = bound.ravel()
    return rows


def family_rows(settings, runs: dict, frame, origins) -> "pd.DataFrame":
    """Forecasts of every family trained at one retrain date, from each of the period's origins."""
    import pandas as pd

    from pipeline.serving import load_logged_family
    from pipeline.tracking import MODEL_URI_TAG

    return pd.concat([forecast_rows(load_logged_family(settings, run.data.tags[MODEL_URI_TAG]), frame, origins)
                      .assign(model=name) for name, run in runs.items()], ignore_index=True)


def run_baselines(frame, plan: list[tuple], settings, models: list[str], workdir: Path):
    import pandas as pd

    if not BENCH_PYTHON.exists():
        raise SystemExit(f"{BENCH_PYTHON} is missing: `make bench-replay` creates the baselines' environment")
    series, plan_file, out = workdir / "series.csv", workdir / "plan.json", workdir / "baselines.csv"
    frame[["day_type", "bus", "rail"]].to_csv(series, index_label="date")
    plan_file.write_text(json.dumps({"horizon": settings.horizon, "levels": list(settings.interval_levels),
                                     "periods": [{"retrain": r.date().isoformat(),
                                                  "origins": [o.date().isoformat() for o in origins]}
                                                 for r, origins in plan]}))
    subprocess.run([str(BENCH_PYTHON), str(ROOT / "bench" / "baselines.py"), "--series", str(series),
                    "--plan", str(plan_file), "--out", str(out), "--models", ",".join(models)], check=True)
    rows = pd.read_csv(out, parse_dates=["origin", "target_date"])
    rows["as_of"] = rows.pop("origin").dt.date
    rows["target_date"] = rows["target_date"].dt.date
    return rows.drop(columns=["retrain"])


def resumable(home: Path, what: dict) -> Path:
    """The directory of completed nights under `home`, refusing one left by a different replay."""
    done = home / "replay-nights"
    done.mkdir(parents=True, exist_ok=True)
    recorded = done / "replay.json"
    if recorded.exists() and json.loads(recorded.read_text()) != what:
        raise SystemExit(f"{home} holds a different replay ({recorded.read_text()}); give another --home")
    recorded.write_text(json.dumps(what))
    return done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--first", default="2018-06-01", help="first target day scored")
    parser.add_argument("--last", default="2018-12-31", help="last target day scored")
    parser.add_argument("--cadence", default="monthly", help="'monthly' (month ends) or a number of days")
    parser.add_argument("--families", default="", help="default: Settings.families")
    parser.add_argument("--workers", type=int, default=2, help="trainings at a time (the DAG's parallelism)")
    parser.add_argument("--home", help="state directory; a replay interrupted there resumes after its last "
                                         "complete night (default: RIDERSHIP_HOME, else a new temporary one)")
    parser.add_argument("--baselines", default=",".join(BASELINES), help="comma-separated, or 'none'")
    parser.add_argument("--name", default="", help="suffix of the result files: replay-<period>-<name>.md")
    args = parser.parse_args()
    home = Path(args.home or os.environ.get("RIDERSHIP_HOME") or tempfile.mkdtemp(prefix="ridership-replay-"))
    os.environ["RIDERSHIP_HOME"] = str(home)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import pandas as pd

    from pipeline import data, forecasting, steps
    from pipeline.config import Settings
    from pipeline.monitoring import accuracy, realized_errors
    from pipeline.warmstart import WARM

    base = Settings.from_env()
    if args.families:
        base = base.with_overrides(families=tuple(args.families.split(",")))
    frame = data.clean(data.parse_raw(data.read_source(base.data_uri), base.data_uri))
    plan = periods(args.first, args.last, args.cadence)
    done = resumable(home, {"first": args.first, "last": args.last, "cadence": args.cadence,
                            "families": list(base.families), "config_digest": base.digest(),
                            "from_scratch": base.from_scratch or not base.warm_start})
    train_wall, nights, family_parts = 0.0, [], []
    for retrain, origins in plan:
        marker = done / f"{retrain.date()}.json"
        if not marker.exists():  # a night a previous, interrupted replay in this home did not finish
            settings = base.with_overrides(as_of=retrain.date())
            started = time.perf_counter()
            decision, runs, modes = train_and_promote(settings, steps, args.workers)
            print(f"{retrain.date()}: {decision['decision']} v{decision['version']} ({decision['family']}) — "
                  f"{decision['reason']} [{time.perf_counter() - started:.0f} s]", flush=True)
            for day in origins:
                steps.forecast_next(settings.with_overrides(as_of=day.date()))
            family_rows(settings, runs, frame, origins).to_parquet(marker.with_suffix(".parquet"))
            champion = forecasting.stored(settings)
            champion = champion[champion["as_of"].between(origins[0].date(), origins[-1].date())]
            night = {"retrain": retrain.date().isoformat(), "decision": decision["decision"],
                     "version": decision["version"], "candidate": decision["family"],
                     "champion": champion["model_family"].iloc[0] if len(champion) else "",
                     "reason": decision["reason"], "seconds": time.perf_counter() - started,
                     "warm_started": sorted(f for f, mode in modes.items() if mode == WARM)}
            marker.write_text(json.dumps(night))  # written last: the night is complete
        night = json.loads(marker.read_text())
        nights.append(night)
        train_wall += night["seconds"]
        family_parts.append(pd.read_parquet(marker.with_suffix(".parquet")).assign(retrain=retrain.date()))

    actual = frame[base.target].loc[args.first:args.last]
    levels = base.interval_levels

    def scored(rows):
        rows = rows[pd.to_datetime(rows["target_date"]).between(args.first, args.last)]
        return realized_errors(rows, actual, levels)

    results = []
    product = scored(forecasting.stored(base))
    results.append({"model": "product (champion each night)", "kind": "product", **accuracy(product, levels)})
    families_scored = scored(pd.concat(family_parts, ignore_index=True))
    # every scored row, for analyses the tables do not show (state, not a result: under RIDERSHIP_HOME)
    families_scored.to_parquet(home / "replay-family-rows.parquet")
    # the oracle picks, for each retrain period, the family whose forecasts were best in hindsight
    best = families_scored.groupby(["retrain", "model"])["abs_error"].mean().groupby(level=0).idxmin()
    picks = {retrain: model for retrain, model in best.values}
    oracle = families_scored[[picks[r] == m for r, m in zip(families_scored["retrain"], families_scored["model"])]]
    results.append({"model": "oracle choice of family", "kind": "oracle", **accuracy(oracle, levels)})
    for night in nights:
        night["oracle"] = picks.get(pd.Timestamp(night["retrain"]).date(), "")
    for name, rows in families_scored.groupby("model"):
        results.append({"model": name, "kind": "family", **accuracy(rows, levels)})
    baseline_wall = 0.0
    models = [] if args.baselines == "none" else args.baselines.split(",")
    if models:
        began = time.perf_counter()
        rows = run_baselines(frame, plan, base, models, home)
        baseline_wall = time.perf_counter() - began
        for name, group in rows.groupby("model"):
            results.append({"model": name, "kind": "baseline", **accuracy(scored(group), levels)})

    period = f"{args.first[:7]}-{args.last[:7]}"
    out = ROOT / "bench" / "results" / f"replay-{period}{'-' + args.name if args.name else ''}"
    keys = ("model", "kind", "mae_h1", "mae_mean", "mae_pooled", "coverage_80", "coverage_95", "pairs")
    out.with_suffix(".json").write_text(json.dumps(
        [{k: r.get(k) for k in keys} | {"detail": {k: v for k, v in r.items() if k not in keys}} for r in results],
        indent=1) + "\n")
    out.with_suffix(".md").write_text(render(results, nights, args, base, train_wall, baseline_wall, levels))
    print(out.with_suffix(".md").read_text())


def warm_policy(settings) -> str:
    if settings.from_scratch or not settings.warm_start:
        return "every family from scratch every retrain"
    return (f"warm starts (pipeline/warmstart.py): up to {settings.warm_epochs} epochs, patience "
            f"{settings.warm_patience}, from scratch after {settings.max_warm_starts} in a row")


def render(results, nights, args, settings, train_wall, baseline_wall, levels) -> str:
    months = sorted({m for r in results for m in r["mae_by_month"]})
    lines = [
        f"# Replay {args.first} .. {args.last}: the nightly loop's stored forecasts, scored",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.node()} ({platform.machine()}, "
        f"{os.cpu_count()} cores): product {train_wall / 60:.1f} min, baselines {baseline_wall / 60:.1f} min. "
        f"Retrain cadence `{args.cadence}`; families: {', '.join(settings.families)}; protocol "
        f"`{settings.protocol}`, up to {settings.epochs} epochs; {warm_policy(settings)}. Targets {args.first}..{args.last}; MAE in riders; "
        "holiday-adjacent: a CTA holiday, the days next to it, the day a week after, Dec 23-31.",
        "",
        "| model | kind | MAE h=1 | mean of 14 | pooled | holiday-adj. | ordinary | "
        + " | ".join(f"{lv} % cov." for lv in levels) + " | pairs |",
        "|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(levels) + "---:|",
    ]
    order = {"product": 0, "oracle": 1, "baseline": 2, "family": 3}
    for r in sorted(results, key=lambda r: (order[r["kind"]], r["mae_pooled"])):
        cov = " | ".join(f"{r.get(f'coverage_{lv}', float('nan')):.1%}" for lv in levels)
        lines.append(f"| {r['model']} | {r['kind']} | {r['mae_h1']:,.0f} | {r['mae_mean']:,.0f} | "
                     f"{r['mae_pooled']:,.0f} | {r['mae_holiday']:,.0f} | {r['mae_ordinary']:,.0f} | {cov} | "
                     f"{r['pairs']} |")
    lines += ["", "## Pooled MAE per target month", "", "| model | " + " | ".join(months) + " |",
              "|---|" + "---:|" * len(months)]
    for r in sorted(results, key=lambda r: (order[r["kind"]], r["mae_pooled"])):
        lines.append(f"| {r['model']} | " + " | ".join(f"{r['mae_by_month'].get(m, float('nan')):,.0f}"
                                                        for m in months) + " |")
    product = results[0]
    lines += ["", "## Product coverage per horizon", "", "| horizon | MAE | "
              + " | ".join(f"{lv} %" for lv in levels) + " |", "|---:|---:|" + "---:|" * len(levels)]
    for h, mae in product["mae_by_horizon"].items():
        lines.append(f"| {h} | {mae:,.0f} | " + " | ".join(
            f"{product.get(f'coverage_{lv}_by_horizon', {}).get(h, float('nan')):.1%}" for lv in levels) + " |")
    lines += ["", "## Nights", "", "| retrain | training s | warm-started | gate | version | best candidate | "
              "champion forecasting | oracle family | reason |", "|---|---:|---:|---|---:|---|---|---|---|"]
    for n in nights:
        warm = n.get("warm_started")  # nights replayed before warm starts existed do not say
        lines.append(f"| {n['retrain']} | {n['seconds']:.0f} | {'?' if warm is None else len(warm)} | "
                     f"{n['decision']} | {n['version']} | {n['candidate']} | {n['champion']} | "
                     f"{n['oracle']} | {n['reason']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
