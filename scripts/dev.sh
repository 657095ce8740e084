#!/usr/bin/env bash
# `make dev`: the whole hub on this machine, from template.yaml.
#
#   moto server      127.0.0.1:4566   tables, queues, bucket, secrets of template.yaml, with IAM
#                                     enforced: each function signs as its own role (.local/roles.json)
#   SMTP sink        127.0.0.1:1025   mail kept in .local/mail/ (.eml + decoded .json),
#                                     one line per message in .local/smtp.log
#   SQS poller                        feeds SQS-triggered functions (.local/poller.log), and
#                                     runs the re-drive sweeper every SWEEP_INTERVAL_SECONDS
#                                     (default 10; on AWS a Schedule rate(1 minute))
#   cargo lambda     127.0.0.1:9000   every function, at /lambda-url/<function>/<path>
#                                     and at its production path (generated router)
#   WebSocket gateway 127.0.0.1:8000  ws://127.0.0.1:8000/ws/{token} -> the websocket function
#                    127.0.0.1:8001   its management API (WEBSOCKET_MANAGEMENT_ENDPOINT)
#                                     (.local/ws-gateway.log; tools/ws-gateway)
#
# Every function (and the gateway) is built before anything starts, so the first request
# answers at once instead of waiting for a compile; the start-up time is printed with the
# banner. Ctrl-C (or any exit) stops everything this script started, and nothing else.
# Ports can be moved with MOTO_PORT, SMTP_PORT, INVOKE_PORT, WS_PORT and WS_MANAGEMENT_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
LOG_TAG=dev

MOTO_PORT=${MOTO_PORT:-4566}
SMTP_PORT=${SMTP_PORT:-1025}
INVOKE_PORT=${INVOKE_PORT:-9000}
WS_PORT=${WS_PORT:-8000}
WS_MANAGEMENT_PORT=${WS_MANAGEMENT_PORT:-8001}
SWEEP_INTERVAL_SECONDS=${SWEEP_INTERVAL_SECONDS:-10}
PY=.venv/bin/python
export PATH="$PWD/.venv/bin:$PATH"
ENDPOINT="http://127.0.0.1:$MOTO_PORT"
INVOKE="http://127.0.0.1:$INVOKE_PORT"

started=$SECONDS
mkdir -p .local
require_free_port "$MOTO_PORT" "moto server"
require_free_port "$SMTP_PORT" "SMTP sink"
require_free_port "$INVOKE_PORT" "cargo lambda watch"
require_free_port "$WS_PORT" "WebSocket gateway"
require_free_port "$WS_MANAGEMENT_PORT" "WebSocket gateway management API"

trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The functions exactly as `cargo lambda watch` will run them (scripts/lib.sh), then the
# WebSocket gateway as `cargo run -p ws-gateway` below runs it (its own feature set).
mapfile -t FUNCTIONS < <("$PY" scripts/localstack.py functions)
build_functions "${FUNCTIONS[@]}"
cargo build -p ws-gateway
log "built in $((SECONDS - started)) s"

start_bg moto .local/moto.log "$PY" scripts/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT" --enforce-iam
$PY scripts/localstack.py wait --endpoint "$ENDPOINT" --timeout 60
$PY scripts/localstack.py create --endpoint "$ENDPOINT" --roles .local/roles.json
$PY scripts/localstack.py env --port "$MOTO_PORT" --smtp-port "$SMTP_PORT" --ws-management-port "$WS_MANAGEMENT_PORT" \
  --invoke-port "$INVOKE_PORT" --role-credentials .local/roles.json --output .local/hub.env >/dev/null
$PY scripts/localstack.py router --output .local/CargoLambda.toml >/dev/null
log "environment: .local/hub.env; router: .local/CargoLambda.toml"

# Each message is kept as .eml plus a decoded .json in .local/mail/ (scripts/smtp_sink.py).
start_bg smtp .local/smtp.log "$PY" -u scripts/smtp_sink.py --port "$SMTP_PORT" --maildir .local/mail
start_bg poller .local/poller.log "$PY" -u scripts/localstack.py poll --endpoint "$ENDPOINT" --invoke "$INVOKE" \
  --roles .local/roles.json --schedule-interval "$SWEEP_INTERVAL_SECONDS"

# cargo lambda watch in its own session too, so that the EXIT trap can stop its
# function processes as a group; `wait` keeps this script responsive to signals.
# Each function runs through scripts/function_runner.py (cargo's runner, for this process
# only), which swaps the admin credentials of hub.env for the function's role.
start_bg "cargo lambda watch" - env "$(function_runner_var)=$PWD/scripts/function_runner.py" \
  LOCAL_ROLE_CREDENTIALS="$PWD/.local/roles.json" cargo lambda watch \
  --invoke-address 127.0.0.1 \
  --invoke-port "$INVOKE_PORT" \
  --env-file .local/hub.env \
  --global "$PWD/.local/CargoLambda.toml"
WATCH_PID=$LAST_PID

# cargo lambda watch cannot emulate API Gateway WebSocket APIs: the local gateway does,
# invoking the websocket function through watch's invoke endpoint once that is up.
for _ in $(seq 1 120); do
  port_in_use "$INVOKE_PORT" && break
  sleep 1
done
start_bg "WebSocket gateway" .local/ws-gateway.log env \
  WS_GATEWAY_PORT="$WS_PORT" WS_MANAGEMENT_PORT="$WS_MANAGEMENT_PORT" WS_INVOKE_URL="$INVOKE" \
  cargo run --quiet -p ws-gateway
log "WebSocket: ws://127.0.0.1:$WS_PORT/ws/<token> (management API http://127.0.0.1:$WS_MANAGEMENT_PORT)"
# Start every HTTP function's process now: watch runs each through `cargo run`, whose
# up-to-date check takes about a second, so even the first request to each answers at once.
mapfile -t HTTP_FUNCTIONS < <("$PY" scripts/localstack.py functions --http)
start_bg warm-up .local/warm-up.log bash -c 'for f in "${@:2}"; do
  curl -s -o /dev/null -w "$f %{http_code} %{time_total}s\n" --max-time 120 "$1/lambda-url/$f/"
done' warm-up "$INVOKE" "${HTTP_FUNCTIONS[@]}"
cat >&2 <<EOF

  integrations-hub local stack
    API (production paths)   $INVOKE/health   $INVOKE/api/integrations/providers/
    per function             $INVOKE/lambda-url/<function>/<path>   e.g. $INVOKE/lambda-url/health/health
    docs                     $INVOKE/api/docs/   $INVOKE/api/redoc/
    token                    make token USER=alice ROLE=admin
    AWS emulator (moto)      $ENDPOINT        log .local/moto.log
    mail sink                127.0.0.1:$SMTP_PORT   messages .local/mail/   log .local/smtp.log
    SQS poller + sweeper     log .local/poller.log (sweeper every $SWEEP_INTERVAL_SECONDS s)
    WebSocket (seed form)    ws://127.0.0.1:$WS_PORT/ws/<token>   or ws://127.0.0.1:$WS_PORT/?token=<token>
  Ready in $((SECONDS - started)) s (every function built, none compiles on its first request).
  Ctrl-C stops everything.

EOF

status=0
wait "$WATCH_PID" || status=$?
log "cargo lambda watch exited ($status)"
exit "$status"
