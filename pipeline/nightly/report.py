"""What an operator reads after a run: the leaderboard, the champion and the stored forecast."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.lifecycle import tracking
from pipeline.io import forecasts
from pipeline.config import Settings
from pipeline.lifecycle.registry import current_champion


def latest_parent_run(settings: Settings) -> "tracking.PipelineRun | None":
    return tracking.latest_pipeline_run(settings)


def summary(settings: Settings) -> dict[str, Any]:
    parent = latest_parent_run(settings)
    board = tracking.leaderboard(settings, parent.run_id) if parent else pd.DataFrame()
    champion = current_champion(settings)
    stored = forecasts.stored(settings)
    if not stored.empty:
        latest_as_of = stored["as_of"].max()
        stored = stored[stored["as_of"] == latest_as_of]
        stored = stored[stored["model_version"] == stored["model_version"].max()]
    lines = [f"Leaderboard (as of {settings.as_of}, protocol {settings.protocol}; "
             f"targets {settings.score_start}..{settings.as_of}):"]
    if board.empty:
        lines.append("  (no finished training runs)")
    else:
        seasonal = [c for c in board.columns if c.startswith("mae_year")]
        shown = board[["family", "mae_h1", "mape_h1", "mae_mean", *seasonal, "epochs", "mode", "fit_seconds", "start",
                       "end"]].copy()
        for column in ("mae_h1", "mae_mean", *seasonal):
            shown[column] = shown[column].map(lambda v: f"{v:,.0f}")
        shown["mape_h1"] = shown["mape_h1"].map(lambda v: f"{v:.2f}%")
        shown["fit_seconds"] = shown["fit_seconds"].map(lambda v: f"{v:.1f}")
        for column in ("start", "end"):
            shown[column] = pd.to_datetime(shown[column]).dt.strftime("%H:%M:%S")
        lines.append(shown.to_string(index=False))
        lines.append(f"  trainings running at the same time (max): {max_overlap(board)}")
        if seasonal:
            lines.append("  mae_year_k: MAE on the weeks the next retrain serves, k years earlier, by the family as of "
                         "then (backtests); mae_mean and mae_h1: the recent window")
    if champion is None:
        lines.append("Champion: none")
    else:
        lines.append(f"Champion: {settings.registered_model} version {champion.version} "
                     f"({champion.tags.get(tracking.FAMILY_TAG)}: {_spec(champion)}), mean 14-day MAE "
                     f"{float(champion.tags.get(tracking.CANDIDATE_MAE_TAG, 'nan')):,.0f} on the recent window at "
                     f"registration; {champion.tags.get(tracking.DECISION_TAG, '')}: "
                     f"{champion.tags.get(tracking.REASON_TAG, '')}")
    if stored.empty:
        lines.append("Forecast: none stored")
    else:
        lines.append(f"Forecast (as of {stored['as_of'].iloc[0]}, model version {stored['model_version'].iloc[0]}):")
        lines.append(stored[["target_date", "horizon", "forecast"]].assign(
            forecast=stored["forecast"].round().astype(int)).to_string(index=False))
    return {
        "text": "\n".join(lines),
        "leaderboard": board.drop(columns=["start", "end"], errors="ignore").to_dict("records"),
        "max_concurrent_trainings": max_overlap(board) if not board.empty else 0,
        "champion": {"version": champion.version, "family": champion.tags.get(tracking.FAMILY_TAG)}
        if champion else None,
        "forecast": stored.to_dict("records"),
    }


def _spec(version) -> str:
    import json

    weights = json.loads(version.tags.get(tracking.COMBINATION_TAG) or "{}") or {
        version.tags.get(tracking.FAMILY_TAG, "?"): 1.0}
    return " + ".join(f"{w:.2f} {name}" for name, w in sorted(weights.items(), key=lambda kv: -kv[1]))


def max_overlap(board: pd.DataFrame) -> int:
    """The most family runs that were in progress at one instant."""
    events = sorted([(s, 1) for s in board["start"]] + [(e, -1) for e in board["end"] if e is not None],
                    key=lambda event: (event[0], event[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def log_run_reports(settings: Settings, parent_run_id: str, frame: pd.DataFrame) -> list[str]:
    """Leaderboard (CSV, Markdown), per-horizon MAE curves and the best three's validation
    forecasts against actuals, logged as artifacts of the pipeline's parent run."""
    from pipeline.nightly.plots import figure, png

    runs = tracking.finished_family_runs(settings, parent_run_id)
    board = tracking.leaderboard_of(runs)
    if board.empty:
        return []
    table = board.drop(columns=["start", "end"])
    files = {"leaderboard.csv": table.to_csv(index=False).encode(),
             "leaderboard.md": _markdown(table).encode()}

    fig, ax = figure(9, 5)
    for run in sorted(runs, key=lambda r: r.metrics.get("mae_mean", float("inf"))):
        curve = [run.metrics.get(f"mae_h{h:02d}") for h in range(1, settings.horizon + 1)]
        ax.plot(range(1, settings.horizon + 1), curve, marker="o", label=run.family)
    ax.set(xlabel="horizon (days ahead)", ylabel="MAE (riders)",
           title=f"MAE by horizon, targets {settings.score_start}..{settings.as_of}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    files["mae_by_horizon.png"] = png(fig)

    actual = frame.loc[pd.Timestamp(settings.score_start): pd.Timestamp(settings.as_of), settings.target]
    fig, ax = figure(11, 4)
    ax.plot(actual.index, actual.values, color="black", label="actual")
    mlflow_client = tracking.client(settings)
    for row in board.head(3).itertuples():
        path = mlflow_client.download_artifacts(row.run_id, tracking.VALIDATION_FORECASTS)
        forecasts = pd.read_csv(path, index_col="origin", parse_dates=True)
        day_ahead = pd.Series(forecasts["h01"].to_numpy(), index=forecasts.index + pd.Timedelta(days=1))
        day_ahead = day_ahead.loc[actual.index[0]: actual.index[-1]]
        ax.plot(day_ahead.index, day_ahead.values, "--", label=f"{row.family} (day ahead)")
    ax.set(title="Validation: day-ahead forecasts of the best three vs actuals", ylabel=settings.target)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    files["validation_best3.png"] = png(fig)

    for name, data in files.items():
        tracking.log_artifact_bytes(settings, parent_run_id, name, data)
    return sorted(files)


def _markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    rows = ["| " + " | ".join(f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row) + " |"
            for row in table.itertuples(index=False)]
    return header + "\n".join(rows) + "\n"
