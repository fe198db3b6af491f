"""One nightly training run, whoever drives it: migrate the stores, prepare (validate, clean,
materialize the windows), train every family stage after stage, then gate the best against the
champion. The training DAG runs the same steps as separate tasks (a mapped task per family); the
CLI, the replay benchmark and the tests call this, each with the executor that suits it.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass, field
from typing import Any, Callable

from pipeline.config import Settings
from pipeline.nightly import steps

Progress = Callable[[str], None]


@dataclass
class Night:
    """What one training run did: the settings at its data cutoff, the prepared run
    (steps.materialize_windows' result), each family's training (train_family's result less its
    backtest rows, or {"mode": "reused"} for a training the caller reused), the failures (family ->
    error) and the gate's decision (None when not promoted)."""

    settings: Settings
    run: dict[str, Any]
    trainings: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    decision: dict[str, Any] | None = None


class _InProcess(Executor):
    """Runs each call at submit, in this process (the CLI's and the tests' executor)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def train_all(settings: Settings, lineage: dict[str, Any] | None = None, executor: Executor | None = None,
              reuse: Callable[[Settings, dict[str, Any]], set[str]] | None = None,
              progress: Progress | None = None) -> Night:
    """Migrate, prepare and train every family of `settings.families`, one stage after the other
    (steps.stages_of), the families of a stage on `executor` (default: one after another in
    this process; a process pool runs them in parallel, as the DAG's mapped tasks do). `reuse(settings,
    run)` names trainings already finished for this run, which are not trained again. A family that
    fails is recorded in `failures` and left out of the gate, as in the DAG; the others go on.
    Raises what steps.prepare raises (bad data)."""
    say = progress or (lambda line: None)
    steps.migrate_stores(settings)
    settings, run = steps.prepare(settings, lineage)
    night = Night(settings, run)
    reused = reuse(settings, run) if reuse else set()
    night.trainings.update({name: {"mode": "reused"} for name in reused})
    executor = executor or _InProcess()
    for stage in steps.stages_of(run):
        todo = [family for family in stage if family not in reused]
        if not todo:
            continue
        say(f"training {', '.join(todo)}")
        futures = {executor.submit(steps.train_family, settings, family, run["manifest_uri"], run["parent_run_id"],
                                   lineage): family for family in todo}
        for future in as_completed(futures):
            family = futures[future]
            try:
                night.trainings[family] = result = {k: v for k, v in future.result().items() if k != "backtests"}
                say(f"{family}: {result['mode']} {result['seconds'] - result['backtest_seconds']:.0f} s, backtests "
                    f"{result['backtest_seconds']:.0f} s, recent MAE mean {result['mae_mean']:,.0f}")
            except Exception as exc:
                night.failures[family] = f"{type(exc).__name__}: {exc}"
                say(f"{family} failed: {night.failures[family]}")
    return night


def train_and_promote(settings: Settings, lineage: dict[str, Any] | None = None, executor: Executor | None = None,
                      reuse: Callable[[Settings, dict[str, Any]], set[str]] | None = None,
                      progress: Progress | None = None) -> Night:
    """train_all, then the gate (steps.promote_best) over what finished: the night's decision is in
    `Night.decision`. Raises PromotionError when no family finished."""
    night = train_all(settings, lineage, executor, reuse, progress)
    run = night.run
    night.decision = steps.promote_best(night.settings, run["manifest_uri"], run["parent_run_id"], run["run_key"],
                                        lineage)
    return night
