"""Benchmark (not a test): replay 2019-06..2019-12 night by night with the pipeline's own steps.

    .venv/bin/python bench/backfill.py [--first 2019-05-31] [--last 2019-12-31] [--families a,b]

Retrains at every month end (validate → clean → materialize → train each family → promote,
the same step functions the training DAG's tasks call), forecasts every day of the following
month with the champion of that night, then scores every stored forecast whose day has
arrived (realized MAE, interval coverage). Writes ``bench/results/backfill-2019.md``.
State lives in a throwaway RIDERSHIP_HOME.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--first", default="2019-05-31")
    parser.add_argument("--last", default="2019-12-31")
    parser.add_argument("--families", default="")
    args = parser.parse_args()
    os.environ.setdefault("RIDERSHIP_HOME", tempfile.mkdtemp(prefix="ridership-backfill-"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import pandas as pd

    from pipeline import forecasting, monitoring, steps
    from pipeline.config import Settings

    base = Settings.from_env()
    if args.families:
        base = base.with_overrides(families=tuple(args.families.split(",")))
    # retrain at each month end before the last day; the last month's days are forecast too
    month_ends = pd.date_range(args.first, pd.Timestamp(args.last) - pd.Timedelta(days=1), freq="ME")
    started = time.perf_counter()
    decisions = []
    for month_end in month_ends:
        settings = base.with_overrides(as_of=month_end.date())
        checked = steps.validate_source(settings)
        cleaned = steps.clean_snapshot(settings, checked["raw_uri"], checked["data_hash"])
        run = steps.materialize_windows(settings, cleaned["clean_uri"], checked["data_hash"], {"trigger": "backfill"},
                                        checked["data_docs_uri"])
        board = {}
        for family in run["families"] + run["ensembles"]:
            result = steps.train_family(settings, family, run["manifest_uri"], run["parent_run_id"])
            board[family] = result["mae_mean"]
        decision = steps.promote_best(settings, run["manifest_uri"], run["parent_run_id"], run["run_key"])
        decisions.append({"as_of": settings.as_of, **decision, "board": board})
        print(f"{settings.as_of}: {decision['decision']} v{decision['version']} ({decision['family']}) — "
              f"{decision['reason']}", flush=True)
        month_days = pd.date_range(month_end, min(month_end + pd.offsets.MonthEnd(1), pd.Timestamp(args.last)))
        for day in month_days[:-1] if len(month_days) > 1 else month_days:
            steps.forecast_next(settings.with_overrides(as_of=day.date()))
    wall = time.perf_counter() - started

    settings = base.with_overrides(as_of=month_ends[-1].date())
    stored = forecasting.stored(settings)
    frame = steps.load_clean(steps.latest_clean(settings)["clean_uri"])
    rows = monitoring.realized_errors(stored, frame[settings.target].loc[:args.last], settings.interval_levels)
    out = ROOT / "bench" / "results" / "backfill-2019.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(decisions, rows, settings, wall, base.families))
    print(out.read_text())


def render(decisions, rows, settings, wall, families) -> str:
    lines = [
        "# Backfill 2019-06..2019-12: gate decisions, realized accuracy, interval coverage",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.node()} ({platform.machine()}, "
        f"{os.cpu_count()} cores); {wall / 60:.1f} min. Families: {', '.join(families)}; protocol "
        f"`{settings.protocol}`; up to {settings.epochs} epochs. Retrained at each month end with the pipeline's "
        "step functions; every day of the next month forecast (14 days ahead) by the champion of that night.",
        "",
        "## Gate decisions",
        "",
        "| as of | decision | version | family | candidate mean MAE | champion re-scored | reason |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for d in decisions:
        champion = f"{d['champion_mae_mean']:,.0f}" if d.get("champion_mae_mean") else "—"
        lines.append(f"| {d['as_of']} | {d['decision']} | {d['version']} | {d['family']} | "
                     f"{d.get('candidate_mae_mean', float('nan')):,.0f} | {champion} | {d['reason']} |")
    lines += ["", "## Realized accuracy of the stored forecasts (targets up to 2019-12-31)", ""]
    lines += ["| horizon | forecasts | realized MAE | 80 % coverage | 95 % coverage |", "|---:|---:|---:|---:|---:|"]
    for h, group in rows.groupby("horizon"):
        lines.append(f"| {h} | {len(group)} | {group['abs_error'].mean():,.0f} | "
                     f"{group['covered_80'].mean():.1%} | {group['covered_95'].mean():.1%} |")
    lines.append(f"| all | {len(rows)} | {rows['abs_error'].mean():,.0f} | {rows['covered_80'].mean():.1%} | "
                 f"{rows['covered_95'].mean():.1%} |")
    lines += ["", "By model version:", "", "| version | forecasts | realized MAE | 80 % | 95 % |",
              "|---:|---:|---:|---:|---:|"]
    for version, group in rows.groupby("model_version"):
        lines.append(f"| {version} | {len(group)} | {group['abs_error'].mean():,.0f} | "
                     f"{group['covered_80'].mean():.1%} | {group['covered_95'].mean():.1%} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
