"""Benchmark (not a test): one family's accuracy over time, fast, for tuning on the development period.

    .venv/bin/python bench/family_replay.py lightgbm [--first 2018-06-01] [--last 2018-12-31]
        [--set boosting_history_months=36 ...]

The family alone, without MLflow or the gate: fitted at every month end on the data up to it (as
the nightly loop fits it), forecasting every day of the next month; scored with
pipeline.nightly.monitoring.accuracy on targets --first..--last. Appends a line to
bench/results/family-replay.jsonl. bench/replay.py is the full loop; this answers "does this
setting help the family" in a minute.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("family")
    parser.add_argument("--first", default="2018-06-01")
    parser.add_argument("--last", default="2018-12-31")
    parser.add_argument("--rows", help="also write the forecast rows to this parquet file")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="Settings overrides")
    args = parser.parse_args()

    import pandas as pd

    from pipeline import config, families
    from pipeline.inputs import data
    from pipeline.modelling import engine
    from pipeline.nightly.monitoring import accuracy
    from pipeline.modelling.scoring import realized_errors
    from replay import forecast_rows, periods  # bench/ is first on the path when this runs as a script

    fields = {f.name: f for f in dataclasses.fields(config.Settings)}
    overrides = {k: config._parse(fields[k], v) for k, v in (item.split("=", 1) for item in args.set)}
    base = config.Settings(**overrides)
    frame = data.clean(data.parse_raw(data.read_source(base.data_uri), base.data_uri))

    started, rows = time.perf_counter(), []
    for retrain, origins in periods(args.first, args.last, "monthly"):
        settings = base.with_overrides(as_of=retrain.date())
        trained = engine.train(families.create(args.family, settings), frame.loc[:retrain], settings)
        rows.append(forecast_rows(trained.family, frame, origins))
    stored = pd.concat(rows, ignore_index=True)
    stored = stored[pd.to_datetime(stored["target_date"]).between(args.first, args.last)]
    if args.rows:
        stored.to_parquet(args.rows)
    result = accuracy(realized_errors(stored, frame[base.target], base.interval_levels), base.interval_levels)
    line = {"when": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}", "family": args.family,
            "targets": f"{args.first}..{args.last}", "settings": overrides,
            "seconds": round(time.perf_counter() - started), **{k: v for k, v in result.items() if "by_" not in k}}
    with (ROOT / "bench" / "results" / "family-replay.jsonl").open("a") as out:
        out.write(json.dumps(line, default=str) + "\n")
    print(f"{args.family} {overrides}: h=1 {result['mae_h1']:,.0f}, mean {result['mae_mean']:,.0f}, pooled "
          f"{result['mae_pooled']:,.0f}, holiday-adjacent {result['mae_holiday']:,.0f}, coverage "
          f"{result.get('coverage_80', float('nan')):.1%} / {result.get('coverage_95', float('nan')):.1%}")


if __name__ == "__main__":
    main()
