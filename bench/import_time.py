"""Benchmark (not a test): how much importing each DAG file costs beyond `import airflow.sdk`.

    .venv/bin/python bench/import_time.py [--repeat 5]

Each measurement is a fresh interpreter; the median of the repeats is reported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import sys, time
sys.path.insert(0, {dags!r})
started = time.perf_counter()
import airflow.sdk
sdk = time.perf_counter()
{extra}
print(sdk - started, time.perf_counter() - sdk)
"""


def measure(module: str | None, repeat: int) -> tuple[float, float]:
    sdk, extra = [], []
    for _ in range(repeat):
        code = PROBE.format(dags=str(ROOT / "dags"), extra=f"import {module}" if module else "")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        a, b = map(float, out.stdout.split())
        sdk.append(a)
        extra.append(b)
    return statistics.median(sdk), statistics.median(extra)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sdk, _ = measure(None, args.repeat)
    print(f"import airflow.sdk alone: {sdk:.2f} s (median of {args.repeat})")
    for module in ("ridership_training", "ridership_forecast"):
        _, extra = measure(module, args.repeat)
        print(f"{module}: +{extra:.3f} s beyond airflow.sdk (budget 0.5 s)")


if __name__ == "__main__":
    main()
