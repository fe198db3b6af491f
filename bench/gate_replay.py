"""Benchmark (not a test): the gate's settings replayed offline on a finished replay's trainings.

    .venv/bin/python bench/gate_replay.py --home DIR --name NAME --periods 2017-06:2017-12,... \
        [--set combination_rounds=1,5,20 seasonal_weight=0,0.5,1 promotion_z=0,1.645 ...]

bench/replay.py leaves in its home every night's trainings (each family's backtest forecasts in
MLflow) and every family's forecasts of the following nights (the shadow table of the period's
forecast database). The gate only combines them, so each setting of the gate can be replayed in
seconds: for every night the same pipeline.modelling.selection calls as registry.promote (evidence on the
weighted windows, greedy weights, the incumbent rule), then the product's forecasts are the
chosen weights over the shadow forecasts of that night's families. Intervals are simulated the
way forecasting.forecast makes them: the combination's split-conformal half-widths from its
recent-window residuals until pipeline.modelling.intervals has enough outcomes. Scores every variant on
the same targets and prints one table; appends it to bench/results/gate-replay.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def load_nights(home: Path, tag: str, settings, frame) -> list[dict]:
    """Per night of a replayed period: its as-of date, origins and the gate's raw material."""
    import pandas as pd

    from pipeline.lifecycle import registry, tracking
    from pipeline.io import forecasts

    nights = []
    for marker in sorted((home / "replay-nights" / tag).glob("20*.json")):
        night = json.loads(marker.read_text())
        as_of = date.fromisoformat(night["retrain"])
        at = settings.with_overrides(as_of=as_of)
        parent = tracking.latest_pipeline_run(at)
        runs = {r.family: r for r in registry.candidate_runs(at, parent.run_id)}
        recent, tables = {}, {}
        for name, run in runs.items():
            recent[name] = tracking.validation_forecasts(at, run.run_id)
            tables[name] = tracking.backtest_forecasts(at, run.run_id)
        nights.append({"as_of": as_of, "recent": recent, "tables": tables})
    shadow = forecasts.stored_shadow(settings)
    shadow["trained_as_of"] = pd.to_datetime(shadow["trained_as_of"]).dt.date
    for night in nights:
        rows = shadow[shadow["trained_as_of"] == night["as_of"]]
        night["shadow"] = rows.pivot_table(index=["as_of", "target_date", "horizon"], columns="family",
                                           values="forecast").reset_index()
    return nights


def replay_gate(nights: list[dict], settings, frame, first: str, last: str) -> dict:
    """The product's scores over the period for one setting of the gate, and its nights' choices."""
    import numpy as np
    import pandas as pd

    from pipeline.modelling import backtest, intervals, selection
    from pipeline.nightly.monitoring import accuracy
    from pipeline.modelling.scoring import realized_errors
    from pipeline.modelling.scoring import conformal_halfwidths, scoring_origins

    actual = frame[settings.target]
    incumbent, stored, choices = None, [], []
    for night in nights:
        at = settings.with_overrides(as_of=night["as_of"])
        windows = backtest.weighted([backtest.recent_window(at)] + backtest.seasonal_windows(at),
                                    actual.loc[: pd.Timestamp(at.as_of)], at)
        try:
            ev = selection.evidence(night["tables"], actual, {w.name: w.weight for w in windows})
        except ValueError:
            ev = selection.evidence(night["tables"], actual, {"recent": 1.0})
        challenger = selection.greedy_weights(ev, at.combination_rounds, at.combination_tolerance)
        chosen = challenger
        if incumbent is not None and set(incumbent) <= set(ev.candidates) and incumbent != challenger:
            if not selection.compare(ev, incumbent, challenger).wins(at.promotion_margin, at.promotion_z):
                chosen = incumbent
        incumbent = chosen
        choices.append(chosen)
        total = sum(chosen.values())
        errors = ev.combined_errors(chosen)
        prior = intervals.backtest_scores(ev.pairs.assign(forecast=ev.pairs["actual"].to_numpy() + errors), actual)
        recent = sum(w / total * night["recent"][n].to_numpy(float) for n, w in chosen.items())
        widths = conformal_halfwidths(recent, scoring_origins(at), actual.loc[: pd.Timestamp(at.as_of)], at)
        rows = night["shadow"]
        forecast = sum(w / total * rows[n].to_numpy(float) for n, w in chosen.items())
        served = pd.DataFrame({"as_of": rows["as_of"], "target_date": rows["target_date"], "horizon": rows["horizon"],
                               "forecast": forecast})
        for level, half in widths.items():
            h = served["horizon"].to_numpy() - 1
            served[f"lower_{level}"] = np.maximum(served["forecast"] - np.asarray(half)[h], 0.0)
            served[f"upper_{level}"] = served["forecast"] + np.asarray(half)[h]
        for origin, day in served.groupby("as_of", sort=True):  # each night's intervals from the outcomes so far
            past = pd.concat(stored) if stored else served.iloc[:0]
            window_start = origin - pd.Timedelta(days=settings.interval_window_days)
            past = past[(pd.to_datetime(past["target_date"]) <= pd.Timestamp(origin))
                        & (pd.to_datetime(past["target_date"]) >= pd.Timestamp(window_start))]
            realized = realized_errors(past, actual.loc[: pd.Timestamp(origin)], ()).sort_values(["target_date", "as_of"])
            widths = intervals.adaptive_widths(realized, settings.interval_levels, settings.horizon,
                                               settings.interval_gamma, settings.interval_min_scores, prior)
            adapted, _ = intervals.apply(day.reset_index(drop=True), widths)
            stored.append(adapted)
    product = pd.concat(stored, ignore_index=True)
    product = product[pd.to_datetime(product["target_date"]).between(first, last)]
    result = accuracy(realized_errors(product, actual.loc[first:last], settings.interval_levels),
                      settings.interval_levels)
    return {**result, "choices": choices}


def variants(assignments: list[str]) -> list[dict]:
    """The grid of `--set field=v1,v2` assignments, every combination."""
    from pipeline import config

    fields = {f.name: f for f in dataclasses.fields(config.Settings)}
    axes = []
    for item in assignments:
        name, values = item.split("=", 1)
        axes.append([(name, config._parse(fields[name], v)) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)] or [{}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--name", default="")
    parser.add_argument("--periods", required=True)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=V1,V2")
    args = parser.parse_args()
    home = Path(args.home)
    os.environ["RIDERSHIP_HOME"] = str(home)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from pipeline.entry import runtime
    from pipeline.inputs import data
    from pipeline.config import Settings
    from replay import parse_periods

    base = Settings.from_env()
    runtime.configure(base)
    frame = data.clean(data.parse_raw(data.read_source(base.data_uri), base.data_uri))
    grid = variants(args.set)
    lines = [f"## {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, home {home.name}, replay `{args.name}`", "",
             "| variant | " + " | ".join(f"{p} h=1 | {p} pooled | {p} cov." for p in args.periods.split(",")) + " |",
             "|---|" + "---:|---:|---|" * len(args.periods.split(","))]
    loaded = {}
    for first, last in parse_periods(argparse.Namespace(periods=args.periods)):
        tag = f"{first[:7]}-{last[:7]}" + (f"-{args.name}" if args.name else "")
        settings = base.with_overrides(registered_model=f"ridership-{tag}",
                                       forecast_db_uri=f"sqlite:///{home / f'forecasts-{tag}.db'}")
        loaded[(first, last)] = (settings, load_nights(home, tag, settings, frame))
    for variant in grid:
        cells = []
        for (first, last), (settings, nights) in loaded.items():
            result = replay_gate(nights, settings.with_overrides(**variant), frame, first, last)
            cells.append(f"{result['mae_h1']:,.0f} | {result['mae_pooled']:,.0f} | "
                         f"{result['coverage_80']:.1%}/{result['coverage_95']:.1%}")
            picked = "; ".join(" + ".join(f"{w:.2f} {n}" for n, w in sorted(c.items(), key=lambda kv: -kv[1]))
                               for c in result["choices"])
            print(f"{variant} {first[:7]}: h1 {result['mae_h1']:,.0f} pooled {result['mae_pooled']:,.0f} "
                  f"cov {result['coverage_80']:.1%}/{result['coverage_95']:.1%} | {picked}", flush=True)
        lines.append(f"| {variant or 'defaults'} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    with (ROOT / "bench" / "results" / "gate-replay.md").open("a") as out:
        out.write(text + "\n")


if __name__ == "__main__":
    main()
