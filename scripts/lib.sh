# Helpers for scripts/dev.sh and scripts/test.sh: start background services in
# their own session (so Ctrl-C in the terminal reaches only the foreground
# command and each service can be stopped as a group), remember their ids, and
# stop exactly those on exit. Source it; do not run it.

BG_PIDS=()
BG_NAMES=()

log() {
  if [ -t 2 ]; then
    printf '\033[1m[%s]\033[0m %s\n' "${LOG_TAG:-hub}" "$*" >&2
  else
    printf '[%s] %s\n' "${LOG_TAG:-hub}" "$*" >&2
  fi
}

# port_in_use PORT: true if something accepts connections on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# require_free_port PORT WHAT
require_free_port() {
  if port_in_use "$1"; then
    log "port $1 ($2) is already in use on 127.0.0.1; stop whatever runs there first"
    return 1
  fi
}

# start_bg NAME LOGFILE COMMAND...: run COMMAND in a new session, output to LOGFILE
# ('-' keeps the terminal). Its pid is also its process-group id.
start_bg() {
  local name=$1 logfile=$2
  shift 2
  if [ "$logfile" = "-" ]; then
    setsid "$@" </dev/null &
  else
    setsid "$@" </dev/null >"$logfile" 2>&1 &
  fi
  local pid=$!
  BG_PIDS+=("$pid")
  BG_NAMES+=("$name")
  LAST_PID=$pid
  if [ "$logfile" = "-" ]; then
    log "started $name (pid $pid)"
  else
    log "started $name (pid $pid, log $logfile)"
  fi
}

# is_running PID: true while PID exists and is not a zombie.
is_running() {
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $stat != Z* ]]
}

# stop_all: stop every service started with start_bg, newest first.
stop_all() {
  local i pid name
  for ((i = ${#BG_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${BG_PIDS[$i]}
    # The whole group: a service's children (cargo-lambda's function processes) too.
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for ((i = ${#BG_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${BG_PIDS[$i]}
    name=${BG_NAMES[$i]}
    local n=0
    while is_running "$pid" && [ $n -lt 50 ]; do
      sleep 0.1
      n=$((n + 1))
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    log "stopped $name"
  done
  BG_PIDS=()
  BG_NAMES=()
}
