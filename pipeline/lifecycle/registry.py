"""The model registry and its gate: the champion alias only ever moves to a better model.

The best candidate of a pipeline run is registered as a new version of the registered
model, with its lineage and the gate's decision as tags set in the same call that creates
it; the alias moves only if the candidate beats the current champion re-scored on the same
origins, by more than the configured margin. A rerun with the same run key finds its
version and returns the recorded decision instead of registering twice.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from pipeline.io import champion_history, stores
from pipeline.lifecycle import tracking
from pipeline.modelling import selection
from pipeline.config import Settings
from pipeline.errors import PromotionError
from pipeline.modelling.scoring import Scores
from pipeline.lifecycle.logged_models import load_logged_family, log_family_model

log = logging.getLogger(__name__)

# An arbitrary 64-bit key naming the promotion lock among PostgreSQL advisory locks.
PROMOTION_LOCK_KEY = 0x72696465727368  # "ridersh"


def current_champion(settings: Settings):
    mlflow_client = tracking.client(settings)
    try:
        return mlflow_client.get_model_version_by_alias(settings.registered_model, settings.champion_alias)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc).lower():
            return None
        raise


def champion_for(settings: Settings, as_of) -> object | None:
    """The version that was champion on the night of `as_of`.

    Normally the current @champion; when replaying an earlier date (a backfill or a rerun)
    after the alias has moved on, the latest version promoted by a run as of that date or
    before, so that replaying history reproduces it.
    """
    champion = current_champion(settings)
    day = as_of.isoformat()
    if champion is None or champion.tags.get(tracking.AS_OF_TAG, "") <= day:
        return champion
    promoted = [v for v in tracking.client(settings).search_model_versions(
        f"name = '{settings.registered_model}' and tags.`{tracking.DECISION_TAG}` = 'promoted'")
        if v.tags.get(tracking.AS_OF_TAG, "") <= day]
    return max(promoted, key=lambda v: (v.tags[tracking.AS_OF_TAG], int(v.version)), default=None)


def latest_training(settings: Settings, as_of) -> tuple[str, str] | None:
    """(parent run id, as-of date) of the latest training the gate decided on, as of `as_of` or
    before; None before any."""
    day = as_of.isoformat()
    versions = [v for v in tracking.client(settings).search_model_versions(f"name = '{settings.registered_model}'")
                if v.tags.get(tracking.AS_OF_TAG, "") <= day and v.tags.get(tracking.PARENT_RUN_TAG)]
    latest = max(versions, key=lambda v: (v.tags[tracking.AS_OF_TAG], int(v.version)), default=None)
    return (latest.tags[tracking.PARENT_RUN_TAG], latest.tags[tracking.AS_OF_TAG]) if latest else None


def load_family(settings: Settings, version: str):
    """The family behind a registered version, through its pyfunc wrapper."""
    return load_logged_family(settings, f"models:/{settings.registered_model}/{version}")


def _existing_decision(settings: Settings, run_key: str) -> dict | None:
    versions = tracking.client(settings).search_model_versions(
        f"name = '{settings.registered_model}' and tags.`{tracking.RUN_KEY_TAG}` = '{run_key}'"
    )
    for mv in versions:
        if tracking.DECISION_TAG in mv.tags:
            return {"decision": mv.tags[tracking.DECISION_TAG], "reason": mv.tags.get(tracking.REASON_TAG, ""),
                    "version": str(mv.version), "family": mv.tags.get(tracking.FAMILY_TAG),
                    "rerun": True}
    return None


@contextmanager
def promotion_lock(settings: Settings) -> Iterator[None]:
    """Held while a promotion decides, so that two (the CLI, the training DAG, a rollback) never
    decide at once: the second waits, then finds the first's decision.

    With the forecast table on PostgreSQL (the production topology, shared by every worker): a
    session-level advisory lock there. Otherwise (the embedded default, one machine): an exclusive
    lock on `promotion.lock` under the home directory.
    """
    if settings.forecast_db_uri.startswith("postgresql"):
        import sqlalchemy as sa

        with sa.create_engine(settings.forecast_db_uri).connect() as connection:
            connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": PROMOTION_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": PROMOTION_LOCK_KEY})
        return
    with stores.file_lock(Path(settings.home) / "promotion.lock"):
        yield


def promote(settings: Settings, parent_run_id: str, run_key: str, frame: pd.DataFrame,
            tags: dict[str, str]) -> dict[str, Any]:
    """Pick the best finished family run under the parent and gate it against the champion,
    holding the promotion lock."""
    with promotion_lock(settings):
        return _promote(settings, parent_run_id, run_key, frame, tags)


COMBINATION = "combination"


def candidate_runs(settings: Settings, parent_run_id: str) -> list:
    """The family runs the gate chooses among: finished, with a finite mean MAE, not a combination."""
    return [r for r in tracking.finished_family_runs(settings, parent_run_id)
            if math.isfinite(r.metrics.get("mae_mean", math.nan)) and r.family != COMBINATION]


def spec_of(version) -> dict[str, float]:
    """What a registered version forecasts with: {family: weight} (one family: weight 1)."""
    text = version.tags.get(tracking.COMBINATION_TAG)
    if text:
        return {k: float(v) for k, v in json.loads(text).items()}
    return {version.tags.get(tracking.FAMILY_TAG, ""): 1.0}


def _describe_spec(spec: dict[str, float]) -> str:
    return " + ".join(f"{w:.2f} {name}" for name, w in sorted(spec.items(), key=lambda kv: -kv[1]))


def _promote(settings: Settings, parent_run_id: str, run_key: str, frame: pd.DataFrame,
             tags: dict[str, str]) -> dict[str, Any]:
    previous = _existing_decision(settings, run_key)
    if previous:
        log.info("run key %s was already decided: %s", run_key, previous)
        return previous

    runs = {r.family: r for r in candidate_runs(settings, parent_run_id)}
    if not runs:
        raise PromotionError(f"no model family finished training in pipeline run {parent_run_id}; "
                             "the champion is unchanged")
    gate = gather_evidence(settings, runs, frame)
    challenger = selection.greedy_weights(gate.evidence, settings.combination_rounds, settings.combination_tolerance)
    champion = current_champion(settings)
    chosen, decision, reason, comparison = challenger, "promoted", "no champion yet", None
    if champion is not None:
        incumbent = spec_of(champion)
        missing = sorted(set(incumbent) - set(gate.evidence.candidates))
        if not missing:
            comparison = selection.compare(gate.evidence, incumbent, challenger)
            if incumbent == challenger:
                chosen, reason = incumbent, "the champion's combination is still the best; refitted on the new data"
            elif comparison.wins(settings.promotion_margin, settings.promotion_z):
                reason = (f"backtest loss {comparison.improvement:.1%} below the champion's combination "
                          f"(t = {comparison.t:.2f} >= {settings.promotion_z})")
            else:
                chosen = incumbent
                reason = (f"the champion's combination, refitted: the challenger ({_describe_spec(challenger)}) is "
                          f"{comparison.improvement:.1%} better on the backtests, t = {comparison.t:.2f}, not clearly "
                          f"(needs > {settings.promotion_margin:.1%} and t >= {settings.promotion_z})")
        else:  # the champion's recipe cannot be refitted tonight: the challenger must beat the version itself
            comparison = compare_with_version(settings, champion.version, gate, challenger, frame)
            if not comparison.wins(settings.promotion_margin, settings.promotion_z):
                decision = "kept_champion"
            reason = (f"{', '.join(missing)} of the champion's combination did not finish tonight; the challenger "
                      f"is {comparison.improvement:.1%} better than version {champion.version} on the recent window "
                      f"(t = {comparison.t:.2f}): {'promoted' if decision == 'promoted' else 'kept the champion'}")
    scores = gate.scores(chosen)
    version_tags = {
        **tags,
        tracking.RUN_KEY_TAG: run_key,
        tracking.DECISION_TAG: decision,
        tracking.REASON_TAG: reason[:5000],
        tracking.CANDIDATE_MAE_TAG: f"{scores.mae_mean:.2f}",
        tracking.CANDIDATE_MAE_H1_TAG: f"{scores.mae_h1:.2f}",
        tracking.CHAMPION_VERSION_TAG: champion.version if champion else "",
        tracking.CHAMPION_MAE_TAG: f"{comparison.incumbent_loss:.6f}" if comparison else "",
        tracking.COMBINATION_TAG: json.dumps(chosen, sort_keys=True),
        tracking.BACKTEST_SCORES_TAG: gate.summary(chosen, challenger, comparison)[:8000],
    }
    run = runs[next(iter(chosen))] if len(chosen) == 1 else log_combination(settings, parent_run_id, runs, chosen, gate,
                                                                             frame, tags)
    family = next(iter(chosen)) if len(chosen) == 1 else COMBINATION
    version_tags[tracking.FAMILY_TAG] = family
    version = register(settings, run, version_tags)
    describe(settings, str(version), family, f"{decision}: {reason}. Forecasts with {_describe_spec(chosen)}; "
             f"recent-window mean 14-day MAE {scores.mae_mean:,.0f} riders, h=1 {scores.mae_h1:,.0f} "
             f"({settings.score_start}..{settings.as_of}); backtest windows: "
             + "; ".join(f"{w.name} {w.first_target}..{w.last_target} weight {w.weight:g}" for w in gate.windows))
    if decision == "promoted":
        tracking.with_retries(settings, lambda: tracking.client(settings).set_registered_model_alias(
            settings.registered_model, settings.champion_alias, version), "move the champion alias")
        champion_history.record(settings, str(version), family, "promoted", reason, "gate")
    result = {"decision": decision, "reason": reason, "version": str(version), "family": family,
              "members": chosen, "challenger": challenger, "candidate_run_id": run.run_id,
              "candidate_mae_mean": scores.mae_mean, "candidate_mae_h1": scores.mae_h1,
              "champion_version": champion.version if champion else None,
              "comparison": comparison.__dict__ if comparison else None,
              "windows": [w.describe() for w in gate.windows], "dropped": gate.evidence.dropped, "rerun": False}
    tracking.client(settings).set_tag(parent_run_id, tracking.DECISION_TAG,
                                      f"{decision}: version {version} ({_describe_spec(chosen)})")
    tracking.log_artifact_bytes(settings, parent_run_id, "backtests.md", gate.markdown(chosen, challenger).encode())
    log.info("promotion: %s", result)
    return result


@dataclass
class GateEvidence:
    """The backtest windows (weighted), each candidate's rows on them and the evidence built on them."""
    windows: list
    tables: dict[str, pd.DataFrame]
    evidence: selection.Evidence
    recent: dict[str, pd.DataFrame]  # each candidate's scoring-window forecasts (origin x horizon)
    settings: Settings
    actual: pd.Series

    def scores(self, spec: dict[str, float]) -> Scores:
        """The combination's scores on the recent window (scoring.score)."""
        from pipeline.modelling.scoring import score, scoring_origins

        total = sum(spec.values())
        forecasts = sum(w / total * self.recent[name].to_numpy(float) for name, w in spec.items())
        return score(forecasts, scoring_origins(self.settings), self.actual, self.settings)

    def window_maes(self, spec: dict[str, float]) -> dict[str, float]:
        errors = np.abs(self.evidence.combined_errors(spec))
        return {w: float(errors[np.asarray(rows)].mean())
                for w, rows in self.evidence.pairs.groupby("window", sort=False).groups.items()}

    def summary(self, chosen, challenger, comparison) -> str:
        return json.dumps({
            "windows": [w.describe() for w in self.windows],
            "mae": {name: {w: round(v) for w, v in self.window_maes({name: 1.0}).items()}
                    for name in self.evidence.candidates},
            "chosen": chosen, "challenger": challenger, "dropped": self.evidence.dropped,
            "comparison": {k: round(v, 4) for k, v in comparison.__dict__.items()} if comparison else None})

    def markdown(self, chosen, challenger) -> str:
        names = [w.name for w in self.windows if w.weight > 0]
        lines = ["| window | fit cutoff | origins | targets | weight | note |", "|---|---|---|---|---:|---|"]
        lines += [f"| {w.name} | {w.fit_cutoff} | {w.origins[0].date()}..{w.origins[-1].date()} | "
                  f"{w.first_target}..{w.last_target} | {w.weight:g} | {w.note} |" for w in self.windows]
        lines += ["", "| candidate | " + " | ".join(f"MAE {n}" for n in names) + " | loss | weight |",
                  "|---|" + "---:|" * (len(names) + 2)]
        rows = [("chosen: " + _describe_spec(chosen), chosen), ("challenger: " + _describe_spec(challenger), challenger)]
        rows += [(name, {name: 1.0}) for name in self.evidence.candidates]
        for label, spec in rows:
            maes = self.window_maes(spec)
            weight = chosen.get(label, 0.0) if label in self.evidence.candidates else 1.0
            lines.append(f"| {label} | " + " | ".join(f"{maes.get(n, math.nan):,.0f}" for n in names)
                         + f" | {self.evidence.loss(spec):.4f} | {weight:.2f} |")
        lines += [f"| {name} | dropped: {why} |" for name, why in self.evidence.dropped.items()]
        return "\n".join(lines) + "\n"


def gather_evidence(settings: Settings, runs: dict, frame: pd.DataFrame) -> GateEvidence:
    """Each candidate run's backtest rows (its recent window alone for a run from before
    backtests) and the evidence on the weighted windows. Without any candidate on the seasonal
    windows, the recent window alone decides."""
    from pipeline.modelling import backtest

    actual = frame.loc[: pd.Timestamp(settings.as_of), settings.target]
    windows = backtest.weighted([backtest.recent_window(settings)] + backtest.seasonal_windows(settings),
                                actual, settings)
    recent, tables = {}, {}
    for name, run in runs.items():
        recent[name] = tracking.validation_forecasts(settings, run.run_id)
        logged = tracking.backtest_forecasts(settings, run.run_id)
        tables[name] = logged if logged is not None else backtest.forecast_table(windows[0], recent[name].to_numpy())
    weights = {w.name: w.weight for w in windows}
    try:
        ev = selection.evidence(tables, actual, weights)
    except ValueError:
        windows = windows[:1]
        ev = selection.evidence(tables, actual, {windows[0].name: 1.0})
    return GateEvidence(windows, tables, ev, recent, settings, actual)


def compare_with_version(settings: Settings, version: str, gate: GateEvidence, challenger: dict[str, float],
                         frame: pd.DataFrame) -> selection.Comparison:
    """The challenger against a registered version on the recent window (whose targets lie after
    the version's fit): the version re-scored there, paired on the same targets."""
    from pipeline.modelling import backtest

    family = load_family(settings, version)
    window = gate.windows[0]
    history = frame.loc[: pd.Timestamp(settings.as_of)]
    rows = backtest.forecast_table(window, family.forecast(history, window.origins))
    recent = {name: table[table["window"] == window.name] for name, table in gate.tables.items()
              if name in challenger}
    ev = selection.evidence({**recent, VERSION: rows}, gate.actual, {window.name: 1.0})
    return selection.compare(ev, {VERSION: 1.0}, challenger)


VERSION = "@champion version"


def log_combination(settings: Settings, parent_run_id: str, runs: dict, spec: dict[str, float],
                    gate: GateEvidence, frame: pd.DataFrame, tags: dict[str, str]):
    """Build the combination of the runs' fitted families with `spec`'s weights, with split-conformal
    intervals from its recent-window residuals, and log it as a run under the parent (metrics on the
    recent window, its backtest rows, the model). Returns the run."""
    from pipeline.families.combination import Combination
    from pipeline.modelling.scoring import conformal_halfwidths, scoring_origins

    members = {name: load_logged_family(settings, runs[name].model_uri) for name in spec}
    combination = Combination.of(settings.problem, members, spec)
    total = sum(spec.values())
    forecasts = sum(w / total * gate.recent[name].to_numpy(float) for name, w in spec.items())
    combination.intervals = conformal_halfwidths(forecasts, scoring_origins(settings), gate.actual, settings)
    scores = gate.scores(spec)
    run_tags = {**tags, tracking.COMBINATION_TAG: json.dumps(spec, sort_keys=True),
                tracking.ADOPTED_MEMBERS_TAG: json.dumps({n: runs[n].run_id for n in spec})}
    run_id = tracking.start_family_run(settings, parent_run_id, COMBINATION, run_tags)
    with tracking.failing_run(settings, run_id):
        tracking.log_params(settings, run_id, {**combination.params(), "family": COMBINATION,
                                               "as_of": settings.as_of, "horizon": settings.horizon})
        tracking.log_validation_forecasts(settings, run_id, forecasts)
        tracking.log_metrics(settings, run_id, {**scores.metrics(), "epochs": 0})
        table = gate.evidence.pairs[selection.KEYS + ["target_date"]].assign(
            forecast=gate.evidence.pairs["actual"].to_numpy() + gate.evidence.combined_errors(spec))
        tracking.log_artifact_bytes(settings, run_id, tracking.BACKTEST_FORECASTS, table.to_csv(index=False).encode())
        log_family_model(settings, run_id, combination, frame.loc[: pd.Timestamp(settings.as_of)])
    return tracking.client(settings).get_run(run_id)


def register(settings: Settings, run, tags: dict[str, str]) -> str:
    """A new version of the registered model (created on first use) from the logged model of
    family run `run`; returns its number."""
    mlflow_client = tracking.client(settings)
    try:
        mlflow_client.create_registered_model(settings.registered_model)
    except MlflowException as exc:
        if "ALREADY_EXISTS" not in str(exc.error_code):
            raise
    model_id = run.model_uri.removeprefix("models:/")
    source = mlflow_client.get_logged_model(model_id).artifact_location
    return str(tracking.with_retries(settings, lambda: mlflow_client.create_model_version(
        settings.registered_model, source=source, run_id=run.run_id, tags=tags, model_id=model_id,
    ), "register the candidate").version)


MODEL_DESCRIPTION = ("Daily CTA rail boardings for the {horizon} days after the last day of data, "
                     "with 80 % and 95 % prediction intervals. @{alias} is the version the nightly gate "
                     "promoted (best mean 14-day MAE, never worse than the champion it replaced) or an "
                     "operator rolled back to; `ridership champions` lists the history.")


def describe(settings: Settings, version: str, family: str, decision: str) -> None:
    """Descriptions an operator reads in the MLflow UI: the model's, and this version's (family,
    as-of date, the gate's decision and numbers)."""
    mlflow_client = tracking.client(settings)
    mlflow_client.update_registered_model(settings.registered_model, description=MODEL_DESCRIPTION.format(
        horizon=settings.horizon, alias=settings.champion_alias))
    mlflow_client.update_model_version(settings.registered_model, version,
                                       description=f"{family}, trained on data up to {settings.as_of}. {decision}")


def rollback(settings: Settings, reason: str, who: str, to_version: str | None = None) -> dict[str, Any]:
    """Move @champion back to `to_version`, by default the champion before the current one.

    The version must have been through the gate (it carries a decision); the move is recorded in
    the champion history and as tags on the version (who, when, why, from which version). Raises
    PromotionError for an unknown version, one the gate never validated, the current champion,
    an empty reason, or no earlier champion to go back to.
    """
    if not reason.strip():
        raise PromotionError("a rollback needs a reason (it is recorded with the version)")
    with promotion_lock(settings):
        mlflow_client = tracking.client(settings)
        current = current_champion(settings)
        if to_version is None:
            earlier = [e for e in champion_history.events(settings) if current is None or e["version"] != str(current.version)]
            if not earlier:
                raise PromotionError("no earlier champion to roll back to: give --to VERSION")
            to_version = earlier[-1]["version"]
        try:
            target = mlflow_client.get_model_version(settings.registered_model, str(to_version))
        except MlflowException as exc:
            raise PromotionError(f"model {settings.registered_model!r} has no version {to_version}") from exc
        if tracking.DECISION_TAG not in target.tags:
            raise PromotionError(f"version {to_version} was never validated by the gate (it has no "
                                 f"{tracking.DECISION_TAG} tag): refusing to make it the champion")
        if current is not None and str(current.version) == str(to_version):
            raise PromotionError(f"version {to_version} is already the champion")
        when = pd.Timestamp.now(tz="UTC").isoformat()
        for key, value in {tracking.ROLLBACK_REASON_TAG: reason, tracking.ROLLBACK_BY_TAG: who,
                           tracking.ROLLBACK_AT_TAG: when,
                           tracking.ROLLED_BACK_FROM_TAG: str(current.version) if current else ""}.items():
            mlflow_client.set_model_version_tag(settings.registered_model, str(to_version), key, value)
        mlflow_client.set_registered_model_alias(settings.registered_model, settings.champion_alias, str(to_version))
        family = target.tags.get(tracking.FAMILY_TAG, "")
        champion_history.record(settings, str(to_version), family, "rollback", reason, who)
    result = {"version": str(to_version), "family": family, "from_version": str(current.version) if current else None,
              "reason": reason, "by": who, "at": when, "as_of": target.tags.get(tracking.AS_OF_TAG)}
    log.warning("champion rolled back: %s", result)
    return result
