# Sourced by run_local.sh, backfill_demo.sh and e2e_celery.sh: how they report progress, wait for services and stop them.
say() { printf '\n== [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

wait_for() {  # url name seconds: until the url answers, or fail showing the end of $LOG/<name>.log
  for _ in $(seq "$3"); do curl -sf "$1" > /dev/null 2>&1 && return 0; sleep 1; done
  echo "$2 did not come up at $1; last log lines:" >&2; tail -30 "$LOG/$2.log" >&2; return 1
}

stop_services() {  # [-9]: signal every pid in PIDS. Each service leads its own process group
  # (started with setsid), so this also stops what it spawned: the log servers of the scheduler
  # and of Celery workers outlive their parent otherwise.
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && { kill ${1:-} -- "-$pid" || kill ${1:-} "$pid"; } 2>/dev/null || true; done
}

migrate_airflow() {  # the metadata database, with the DAGs serialized into it
  say "Airflow metadata database ($AIRFLOW_HOME/airflow.db)"
  airflow db migrate > "$LOG/db-migrate.log" 2>&1 || { tail -20 "$LOG/db-migrate.log"; return 1; }
  airflow dags reserialize > "$LOG/reserialize.log" 2>&1 || { tail -20 "$LOG/reserialize.log"; return 1; }
}

start_airflow() {  # api-server, scheduler and dag-processor (pids in PIDS)
  say "Starting api-server (http://127.0.0.1:$AIRFLOW_PORT), scheduler and dag-processor; logs in $LOG"
  setsid airflow api-server --host 127.0.0.1 --port "$AIRFLOW_PORT" > "$LOG/api-server.log" 2>&1 & PIDS+=($!)
  setsid airflow scheduler > "$LOG/scheduler.log" 2>&1 & PIDS+=($!)
  setsid airflow dag-processor > "$LOG/dag-processor.log" 2>&1 & PIDS+=($!)
  wait_for "http://127.0.0.1:$AIRFLOW_PORT/api/v2/monitor/health" api-server 120
}
