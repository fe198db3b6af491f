#!/usr/bin/env bash
# `make e2e-celery`: the production topology of docker/docker-compose.yaml, brought up natively
# on 127.0.0.1 (no Docker engine needed): PostgreSQL (Airflow metadata, MLflow backend store,
# forecast store), Redis (Celery broker), an MLflow tracking server that serves artifacts,
# Airflow api-server, scheduler, dag-processor, triggerer and two Celery workers. It triggers
# the training DAG through the REST API with a JWT, checks that mapped trainings ran on both
# workers and that @champion exists on the MLflow server, runs the forecast DAG, and stops
# everything it started. Installs PostgreSQL and Redis with apt-get when they are missing.
#
# Workers share no disk (E2E_STORE=s3, the default): an S3 API on 127.0.0.1 (moto's server mode)
# holds the pipeline's artifact root and, behind the MLflow server's artifact proxy, MLflow's
# artifacts; each worker, the control plane and the CLI get a home folder of their own, and the
# run checks that no worker's folder holds a file another task read and loads @champion in a
# third process with an empty home and no object-store credentials (scripts/e2e_no_shared_disk.py).
# E2E_STORE=shared runs the older layout (one folder every process reads and writes) to compare.
#
# Tiny epochs by default (RIDERSHIP_EPOCHS=2); every state file lives under E2E_HOME
# (a fresh temporary folder unless set), which is kept for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
export PATH=$BIN:$PATH
source "$ROOT/scripts/lib.sh"

E2E_HOME=${E2E_HOME:-$(mktemp -d /tmp/ridership-celery-XXXXXX)}
PG_PORT=${E2E_PG_PORT:-5433}
REDIS_PORT=${E2E_REDIS_PORT:-6380}
MLFLOW_PORT=${E2E_MLFLOW_PORT:-5001}
AIRFLOW_PORT=${E2E_AIRFLOW_PORT:-8081}
S3_PORT=${E2E_S3_PORT:-5002}
STORE=${E2E_STORE:-s3}
case $STORE in s3|shared) ;; *) echo "E2E_STORE must be s3 or shared, not '$STORE'" >&2; exit 2 ;; esac
LOG=$E2E_HOME/logs
mkdir -p "$LOG"

# -- system services ------------------------------------------------------------------------
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [ -z "$(pg_bin)" ] || ! command -v redis-server > /dev/null; then
  say "Installing PostgreSQL and Redis from the system package manager"
  [ "$(id -u)" = 0 ] || { echo "PostgreSQL/Redis missing and not root: install postgresql and redis-server" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q postgresql redis-server > "$LOG/apt.log" 2>&1 \
    || { apt-get update -q >> "$LOG/apt.log" 2>&1 && apt-get install -y -q postgresql redis-server >> "$LOG/apt.log" 2>&1; } \
    || { tail -20 "$LOG/apt.log"; exit 1; }
fi
PG_BIN=$(pg_bin)

# PostgreSQL refuses to run as root: its cluster belongs to the postgres system user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

PIDS=()
# Its own folder: E2E_HOME may sit under a directory the postgres user cannot enter.
PGDATA=$(mktemp -d /tmp/ridership-pg-XXXXXX)
stop_all() {
  say "Stopping everything this script started"
  stop_services
  sleep 2
  stop_services -9
  [ -f "$PGDATA/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast stop > /dev/null 2>&1 || true
  wait 2>/dev/null || true
  cp "$PGDATA/server.log" "$LOG/postgres.log" 2>/dev/null || true
  rm -rf "$PGDATA"
}
trap stop_all EXIT INT TERM

# Passwords are generated per run and never written into the repository.
DB_PASSWORD=$(python -c 'import secrets; print(secrets.token_urlsafe(24))')

say "PostgreSQL on 127.0.0.1:$PG_PORT ($PGDATA)"
chmod 700 "$PGDATA"
if [ "$(id -u)" = 0 ]; then chown postgres "$PGDATA"; fi
as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust > "$LOG/initdb.log" 2>&1
as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -w -l "$PGDATA/server.log" \
  -o "-p $PG_PORT -k $PGDATA -c listen_addresses=127.0.0.1" start > /dev/null
psql_admin() { as_pg psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }
psql_admin -c "create role ridership login password '$DB_PASSWORD'"
for db in airflow mlflow forecasts; do psql_admin -c "create database $db owner ridership"; done
PG_URL="postgresql+psycopg2://ridership:$DB_PASSWORD@127.0.0.1:$PG_PORT"

say "Redis on 127.0.0.1:$REDIS_PORT"
setsid redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no > "$LOG/redis.log" 2>&1 & PIDS+=($!)

if [ "$STORE" = s3 ]; then
  BUCKET=ridership
  say "Object store: S3 API on 127.0.0.1:$S3_PORT (moto server), bucket $BUCKET"
  setsid python -m moto.server -H 127.0.0.1 -p "$S3_PORT" > "$LOG/s3.log" 2>&1 & PIDS+=($!)
  wait_for "http://127.0.0.1:$S3_PORT/moto-api/" s3 60
  # Credentials come from the environment, as they would from a secret store or an instance role.
  export AWS_ACCESS_KEY_ID=e2e AWS_SECRET_ACCESS_KEY=e2e AWS_DEFAULT_REGION=us-east-1
  export AWS_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
  python -c "import boto3; boto3.client('s3').create_bucket(Bucket='$BUCKET')"
  MLFLOW_ARTIFACTS=s3://$BUCKET/mlflow
  export RIDERSHIP_ARTIFACT_ROOT=s3://$BUCKET/pipeline
  HOMES=$E2E_HOME/homes  # a folder per process, as on machines that share no disk
  export RIDERSHIP_HOME=$HOMES/control
else
  MLFLOW_ARTIFACTS=$E2E_HOME/mlflow-artifacts
  export RIDERSHIP_HOME=$E2E_HOME/shared
fi

say "MLflow tracking server on 127.0.0.1:$MLFLOW_PORT (artifacts proxied to $MLFLOW_ARTIFACTS)"
setsid mlflow server --backend-store-uri "$PG_URL/mlflow" --artifacts-destination "$MLFLOW_ARTIFACTS" \
  --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 > "$LOG/mlflow.log" 2>&1 & PIDS+=($!)

# -- the pipeline's settings ----------------------------------------------------------------------
export RIDERSHIP_MLFLOW_TRACKING_URI=http://127.0.0.1:$MLFLOW_PORT
export RIDERSHIP_MLFLOW_UI_URL=$RIDERSHIP_MLFLOW_TRACKING_URI
export RIDERSHIP_FORECAST_DB_URI=$PG_URL/forecasts
export RIDERSHIP_EPOCHS=${RIDERSHIP_EPOCHS:-2}
export RIDERSHIP_FAMILIES=${RIDERSHIP_FAMILIES:-naive,sarima,linear,multivariate_rnn}
export RIDERSHIP_TRAINING_SCHEDULE=none RIDERSHIP_FORECAST_SCHEDULE=none
# Tiny epochs make every model's realized error "drift"; the check is not what this run tests.
export RIDERSHIP_DRIFT_FACTOR=${RIDERSHIP_DRIFT_FACTOR:-1000}

# -- Airflow with CeleryExecutor ----------------------------------------------------------------
export AIRFLOW_HOME=$E2E_HOME/airflow
source "$ROOT/scripts/airflow_local_env.sh"
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=$PG_URL/airflow
export AIRFLOW__CELERY__BROKER_URL=redis://127.0.0.1:$REDIS_PORT/0
export AIRFLOW__CELERY__RESULT_BACKEND=db+postgresql+psycopg2://ridership:$DB_PASSWORD@127.0.0.1:$PG_PORT/airflow
export AIRFLOW__CELERY__WORKER_CONCURRENCY=1
export AIRFLOW__CORE__HOSTNAME_CALLABLE=pipeline.entry.runtime.worker_hostname

say "Airflow: migrating the metadata database"
airflow db migrate > "$LOG/db-migrate.log" 2>&1 || { tail -20 "$LOG/db-migrate.log"; exit 1; }

say "Airflow: api-server, scheduler, dag-processor, triggerer, Celery workers worker-1 and worker-2"
setsid airflow api-server --host 127.0.0.1 --port "$AIRFLOW_PORT" > "$LOG/api-server.log" 2>&1 & PIDS+=($!)
setsid airflow scheduler > "$LOG/scheduler.log" 2>&1 & PIDS+=($!)
setsid airflow dag-processor > "$LOG/dag-processor.log" 2>&1 & PIDS+=($!)
setsid airflow triggerer > "$LOG/triggerer.log" 2>&1 & PIDS+=($!)
declare -A WORKER_PID
worker_home() { if [ "$STORE" = s3 ]; then echo "$HOMES/worker-$1"; else echo "$RIDERSHIP_HOME"; fi; }
for n in 1 2; do
  RIDERSHIP_WORKER_NAME=worker-$n RIDERSHIP_HOME=$(worker_home $n) setsid airflow celery worker \
    --celery-hostname "worker-$n@%h" > "$LOG/worker-$n.log" 2>&1 & PIDS+=($!)
  WORKER_PID[$n]=$!
done

wait_for "http://127.0.0.1:$MLFLOW_PORT/health" mlflow 120
wait_for "http://127.0.0.1:$AIRFLOW_PORT/api/v2/monitor/health" api-server 180
for n in 1 2; do
  for _ in $(seq 120); do
    grep -q "ready" "$LOG/worker-$n.log" && break
    kill -0 "${WORKER_PID[$n]}" 2>/dev/null || break  # it died: say why now, not in two minutes
    sleep 1
  done
  grep -q "ready" "$LOG/worker-$n.log" || { echo "worker-$n not ready" >&2; tail -30 "$LOG/worker-$n.log" >&2; exit 1; }
done
# The dag-processor must have parsed both DAGs before the API can trigger them.
for _ in $(seq 120); do
  [ "$(airflow dags list -o plain 2>/dev/null | grep -c '^ridership_')" -ge 2 ] && break; sleep 2
done

START=$(date +%s)
say "Training DAG through the REST API"
python scripts/airflow_api.py run ridership_training --conf '{"as_of": "2019-05-31"}' \
  --timeout 1500 --json "$E2E_HOME/training.json"

say "Checks"
python - "$E2E_HOME/training.json" <<'EOF'
import json, sys

from mlflow import MlflowClient

from pipeline.config import Settings
from pipeline.lifecycle import tracking

tasks = json.load(open(sys.argv[1]))["task_instances"]
trainings = {t["rendered_map_index"]: t["hostname"] for t in tasks if t["task_id"] == "train"}
workers = sorted(set(trainings.values()))
print(f"trainings by worker: {trainings}")
if len(workers) < 2:
    sys.exit(f"FAIL: every training ran on {workers}: expected both Celery workers")
settings = Settings.from_env()
champion = MlflowClient(settings.mlflow_tracking_uri).get_model_version_by_alias(
    settings.registered_model, settings.champion_alias)
print(f"OK: trainings ran on {len(workers)} workers ({', '.join(workers)}); "
      f"@{settings.champion_alias} on the MLflow server -> {settings.registered_model} version "
      f"{champion.version} ({champion.tags.get(tracking.FAMILY_TAG)})")
EOF

say "Forecast DAG through the REST API"
python scripts/airflow_api.py run ridership_forecast --conf '{"as_of": "2019-05-31"}' --timeout 600 \
  --json "$E2E_HOME/forecast.json"
END=$(date +%s)

if [ "$STORE" = s3 ]; then
  say "No shared disk: the workers' folders, the object store, @champion from an empty home"
  python scripts/e2e_no_shared_disk.py folders "$HOMES" "$E2E_HOME/forecast.json"
  EMPTY=$(mktemp -d /tmp/ridership-empty-XXXXXX)
  # No credentials from anywhere: not the environment, ~/.aws nor an instance's metadata service.
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_ENDPOINT_URL RIDERSHIP_HOME="$EMPTY" \
    AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false \
    python scripts/e2e_no_shared_disk.py champion
  held=$(find "$EMPTY" -type f | wc -l); rm -rf "$EMPTY"
  [ "$held" = 0 ] || { echo "FAIL: loading @champion left $held files in its empty home" >&2; exit 1; }
fi

say "Two promotions started together: serialized by the advisory lock on PostgreSQL"
if [ "$STORE" = s3 ]; then export RIDERSHIP_HOME=$HOMES/cli; fi
ridership train naive --as-of 2019-06-30 --json > "$E2E_HOME/race-train.json"
RACE=()
for n in 1 2; do ridership promote --as-of 2019-06-30 --json > "$E2E_HOME/race-promote-$n.json" & RACE+=($!); done
for pid in "${RACE[@]}"; do wait "$pid" || { echo "FAIL: a racing promote failed" >&2; exit 1; }; done
python - "$E2E_HOME"/race-promote-{1,2}.json <<'EOF'
import json, sys

from mlflow import MlflowClient

from pipeline.config import Settings

decisions = [json.load(open(path)) for path in sys.argv[1:]]
settings = Settings.from_env()
versions = [v.version for v in MlflowClient(settings.mlflow_tracking_uri).search_model_versions(
    f"name = '{settings.registered_model}' and tags.`ridership.as_of` = '2019-06-30'")]
print(f"race: decisions {[(d['decision'], d['version'], d['rerun']) for d in decisions]}; "
      f"versions as of 2019-06-30: {versions}")
if len(versions) != 1 or {d["version"] for d in decisions} != {str(versions[0])} \
        or sorted(d["rerun"] for d in decisions) != [False, True]:
    sys.exit("FAIL: two promotions started together did not leave one decision and one version")
print("OK: two promotions started together left one version; the second found the first's decision")
EOF
ridership leaderboard --as-of 2019-05-31
echo
echo "Celery end-to-end run passed ($STORE): $((END - START)) s for the two DAG runs; state and logs in $E2E_HOME"
