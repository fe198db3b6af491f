"""Benchmark (not a test): replay the nightly loop over periods and score what it stored.

    make bench-replay REPLAY_ARGS="--periods 2017-06:2017-12,2018-06:2018-12,2019-06:2019-12"
    .venv/bin/python bench/replay.py [--periods A:B,C:D | --first 2018-06-01 --last 2018-12-31]
        [--cadence monthly|DAYS] [--families a,b] [--workers 2] [--home DIR] [--name NAME]
        [--baselines seasonal_naive,autoarima,mstl,lightgbm_mlforecast,lightgbm_direct[,autogluon]|none]

At every retrain date of a period (the day before its first day, then month ends, or every DAYS
days) it runs the pipeline's own steps, the ones the training DAG's tasks call: validate → clean →
materialize → train every family (with its backtests) → promote through the gate. Every day of the
period the night's champion forecasts the next `horizon` days (steps.forecast_next, adaptive
intervals included), and every family of the night's training forecasts beside it
(steps.shadow_forecast: the shadow record, which also gives the oracle). Library baselines
(bench/baselines.py in its own environment .venv-bench, and optionally AutoGluon-TimeSeries,
bench/autogluon_baseline.py in .venv-autogluon) are refitted on the same retrain dates
and forecast the same origins. Every forecast whose target lies in the period is scored against
the actuals with pipeline.nightly.monitoring.accuracy. Writes bench/results/replay-<period>[-NAME].md and
.json per period and, for several periods, replay-summary[-NAME].md.

Periods share one home and are replayed oldest first, as one product that ran through them: a
backtest window a year before a retrain reuses the fit an earlier period logged there (the
registry's own fits). Each period has its own registered model and forecast database, so its first
night has no champion. A training already finished in the home for the same night, data and
settings is reused: a replay run again with another NAME re-runs the gate and the forecasts only.
RIDERSHIP_FROM_SCRATCH=1 replays with every family trained from scratch at every retrain date.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from machine import describe  # noqa: E402 (bench/ is on the path)

BASELINES = ("seasonal_naive", "autoarima", "mstl", "lightgbm_mlforecast", "lightgbm_direct")
# each baseline script, its environment (its own: the libraries pin what the project does not), the
# make target that creates it and the models it runs; AutoGluon is optional (--baselines ...,autogluon)
RUNNERS = (("baselines.py", ".venv-bench", "bench-replay", BASELINES),
           ("autogluon_baseline.py", ".venv-autogluon", "bench-autogluon-venv", ("autogluon",)))


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


def train_and_promote(settings, workers: int, progress) -> tuple[dict, dict]:
    """One night's training run (runner.train_and_promote: the DAG's steps), its trainings on a pool
    of `workers` processes like the DAG's mapped tasks; returns the gate's decision and, per family,
    what its training returned (mode, seconds, backtest seconds, MAEs; {"mode": "reused"} for a
    training this home had already finished for the same run key; None for one that failed)."""
    from pipeline.entry import runtime
    from pipeline.lifecycle import tracking
    from pipeline.nightly import runner

    def finished(settings, run) -> set[str]:  # for this run with today's code and settings: reused
        return {r.family for r in tracking.finished_family_runs(settings, run["parent_run_id"])
                if r.family in settings.families and r.warm_key == current_key(r.family, settings)}

    context = multiprocessing.get_context("spawn")  # TensorFlow must not be forked
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=runtime.configure,
                             initargs=(settings,)) as pool:
        night = runner.train_and_promote(settings, {"trigger": "replay"}, pool, finished, progress)
    return night.decision, {**night.trainings, **{family: None for family in night.failures}}


def current_key(family: str, settings) -> str:
    """The warm key (model code and settings) a training of `family` would have now."""
    from pipeline import families
    from pipeline.modelling import warmstart

    return warmstart.key_of(warmstart.warm_key_parts(families.create(family, settings), settings))


def forecast_rows(family, frame, origins) -> "pd.DataFrame":
    """The family's forecasts from each origin with data up to it, a row per (origin, horizon):
    as_of, horizon, target_date (dates), forecast and the interval bounds (riders)."""
    import numpy as np
    import pandas as pd

    from pipeline.lifecycle.logged_models import interval_bounds

    values = np.asarray(family.forecast(frame.loc[: origins[-1]], origins), dtype=np.float64)
    horizons = np.tile(np.arange(1, values.shape[1] + 1), len(origins))
    as_of = origins.repeat(values.shape[1])
    rows = pd.DataFrame({"as_of": as_of.date, "horizon": horizons,
                         "target_date": (as_of + pd.to_timedelta(horizons, unit="D")).date,
                         "forecast": values.ravel()})
    for column, bound in interval_bounds(values, family.intervals).items():
        rows[column] = bound.ravel()
    return rows


def run_baselines(frame, plan: list[tuple], settings, models: list[str], workdir: Path, runner: tuple):
    """Forecasts of the library baselines `models` (all run by `runner`, one of RUNNERS) for the
    replay plan: rows (model, as_of, horizon, target_date, forecast, lower_L, upper_L)."""
    import pandas as pd

    script, venv, target, _ = runner
    python = ROOT / venv / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} is missing: `make {target}` creates the environment of bench/{script}")
    from pipeline.inputs.calendar import day_types

    series, plan_file, out = workdir / "series.csv", workdir / "plan.json", workdir / "baselines.csv"
    # the data, then the day types of the days a forecast from its last day reaches (rail unknown)
    after = pd.date_range(frame.index[-1] + pd.Timedelta(days=1), periods=settings.horizon, freq="D")
    future = pd.DataFrame({"day_type": day_types(after.date), "bus": None, "rail": None}, index=after)
    pd.concat([frame[["day_type", "bus", "rail"]], future]).to_csv(series, index_label="date")
    plan_file.write_text(json.dumps({"horizon": settings.horizon, "levels": list(settings.interval_levels),
                                     "periods": [{"retrain": r.date().isoformat(),
                                                  "origins": [o.date().isoformat() for o in origins]}
                                                 for r, origins in plan]}))
    subprocess.run([str(python), str(ROOT / "bench" / script), "--series", str(series),
                    "--plan", str(plan_file), "--out", str(out), "--models", ",".join(models)], check=True)
    rows = pd.read_csv(out, parse_dates=["origin", "target_date"])
    rows["as_of"] = rows.pop("origin").dt.date
    rows["target_date"] = rows["target_date"].dt.date
    return rows.drop(columns=["retrain"])


def resumable(done: Path, what: dict) -> Path:
    """The directory of completed nights, refusing one left by a different replay."""
    done.mkdir(parents=True, exist_ok=True)
    recorded = done / "replay.json"
    if recorded.exists() and json.loads(recorded.read_text()) != what:
        raise SystemExit(f"{done} holds a different replay ({recorded.read_text()}); give another --home or --name")
    recorded.write_text(json.dumps(what))
    return done


def parse_periods(args) -> list[tuple[str, str]]:
    """(first day, last day) of each period, oldest first: --periods 2017-06:2017-12 means
    2017-06-01..2017-12-31; a bound may also be a day (2021-06-01:2021-11-30)."""
    import pandas as pd

    if not args.periods:
        return [(args.first, args.last)]
    out = []
    for item in args.periods.split(","):
        first, last = (part.strip() for part in item.split(":"))
        first = first if len(first) > 7 else f"{first}-01"
        last = last if len(last) > 7 else (pd.Timestamp(f"{last}-01") + pd.offsets.MonthEnd(0)).date().isoformat()
        out.append((first, last))
    return sorted(out)


def spec(weights: dict | None) -> str:
    return " + ".join(f"{w:.2f} {n}" for n, w in sorted((weights or {}).items(), key=lambda kv: -kv[1])) or "?"


def replay_period(first: str, last: str, args, base, frame, home: Path) -> tuple[list, list, float, float]:
    """Replay one period; returns its results (one per model), its nights, the product's and the
    baselines' wall seconds."""
    import pandas as pd
    from tqdm import tqdm

    from pipeline.io import forecasts
    from pipeline.nightly import steps
    from pipeline.nightly.monitoring import accuracy
    from pipeline.modelling.scoring import realized_errors

    period = f"{first[:7]}-{last[:7]}"
    tag = period + (f"-{args.name}" if args.name else "")
    settings = base.with_overrides(registered_model=f"ridership-{tag}",
                                   forecast_db_uri=f"sqlite:///{home / f'forecasts-{tag}.db'}")
    last_day = frame.index[-1].date().isoformat()
    if last > last_day:
        raise SystemExit(f"period {period} ends {last}, after the data's last day {last_day}")
    plan = periods(first, last, args.cadence)
    done = resumable(home / "replay-nights" / tag,
                     {"first": first, "last": last, "cadence": args.cadence, "families": list(base.families),
                      "config_digest": base.digest(), "from_scratch": base.from_scratch or not base.warm_start})
    nights = []
    bar = tqdm(plan, desc=f"replay {period}", unit="night", dynamic_ncols=True, mininterval=5)
    for retrain, origins in bar:
        marker = done / f"{retrain.date()}.json"
        if not marker.exists():  # a night a previous, interrupted replay in this home did not finish
            night_settings = settings.with_overrides(as_of=retrain.date())
            started = time.perf_counter()

            def say(line: str) -> None:
                bar.write(f"  {retrain.date()} [{time.perf_counter() - started:5.0f} s] {line}")

            decision, trainings = train_and_promote(night_settings, args.workers, say)
            trained_at = time.perf_counter()
            say(f"gate: {decision['decision']} v{decision['version']} ({spec(decision.get('members'))}): "
                f"{decision['reason']}")
            for day in origins:
                steps.forecast_next(night_settings.with_overrides(as_of=day.date()))
            steps.shadow_forecast(night_settings, frame=frame, origins=origins)
            say(f"forecast {len(origins)} days with the champion and every family in "
                f"{time.perf_counter() - trained_at:.0f} s")
            night = {"retrain": retrain.date().isoformat(), "decision": decision["decision"],
                     "version": decision["version"], "candidate": decision["family"],
                     "members": decision.get("members"), "challenger": decision.get("challenger"),
                     "comparison": decision.get("comparison"), "windows": decision.get("windows"),
                     "reason": decision["reason"], "seconds": trained_at - started,
                     "forecast_seconds": time.perf_counter() - trained_at, "trainings": trainings}
            marker.write_text(json.dumps(night, default=str))  # written last: the night is complete
        nights.append(json.loads(marker.read_text()))
    bar.close()
    train_wall = sum(n["seconds"] for n in nights)

    actual = frame[base.target].loc[first:last]
    levels = base.interval_levels

    def scored(rows):
        rows = rows[pd.to_datetime(rows["target_date"]).between(first, last)]
        return realized_errors(rows, actual, levels)

    results = []
    product = forecasts.stored(settings)
    results.append({"model": "product (champion each night)", "kind": "product", **accuracy(scored(product), levels)})
    shadow = forecasts.stored_shadow(settings).rename(columns={"family": "model"})
    families_scored = scored(shadow.assign(retrain=shadow["trained_as_of"]))
    families_scored.to_parquet(home / f"replay-family-rows-{tag}.parquet")  # every scored row, for analyses
    # the oracle picks, for each retrain period, the family whose forecasts were best in hindsight
    best = families_scored.groupby(["retrain", "model"])["abs_error"].mean().groupby(level=0).idxmin()
    picks = {str(retrain): model for retrain, model in best.values}
    oracle = families_scored[[picks[str(r)] == m for r, m in zip(families_scored["retrain"], families_scored["model"])]]
    results.append({"model": "oracle choice of family", "kind": "oracle", **accuracy(oracle, levels)})
    for night in nights:
        night["oracle"] = picks.get(night["retrain"], "")
    for name, rows in families_scored.groupby("model"):
        results.append({"model": name, "kind": "family", **accuracy(rows, levels)})
    baseline_wall = 0.0
    models = [] if args.baselines == "none" else args.baselines.split(",")
    for runner in RUNNERS:
        chosen = sorted(set(models) & set(runner[3]))
        if not chosen:
            continue
        code = hashlib.sha256((ROOT / "bench" / runner[0]).read_bytes()).hexdigest()[:8]
        cache = home / f"baselines-{period}-{'-'.join(chosen)}-{code}.csv"
        began = time.perf_counter()
        if not cache.exists():  # the baselines do not depend on the product: once per period and home
            run_baselines(frame, plan, base, chosen, home, runner).to_csv(cache, index=False)
        rows = pd.read_csv(cache, parse_dates=["as_of", "target_date"])
        rows["as_of"], rows["target_date"] = rows["as_of"].dt.date, rows["target_date"].dt.date
        baseline_wall += time.perf_counter() - began
        for name, group in rows.groupby("model"):
            results.append({"model": name, "kind": "baseline", **accuracy(scored(group), levels)})
    return results, nights, train_wall, baseline_wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--periods", default="", help="comma-separated FIRST:LAST months or days, e.g. "
                                                       "2017-06:2017-12,2018-06:2018-12 (else --first/--last)")
    parser.add_argument("--first", default="2018-06-01", help="first target day scored")
    parser.add_argument("--last", default="2018-12-31", help="last target day scored")
    parser.add_argument("--cadence", default="monthly", help="'monthly' (month ends) or a number of days")
    parser.add_argument("--families", default="", help="default: Settings.families")
    parser.add_argument("--workers", type=int, default=2, help="trainings at a time (the DAG's parallelism)")
    parser.add_argument("--home", help="state directory; a replay interrupted there resumes after its last "
                                         "complete night (default: RIDERSHIP_HOME, else a new temporary one)")
    parser.add_argument("--baselines", default=",".join(BASELINES),
                        help="comma-separated, or 'none'; 'autogluon' (AutoGluon-TimeSeries) is optional")
    parser.add_argument("--name", default="", help="suffix of the result files: replay-<period>-<name>.md")
    args = parser.parse_args()
    unknown = set(args.baselines.split(",")) - {m for *_, models in RUNNERS for m in models} - {"none"}
    if unknown:
        parser.error(f"unknown baselines {sorted(unknown)}; choose from "
                     f"{','.join(m for *_, models in RUNNERS for m in models)} or 'none'")
    home = Path(args.home or os.environ.get("RIDERSHIP_HOME") or tempfile.mkdtemp(prefix="ridership-replay-"))
    os.environ["RIDERSHIP_HOME"] = str(home)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from pipeline.entry import runtime
    from pipeline.inputs import data
    from pipeline.config import Settings

    base = Settings.from_env()
    runtime.configure(base)
    if args.families:
        base = base.with_overrides(families=tuple(args.families.split(",")))
    frame = data.clean(data.parse_raw(data.read_source(base.data_uri), base.data_uri))
    chosen = parse_periods(args)
    print(f"replay of {', '.join(f'{a}..{b}' for a, b in chosen)} in {home} on {describe()}: "
          f"{len(base.families)} families, {args.workers} trainings at a time", flush=True)
    summary = []
    for first, last in chosen:
        results, nights, train_wall, baseline_wall = replay_period(first, last, args, base, frame, home)
        period = f"{first[:7]}-{last[:7]}"
        out = ROOT / "bench" / "results" / f"replay-{period}{'-' + args.name if args.name else ''}"
        keys = ("model", "kind", "mae_h1", "mae_mean", "mae_pooled", "coverage_80", "coverage_95", "pairs")
        out.with_suffix(".json").write_text(json.dumps(
            [{k: r.get(k) for k in keys} | {"detail": {k: v for k, v in r.items() if k not in keys}} for r in results]
            + [{"nights": nights}], indent=1, default=str) + "\n")
        out.with_suffix(".md").write_text(render(results, nights, first, last, args, base, train_wall,
                                                 baseline_wall, base.interval_levels))
        print(out.with_suffix(".md").read_text(), flush=True)
        summary.append((period, results, train_wall, baseline_wall))
    if len(summary) > 1:
        out = ROOT / "bench" / "results" / f"replay-summary{'-' + args.name if args.name else ''}.md"
        out.write_text(render_summary(summary, base))
        print(out.read_text())


def render_summary(summary, settings) -> str:
    """One table over the periods: product, oracle, best family, each baseline."""
    lines = [f"# Replay summary: {', '.join(p for p, *_ in summary)}", "",
             f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {describe()}; {len(settings.families)} families; "
             "MAE in riders at h=1 and pooled over every origin and horizon; coverage of the 80 % and 95 % "
             "intervals, pooled.", "",
             "| period | model | kind | MAE h=1 | pooled | 80 % cov. | 95 % cov. | product against it (h=1 / pooled) |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for period, results, train_wall, baseline_wall in summary:
        product = results[0]
        families = [r for r in results if r["kind"] == "family"]
        shown = [product, next(r for r in results if r["kind"] == "oracle")]
        shown += [dict(min(families, key=lambda r: r["mae_pooled"]), kind="best family")] if families else []
        shown += sorted((r for r in results if r["kind"] == "baseline"), key=lambda r: r["mae_pooled"])
        for r in shown:
            versus = "" if r is product else (f"{product['mae_h1'] / r['mae_h1'] - 1:+.1%} / "
                                              f"{product['mae_pooled'] / r['mae_pooled'] - 1:+.1%}")
            lines.append(f"| {period} | {r['model']} | {r['kind']} | {r['mae_h1']:,.0f} | {r['mae_pooled']:,.0f} | "
                         f"{r.get('coverage_80', float('nan')):.1%} | {r.get('coverage_95', float('nan')):.1%} | "
                         f"{versus} |")
        lines.append(f"| {period} | wall time | | | | | | product {train_wall / 60:.1f} min, baselines "
                     f"{baseline_wall / 60:.1f} min |")
    return "\n".join(lines) + "\n"


def warm_policy(settings) -> str:
    if settings.from_scratch or not settings.warm_start:
        return "every family from scratch every retrain"
    return (f"warm starts (pipeline/modelling/warmstart.py): up to {settings.warm_epochs} epochs, patience "
            f"{settings.warm_patience}, from scratch after {settings.max_warm_starts} in a row")


def render(results, nights, first, last, args, settings, train_wall, baseline_wall, levels) -> str:
    months = sorted({m for r in results for m in r["mae_by_month"]})
    lines = [
        f"# Replay {first} .. {last}: the nightly loop's stored forecasts, scored",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {describe()}: product {train_wall / 60:.1f} min, baselines {baseline_wall / 60:.1f} min. "
        f"Retrain cadence `{args.cadence}`; families: {', '.join(settings.families)}; protocol "
        f"`{settings.protocol}`, up to {settings.epochs} epochs; {warm_policy(settings)}. Targets {first}..{last}; MAE in riders; "
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
    lines += ["", "## Nights", "", "| retrain | training s | warm / scratch / reused | backtest s | gate | version | "
              "champion (weights) | challenger | oracle family | reason |", "|---|---:|---:|---:|---|---:|---|---|---|---|"]
    for n in nights:
        trainings = [t for t in (n.get("trainings") or {}).values() if t]
        modes = [t.get("mode", "reused") for t in trainings]
        backtest = sum(t.get("backtest_seconds", 0) for t in trainings)
        lines.append(f"| {n['retrain']} | {n['seconds']:.0f} | {modes.count('warm')} / {modes.count('scratch')} / "
                     f"{modes.count('reused')} | {backtest:.0f} | {n['decision']} | {n['version']} | "
                     f"{spec(n.get('members'))} | {spec(n.get('challenger'))} | {n['oracle']} | {n['reason']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
