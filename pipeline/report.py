"""What an operator reads after a run: the leaderboard, the champion and the stored forecast."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline import forecasting, tracking
from pipeline.config import Settings
from pipeline.registry import current_champion


def latest_parent_run(settings: Settings):
    runs = tracking.client(settings).search_runs(
        [tracking.experiment_id(settings)],
        filter_string=f"tags.`ridership.as_of` = '{settings.as_of.isoformat()}' and tags.`{tracking.RUN_KEY_TAG}` != ''",
        order_by=["attributes.start_time DESC"], max_results=1,
    )
    return runs[0] if runs else None


def summary(settings: Settings) -> dict[str, Any]:
    parent = latest_parent_run(settings)
    board = tracking.leaderboard(settings, parent.info.run_id) if parent else pd.DataFrame()
    champion = current_champion(settings)
    stored = forecasting.stored(settings)
    if not stored.empty:
        latest_as_of = stored["as_of"].max()
        stored = stored[stored["as_of"] == latest_as_of]
        stored = stored[stored["model_version"] == stored["model_version"].max()]
    lines = [f"Leaderboard (as of {settings.as_of}, protocol {settings.protocol}; "
             f"targets {settings.score_start}..{settings.as_of}):"]
    if board.empty:
        lines.append("  (no finished training runs)")
    else:
        shown = board[["family", "mae_h1", "mape_h1", "mae_mean", "epochs", "seconds", "start", "end"]].copy()
        for column in ("mae_h1", "mae_mean"):
            shown[column] = shown[column].map(lambda v: f"{v:,.0f}")
        shown["mape_h1"] = shown["mape_h1"].map(lambda v: f"{v:.2f}%")
        shown["seconds"] = shown["seconds"].map(lambda v: f"{v:.1f}")
        for column in ("start", "end"):
            shown[column] = pd.to_datetime(shown[column]).dt.strftime("%H:%M:%S")
        lines.append(shown.to_string(index=False))
        lines.append(f"  trainings running at the same time (max): {max_overlap(board)}")
    if champion is None:
        lines.append("Champion: none")
    else:
        lines.append(f"Champion: {settings.registered_model} version {champion.version} "
                     f"({champion.tags.get(tracking.FAMILY_TAG)}), mean 14-day MAE "
                     f"{float(champion.tags.get('ridership.candidate_mae_mean', 'nan')):,.0f} at registration")
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


def max_overlap(board: pd.DataFrame) -> int:
    """The most family runs that were in progress at one instant."""
    events = sorted([(s, 1) for s in board["start"]] + [(e, -1) for e in board["end"] if e is not None],
                    key=lambda event: (event[0], event[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak
