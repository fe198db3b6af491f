"""Benchmark (not a test): one family trained with a variation of its recipe.

    .venv/bin/python bench/recipe_variants.py FAMILY [--seed 42] [--recipe family|chapter|robust]
        [--optimizer sgd|adam] [--learning-rate X] [--clipnorm X] [--plateau EPOCHS] [--epochs 500]
        [--seq-length-factor N] [--protocol chapter|honest] [--window-order chapter|uniform]
        [--huber-delta RIDERS] [--loss huber|mae] [--dilations 1,2,4,8,1,2,4,8]
        [--stop-on all-steps|last-step]

The recipe (Settings.recipe) sets the optimizer, learning rate and loss; the other options change
one of them.

Trains and scores like bench/leaderboard.py (same windows, scoring, early stopping) with the
given changes, prints one JSON line and appends it to bench/results/recipe-variants.jsonl.
What was tried and what it decided: bench/results/recipe-variants.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from leaderboard import train_one  # noqa: E402

from pipeline.config import RECIPES  # noqa: E402


def variant(base: type, args: argparse.Namespace) -> type:
    """`base` with the recipe changes asked for on the command line."""
    import keras

    def optimizer(self):
        clip = {"clipnorm": args.clipnorm} if args.clipnorm else {}
        learning_rate = args.learning_rate or self.optimizer_learning_rate
        if (args.optimizer or ("adam" if self.robust else "sgd")) == "adam":
            return keras.optimizers.Adam(learning_rate=learning_rate, **clip)
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9, **clip)

    def extra_callbacks(self, monitor):
        if not args.plateau:
            return []
        return [keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode="min", factor=0.5, patience=args.plateau)]

    def last_step_mae(y_true, y_pred):
        return keras.ops.mean(keras.ops.abs(y_true[:, -1] - y_pred[:, -1]), axis=-1)

    def stopping_metrics(self):
        return ["mae", last_step_mae], "val_last_step_mae"

    attrs = {"extra_callbacks": extra_callbacks}
    if args.stop_on == "last-step":
        attrs["stopping_metrics"] = stopping_metrics
    if args.optimizer or args.clipnorm or args.learning_rate:
        attrs["optimizer"] = optimizer
    if args.loss == "mae":
        attrs["loss"] = lambda self: keras.losses.MeanAbsoluteError()
    if args.seq_length_factor:
        attrs["seq_length_factor"] = args.seq_length_factor
    if args.dilations:
        attrs["dilations"] = tuple(int(rate) for rate in args.dilations.split(","))
    return type(base.__name__, (base,), attrs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("family")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--recipe", choices=RECIPES, default="family")
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default=None, help="default: the recipe's")
    parser.add_argument("--learning-rate", type=float, default=0.0, help="0: the recipe's")
    parser.add_argument("--clipnorm", type=float, default=0.0)
    parser.add_argument("--plateau", type=int, default=0, help="halve the learning rate after N flat epochs")
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--huber-delta", type=float, default=0.0,
                        help="the robust recipe's Huber threshold in riders; 0: Settings' default")
    parser.add_argument("--loss", choices=["huber", "mae"], default="huber")
    parser.add_argument("--seq-length-factor", type=int, default=0, help="0: the family's own")
    parser.add_argument("--dilations", default="", help="a WaveNet's dilation rates; empty: the family's own")
    parser.add_argument("--stop-on", choices=["all-steps", "last-step"], default="all-steps",
                        help="a seq2seq family's early stopping: MAE over every step or the last one")
    parser.add_argument("--protocol", choices=["chapter", "honest"], default="chapter")
    parser.add_argument("--window-order", choices=["chapter", "uniform"], default="chapter")
    args = parser.parse_args()
    from pipeline import families

    if args.stop_on == "last-step" and getattr(families.family_class(args.family), "mode", None) != "seq2seq":
        parser.error(f"--stop-on last-step needs a seq2seq family; {args.family} is not one")

    def make_family(name, settings):
        return families.build(variant(families.family_class(name), args), settings)

    overrides = {"protocol": args.protocol, "epochs": args.epochs, "seed": args.seed, "tf_threads": 1,
                 "window_order": args.window_order, "recipe": args.recipe,
                 **({"robust_huber_delta": args.huber_delta} if args.huber_delta else {})}
    result = train_one(args.family, overrides, make_family)
    line = {"family": args.family, "variant": {k: v for k, v in vars(args).items() if k != "family"},
            **{k: result[k] for k in ("mae_h1", "mae_mean", "epochs", "seconds")}}
    print(json.dumps(line))
    with open(ROOT / "bench" / "results" / "recipe-variants.jsonl", "a") as out:
        out.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
