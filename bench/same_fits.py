"""A check, not a test: what every family fits and forecasts, to compare two versions of the code
(a refactor must not move a single number) and to read each family's warm key and model-code digest.

    .venv/bin/python bench/same_fits.py OUT.json [--families a,b] [--epochs 2]
    .venv/bin/python bench/same_fits.py --compare BEFORE.json AFTER.json

Each family is trained by the one engine as of the default as-of date (2019-05-31) with a few epochs and no XLA (minutes, not
hours), in a process of its own; it keeps the scores, a hash of the forecasts' bytes, the params and
the warm key's parts. --compare names the families whose forecasts, scores or params differ and
prints each family's model-code digest before -> after and, when every family fits alike, the
digests that pipeline/modelling/warmstart.py's EQUIVALENT_CODE may then map (new: old).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fit_one(name: str, epochs: int) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from pipeline import families
    from pipeline.config import Settings
    from pipeline.entry import runtime
    from pipeline.inputs import data
    from pipeline.modelling import engine, warmstart

    settings = Settings(epochs=epochs, patience=epochs, jit_compile=False, tf_threads=1)
    runtime.configure(settings, models=True)
    frame = data.clean(data.parse_raw(data.read_source(settings.data_uri), settings.data_uri))
    trained = engine.train(families.create(name, settings), frame, settings)
    parts = warmstart.warm_key_parts(trained.family, settings)
    return {"family": name, "module": families.FAMILIES[name], "scores": trained.scores.metrics(),
            "forecasts_sha256": hashlib.sha256(trained.forecasts.tobytes()).hexdigest(),
            "intervals": trained.family.intervals, "params": json.loads(json.dumps(trained.family.params(), default=str)),
            "warm_key": warmstart.key_of(parts), "code": parts["code"]}


def compare(before: dict, after: dict) -> int:
    differ = []
    for name in sorted(before):
        old, new = before[name], after.get(name, {})
        moved = [k for k in ("scores", "forecasts_sha256", "intervals", "params") if old.get(k) != new.get(k)]
        if moved:
            differ.append(name)
        print(f"{name:22} {'DIFFERENT ' + ','.join(moved) if moved else 'same fit'}; code {old['code']} -> "
              f"{new.get('code')}; warm key {old['warm_key']} -> {new.get('warm_key')}")
    print("same fits" if not differ else f"different: {', '.join(differ)}")
    if not differ:  # what pipeline/modelling/warmstart.py's EQUIVALENT_CODE may say of this change
        pairs: dict[tuple[str, str], list[str]] = {}
        for name in sorted(before):
            if after[name]["code"] != before[name]["code"]:
                pairs.setdefault((after[name]["code"], before[name]["code"]), []).append(name)
        print("EQUIVALENT_CODE entries (new: old):")
        for (new, old), names in sorted(pairs.items(), key=lambda item: item[1][0]):
            print(f'    "{new}": "{old}",  # {", ".join(names)}')
    return 1 if differ else 0


def main() -> None:
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?")
    parser.add_argument("--families", default="")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        sys.exit(compare(*(json.loads(Path(p).read_text()) for p in args.compare)))
    from pipeline import families

    names = args.families.split(",") if args.families else list(families.FAMILIES)
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(fit_one, names, [args.epochs] * len(names)))
    Path(args.out).write_text(json.dumps({r["family"]: r for r in results}, indent=1) + "\n")
    print(f"{len(results)} families -> {args.out}")


if __name__ == "__main__":
    main()
