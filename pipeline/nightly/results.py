"""What the nightly steps return, one declared type each, shared by the DAG files (a task passes
them on as XCom: plain dicts of JSON values), the CLI and the benchmarks. MAEs are in riders,
MAPEs in %, dates ISO strings, durations seconds."""

from __future__ import annotations

from typing import Any, TypedDict


class Migrated(TypedDict):
    database: str
    created: list[str]  # tables
    added: list[str]  # columns


class Checked(TypedDict):
    data_hash: str
    raw_uri: str
    rows: int
    cutoff: str  # the data's last day used tonight
    run_date: str
    skipped_blank_rows: int
    unique_days: int
    first_date: str
    last_date: str
    expectations: int
    data_docs_uri: str


class Cleaned(TypedDict):
    data_hash: str
    clean_uri: str
    first_date: str
    last_date: str
    validated_at: str  # UTC


class Policy(TypedDict):
    retrain: bool
    reason: str
    cutoff: str
    last_trained: str | None
    new_days: int | None


class PreparedRun(TypedDict):
    manifest_uri: str
    parent_run_id: str
    run_key: str
    as_of: str
    stages: dict[str, list[str]]  # TRAINING_STAGES -> families, in order


class Trained(TypedDict):
    family: str
    run_id: str
    experiment_id: str
    mode: str  # warmstart.WARM | warmstart.SCRATCH
    epochs: int
    seconds: float
    backtest_seconds: float
    mae_h1: float
    mape_h1: float
    mae_mean: float
    backtests: list[dict[str, Any]]


class TrainingsEnded(TypedDict):
    finished: list[dict[str, Any]]  # family, mae_h1, mae_mean, epochs; best first
    did_not_finish: list[str]


class Decision(TypedDict, total=False):
    decision: str  # "promoted" | "kept_champion"
    reason: str
    version: str
    family: str
    members: dict[str, float]  # the champion's combination: family -> weight
    challenger: dict[str, float]
    candidate_run_id: str
    candidate_mae_mean: float
    candidate_mae_h1: float
    champion_version: str | None
    comparison: dict[str, Any] | None
    windows: list[dict[str, Any]]
    dropped: dict[str, Any]
    rerun: bool  # the decision of an earlier run of the same key, found again
    as_of: str
    reports: list[str]


class Forecast(TypedDict, total=False):
    as_of: str
    model_version: str
    model_family: str
    rows: int
    plot_uri: str
    intervals: str
    forecast: list[dict[str, Any]]  # target_date, day_type, horizon, forecast, lower_L, upper_L, model_version
    data_uri: str  # forecast_from_source only
    data_hash: str


class ShadowForecast(TypedDict, total=False):
    trained_as_of: str | None
    families: list[str]
    rows: int
    origins: str
