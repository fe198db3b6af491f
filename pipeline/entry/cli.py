"""`ridership` command line: the same steps the DAGs run, one command each.

    ridership migrate
    ridership validate [--data PATH|URL]
    ridership train FAMILY
    ridership promote
    ridership forecast
    ridership leaderboard
    ridership rollback [--to VERSION] --reason TEXT
    ridership champions

Every command accepts --as-of YYYY-MM-DD and --json. Expected failures (bad data, no
champion, ...) print one clear message and exit non-zero without a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any, Callable

from pipeline.entry import runtime
from pipeline.config import Settings, parse_date
from pipeline.errors import DataValidationError, RidershipError

EXIT_BAD_DATA = 2
EXIT_FAILED = 1
MODEL_COMMANDS = ("train", "promote", "forecast", "leaderboard")  # they train or load models
WRITING_COMMANDS = ("promote", "forecast", "rollback")  # the stores are migrated first (`train`: by its runner)


def cmd_migrate(settings: Settings, args) -> dict:
    from pipeline.nightly import steps

    return steps.migrate_stores(settings)


def cmd_validate(settings: Settings, args) -> dict:
    from pipeline.nightly import steps

    return {"valid": True, **steps.validate_source(settings)}  # a failure's JSON says "valid": false


def cmd_train(settings: Settings, args) -> dict:
    from pipeline.errors import TrainingError
    from pipeline.nightly import runner

    night = runner.train_all(settings.with_overrides(families=tuple(args.family)), {"trigger": "cli"})
    if night.failures:  # the others trained and were logged; the command still fails
        raise TrainingError("; ".join(f"{family} failed: {error}" for family, error in night.failures.items()))
    return {"trained": list(night.trainings.values()), **night.run}


def cmd_promote(settings: Settings, args) -> dict:
    from pipeline.nightly import steps

    return steps.promote_trained(settings, {"trigger": "cli"})


def cmd_forecast(settings: Settings, args) -> dict:
    from pipeline.nightly import steps

    # --data names the source to forecast from; without it, the last validated training snapshot
    return steps.forecast_from_source(settings) if args.data else steps.forecast_next(settings)


def cmd_rollback(settings: Settings, args) -> dict:
    import getpass

    from pipeline.nightly import steps

    return steps.rollback_champion(settings, args.reason, f"{getpass.getuser()} (cli)", args.to)


def cmd_champions(settings: Settings, args) -> dict:
    from pipeline.nightly import steps

    events = steps.champion_history(settings)
    lines = [f"v{e['version']:>4} {e['family']:<20} {e['since']:%Y-%m-%d %H:%M} .. "
             f"{e['until'].strftime('%Y-%m-%d %H:%M') if e['until'] else 'now':<16} {e['event']:<9} "
             f"{e['by']}: {e['reason']}" for e in events]
    return {"champions": events, "text": "\n".join(lines) or "no champion yet"}


def cmd_leaderboard(settings: Settings, args) -> dict:
    from pipeline.nightly import report

    return report.summary(settings)


COMMANDS: dict[str, Callable[[Settings, Any], dict]] = {
    "migrate": cmd_migrate, "validate": cmd_validate, "train": cmd_train, "promote": cmd_promote,
    "forecast": cmd_forecast, "leaderboard": cmd_leaderboard, "rollback": cmd_rollback,
    "champions": cmd_champions,
}


def _date(text: str):
    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r} ({exc})") from None


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--as-of", type=_date, help="data cutoff date, YYYY-MM-DD (default: RIDERSHIP_AS_OF or "
                                                    "2019-05-31)")
    common.add_argument("--data", help="data source path or URL (default: RIDERSHIP_DATA_URI)")
    common.add_argument("--epochs", type=int, help="maximum training epochs")
    common.add_argument("--json", action="store_true", help="print the result as JSON")
    top = argparse.ArgumentParser(prog="ridership", description=__doc__.split("\n\n")[0])
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", parents=[common], help="create or migrate the stores (every command that writes "
                                                      "does it first)")
    sub.add_parser("validate", parents=[common], help="validate the data source (exit 2 on bad data)")
    train = sub.add_parser("train", parents=[common], help="train model families and log them to MLflow")
    train.add_argument("family", nargs="+")
    sub.add_parser("promote", parents=[common],
                   help="register the best family the last `train` trained for that date and data; "
                        "move @champion if it wins")
    sub.add_parser("forecast", parents=[common], help="forecast the next days with the champion")
    sub.add_parser("leaderboard", parents=[common], help="the latest leaderboard, champion and forecast")
    rollback = sub.add_parser("rollback", parents=[common], help="move @champion back to an earlier version")
    rollback.add_argument("--to", help="the version (default: the champion before the current one)")
    rollback.add_argument("--reason", required=True, help="why (recorded with the version)")
    sub.add_parser("champions", parents=[common], help="the history of @champion: promotions and rollbacks")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env(as_of=args.as_of, data_uri=args.data, epochs=args.epochs)
        runtime.configure(settings, models=args.command in MODEL_COMMANDS)
        if args.command in WRITING_COMMANDS:
            from pipeline.nightly import steps

            steps.migrate_stores(settings)
        result = COMMANDS[args.command](settings, args)
    except DataValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if args.json:  # the report, failed expectations and all, for whatever reads the JSON
            print(json.dumps({"valid": False, "error": str(exc), "failures": exc.failures,
                              "data_docs_uri": exc.data_docs_uri}, indent=2, default=str))
        return EXIT_BAD_DATA
    except (RidershipError, ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # a KeyError's str() is quoted
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_DATA if args.command == "validate" else EXIT_FAILED
    print(json.dumps(result, indent=2, default=str) if args.json else _human(args.command, result))
    return 0


def _human(command: str, result: dict) -> str:
    if command in ("leaderboard", "champions"):
        return result["text"]
    return "\n".join(f"{k}: {v}" for k, v in result.items() if not isinstance(v, (list, dict))) or str(result)


if __name__ == "__main__":
    sys.exit(main())
