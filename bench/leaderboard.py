"""Benchmark (not a test): every family at its full recipe, as of 2019-05-31, on one machine.

    .venv/bin/python bench/leaderboard.py [--protocol chapter|honest] [--workers 2] [--families a,b]
        [--window-order chapter|uniform] [--recipe family|chapter|robust] [--merge]

Trains each family in its own process (``--workers`` at a time, one TensorFlow thread each),
scores it with the pipeline's one scoring function on the same target dates, and writes
``bench/results/leaderboard.md`` (protocol ``chapter``, comparable with the book), or a file named
after what departs from it (``leaderboard-honest.md``, ``leaderboard-robust.md``: every Keras
family on the robust recipe), with the date and the machine (and a .json beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.config import RECIPES  # noqa: E402  (light: no Keras, no pandas)
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from machine import describe  # noqa: E402

# The chapter's validation MAE for each family (riders; DESIGN.md §2). None: not reported.
CHAPTER = {
    "naive": 42_143, "sarima": 32_041, "linear": 37_866, "simple_rnn_1": 102_787, "simple_rnn": 29_015,
    "deep_rnn": 31_211, "multivariate_rnn": 22_062, "multitask_rnn": 25_330, "ahead_rnn": 35_017,
    "seq2seq_rnn": 25_519, "ln_rnn": None, "lstm": None, "gru": None, "conv_gru": None, "wavenet": None,
    "wavenet_gated": None,
}
CHAPTER_NOTE = {"ahead_rnn": "mean of 14", "seq2seq_rnn": "h=1; h=14: 34,322"}
RECIPE_TEXT = {  # Settings.recipe
    "family": "each family's own: the chapter's families train with {chapter}, those beyond it with {robust}.",
    "chapter": "every family trains with {chapter}.",
    "robust": "every family trains with {robust} (multivariate_robust is then multivariate_rnn).",
}


def train_one(name: str, overrides: dict, make_family=None) -> dict:
    """Train family `name` (built by make_family(name, settings) if given) and score it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from pipeline import families
    from pipeline.entry import runtime
    from pipeline.inputs import data
    from pipeline.modelling import engine
    from pipeline.config import Settings

    settings = Settings(**overrides)
    runtime.configure(settings)
    frame = data.clean(data.parse_raw(data.read_source(settings.data_uri), settings.data_uri))
    started = time.perf_counter()
    trained = engine.train((make_family or families.create)(name, settings), frame, settings)
    scores = trained.scores
    return {"family": name, "mae_h1": scores.mae_h1, "mape_h1": scores.mape_h1, "mae_mean": scores.mae_mean,
            "epochs": trained.fit.epochs, "seconds": time.perf_counter() - started,
            "fit_seconds": trained.fit_seconds, "mae_by_horizon": scores.mae_by_horizon,
            "forecasts": trained.forecasts.tolist()}


def render(results: list[dict], protocol: str, wall: float, workers: int, window_order: str, recipe: str) -> str:
    from pipeline.config import Settings

    defaults = Settings()
    lines = [
        f"# Leaderboard — protocol `{protocol}`",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {describe()}; "
        f"{workers} families trained at a time, one TensorFlow thread each; wall time {wall / 60:.1f} min.",
        "As of 2019-05-31; every family scored on the same targets 2019-03-01..2019-05-31 at every horizon "
        "(rolling origins). Keras families: batch 32, up to 500 epochs, early stopping on validation MAE "
        "(patience 50, best weights restored), seed 42; training windows in "
        f"the `{window_order}` order (pipeline/families/batches.py). Recipe `{recipe}`: "
        + RECIPE_TEXT[recipe].format(robust=f"Adam at {defaults.robust_learning_rate:g} on Huber with its threshold "
                                            f"at {defaults.robust_huber_delta:,.0f} riders",
                                     chapter=f"SGD(momentum 0.9) at the chapter's learning rates on Keras' Huber() "
                                             f"(threshold {defaults.scale:,.0f} riders)"),
        "Protocol `chapter`: early stopping on the whole validation split 2019-01..05, as the book does "
        "(optimistic: it sees the scored days). Protocol `honest`: early stopping on 2019-01-01..02-28 only.",
        "",
        "| family | MAE h=1 | MAPE h=1 | mean MAE h=1..14 | chapter's value | epochs run | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(results, key=lambda r: r["mae_mean"]):
        chapter = CHAPTER.get(r["family"])
        chapter_text = f"{chapter:,}" if chapter else "— (5 epochs in the book)" if r["family"] in CHAPTER else "—"
        if r["family"] in CHAPTER_NOTE:
            chapter_text += f" ({CHAPTER_NOTE[r['family']]})"
        lines.append(f"| {r['family']} | {r['mae_h1']:,.0f} | {r['mape_h1']:.2f} % | {r['mae_mean']:,.0f} | "
                     f"{chapter_text} | {r['epochs']} | {r['seconds']:.0f} |")
    lines += ["", f"Total training time (sum over families): {sum(r['seconds'] for r in results) / 60:.1f} min."]
    runs = sorted({r.get("run_at", "") for r in results})
    if len(runs) > 1:  # --merge: say which rows were measured when
        lines += ["", "Rows measured in separate runs (--merge), UTC: " + "; ".join(
            f"{run}: " + ", ".join(r["family"] for r in results if r.get("run_at", "") == run)
            for run in runs) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", default="chapter", choices=["chapter", "honest"])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--families", default="")
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--window-order", default="chapter", choices=["chapter", "uniform"])
    parser.add_argument("--recipe", default="family", choices=RECIPES)
    parser.add_argument("--merge", action="store_true",
                        help="keep the file's rows of families not named in --families (a new family's row)")
    args = parser.parse_args()
    from pipeline import families
    from pipeline.config import DEFAULT_FAMILIES

    names = [n for n in args.families.split(",") if n] or list(families.FAMILIES)
    overrides = {"protocol": args.protocol, "epochs": args.epochs, "tf_threads": 1,
                 "window_order": args.window_order, "recipe": args.recipe}
    started = time.perf_counter()
    # leaderboard.md is the chapter's setting; any other setting is named in the file name
    departures = [value for value in (args.protocol, args.window_order) if value != "chapter"]
    departures += [args.recipe] if args.recipe != "family" else []
    filename = "-".join(["leaderboard", *departures]) + ".md"
    out = ROOT / "bench" / "results" / filename
    out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    if args.merge and out.with_suffix(".json").exists():
        first_run = re.search(r"Run (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", out.read_text()).group(1)
        results = [{"run_at": first_run, **r} for r in json.loads(out.with_suffix(".json").read_text())
                   if r["family"] not in names]
    # slowest first (the default family order), so that the pool's tail is short
    order = sorted(names, key=lambda n: DEFAULT_FAMILIES.index(n) if n in DEFAULT_FAMILIES else len(DEFAULT_FAMILIES))
    print(f"{len(order)} families on {describe()}, {args.workers} at a time", flush=True)
    with ProcessPoolExecutor(max_workers=args.workers) as pool, tqdm(total=len(order), unit="family") as bar:
        futures = {pool.submit(train_one, name, overrides): name for name in order}
        bar.set_postfix_str(f"training {', '.join(order[:args.workers])}")
        for future in as_completed(futures):
            result = {**future.result(), "run_at": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}"}
            results.append(result)
            bar.write(f"{result['family']:16s} h1 {result['mae_h1']:9,.0f}  mean {result['mae_mean']:9,.0f}  "
                      f"epochs {result['epochs']:3d}  {result['seconds']:6.0f} s")
            bar.update()
            running = [futures[f] for f in futures if f.running()]
            bar.set_postfix_str(f"training {', '.join(running)}" if running else "")
            # written after every family, so that an interrupted run keeps what it measured
            out.write_text(render(results, args.protocol, time.perf_counter() - started, args.workers,
                                   args.window_order, args.recipe))
            out.with_suffix(".json").write_text(json.dumps(results))
    print(out.read_text())


if __name__ == "__main__":
    main()
