#!/bin/bash
# First start of the Postgres container: the databases beside Airflow's (POSTGRES_DB).
set -euo pipefail
for db in mlflow forecasts; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname airflow -c "CREATE DATABASE $db OWNER \"$POSTGRES_USER\""
done
