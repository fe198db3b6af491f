#!/usr/bin/env bash
# `make run`: the real job on the embedded default. Airflow (SQLite metadata, LocalExecutor,
# api-server + scheduler + dag-processor) runs the training DAG, whose mapped trainings run
# concurrently, then the forecast DAG; MLflow keeps its SQLite store under .ridership/.
# With --ui it only starts Airflow on the same state and waits (Ctrl-C stops it).
# With --backfill [FROM [TO]] (`make demo-backfill`) it replays nightly operation through the
# scheduler instead: `airflow backfill create` over those nights (default 2019-06-01 .. 06-14) for
# the training DAG, then for the forecast DAG, the shipped file served as it stood each night.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
export PATH=$BIN:$PATH

MODE=${1:-}
AS_OF=${RIDERSHIP_AS_OF:-2019-05-31}
PORT=${RIDERSHIP_AIRFLOW_PORT:-8080}
if [ "$MODE" = "--backfill" ]; then
  FROM=${2:-2019-06-01} TO=${3:-2019-06-14}
  # Its own state, the schedules on (a backfill follows them), and by default four quick families:
  # the demonstration is the nightly behaviour (retrain, skip, promote, forecast), not accuracy.
  export RIDERSHIP_HOME=${RIDERSHIP_HOME:-$ROOT/.ridership-backfill}
  export RIDERSHIP_REPLAY_SOURCE=true
  export RIDERSHIP_FAMILIES=${RIDERSHIP_FAMILIES:-naive,sarima,linear,lightgbm}
else
  export RIDERSHIP_HOME=${RIDERSHIP_HOME:-$ROOT/.ridership}
  # Runs are triggered here, not by the clock: the nightly schedule would start a run for today.
  export RIDERSHIP_TRAINING_SCHEDULE=${RIDERSHIP_TRAINING_SCHEDULE:-none}
  export RIDERSHIP_FORECAST_SCHEDULE=${RIDERSHIP_FORECAST_SCHEDULE:-none}
fi

# A bad RIDERSHIP_* value would otherwise surface only as "Dag not found": the DAG files fail to import.
python -c 'import sys
from pipeline.config import Settings
try:
    Settings.from_env()
except ValueError as exc:
    sys.exit(f"invalid configuration: {exc}")' || exit 2

export AIRFLOW_HOME=$RIDERSHIP_HOME/airflow AIRFLOW_PORT=$PORT
source "$ROOT/scripts/lib.sh"
source "$ROOT/scripts/airflow_local_env.sh"
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
# One training per core: more would only make each slower.
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-$(nproc)}
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=$AIRFLOW__CORE__PARALLELISM

LOG=$RIDERSHIP_HOME/logs
mkdir -p "$LOG"
PIDS=()
stop_all() {
  stop_services
  wait 2>/dev/null || true
}
trap stop_all EXIT INT TERM

migrate_airflow || exit 1
if [ "$MODE" = "--backfill" ]; then
  # Created before the scheduler starts: on SQLite the CLI's inserts would wait on its locks.
  # The forecast DAG stays paused until the trainings are done, so that each night's forecast
  # comes from the version that was champion that night.
  for dag in ridership_training ridership_forecast; do
    # through the end of TO: the forecast DAG runs at 06:00
    airflow backfill create --dag-id "$dag" --from-date "$FROM" --to-date "${TO}T23:59:59" --max-active-runs 1 \
      > "$LOG/$dag.backfill-create.log" 2>&1 || { tail -20 "$LOG/$dag.backfill-create.log"; exit 1; }
  done
fi
start_airflow || exit 1

if [ "$MODE" = "--ui" ]; then
  say "Airflow UI: http://127.0.0.1:$PORT (user and password: $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS, i.e. user:role; password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated). Ctrl-C stops."
  wait
  exit 0
fi

backfill() {  # dag_id [airflow_api.py options]: unpauses the DAG, waits for its backfill, prints each night
  python "$ROOT/scripts/airflow_api.py" backfill "$@" --json "$LOG/$1.backfill.json" | tee "$LOG/$1.backfill"
  [ "${PIPESTATUS[0]}" = 0 ]
}

if [ "$MODE" = "--backfill" ]; then
  START=$(date +%s) FAILED=0
  say "Backfill of ridership_training, $FROM .. $TO (families: $RIDERSHIP_FAMILIES)"
  backfill ridership_training --show validate:cutoff --show promote:decision,version,family,reason || FAILED=1
  say "Backfill of ridership_forecast, $FROM .. $TO"
  backfill ridership_forecast --show forecast:as_of,model_version,model_family,rows || FAILED=1
  say "Champion history"
  ridership champions
  echo "Wall time of the two backfills: $(($(date +%s) - START)) s"
  echo "Open the UIs on this state: RIDERSHIP_HOME=$RIDERSHIP_HOME make ui-airflow ui-mlflow"
  exit $FAILED
fi

run_dag() {  # dag_id -> triggers it through the REST API, waits, prints its tasks; fails if it failed
  # No logical date: the as-of date travels in the run's params, so reruns never collide.
  # Polling over HTTP, not with the airflow CLI: each CLI call imports Airflow (a core-second).
  python "$ROOT/scripts/airflow_api.py" run "$1" --run-id "make_run__$1__$(date -u +%Y%m%dT%H%M%S)" \
    --conf "{\"as_of\": \"$AS_OF\"}" --timeout 7200 | tee "$LOG/$1.tasks"
  [ "${PIPESTATUS[0]}" = 0 ]
}

drift_alert_only() {  # the forecast run failed only because check_drift raised its alert
  awk '$1 ~ /:$/ || $1 ~ /^\[/ {next} / failed / {if ($1 == "check_drift") drift = 1; else other = 1}
       END {exit !(drift && !other)}' "$LOG/ridership_forecast.tasks"
}

START=$(date +%s)
say "Training DAG"
run_dag ridership_training
say "Forecast DAG"
if ! run_dag ridership_forecast; then
  # Drift is an alert for operators, not a broken run: the forecast is stored, so show it.
  drift_alert_only || exit 1
  echo "ALERT: check_drift failed (the champion's realized error is high); its log says by how much:"
  grep -ho 'model version [0-9]* drifted[^"]*' "$AIRFLOW_HOME"/logs/dag_id=ridership_forecast/run_id=make_run__ridership_forecast__*/task_id=check_drift/*.log | tail -1 || true
fi
END=$(date +%s)

say "Result"
ridership leaderboard --as-of "$AS_OF"
echo
echo "Forecast plot: $RIDERSHIP_HOME/artifacts/forecasts/"
echo "Wall time of the two DAG runs: $((END - START)) s"
echo "Open the UIs on this state: make ui-airflow (http://127.0.0.1:$PORT) and make ui-mlflow (http://127.0.0.1:5000)"
