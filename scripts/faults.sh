#!/usr/bin/env bash
# `make faults`: faults under the real scheduler, each tried and reported (bench/results/faults.md).
# Airflow (LocalExecutor, SQLite metadata) and an MLflow tracking server on 127.0.0.1, a fresh home,
# three quick families (linear trains long enough to be killed mid-epoch). scripts/faults.py starts
# the services, triggers the training DAG through the REST API and, during the runs:
#   1. starts three `ridership train` and a DAG run together on the fresh home;
#   2. kills a training task's process with SIGKILL in the middle of an epoch;
#   3. kills the scheduler with SIGKILL in the middle of the trainings and starts it again;
#   4. kills the MLflow server in the middle of a training and starts it again 20 s later;
# and checks what each must leave: a completed or visibly failed run, no family trained twice into
# one MLflow run, no duplicate version, nothing half-written registered. The disk-full and
# half-migrated-store faults are tests (tests/integration/test_faults.py, tests/integration/test_stores.py).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
export PATH=$BIN:$PATH
source "$ROOT/scripts/lib.sh"

FAULTS_HOME=${FAULTS_HOME:-$(mktemp -d /tmp/ridership-faults-XXXXXX)}
export RIDERSHIP_HOME=$FAULTS_HOME/state AIRFLOW_HOME=$FAULTS_HOME/airflow
export AIRFLOW_PORT=${FAULTS_AIRFLOW_PORT:-18091} MLFLOW_PORT=${FAULTS_MLFLOW_PORT:-15091}
LOG=$FAULTS_HOME/logs
mkdir -p "$LOG"
source "$ROOT/scripts/airflow_local_env.sh"
export AIRFLOW__CORE__EXECUTOR=LocalExecutor AIRFLOW__CORE__PARALLELISM=2 AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=2
# A task whose process vanished is noticed within a minute (default: 5).
export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=60
export RIDERSHIP_MLFLOW_TRACKING_URI=http://127.0.0.1:$MLFLOW_PORT RIDERSHIP_MLFLOW_UI_URL=http://127.0.0.1:$MLFLOW_PORT
export RIDERSHIP_FAMILIES=${RIDERSHIP_FAMILIES:-naive,lightgbm,linear}
export RIDERSHIP_EPOCHS=${RIDERSHIP_EPOCHS:-3000} RIDERSHIP_PATIENCE=${RIDERSHIP_PATIENCE:-3000}
# From scratch every night, so that linear's training lasts long enough to be killed in the middle.
export RIDERSHIP_TRAIN_MONTHS=12 RIDERSHIP_BACKTEST_YEARS=none RIDERSHIP_DRIFT_FACTOR=1000 RIDERSHIP_WARM_START=false
export RIDERSHIP_TRAINING_SCHEDULE=none RIDERSHIP_FORECAST_SCHEDULE=none
migrate_airflow || exit 1
exec python "$ROOT/scripts/faults.py" --home "$FAULTS_HOME" --report "$ROOT/bench/results/faults.md"
