#!/usr/bin/env bash
# `make bench`: the benchmarks, against a fresh moto server holding template.yaml's resources,
# then one side-by-side table (docs/performance.md explains each figure).
#
#   every [[bench]] of tests/Cargo.toml   (rate limiter, SMS bulk, AI overhead, round trips
#                                        per route ...), dev profile (the AI overhead side by
#                                        side with LiteLLM: release profile)
#   AI chat vs LiteLLM                   the ai_overhead bench with a local OpenAI stand-in
#                                        (benches/openai_standin.py) and a LiteLLM proxy in
#                                        front of the same stand-in, in one run
#   cold start of `health`               release build, under a fake Lambda Runtime API
#                                        (benches/coldstart.py), side by side with the Python
#                                        peer (benches/python_peer: FastAPI + Mangum + boto3)
#   binary sizes                         release binaries of BENCH_SIZE_FUNCTIONS (default: every
#                                        HTTP function), zipped
#
# The Python peer and LiteLLM are bench-only: installed from PyPI into .local/bench-venv
# (benches/requirements-bench.txt), never into .venv nor used by `make test`.
#
# Knobs: BENCH_COLDSTART=0 skips the cold start, BENCH_PEERS=0 skips the bench venv (no
# Python peer, no LiteLLM), BENCH_SIZES=0 skips the sizes, BENCH_ONLY="round_trips ai_overhead"
# runs only those [[bench]]es. Ports: BENCH_MOTO_PORT (4568), BENCH_SMTP_PORT (1027),
# BENCH_STANDIN_PORT (9161), BENCH_LITELLM_PORT (9162).
#
# Figures against moto measure the hub's work plus moto's (a Python emulator on loopback),
# not DynamoDB; each bench prints what it counts.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
LOG_TAG=bench

MOTO_PORT=${BENCH_MOTO_PORT:-4568}
SMTP_PORT=${BENCH_SMTP_PORT:-1027}
STANDIN_PORT=${BENCH_STANDIN_PORT:-9161}
LITELLM_PORT=${BENCH_LITELLM_PORT:-9162}
PY=.venv/bin/python
BENCH_VENV=.local/bench-venv
export PATH="$PWD/.venv/bin:$PATH"
ENDPOINT="http://127.0.0.1:$MOTO_PORT"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
# Every HTTP function (issue 18's goal: each under 5 MB zipped); the SQS workers and the sweeper
# are left out. One cargo invocation unifies `shared`'s features (s3 everywhere), which moves a
# binary by about 20 KB (docs/performance.md, section 4).
SIZE_FUNCTIONS=${BENCH_SIZE_FUNCTIONS:-ai docs email health notifications providers sms subscriptions uploads webhooks websocket}
SUMMARY=.local/bench-summary
export BENCH_SUMMARY_DIR="$PWD/$SUMMARY"

mkdir -p .local
rm -rf "$SUMMARY"
mkdir -p "$SUMMARY"
require_free_port "$MOTO_PORT" "bench moto server"
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_http URL SECONDS: until URL answers (any HTTP status).
wait_http() {
  local url=$1 deadline=$((SECONDS + $2))
  until curl -s -o /dev/null --max-time 2 "$url"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

# The bench-only venv: re-installed when benches/requirements-bench.txt changes.
peers=0
if [ "${BENCH_PEERS:-1}" != "0" ]; then
  stamp="$BENCH_VENV/.installed"
  if [ ! -f "$stamp" ] || ! cmp -s benches/requirements-bench.txt "$stamp"; then
    log "== bench venv ($BENCH_VENV: FastAPI, Mangum, boto3, LiteLLM proxy from PyPI)"
    if { [ -x "$BENCH_VENV/bin/python" ] || python3 -m venv "$BENCH_VENV"; } &&
      "$BENCH_VENV/bin/pip" install -q --disable-pip-version-check -r benches/requirements-bench.txt; then
      cp benches/requirements-bench.txt "$stamp"
    else
      log "bench venv could not be installed: no Python peer, no LiteLLM comparison"
    fi
  fi
  [ -f "$stamp" ] && peers=1
fi

require_free_port "$SMTP_PORT" "bench SMTP sink"
start_bg "moto (bench)" .local/moto-bench.log "$PY" scripts/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT"
# The email routes and the notifications worker send to it (round trips, notifications bench).
start_bg "smtp sink (bench)" .local/smtp-bench.log "$PY" -u -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT"
$PY scripts/localstack.py wait --endpoint "$ENDPOINT" --timeout 60
# Functions' states are built with their roles' credentials as in `make test` (TestHub), but
# the emulator does not enforce IAM here: the figures measure the hub, not moto's policy checks.
$PY scripts/localstack.py create --endpoint "$ENDPOINT" --no-seed --roles .local/bench-roles.json --test-instances
$PY scripts/localstack.py env --port "$MOTO_PORT" --smtp-port "$SMTP_PORT" \
  --role-credentials .local/bench-roles.json --output .local/bench.env >/dev/null
set -a
# shellcheck disable=SC1091
source .local/bench.env
set +a

# The cold start first, on the fresh stack and before LiteLLM starts: moto answers a Query by
# reading every item of the table, so the benches below (sms_bulk alone writes 10,000 message
# records) would make both sides' catalog Query slow, which DynamoDB's is not. Measured after
# them in one run: hub first call 158 ms, peer warm p50 82 ms (docs/performance.md, section 3).
if [ "${BENCH_COLDSTART:-1}" != "0" ]; then
  log "== cold start (release build of health)"
  peer_args=()
  if [ "$peers" = 1 ]; then
    peer_args=(--peer-command "$BENCH_VENV/bin/python benches/python_peer/bootstrap.py" --peer-name "python peer")
  fi
  if cargo build --release -p health; then
    # No WebSocket gateway runs in the bench stack: both functions skip that probe (with the
    # endpoint set, each would spend its time on a refused connection).
    env -u WEBSOCKET_MANAGEMENT_ENDPOINT \
    $PY benches/coldstart.py --binary "$TARGET_DIR/release/health" --path /health --runs 5 --warm 50 \
      "${peer_args[@]}" --summary "$SUMMARY/coldstart.txt" || log "cold start failed"
  else
    log "release build of health failed: no cold-start figures"
  fi
fi

# The OpenAI stand-in and LiteLLM in front of it, for the ai_overhead bench's side by side.
litellm=0
if [ "$peers" = 1 ]; then
  require_free_port "$STANDIN_PORT" "OpenAI stand-in"
  require_free_port "$LITELLM_PORT" "LiteLLM proxy"
  start_bg "OpenAI stand-in" .local/openai-standin.log "$PY" benches/openai_standin.py --port "$STANDIN_PORT"
  LITELLM_KEY="sk-bench-$(date +%s)"
  cat >.local/litellm.yaml <<YAML
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:$STANDIN_PORT/v1
      api_key: bench-key
general_settings:
  master_key: $LITELLM_KEY
litellm_settings:
  telemetry: false
YAML
  if [ -x "$BENCH_VENV/bin/litellm" ]; then
    LITELLM_LOG=ERROR LITELLM_TELEMETRY=False start_bg "LiteLLM proxy" .local/litellm.log \
      "$BENCH_VENV/bin/litellm" --config .local/litellm.yaml --host 127.0.0.1 --port "$LITELLM_PORT" --num_workers 1
    if wait_http "http://127.0.0.1:$LITELLM_PORT/health/liveliness" 180; then
      litellm=1
    else
      log "LiteLLM did not start within 180 s (see .local/litellm.log): no LiteLLM comparison"
    fi
  else
    log "litellm not installed in $BENCH_VENV: no LiteLLM comparison"
  fi
fi

for bench in $(sed -n '/^\[\[bench\]\]/,/^$/s/^name = "\(.*\)"/\1/p' tests/Cargo.toml); do
  if [ -n "${BENCH_ONLY:-}" ] && [[ " $BENCH_ONLY " != *" $bench "* ]]; then
    continue
  fi
  log "== bench $bench"
  if [ "$bench" = ai_overhead ] && [ "$litellm" = 1 ]; then
    # A latency comparison: the hub's code as it ships (release profile), not a debug build.
    OPENAI_STANDIN_URL="http://127.0.0.1:$STANDIN_PORT/v1" LITELLM_URL="http://127.0.0.1:$LITELLM_PORT" \
      LITELLM_KEY="$LITELLM_KEY" cargo bench --profile release -p hub-tests --bench "$bench"
  else
    cargo bench --profile dev -p hub-tests --bench "$bench"
  fi
done

if [ "${BENCH_SIZES:-1}" != "0" ]; then
  log "== binary sizes ($SIZE_FUNCTIONS; x86_64 release unless \`make package\` zips exist)"
  # shellcheck disable=SC2086
  cargo build --release $(printf -- '-p %s ' $SIZE_FUNCTIONS) || log "release build failed: sizes of what exists"
  # shellcheck disable=SC2086
  $PY scripts/binary_sizes.py --target-dir "$TARGET_DIR" --summary "$SUMMARY/sizes.txt" $SIZE_FUNCTIONS
fi

echo
echo "================ side by side (this run; docs/performance.md) ================"
section() {
  local title=$1 file=$2 missing=$3
  echo "-- $title"
  if [ -s "$file" ]; then sed 's/^/   /' "$file"; else echo "   $missing"; fi
}
section "hub vs LiteLLM (AI chat added latency)" "$SUMMARY/ai_vs_litellm.txt" \
  "not measured (LiteLLM unavailable or BENCH_PEERS=0)"
section "hub vs Python peer (GET /health, Runtime API harness)" "$SUMMARY/coldstart.txt" \
  "not measured (BENCH_COLDSTART=0 or BENCH_PEERS=0)"
section "AWS round trips per route (cold: cold start + first call; warm: second call)" "$SUMMARY/round_trips.txt" \
  "not measured"
section "binary sizes" "$SUMMARY/sizes.txt" "not measured (BENCH_SIZES=0)"
