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
  # A second signal must not cut the clean-up short: `make` forwards SIGTERM to this script
  # after the process group already had one, and the TERM trap would exit mid-way.
  trap '' INT TERM
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

# build_functions BIN...: build function binaries the way `cargo lambda watch` runs them
# (`cargo run --bin X` at the workspace root: dev profile, features unified over the
# workspace rather than `-p X`, the same CARGO_TARGET_DIR), so watch finds them up to date
# and starts them without compiling. Cargo's progress stays visible unless BUILD_QUIET=1.
build_functions() {
  local started=$SECONDS quiet=()
  [ "${BUILD_QUIET:-0}" = 1 ] && quiet=(--quiet)
  log "building $# functions (cargo build $(printf -- '--bin %s ' "$@"))"
  cargo build "${quiet[@]}" $(printf -- '--bin %s ' "$@")
  log "functions built ($((SECONDS - started)) s)"
}

# wait_for_answer URL [TRIES]: until URL answers with any status but 000/502/503/504 (a
# function's first request starts its process; a gateway error means it is not up yet).
wait_for_answer() {
  local url=$1 tries=${2:-600} code
  for _ in $(seq 1 "$tries"); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 "$url" || true)
    case $code in
      000 | 502 | 503 | 504) sleep 1 ;;
      *) return 0 ;;
    esac
  done
  log "no answer from $url"
  return 1
}

# function_runner_var: the name of cargo's runner variable for this host
# (CARGO_TARGET_<triple>_RUNNER). Set to scripts/function_runner.py for `cargo lambda watch`
# only, it starts each function with its own role's credentials (LOCAL_ROLE_CREDENTIALS),
# as `make dev` does.
function_runner_var() {
  local host
  host=$(rustc -vV | sed -n 's/^host: //p')
  echo "CARGO_TARGET_$(echo "$host" | tr 'a-z-' 'A-Z_')_RUNNER"
}

# start_local_stack DIR MOTO_PORT SMTP_PORT INVOKE_PORT [EXTRA_ENV_LINE...]: the hub on its
# own ports for a test (scripts/browser-test.sh, scripts/walkthrough.sh): moto enforcing IAM
# with template.yaml's resources and one role per function (provider secrets not seeded from
# the developer's environment), an SMTP sink, the function environment (callbacks verified
# against the local URL, see `localstack.py env --invoke-port`) plus EXTRA_ENV_LINEs, the
# router, and `cargo lambda watch` running each function under its own role, as `make dev`
# does. Logs and generated files go to DIR. Build the functions first (build_functions).
start_local_stack() {
  local dir=$1 moto_port=$2 smtp_port=$3 invoke_port=$4
  shift 4
  local endpoint="http://127.0.0.1:$moto_port" line
  mkdir -p "$dir"
  for port in "$moto_port" "$smtp_port" "$invoke_port"; do
    require_free_port "$port" "local stack in $dir" || return 1
  done
  start_bg "moto ($LOG_TAG)" "$dir/moto.log" "$PY" scripts/moto_server.py -H 127.0.0.1 -p "$moto_port" --enforce-iam
  start_bg "smtp sink ($LOG_TAG)" "$dir/smtp.log" "$PY" -u -m aiosmtpd -n -l "127.0.0.1:$smtp_port"
  "$PY" scripts/localstack.py wait --endpoint "$endpoint" --timeout 60
  "$PY" scripts/localstack.py create --endpoint "$endpoint" --no-seed --roles "$dir/roles.json" \
    >"$dir/create.log" 2>&1
  "$PY" scripts/localstack.py env --port "$moto_port" --smtp-port "$smtp_port" \
    --invoke-port "$invoke_port" --role-credentials "$dir/roles.json" --output "$dir/hub.env" >/dev/null
  for line in "$@"; do
    echo "$line" >>"$dir/hub.env"
  done
  "$PY" scripts/localstack.py router --output "$dir/CargoLambda.toml" >/dev/null
  start_bg "cargo lambda watch ($LOG_TAG)" "$dir/watch.log" env \
    "$(function_runner_var)=$PWD/scripts/function_runner.py" \
    LOCAL_ROLE_CREDENTIALS="$PWD/$dir/roles.json" cargo lambda watch \
    --invoke-address 127.0.0.1 \
    --invoke-port "$invoke_port" \
    --env-file "$dir/hub.env" \
    --global "$PWD/$dir/CargoLambda.toml"
}
