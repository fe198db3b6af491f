#!/usr/bin/env bash
# `make run`: the real job on the embedded default. Airflow (SQLite metadata, LocalExecutor,
# api-server + scheduler + dag-processor) runs the training DAG, whose mapped trainings run
# concurrently, then the forecast DAG; MLflow keeps its SQLite store under .ridership/.
# With --ui it only starts Airflow on the same state and waits (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
export PATH=$BIN:$PATH

export RIDERSHIP_HOME=${RIDERSHIP_HOME:-$ROOT/.ridership}
AS_OF=${RIDERSHIP_AS_OF:-2019-05-31}
PORT=${RIDERSHIP_AIRFLOW_PORT:-8080}
# Runs are triggered here, not by the clock: the nightly schedule would start a run for today.
export RIDERSHIP_TRAINING_SCHEDULE=${RIDERSHIP_TRAINING_SCHEDULE:-none}
export RIDERSHIP_FORECAST_SCHEDULE=${RIDERSHIP_FORECAST_SCHEDULE:-none}

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

say "Airflow metadata database ($AIRFLOW_HOME/airflow.db)"
airflow db migrate > "$LOG/db-migrate.log" 2>&1 || { tail -20 "$LOG/db-migrate.log"; exit 1; }
airflow dags reserialize > "$LOG/reserialize.log" 2>&1 || { tail -20 "$LOG/reserialize.log"; exit 1; }

say "Starting api-server (http://127.0.0.1:$PORT), scheduler and dag-processor; logs in $LOG"
setsid airflow api-server --host 127.0.0.1 --port "$PORT" > "$LOG/api-server.log" 2>&1 & PIDS+=($!)
setsid airflow scheduler > "$LOG/scheduler.log" 2>&1 & PIDS+=($!)
setsid airflow dag-processor > "$LOG/dag-processor.log" 2>&1 & PIDS+=($!)
wait_for "http://127.0.0.1:$PORT/api/v2/monitor/health" api-server 120 || exit 1

if [ "${1:-}" = "--ui" ]; then
  say "Airflow UI: http://127.0.0.1:$PORT (user and password: $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS, i.e. user:role; password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated). Ctrl-C stops."
  wait
  exit 0
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
