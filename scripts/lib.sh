# Sourced by run_local.sh and e2e_celery.sh: how they report progress, wait for services and stop them.
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
