"""MLflow: one parent run per pipeline run, one nested run per family, the registry and its gate."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import pandas as pd
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient

from pipeline.io import stores
from pipeline.config import PROJECT_ROOT, Settings
from pipeline.errors import RidershipError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Tag names, here only. Runs:
RUN_KEY_TAG = "ridership.run_key"
AS_OF_TAG = "ridership.as_of"
FAMILY_TAG = "ridership.family"
DATA_HASH_TAG = "ridership.data_hash"
WINDOWS_MANIFEST_TAG = "ridership.windows_manifest"
DRIFTED_TAG = "ridership.drifted"
KIND_TAG = "ridership.kind"
ERROR_TAG = "ridership.error"
PARENT_RUN_TAG = "ridership.parent_run_id"
MODEL_URI_TAG = "ridership.model_uri"
ADOPTED_MEMBERS_TAG = "ridership.adopted_members"
TRAINING_MODE_TAG = "ridership.training_mode"  # warmstart.WARM or SCRATCH
TRAINING_MODE_REASON_TAG = "ridership.training_mode_reason"
WARM_FROM_RUN_TAG = "ridership.warm_started_from"  # the run whose model a warm start continued
WARM_STARTS_TAG = "ridership.warm_starts"  # warm starts in a row up to this run (0: from scratch)
WARM_KEY_TAG = "ridership.warm_key"
WARM_KEY_PARTS_TAG = "ridership.warm_key_parts"  # JSON: what the key hashes, to name what changed
# ... and registered versions (the gate's decision):
DECISION_TAG = "ridership.decision"
REASON_TAG = "ridership.decision_reason"
CANDIDATE_MAE_TAG = "ridership.candidate_mae_mean"
CANDIDATE_MAE_H1_TAG = "ridership.candidate_mae_h1"
CHAMPION_VERSION_TAG = "ridership.champion_version"
CHAMPION_MAE_TAG = "ridership.champion_mae_mean"
BACKTEST_TAG = "ridership.backtest"  # a refit for a backtest window: the window's name
BACKTESTS_TAG = "ridership.backtests"  # JSON: a family run's backtest windows and where each fit came from
COMBINATION_TAG = "ridership.combination"  # JSON {family: weight} of a combination run and its version
BACKTEST_SCORES_TAG = "ridership.backtest_scores"  # JSON: the gate's windows and each candidate's loss
ROLLBACK_REASON_TAG = "ridership.rollback_reason"  # on the version a rollback restored: why, who, when, from
ROLLBACK_BY_TAG = "ridership.rollback_by"
ROLLBACK_AT_TAG = "ridership.rollback_at"
ROLLED_BACK_FROM_TAG = "ridership.rolled_back_from"
MODEL_NAME_IN_RUN = "model"
METRICS_PER_BATCH = 900  # MLflow accepts at most 1000 metrics per log_batch


class TrackingUnavailable(RidershipError):
    """The MLflow tracking server did not answer within the configured retries."""


def with_retries(settings: Settings, action: Callable[[], T], what: str) -> T:
    """Retry transient tracking failures with exponential backoff, then fail with a clear error."""
    delay = 1.0
    for attempt in range(1, settings.mlflow_retries + 1):
        try:
            return action()
        except (MlflowException, OSError, ConnectionError) as exc:
            if isinstance(exc, RestException) and exc.get_http_status_code() < 500:
                raise  # a real answer from the server, not an outage
            if attempt == settings.mlflow_retries:
                raise TrackingUnavailable(
                    f"MLflow at {settings.mlflow_tracking_uri} failed to {what} after "
                    f"{attempt} attempt(s): {exc}"
                ) from exc
            log.warning("MLflow %s failed (attempt %d/%d): %s", what, attempt, settings.mlflow_retries, exc)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def client(settings: Settings) -> MlflowClient:
    """A client of the tracking server and registry `settings` name; sets nothing process-wide."""
    stores.ensure_mlflow_store(settings.mlflow_tracking_uri)
    return MlflowClient(settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)


def experiment_id(settings: Settings) -> str:
    mlflow_client = client(settings)

    def get_or_create() -> str:
        found = mlflow_client.get_experiment_by_name(settings.experiment)
        if found is not None:
            return found.experiment_id
        try:
            return mlflow_client.create_experiment(
                settings.experiment, artifact_location=settings.mlflow_artifact_location
            )
        except MlflowException:  # created concurrently by a sibling task
            return mlflow_client.get_experiment_by_name(settings.experiment).experiment_id

    return with_retries(settings, get_or_create, "open the experiment")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def lineage_tags(settings: Settings, lineage: dict[str, Any]) -> dict[str, str]:
    tags = {
        AS_OF_TAG: settings.as_of.isoformat(),
        "ridership.config_digest": settings.digest(),
        "ridership.protocol": settings.protocol,
        "mlflow.source.git.commit": code_version(),
        "ridership.code_version": code_version(),
    }
    tags.update({f"ridership.{k}": str(v) for k, v in lineage.items() if v is not None})
    return tags


def run_tags(settings: Settings, lineage: dict[str, Any] | None, data_hash: str, manifest_uri: str) -> dict[str, str]:
    """The tags of every run of one pipeline run: lineage, the data's hash, its windows' manifest."""
    return {**lineage_tags(settings, lineage or {}), DATA_HASH_TAG: data_hash, WINDOWS_MANIFEST_TAG: manifest_uri}


def parent_run(settings: Settings, run_key: str, tags: dict[str, str]) -> str:
    """The one parent run of this pipeline run, created on first use (idempotent by run key)."""
    mlflow_client = client(settings)
    exp = experiment_id(settings)

    def get_or_create() -> str:
        found = mlflow_client.search_runs(
            [exp], filter_string=f"tags.`{RUN_KEY_TAG}` = '{run_key}'", max_results=1,
            order_by=["attributes.start_time ASC"],
        )
        if found:
            return found[0].info.run_id
        run = mlflow_client.create_run(exp, run_name=f"pipeline {settings.as_of}",
                                       tags={**tags, RUN_KEY_TAG: run_key})
        return run.info.run_id

    return with_retries(settings, get_or_create, "create the parent run")


@dataclass(frozen=True)
class PipelineRun:
    """A pipeline (parent) run, as the rest of the code sees it: its MLflow run id, run key and
    windows manifest."""

    run_id: str
    run_key: str
    manifest_uri: str

    @classmethod
    def of(cls, run) -> "PipelineRun":
        return cls(run.info.run_id, run.data.tags.get(RUN_KEY_TAG, ""), run.data.tags.get(WINDOWS_MANIFEST_TAG, ""))


@dataclass(frozen=True)
class FamilyRun:
    """A family's finished training run, as the rest of the code sees it: the family, its logged
    model (a models:/ URI, None before it was logged), its metrics (MAEs in riders, MAPEs in %,
    seconds), training mode and warm key, and when it ran."""

    run_id: str
    family: str
    model_uri: str | None
    metrics: dict[str, float]
    mode: str
    warm_key: str
    start: pd.Timestamp
    end: pd.Timestamp | None

    @classmethod
    def of(cls, run) -> "FamilyRun":
        tags, info = run.data.tags, run.info
        return cls(info.run_id, tags.get(FAMILY_TAG, ""), tags.get(MODEL_URI_TAG), dict(run.data.metrics),
                   tags.get(TRAINING_MODE_TAG, ""), tags.get(WARM_KEY_TAG, ""), pd.Timestamp(info.start_time, unit="ms"),
                   pd.Timestamp(info.end_time, unit="ms") if info.end_time else None)


def latest_pipeline_run(settings: Settings, data_hash: str | None = None) -> PipelineRun | None:
    """The latest pipeline (parent) run as of settings.as_of, on the data with this hash if one is
    given, or None."""
    data = f" and tags.`{DATA_HASH_TAG}` = '{data_hash}'" if data_hash else ""
    runs = client(settings).search_runs(
        [experiment_id(settings)],
        filter_string=f"tags.`{AS_OF_TAG}` = '{settings.as_of.isoformat()}'{data} and tags.`{RUN_KEY_TAG}` != ''",
        order_by=["attributes.start_time DESC"], max_results=1,
    )
    return PipelineRun.of(runs[0]) if runs else None


def last_trained_cutoff(settings: Settings):
    """The latest data cutoff (as-of date) of a registered version, or None before any."""
    from datetime import date

    versions = client(settings).search_model_versions(f"name = '{settings.registered_model}'")
    days = [v.tags[AS_OF_TAG] for v in versions if v.tags.get(AS_OF_TAG)]
    return date.fromisoformat(max(days)) if days else None


def drift_flagged(settings: Settings) -> str:
    """The model versions the latest forecast run flagged as drifted ("" for none)."""
    runs = client(settings).search_runs([experiment_id(settings)], f"tags.`{KIND_TAG}` = 'monitoring'",
                                        max_results=1)
    return runs[0].data.tags.get(DRIFTED_TAG, "") if runs else ""


def close_stale_runs(settings: Settings, parent_run_id: str, family: str) -> None:
    """Runs of this family under this parent still RUNNING belong to a killed task."""
    mlflow_client = client(settings)
    stale = mlflow_client.search_runs(
        [experiment_id(settings)],
        filter_string=(f"tags.`mlflow.parentRunId` = '{parent_run_id}' and tags.`{FAMILY_TAG}` = '{family}'"
                       " and attributes.status = 'RUNNING'"),
    )
    for run in stale:
        log.warning("marking run %s of %s KILLED: its task died without closing it", run.info.run_id, family)
        mlflow_client.set_tag(run.info.run_id, ERROR_TAG, "task killed before the run ended")
        mlflow_client.set_terminated(run.info.run_id, status="KILLED")


def start_family_run(settings: Settings, parent_run_id: str, family: str, tags: dict[str, str]) -> str:
    mlflow_client = client(settings)
    close_stale_runs(settings, parent_run_id, family)
    run = with_retries(settings, lambda: mlflow_client.create_run(
        experiment_id(settings), run_name=family,
        tags={**tags, FAMILY_TAG: family, "mlflow.parentRunId": parent_run_id},
    ), "create a family run")
    return run.info.run_id


@contextlib.contextmanager
def failing_run(settings: Settings, run_id: str) -> Iterator[None]:
    """End run `run_id` FINISHED when the block completes, else FAILED with the error as its tag."""
    mlflow_client = client(settings)
    try:
        yield
    except BaseException as exc:
        mlflow_client.set_tag(run_id, ERROR_TAG, f"{type(exc).__name__}: {exc}"[:5000])
        mlflow_client.set_terminated(run_id, status="FAILED")
        raise
    with_retries(settings, lambda: mlflow_client.set_terminated(run_id, status="FINISHED"), "end the run")


def log_params(settings: Settings, run_id: str, params: dict[str, Any]) -> None:
    batch = [Param(k, str(v)[:6000]) for k, v in params.items()]
    with_retries(settings, lambda: client(settings).log_batch(run_id, params=batch), "log params")


def log_history(settings: Settings, run_id: str, history: dict[str, list[float]]) -> None:
    now = int(time.time() * 1000)
    metrics = [Metric(f"epoch_{name}", float(v), now, step)
               for name, values in history.items() for step, v in enumerate(values) if math.isfinite(v)]
    mlflow_client = client(settings)
    for i in range(0, len(metrics), METRICS_PER_BATCH):
        chunk = metrics[i:i + METRICS_PER_BATCH]
        with_retries(settings, lambda: mlflow_client.log_batch(run_id, metrics=chunk), "log metrics")


def log_metrics(settings: Settings, run_id: str, metrics: dict[str, float]) -> None:
    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
    with_retries(settings, lambda: client(settings).log_batch(run_id, metrics=batch), "log metrics")


def finished_family_runs(settings: Settings, parent_run_id: str) -> list[FamilyRun]:
    """The latest FINISHED run of each family under a parent run."""
    runs = client(settings).search_runs(
        [experiment_id(settings)],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )
    latest = {}
    for run in runs:
        latest.setdefault(run.data.tags.get(FAMILY_TAG), run)
    return [FamilyRun.of(r) for name, r in latest.items() if name]


def past_fits(settings: Settings, family: str, limit: int = 20, warm_key: str | None = None) -> list:
    """The latest `limit` finished runs of `family` that logged a model (with this warm key if one
    is given), as warmstart.PastFit."""
    from datetime import date

    from pipeline.modelling.warmstart import PastFit

    key = f" and tags.`{WARM_KEY_TAG}` = '{warm_key}'" if warm_key else ""
    runs = client(settings).search_runs(
        [experiment_id(settings)],
        filter_string=f"tags.`{FAMILY_TAG}` = '{family}' and attributes.status = 'FINISHED'{key}",
        order_by=["attributes.start_time DESC"], max_results=limit,
    )
    return [PastFit(run.info.run_id, date.fromisoformat(run.data.tags[AS_OF_TAG]),
                    run.data.tags.get(WARM_KEY_TAG, ""), int(run.data.tags.get(WARM_STARTS_TAG, 0)),
                    run.data.tags[MODEL_URI_TAG], _json_dict(run.data.tags.get(WARM_KEY_PARTS_TAG)))
            for run in runs if AS_OF_TAG in run.data.tags and MODEL_URI_TAG in run.data.tags]


def _json_dict(text: str | None) -> dict | None:
    """A tag's JSON object; None for no tag or anything else (a hand-edited tag)."""
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def start_tags(start) -> dict[str, str]:
    """The training-mode tags of a family run (start: a warmstart.Start)."""
    tags = {TRAINING_MODE_TAG: start.mode, TRAINING_MODE_REASON_TAG: start.reason[:5000],
            WARM_STARTS_TAG: str(start.warm_starts), WARM_KEY_TAG: start.key}
    parts = json.dumps(start.key_parts, sort_keys=True) if start.key_parts is not None else ""
    if 0 < len(parts) <= 8000:  # MLflow's longest tag value
        tags[WARM_KEY_PARTS_TAG] = parts
    if start.previous is not None:
        tags[WARM_FROM_RUN_TAG] = start.previous.run_id
    return tags


VALIDATION_FORECASTS = "validation_forecasts.csv"


def log_validation_forecasts(settings: Settings, run_id: str, forecasts) -> None:
    """The scoring-window forecasts (origin × horizon), for reports and later calibration."""
    from pipeline.modelling.scoring import scoring_origins

    table = pd.DataFrame(forecasts, index=pd.Index(scoring_origins(settings).date, name="origin"),
                         columns=[f"h{h:02d}" for h in range(1, forecasts.shape[1] + 1)])
    log_artifact_bytes(settings, run_id, VALIDATION_FORECASTS, table.to_csv().encode())


BACKTEST_FORECASTS = "backtest_forecasts.csv"


def log_backtests(settings: Settings, run_id: str, table: pd.DataFrame, windows: list[dict],
                  scores: dict[str, float]) -> None:
    """A family run's backtest forecasts (backtest.forecast_table rows of every window), the
    windows with where each fit came from (a tag), and each window's MAE (metrics backtest_mae_<window>)."""
    log_artifact_bytes(settings, run_id, BACKTEST_FORECASTS, table.to_csv(index=False).encode())
    text = json.dumps(windows, default=str)
    client(settings).set_tag(run_id, BACKTESTS_TAG, text if len(text) <= 8000 else text[:7990] + "...")
    log_metrics(settings, run_id, {f"backtest_mae_{w.replace('-', '_')}": v for w, v in scores.items()})


def backtest_forecasts(settings: Settings, run_id: str) -> pd.DataFrame | None:
    """The backtest rows a family run logged (None for a run from before backtests)."""
    names = {a.path for a in client(settings).list_artifacts(run_id)}
    if BACKTEST_FORECASTS not in names:
        return None
    path = client(settings).download_artifacts(run_id, BACKTEST_FORECASTS)
    return pd.read_csv(path, parse_dates=["origin", "target_date"])


def validation_forecasts(settings: Settings, run_id: str) -> pd.DataFrame:
    """A family run's scoring-window forecasts: origin index, one column per horizon."""
    path = client(settings).download_artifacts(run_id, VALIDATION_FORECASTS)
    return pd.read_csv(path, index_col="origin", parse_dates=True)


def log_artifact_bytes(settings: Settings, run_id: str, name: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        with_retries(settings, lambda: client(settings).log_artifact(run_id, str(path)), f"log {name}")


def log_artifact_dir(settings: Settings, run_id: str, directory: Path, artifact_path: str) -> None:
    with_retries(settings, lambda: client(settings).log_artifacts(run_id, str(directory), artifact_path),
                 f"log {artifact_path}")


def leaderboard(settings: Settings, parent_run_id: str) -> pd.DataFrame:
    return leaderboard_of(finished_family_runs(settings, parent_run_id))


def leaderboard_of(runs: list[FamilyRun]) -> pd.DataFrame:
    """One row per finished family run, best mean 14-day MAE first."""
    rows = []
    for run in runs:
        m = run.metrics
        rows.append({
            "family": run.family,
            "mae_h1": m.get("mae_h1"), "mape_h1": m.get("mape_h1"), "mae_mean": m.get("mae_mean"),
            **{k.removeprefix("backtest_"): v for k, v in m.items() if k.startswith("backtest_mae_")
               and k != "backtest_mae_recent"},
            "epochs": int(m.get("epochs", 0)), "mode": run.mode, "fit_seconds": m.get("train_seconds"),
            "run_id": run.run_id, "start": run.start, "end": run.end,
        })
    frame = pd.DataFrame(rows)
    return frame.sort_values("mae_mean").reset_index(drop=True) if not frame.empty else frame
