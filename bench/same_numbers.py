"""A check, not a test: the numbers the CLI gives on the chapter window, to compare two versions of
the code (a refactor must not move them).

    .venv/bin/python bench/same_numbers.py OUT.json [--families naive,sarima,lightgbm,linear]
    .venv/bin/python bench/same_numbers.py --compare BEFORE.json AFTER.json

In a new home it runs `ridership train` (the deterministic families by default), `promote`,
`forecast` and `leaderboard` as of 2019-05-31 and keeps what does not depend on the run: each
family's MAEs, the gate's decision, the champion's forecast and intervals (riders) and the leaderboard's MAEs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2019-05-31"


def cli(home: str, *args: str) -> dict:
    env = {**os.environ, "RIDERSHIP_HOME": home, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "pipeline.entry.cli", *args, "--as-of", AS_OF, "--json"], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def numbers(families: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="ridership-same-numbers-") as home:
        trained = cli(home, "train", *families)["trained"]
        decision = cli(home, "promote")
        forecast = cli(home, "forecast")
        board = cli(home, "leaderboard")
    return {"trained": {t["family"]: {k: round(t[k], 2) for k in ("mae_h1", "mape_h1", "mae_mean")} for t in trained},
            "decision": {k: decision.get(k) for k in ("decision", "family", "version", "members")},
            "forecast": [{k: v for k, v in row.items() if k != "model_version"} for row in forecast["forecast"]],
            "leaderboard": [{k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()
                             if k == "family" or k.startswith("ma")} for row in board["leaderboard"]]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?")
    parser.add_argument("--families", default="naive,sarima,lightgbm,linear")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        before, after = (json.loads(Path(p).read_text()) for p in args.compare)
        differ = [key for key in before if before[key] != after.get(key)]
        print("same numbers" if not differ else f"different: {', '.join(differ)}")
        sys.exit(1 if differ else 0)
    result = numbers(args.families.split(","))
    Path(args.out).write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
