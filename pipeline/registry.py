"""The model registry and its gate: the champion alias only ever moves to a better model.

The best candidate of a pipeline run is registered as a new version of the registered
model, with its lineage and the gate's decision as tags set in the same call that creates
it; the alias moves only if the candidate beats the current champion re-scored on the same
origins, by more than the configured margin. A rerun with the same run key finds its
version and returns the recorded decision instead of registering twice.
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
from mlflow.exceptions import MlflowException

from pipeline import history, runtime, stores, tracking
from pipeline.config import Settings
from pipeline.errors import PromotionError
from pipeline.scoring import Scores, evaluate
from pipeline.serving import load_logged_family

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


def load_family(settings: Settings, version: str):
    """The family behind a registered version, through its pyfunc wrapper."""
    runtime.configure(settings)  # before the family's Keras model is loaded
    return load_logged_family(settings, f"models:/{settings.registered_model}/{version}")


def rescore(settings: Settings, version: str, frame: pd.DataFrame) -> Scores:
    family = load_family(settings, version)
    scores, _ = evaluate(family, frame, settings)
    return scores


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


def decide(candidate_mae: float, champion_mae: float | None, margin: float) -> tuple[bool, str]:
    if champion_mae is None:
        return True, "no champion yet"
    if not math.isfinite(champion_mae):
        return True, "the champion could not forecast the new origins"
    threshold = champion_mae * (1 - margin)
    if candidate_mae < threshold:
        return True, f"mean MAE {candidate_mae:,.0f} beats champion's {champion_mae:,.0f} (margin {margin:.1%})"
    return False, f"mean MAE {candidate_mae:,.0f} does not beat champion's {champion_mae:,.0f} (margin {margin:.1%})"


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


def _promote(settings: Settings, parent_run_id: str, run_key: str, frame: pd.DataFrame,
             tags: dict[str, str]) -> dict[str, Any]:
    mlflow_client = tracking.client(settings)
    previous = _existing_decision(settings, run_key)
    if previous:
        log.info("run key %s was already decided: %s", run_key, previous)
        return previous

    runs = [r for r in tracking.finished_family_runs(settings, parent_run_id)
            if math.isfinite(r.data.metrics.get("mae_mean", math.nan))]
    if not runs:
        raise PromotionError(f"no model family finished training in pipeline run {parent_run_id}; "
                             "the champion is unchanged")
    best = min(runs, key=lambda r: r.data.metrics["mae_mean"])
    family = best.data.tags[tracking.FAMILY_TAG]
    candidate_mae = best.data.metrics["mae_mean"]

    champion = current_champion(settings)
    champion_mae = None
    if champion is not None:
        champion_mae = rescore(settings, champion.version, frame).mae_mean
    promoted, reason = decide(candidate_mae, champion_mae, settings.promotion_margin)
    decision = "promoted" if promoted else "kept_champion"

    version_tags = {
        **tags,
        tracking.RUN_KEY_TAG: run_key,
        tracking.FAMILY_TAG: family,
        tracking.DECISION_TAG: decision,
        tracking.REASON_TAG: reason,
        tracking.CANDIDATE_MAE_TAG: f"{candidate_mae:.2f}",
        tracking.CANDIDATE_MAE_H1_TAG: f"{best.data.metrics.get('mae_h1', math.nan):.2f}",
        tracking.CHAMPION_VERSION_TAG: champion.version if champion else "",
        tracking.CHAMPION_MAE_TAG: f"{champion_mae:.2f}" if champion_mae is not None else "",
    }
    version = register(settings, best, version_tags)
    describe(settings, str(version), family, f"{decision}: {reason}. Candidate mean 14-day MAE "
             f"{candidate_mae:,.0f} riders, h=1 {best.data.metrics.get('mae_h1', math.nan):,.0f}, scored on "
             f"{settings.score_start}..{settings.as_of}.")
    if promoted:
        tracking.with_retries(settings, lambda: mlflow_client.set_registered_model_alias(
            settings.registered_model, settings.champion_alias, version), "move the champion alias")
        history.record(settings, str(version), family, "promoted", reason, "gate")
    result = {"decision": decision, "reason": reason, "version": str(version), "family": family,
              "candidate_run_id": best.info.run_id, "candidate_mae_mean": candidate_mae,
              "champion_version": champion.version if champion else None,
              "champion_mae_mean": champion_mae, "rerun": False}
    mlflow_client.set_tag(parent_run_id, tracking.DECISION_TAG, f"{decision}: version {version} ({family})")
    log.info("promotion: %s", result)
    return result


def register(settings: Settings, run, tags: dict[str, str]) -> str:
    """A new version of the registered model (created on first use) from the logged model of
    family run `run`; returns its number."""
    mlflow_client = tracking.client(settings)
    try:
        mlflow_client.create_registered_model(settings.registered_model)
    except MlflowException as exc:
        if "ALREADY_EXISTS" not in str(exc.error_code):
            raise
    model_id = run.data.tags[tracking.MODEL_URI_TAG].removeprefix("models:/")
    source = mlflow_client.get_logged_model(model_id).artifact_location
    return str(tracking.with_retries(settings, lambda: mlflow_client.create_model_version(
        settings.registered_model, source=source, run_id=run.info.run_id, tags=tags, model_id=model_id,
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
            earlier = [e for e in history.events(settings) if current is None or e["version"] != str(current.version)]
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
        for key, value in {"ridership.rollback_reason": reason, "ridership.rollback_by": who,
                           "ridership.rollback_at": when,
                           "ridership.rolled_back_from": str(current.version) if current else ""}.items():
            mlflow_client.set_model_version_tag(settings.registered_model, str(to_version), key, value)
        mlflow_client.set_registered_model_alias(settings.registered_model, settings.champion_alias, str(to_version))
        family = target.tags.get(tracking.FAMILY_TAG, "")
        history.record(settings, str(to_version), family, "rollback", reason, who)
    result = {"version": str(to_version), "family": family, "from_version": str(current.version) if current else None,
              "reason": reason, "by": who, "at": when, "as_of": target.tags.get(tracking.AS_OF_TAG)}
    log.warning("champion rolled back: %s", result)
    return result
