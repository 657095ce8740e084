#!/usr/bin/env bash
# `make bench`: the benchmarks, against a fresh moto server holding template.yaml's resources.
#
#   every [[bench]] of tests/Cargo.toml   (rate limiter, SMS bulk, AI overhead ...), dev profile
#   cold start of `health`               release build, under a fake Lambda Runtime API
#                                        (benches/coldstart.py); BENCH_COLDSTART=0 skips it
#
# Figures against moto measure the hub's work plus moto's (a Python emulator on loopback),
# not DynamoDB; each bench prints what it counts. Ports: BENCH_MOTO_PORT (4568).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
LOG_TAG=bench

MOTO_PORT=${BENCH_MOTO_PORT:-4568}
SMTP_PORT=${BENCH_SMTP_PORT:-1027}
PY=.venv/bin/python
export PATH="$PWD/.venv/bin:$PATH"
ENDPOINT="http://127.0.0.1:$MOTO_PORT"
TARGET_DIR=${CARGO_TARGET_DIR:-target}

mkdir -p .local
require_free_port "$MOTO_PORT" "bench moto server"
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_bg "moto (bench)" .local/moto-bench.log "$PY" scripts/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT"
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

for bench in $(sed -n '/^\[\[bench\]\]/,/^$/s/^name = "\(.*\)"/\1/p' tests/Cargo.toml); do
  log "== bench $bench"
  cargo bench --profile dev -p hub-tests --bench "$bench"
done

if [ "${BENCH_COLDSTART:-1}" != "0" ]; then
  log "== cold start (release build of health)"
  cargo build --release -p health
  $PY benches/coldstart.py --binary "$TARGET_DIR/release/health" --path /health --runs 5 --warm 50
fi
