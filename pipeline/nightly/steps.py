"""The pipeline's steps: plain functions of explicit inputs to small, JSON-able outputs.

Each DAG task and each CLI command calls exactly one of these. Large outputs are written
under the artifact root (content-addressed, atomically) and passed on by URI.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from datetime import date, datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from pipeline.inputs import data
from pipeline.io import storage
from pipeline.modelling import warmstart
from pipeline.config import TRAINING_STAGES, Settings
from pipeline.nightly.results import (Checked, Cleaned, Decision, Forecast, Migrated, Policy, PreparedRun,
                                      ShadowForecast, Trained, TrainingsEnded)
from pipeline.errors import RidershipError

log = logging.getLogger(__name__)

LATEST_CLEAN = "latest.json"


def _clean_dir(settings: Settings) -> str:
    return storage.join(settings.artifact_root, "clean")


def run_key(settings: Settings, data_hash: str) -> str:
    """Identifies a pipeline run by what it computes: same data, config and as-of → same key."""
    return f"{settings.as_of.isoformat()}/{data_hash}/{settings.digest()}"


def migrate_stores(settings: Settings) -> Migrated:
    """Create or migrate the stores a run writes to: MLflow's SQLite store (the embedded default; a
    tracking server migrates its own) and the forecast database (forecasts.migrate). Idempotent; the
    first task of every DAG, the start of the runner and of every CLI command that writes. Returns
    the forecast database, the tables created and the columns added. Raises StoreError naming a
    store that cannot be migrated."""
    from pipeline.io import forecasts, stores

    stores.ensure_mlflow_store(settings.mlflow_tracking_uri)
    return forecasts.migrate(settings)


def validate_source(settings: Settings) -> Checked:
    """Read the source, find the run's data cutoff, run the suite, snapshot the raw bytes.

    The cutoff is the last day of the source on or before `settings.as_of` (the run's date); the
    suite then checks the training span up to the cutoff. Returns the data hash, the raw
    snapshot's URI, the cutoff and the report's counts. Raises DataSourceError (unreadable),
    DataValidationError (bad data, or a stale source: its last day more than
    `settings.freshness_days` before the run's date).
    """
    from pipeline.inputs.validation import validate

    raw_bytes = data.read_source(settings.data_uri)
    if settings.replay_source:
        raw_bytes = data.as_it_stood(raw_bytes, settings.as_of, settings.data_uri)
    data_hash = data.content_hash(raw_bytes)
    raw = data.parse_raw(raw_bytes, settings.data_uri)
    cutoff = data_cutoff(raw, settings)
    at_cutoff = settings.with_overrides(as_of=cutoff)
    docs_uri = storage.join(settings.artifact_root, "datadocs", f"{data_hash}-{cutoff.isoformat()}")
    report = validate(raw, uri=settings.data_uri, as_of=cutoff, train_start=at_cutoff.train_start,
                      max_count=settings.max_daily_boardings, docs_uri=docs_uri)
    raw_uri = storage.join(settings.artifact_root, "raw", f"{data_hash}.csv")
    if not storage.exists(raw_uri):
        storage.write_bytes(raw_uri, raw_bytes)
    log.info("data %s: cutoff %s for the run of %s (%d rows, last day %s)", data_hash, cutoff, settings.as_of,
             report.rows, report.last_date)
    return {"data_hash": data_hash, "raw_uri": raw_uri, "rows": report.rows, "cutoff": cutoff.isoformat(),
            "run_date": settings.as_of.isoformat(), "skipped_blank_rows": report.skipped_blank_rows,
            "unique_days": report.unique_days, "first_date": report.first_date.isoformat(),
            "last_date": report.last_date.isoformat(), "expectations": report.expectations,
            "data_docs_uri": storage.join(report.data_docs_uri, "index.html")}


def data_cutoff(raw: pd.DataFrame, settings: Settings):
    """The last day of the raw source on or before settings.as_of (the as-of date itself when no
    day parses: validation then says what is wrong). Raises DataValidationError for a stale source."""
    from datetime import timedelta

    from pipeline.errors import DataValidationError

    if data.DATE_COLUMN not in raw.columns:
        return settings.as_of
    days = data.parse_dates(raw[data.DATE_COLUMN]).dropna()
    days = days[days <= pd.Timestamp(settings.as_of)]
    if days.empty:
        return settings.as_of
    cutoff = days.max().date()
    if settings.as_of - cutoff > timedelta(days=settings.freshness_days):
        raise DataValidationError(
            f"stale source: the last day of {settings.data_uri} up to the run's date {settings.as_of} is {cutoff}, "
            f"{(settings.as_of - cutoff).days} days behind (freshness limit {settings.freshness_days} days)",
            [{"expectation": "source_is_fresh", "column": data.DATE_COLUMN, "unexpected_count": 0,
              "meaning": f"the source's last day must be within {settings.freshness_days} days of the run's date",
              "examples": f"last day {cutoff}, run's date {settings.as_of}"}])
    return cutoff


def retrain_policy(settings: Settings, cutoff: str, force: bool = False) -> Policy:
    """Whether tonight's training should run: when forced, when the last forecast run flagged
    drift, or when at least `settings.retrain_min_new_days` days arrived since the cutoff of the
    last training that registered a version (any, the first time). Returns {"retrain": bool,
    "reason": str, "cutoff", "last_trained" (ISO or None), "new_days" (int or None)}."""
    from datetime import date

    from pipeline.lifecycle import tracking

    day = date.fromisoformat(cutoff)
    last = tracking.last_trained_cutoff(settings)
    new_days = (day - last).days if last else None
    drifted = tracking.drift_flagged(settings)
    out = {"cutoff": cutoff, "last_trained": last.isoformat() if last else None, "new_days": new_days}
    if force:
        return {**out, "retrain": True, "reason": "forced from the trigger form"}
    if last is None:
        return {**out, "retrain": True, "reason": "no training yet"}
    if new_days <= 0:
        return {**out, "retrain": False,
                "reason": f"no new data: the source ends {day}, the last training used data up to {last}"}
    if drifted:
        return {**out, "retrain": True, "reason": f"the last forecast run flagged drift ({drifted})"}
    if new_days < settings.retrain_min_new_days:
        return {**out, "retrain": False, "reason": f"{new_days} new day(s) since the last training's cutoff "
                                                     f"{last}, fewer than {settings.retrain_min_new_days}"}
    return {**out, "retrain": True, "reason": f"{new_days} new days since the last training's cutoff {last}"}


def clean_snapshot(settings: Settings, raw_uri: str, data_hash: str) -> Cleaned:
    """Clean the validated raw snapshot at `raw_uri` (data.clean: one row per day, counts as
    float riders) into a parquet snapshot named by `data_hash`, written once, and point
    `latest.json` at it. Returns the pointer: data_hash, clean_uri, first_date, last_date (ISO),
    validated_at (UTC ISO)."""
    raw = data.parse_raw(storage.read_bytes(raw_uri), raw_uri)
    frame = data.clean(raw)
    clean_uri = storage.join(_clean_dir(settings), f"{data_hash}.parquet")
    if not storage.exists(clean_uri):
        storage.write_bytes(clean_uri, data.to_parquet_bytes(frame))
    pointer = {"data_hash": data_hash, "clean_uri": clean_uri,
               "first_date": frame.index[0].date().isoformat(), "last_date": frame.index[-1].date().isoformat(),
               "validated_at": datetime.now(timezone.utc).isoformat()}
    storage.write_json(storage.join(_clean_dir(settings), LATEST_CLEAN), pointer)
    return pointer


def load_clean(clean_uri: str) -> pd.DataFrame:
    """A clean snapshot: daily rows indexed by date (day_type, bus, rail, total, riders)."""
    return data.from_parquet_bytes(storage.read_bytes(clean_uri))


def latest_clean(settings: Settings) -> Cleaned:
    """clean_snapshot's pointer to the last validated snapshot. Raises RidershipError before any."""
    pointer_uri = storage.join(_clean_dir(settings), LATEST_CLEAN)
    if not storage.exists(pointer_uri):
        raise RidershipError(f"no validated data snapshot at {pointer_uri}: run the training pipeline first")
    return storage.read_json(pointer_uri)


def materialize_windows(settings: Settings, clean_uri: str, data_hash: str,
                        lineage: dict[str, Any] | None = None, data_docs_uri: str | None = None) -> PreparedRun:
    """Write the windows of every family in `settings.families` once (windows.materialize: one
    array file per window spec and split, under a manifest) and open the run's parent MLflow run,
    with the validation's data docs as its artifact. Returns manifest_uri, parent_run_id, run_key,
    as_of (ISO) and `stages`: each name of TRAINING_STAGES -> the families of that training stage
    (families.training_stages). Raises ValueError for families that build on each other in a cycle."""
    from pipeline import families
    from pipeline.inputs import windows
    from pipeline.lifecycle import tracking

    frame = load_clean(clean_uri)
    specs = {f.window_spec() for f in (families.create(n, settings) for n in settings.families)} - {None}
    manifest = windows.materialize(frame, sorted(specs, key=lambda s: s.name), settings, data_hash, clean_uri)
    key = run_key(settings, data_hash)
    parent = tracking.parent_run(settings, key, tracking.run_tags(settings, lineage, data_hash, manifest["uri"]))
    if data_docs_uri:  # the index page's folder, from the local disk or the object store
        folder, temporary = storage.fetch_dir(storage.parent(data_docs_uri))
        try:
            tracking.log_artifact_dir(settings, parent, folder, "data_docs")
        finally:
            if temporary:
                shutil.rmtree(folder, ignore_errors=True)
    stages = families.training_stages(settings)
    return {"manifest_uri": manifest["uri"], "parent_run_id": parent, "run_key": key,
            "as_of": settings.as_of.isoformat(), "stages": dict(zip(TRAINING_STAGES, stages))}


def prepare(settings: Settings, lineage: dict[str, Any] | None = None) -> tuple[Settings, PreparedRun]:
    """validate_source → clean_snapshot → materialize_windows, as the training DAG's tasks chain
    them (without its retrain policy): returns (settings at the data cutoff, materialize's
    result). Raises what validate_source raises."""
    from datetime import date

    checked = validate_source(settings)
    settings = settings.with_overrides(as_of=date.fromisoformat(checked["cutoff"]))
    cleaned = clean_snapshot(settings, checked["raw_uri"], checked["data_hash"])
    return settings, materialize_windows(settings, cleaned["clean_uri"], checked["data_hash"], lineage,
                                         checked["data_docs_uri"])


def stages_of(run: PreparedRun) -> list[list[str]]:
    """The families of each training stage of a prepared run, in order (prepare's result)."""
    return [run["stages"][stage] for stage in TRAINING_STAGES]


def _record_training(settings: Settings, run_id: str, trained, history: pd.DataFrame) -> None:
    """Record what engine.train returned in run `run_id`: the per-epoch history, the scores with
    the epochs and fit seconds, the validation forecasts and the pyfunc model (logged_models, with
    `history`, rows up to the as-of date, as its input example)."""
    from pipeline.lifecycle import tracking
    from pipeline.lifecycle.logged_models import log_family_model

    tracking.log_history(settings, run_id, trained.fit.history)
    tracking.log_validation_forecasts(settings, run_id, trained.forecasts)
    tracking.log_metrics(settings, run_id, {**trained.scores.metrics(), "epochs": trained.fit.epochs,
                                            "train_seconds": trained.fit_seconds})
    log_family_model(settings, run_id, trained.family, history)


def train_family(settings: Settings, family_name: str, manifest_uri: str, parent_run_id: str,
                 lineage: dict[str, Any] | None = None) -> Trained:
    """Train one family with the engine (engine.train) on the run's materialized windows, after
    adopting the members the run has trained (Family.builds_on), and record what it returns in one
    MLflow run under the pipeline's parent run: params, per-epoch history, scores, the
    validation forecasts and the pyfunc model. The family continues from its last fit where
    warmstart.choose allows it (warm start), else trains from scratch; the run's training-mode
    tags say which and why.

    Returns {family, run_id, experiment_id, mode, epochs, seconds, mae_h1, mape_h1, mae_mean} (MAEs
    in riders, MAPE in %). Raises what the engine raises; the MLflow run is then FAILED, with the
    error as its `ridership.error` tag.
    """
    from pipeline import families
    from pipeline.inputs import windows
    from pipeline.lifecycle import tracking
    from pipeline.modelling import engine

    manifest = storage.read_json(manifest_uri)
    frame = load_clean(manifest["clean_uri"])
    family = families.create(family_name, settings)
    started = time.perf_counter()
    tags = tracking.run_tags(settings, lineage, manifest["data_hash"], manifest_uri)
    start = warm_start(settings, family)
    tags.update(tracking.start_tags(start))
    adopted = adopt_trained_members(settings, family, parent_run_id)
    if adopted:
        tags[tracking.ADOPTED_MEMBERS_TAG] = json.dumps(adopted)
    run_id = tracking.start_family_run(settings, parent_run_id, family_name, tags)
    with tracking.failing_run(settings, run_id):
        tracking.log_params(settings, run_id, {**family.params(), "family": family_name, "as_of": settings.as_of,
                                               "protocol": settings.protocol, "horizon": settings.horizon})
        trained = engine.train(family, frame, settings, lambda spec, _: windows.load_windows(manifest, spec))
        _record_training(settings, run_id, trained, frame.loc[: pd.Timestamp(settings.as_of)])
        trained_seconds = time.perf_counter() - started
        log.info("trained %s as of %s (%s) in %.1f s (%d epochs): MAE h=1 %s, mean of %d horizons %s riders; run %s",
                 family_name, settings.as_of, start.mode, trained_seconds, trained.fit.epochs,
                 f"{trained.scores.mae_h1:,.0f}", settings.horizon, f"{trained.scores.mae_mean:,.0f}", run_id)
        backtests = backtest_family(settings, family_name, frame, trained, run_id, lineage)
    return {"family": family_name, "run_id": run_id, "experiment_id": tracking.experiment_id(settings),
            "mode": start.mode, "epochs": trained.fit.epochs, "seconds": round(time.perf_counter() - started, 2),
            "backtest_seconds": round(time.perf_counter() - started - trained_seconds, 2),
            "mae_h1": trained.scores.mae_h1, "mape_h1": trained.scores.mape_h1,
            "mae_mean": trained.scores.mae_mean, "backtests": backtests}


def backtest_family(settings: Settings, family_name: str, frame: pd.DataFrame, trained, run_id: str,
                    lineage: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Forecast the family's backtest windows (pipeline/modelling/backtest.py) and log them to its run
    `run_id`: the recent window from `trained` (engine.train's result), each seasonal window from
    the family as of that window's cutoff (fit_as_of). A window whose fit fails is left out (the
    family then cannot carry weight there) and says why. Returns the windows with the source of
    each fit, its seconds and MAE (riders), or the failure."""
    from pipeline.lifecycle import tracking
    from pipeline.modelling import backtest

    recent = backtest.recent_window(settings)
    tables = [backtest.forecast_table(recent, trained.forecasts)]
    notes = [{**recent.describe(), "source": f"this run's fit ({trained.fit.epochs} epochs)"}]
    for window in backtest.seasonal_windows(settings):
        began = time.perf_counter()
        try:
            fitted, source = fit_as_of(settings.with_overrides(as_of=window.fit_cutoff), family_name, frame,
                                       run_id, window.name, lineage)
            forecasts = fitted.forecast(frame.loc[: pd.Timestamp(window.last_target)], window.origins)
            tables.append(backtest.forecast_table(window, forecasts))
            notes.append({**window.describe(), "source": source, "seconds": round(time.perf_counter() - began, 1)})
        except Exception as exc:  # the family's own fit stands; it just cannot carry weight on this window
            log.warning("%s: backtest %s failed: %s: %s", family_name, window.name, type(exc).__name__, exc)
            notes.append({**window.describe(), "failed": f"{type(exc).__name__}: {exc}"[:500]})
    table = pd.concat(tables, ignore_index=True)
    actual = frame[settings.target].reindex(table["target_date"]).to_numpy(float)
    scores = {w: float(abs(g["forecast"] - actual[g.index]).mean()) for w, g in table.groupby("window")}
    for note in notes:
        if note["window"] in scores:
            note["mae"] = round(scores[note["window"]])
    tracking.log_backtests(settings, run_id, table, notes, scores)
    log.info("%s backtests: %s", family_name, "; ".join(
        f"{n['window']} MAE {n['mae']:,} ({n.get('source', '')})" if "mae" in n else f"{n['window']} failed"
        for n in notes))
    return notes


def fit_as_of(settings: Settings, family_name: str, frame: pd.DataFrame, parent_run_id: str, window: str,
              lineage: dict[str, Any] | None = None):
    """The family fitted as of `settings.as_of` on `frame`'s rows up to it, for a backtest window:
    a logged fit of the same family with the same warm key (code and settings) at most
    `backtest_reuse_days` earlier (the registry's own fits, once it has run that long), else a
    refit, warm-started where the family can (warm_start), logged as a child run of
    `parent_run_id`. A family that builds on members adopts their fits as of that day.
    Returns (family, where it came from)."""
    from datetime import timedelta

    from pipeline import families
    from pipeline.lifecycle import tracking
    from pipeline.modelling import engine
    from pipeline.lifecycle.logged_models import load_logged_family

    family = families.create(family_name, settings)
    key = warmstart.key_of(warmstart.warm_key_parts(family, settings))
    earliest = settings.as_of - timedelta(days=settings.backtest_reuse_days)
    for fit in sorted(tracking.past_fits(settings, family_name, 200, warm_key=key), key=lambda f: f.as_of,
                      reverse=True):
        if earliest <= fit.as_of <= settings.as_of:
            try:
                return load_logged_family(settings, fit.model_uri), f"fit of run {fit.run_id} as of {fit.as_of}"
            except Exception as exc:  # reuse only saves time: refit instead
                log.warning("%s: fit of run %s does not load (%s); refitting", family_name, fit.run_id, exc)
                break
    start = warm_start(settings, family)
    members = {}
    for name, seed in family.builds_on():
        member_settings = settings.with_overrides(seed=seed)
        member = families.create(name, member_settings)
        member_key = warmstart.key_of(warmstart.warm_key_parts(member, member_settings))
        fits = [f for f in tracking.past_fits(settings, name, 200, warm_key=member_key) if f.as_of == settings.as_of]
        if fits:
            members[(name, seed)] = load_logged_family(settings, fits[0].model_uri)
    family.adopt(members)
    history = frame.loc[: pd.Timestamp(settings.as_of)]
    tags = {**tracking.lineage_tags(settings, lineage or {}), **tracking.start_tags(start),
            tracking.BACKTEST_TAG: window}
    run_id = tracking.start_family_run(settings, parent_run_id, family_name, tags)
    with tracking.failing_run(settings, run_id):
        trained = engine.train(family, history, settings)
        _record_training(settings, run_id, trained, history)
    return trained.family, f"refit ({start.mode}) in run {run_id}"


def warm_start(settings: Settings, family) -> "warmstart.Start":
    """Choose how `family` trains (warmstart.choose over its past fits in MLflow) and, for a warm
    start, hand it the previous fit (Family.start_from). A previous model that does not load or
    does not fit the architecture means a start from scratch, with that as the reason."""
    from pipeline.lifecycle import tracking
    from pipeline.lifecycle.logged_models import load_logged_family

    start = warmstart.choose(family, settings, tracking.past_fits(settings, family.name))
    if start.mode == warmstart.WARM:
        try:
            family.start_from(load_logged_family(settings, start.previous.model_uri))
        except Exception as exc:  # a warm start only saves time: train from scratch instead
            start = warmstart.Start(warmstart.SCRATCH, f"run {start.previous.run_id}'s model does not continue "
                                                       f"({type(exc).__name__}: {exc})", key_parts=start.key_parts)
    log.info("%s trains %s: %s", family.name, "warm-started" if start.mode == warmstart.WARM else "from scratch",
             start.reason)
    return start


def trainings_ended(settings: Settings, run: PreparedRun) -> TrainingsEnded:
    """What a prepared run's trainings left once all have ended: the families that finished,
    best mean 14-day MAE first, with their MAEs (riders), and those that did not."""
    from pipeline.lifecycle import tracking

    board = tracking.leaderboard(settings, run["parent_run_id"])
    finished = [] if board.empty else board[["family", "mae_h1", "mae_mean", "epochs"]].to_dict("records")
    names = {r["family"] for r in finished}
    return {"finished": finished,
            "did_not_finish": [f for stage in stages_of(run) for f in stage if f not in names]}


def adopt_trained_members(settings: Settings, family, parent_run_id: str) -> dict[str, str]:
    """Give `family` the members it builds on (Family.builds_on) that this pipeline run has already
    trained and logged at the run's seed, so that it does not train them again; returns
    {member: its run id}. A member that does not load is left to the family to train."""
    from pipeline.lifecycle import tracking
    from pipeline.lifecycle.logged_models import load_logged_family

    if not family.builds_on():
        return {}
    runs = {run.family: run for run in tracking.finished_family_runs(settings, parent_run_id)}
    trained, run_ids = {}, {}
    for name, seed in family.builds_on():
        run = runs.get(name) if seed == settings.seed else None
        if run is None or not run.model_uri:
            continue
        try:
            trained[(name, seed)] = load_logged_family(settings, run.model_uri)
        except Exception as exc:  # adopting only saves time: a member that does not load is trained again
            log.warning("%s: member %s of run %s does not load (%s: %s); training it again",
                        family.name, name, run.run_id, type(exc).__name__, exc)
            continue
        run_ids[name] = run.run_id
    family.adopt(trained)
    log.info("%s adopts %s trained by this run", family.name, ", ".join(run_ids) or "no member")
    return run_ids


def promote_best(settings: Settings, manifest_uri: str, parent_run_id: str, run_key_value: str,
                 lineage: dict[str, Any] | None = None) -> Decision:
    """Gate the best family run under `parent_run_id` (lowest mean 14-day MAE) against the
    re-scored champion (registry.promote) and log the run's reports. Returns the decision:
    decision ("promoted" or "kept_champion"), reason, version, family, MAEs in riders, rerun,
    as_of, reports. Raises PromotionError when no family finished training."""
    from pipeline.lifecycle import registry, tracking
    from pipeline.nightly import report

    manifest = storage.read_json(manifest_uri)
    frame = load_clean(manifest["clean_uri"])
    tags = {**tracking.run_tags(settings, lineage, manifest["data_hash"], manifest_uri),
            tracking.PARENT_RUN_TAG: parent_run_id}
    decision = {**registry.promote(settings, parent_run_id, run_key_value, frame, tags),
                "as_of": settings.as_of.isoformat()}
    decision["reports"] = report.log_run_reports(settings, parent_run_id, frame)
    return decision


def promote_trained(settings: Settings, lineage: dict[str, Any] | None = None) -> Decision:
    """Gate what the latest training run as of `settings.as_of` on the source's current data trained,
    whichever families it was given (the CLI's `promote` after `train FAMILY…`).

    Returns promote_best's decision. Raises PromotionError when no training ran for that date and
    data, and the validation errors of validate_source.
    """
    from datetime import date

    from pipeline.lifecycle import tracking
    from pipeline.errors import PromotionError

    checked = validate_source(settings)
    settings = settings.with_overrides(as_of=date.fromisoformat(checked["cutoff"]))
    run = tracking.latest_pipeline_run(settings, checked["data_hash"])
    if run is None:
        raise PromotionError(f"nothing was trained as of {settings.as_of} on the data of {settings.data_uri} "
                             f"(hash {checked['data_hash']}): run `ridership train FAMILY…` first")
    return promote_best(settings, run.manifest_uri, run.run_id, run.run_key, lineage)


def rollback_champion(settings: Settings, reason: str, who: str, to_version: str | None = None) -> dict[str, Any]:
    """Move @champion back (registry.rollback: to `to_version`, else the previous champion); returns
    the version, its family and as-of date, the version it replaced, who, when and why."""
    from pipeline.lifecycle import registry

    return registry.rollback(settings, reason, who, to_version)


def champion_history(settings: Settings) -> list[dict[str, Any]]:
    """Every move of @champion, oldest first (champion_history.events)."""
    from pipeline.io import champion_history

    return champion_history.events(settings)


def last_good_frame(settings: Settings) -> pd.DataFrame:
    """The last validated data: forecasting keeps working when tonight's data is bad."""
    return load_clean(latest_clean(settings)["clean_uri"])


def forecast_next(settings: Settings) -> Forecast:
    """Forecast the `settings.horizon` days after the as-of date (or the last day of data before
    it) with the version that was champion that night, from the last validated snapshot; upserts
    the forecast table's rows. Returns forecasting.forecast's summary. Raises NoChampionError."""
    from pipeline.nightly import forecasting

    return forecasting.forecast(settings, last_good_frame(settings))


def forecast_from_source(settings: Settings) -> Forecast:
    """Forecast with the champion from the data source `settings.data_uri` names, validated first,
    instead of the last training snapshot; the result names the source and its hash.

    Raises DataSourceError (unreadable or missing source), DataValidationError (bad data),
    NoChampionError. The forecast table's rows for that origin and version are upserted.
    """
    from pipeline.nightly import forecasting

    checked = validate_source(settings)
    frame = data.clean(data.parse_raw(storage.read_bytes(checked["raw_uri"]), checked["raw_uri"]))
    return {**forecasting.forecast(settings, frame), "data_uri": settings.data_uri, "data_hash": checked["data_hash"]}


def shadow_forecast(settings: Settings, frame: pd.DataFrame | None = None,
                    origins: pd.DatetimeIndex | None = None) -> ShadowForecast:
    """Every family of the latest training as of `settings.as_of` (the gate's candidates) forecasts
    the `horizon` days after each origin (default: the last validated day up to the as-of date),
    stored apart from the champion's forecasts (table shadow_forecasts, upserted), so that
    challengers are scored on what happened. Returns the training's as-of date, the families and
    the rows stored; nothing before the first training."""
    from pipeline.lifecycle import registry, tracking
    from pipeline.io import forecasts
    from pipeline.lifecycle.logged_models import load_logged_family

    frame = last_good_frame(settings) if frame is None else frame
    if origins is None:
        origins = pd.DatetimeIndex([frame.loc[: pd.Timestamp(settings.as_of)].index[-1]])
    training = registry.latest_training(settings, settings.as_of)
    if training is None:
        return {"trained_as_of": None, "families": [], "rows": 0}
    parent, trained_as_of = training
    created, rows, families = datetime.now(timezone.utc), [], []
    for run in registry.candidate_runs(settings, parent):
        name = run.family
        try:
            family = load_logged_family(settings, run.model_uri)
            values = np.asarray(family.forecast(frame.loc[: origins[-1]], origins), dtype=float)
        except Exception as exc:  # one challenger that cannot forecast must not stop the others
            log.warning("shadow forecast of %s (run %s) failed: %s: %s", name, run.run_id, type(exc).__name__, exc)
            continue
        families.append(name)
        for origin, row in zip(origins, values):
            rows += [{"as_of": origin.date(), "target_date": (origin + pd.Timedelta(days=h)).date(), "family": name,
                      "run_id": run.run_id, "horizon": h, "forecast": float(v),
                      "trained_as_of": date.fromisoformat(trained_as_of), "created_at": created}
                     for h, v in enumerate(row, start=1)]
    if rows:
        forecasts.upsert(settings, rows, shadow=True)
    log.info("shadow forecasts of %d families trained as of %s from %d origin(s)", len(families), trained_as_of,
             len(origins))
    return {"trained_as_of": trained_as_of, "families": families, "rows": len(rows),
            "origins": f"{origins[0].date()}..{origins[-1].date()}"}


def score_realized(settings: Settings) -> dict[str, Any]:
    """Realized MAE (riders) of the stored forecasts whose days have arrived, per model version,
    and whether the champion drifted (monitoring.realized_accuracy)."""
    from pipeline.nightly import monitoring

    return monitoring.realized_accuracy(settings, last_good_frame(settings))
