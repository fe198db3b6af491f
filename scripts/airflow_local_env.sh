# Sourced by run_local.sh and e2e_celery.sh: what every Airflow process on 127.0.0.1 shares.
# Needs ROOT (the repository), AIRFLOW_HOME and AIRFLOW_PORT; exports AIRFLOW_API_URL,
# AIRFLOW_API_USER and AIRFLOW_API_PASSWORD for scripts/airflow_api.py.
mkdir -p "$AIRFLOW_HOME/logs"
export AIRFLOW_HOME
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
export AIRFLOW__CORE__PLUGINS_FOLDER=$ROOT/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__API__BASE_URL=http://127.0.0.1:$AIRFLOW_PORT
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=$AIRFLOW_PORT
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$AIRFLOW_PORT/execution/
export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}
export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=False
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=5
# Secrets are generated on first use and stay on this machine, never in the repository.
SECRET_FILE=$AIRFLOW_HOME/.jwt_secret
[ -s "$SECRET_FILE" ] || (umask 077; python -c 'import secrets; print(secrets.token_urlsafe(64))' > "$SECRET_FILE")
export AIRFLOW__API_AUTH__JWT_SECRET=$(cat "$SECRET_FILE")
export AIRFLOW__API__SECRET_KEY=$AIRFLOW__API_AUTH__JWT_SECRET
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated
[ -s "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" ] || (umask 077; python -c \
  'import json, secrets; print(json.dumps({"admin": secrets.token_urlsafe(16)}))' > "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
export AIRFLOW_API_URL=http://127.0.0.1:$AIRFLOW_PORT AIRFLOW_API_USER=admin
AIRFLOW_API_PASSWORD=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["admin"])' \
  "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
export AIRFLOW_API_PASSWORD
