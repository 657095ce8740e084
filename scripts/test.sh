#!/usr/bin/env bash
# `make test`: template checks, then the whole workspace's tests against a
# fresh moto server holding exactly template.yaml's resources.
#
#   moto server   127.0.0.1:4567 (TEST_MOTO_PORT)   so it does not clash with `make dev`
#   SMTP sink     127.0.0.1:1026 (TEST_SMTP_PORT)   exported as SMTP_TEST_PORT
#   README walkthrough  scripts/walkthrough.sh, on its own stack (ports there), then the
#                       OpenAPI fuzz (scripts/fuzz-api.sh) on that same stack
#   browser tests scripts/browser-test.sh, on its own stack (ports there)
#
# The tests see the same environment the functions see locally
# (`localstack.py env`, written to .local/test.env). Provider secrets are not
# seeded from the developer's environment, so runs are hermetic. Everything
# started here is stopped on exit; the exit status is non-zero if any step failed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
LOG_TAG=test

MOTO_PORT=${TEST_MOTO_PORT:-4567}
SMTP_PORT=${TEST_SMTP_PORT:-1026}
PY=.venv/bin/python
export PATH="$PWD/.venv/bin:$PATH"
ENDPOINT="http://127.0.0.1:$MOTO_PORT"

mkdir -p .local
require_free_port "$MOTO_PORT" "test moto server"
require_free_port "$SMTP_PORT" "test SMTP sink"

trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

failed=()
step() {
  local name=$1
  shift
  log "== $name"
  if "$@"; then
    log "ok: $name"
  else
    log "FAILED: $name"
    failed+=("$name")
  fi
}

# Fast checks first.
step "cfn-lint template.yaml" cfn-lint template.yaml
step "template/workspace/router check" "$PY" scripts/localstack.py router --check

start_bg "moto (test)" .local/moto-test.log "$PY" scripts/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT" --enforce-iam
start_bg "smtp sink (test)" .local/smtp-test.log "$PY" -u -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT"
$PY scripts/localstack.py wait --endpoint "$ENDPOINT" --timeout 60
# IAM is enforced: every function's state is built with its own role's credentials
# (.local/test-roles.json, see tests/src/lib.rs), which also reach the tests' own copies
# of stack secrets, queues and tables (--test-instances).
$PY scripts/localstack.py create --endpoint "$ENDPOINT" --no-seed --roles .local/test-roles.json --test-instances
$PY scripts/localstack.py env --port "$MOTO_PORT" --smtp-port "$SMTP_PORT" \
  --role-credentials .local/test-roles.json --output .local/test.env >/dev/null

set -a
# shellcheck disable=SC1091
source .local/test.env
set +a
export SMTP_TEST_PORT="$SMTP_PORT"
export MOTO_ENDPOINT="$ENDPOINT"

# --no-fail-fast: one failing capability must not hide the state of the others.
# TEST_CARGO_ARGS narrows the run (e.g. "-p hub-tests --test faults" for `make reliability`).
# shellcheck disable=SC2086
step "cargo test ${TEST_CARGO_ARGS:---workspace}" cargo test ${TEST_CARGO_ARGS:---workspace} --no-fail-fast

# README.md's five-minute walkthrough, executed against a stack of its own
# (scripts/walkthrough.sh; ports WALKTHROUGH_MOTO_PORT, WALKTHROUGH_SMTP_PORT,
# WALKTHROUGH_INVOKE_PORT), then schemathesis over /api/openapi.json on the same stack
# (scripts/fuzz-api.sh, settings in tests/api-fuzz/schemathesis.toml): one stack start-up
# for both. SKIP_WALKTHROUGH=1 skips both, SKIP_FUZZ_API=1 only the fuzz (say so when
# reporting a run).
if [ "${SKIP_WALKTHROUGH:-0}" = 1 ]; then
  log "skipped: README walkthrough and OpenAPI fuzz (SKIP_WALKTHROUGH=1)"
else
  step "README walkthrough + OpenAPI fuzz" scripts/walkthrough.sh
fi

# The admin console in headless Chromium, on its own stack (scripts/browser-test.sh;
# ports BROWSER_MOTO_PORT, BROWSER_SMTP_PORT, BROWSER_INVOKE_PORT, BROWSER_FAKE_PORT).
# SKIP_BROWSER_TESTS=1 skips it (say so when reporting a run).
if [ "${SKIP_BROWSER_TESTS:-0}" = 1 ]; then
  log "skipped: browser tests (SKIP_BROWSER_TESTS=1)"
else
  if [ ! -d tests/browser/node_modules/playwright-core ] && command -v npm >/dev/null 2>&1; then
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
  fi
  step "browser tests (admin console)" scripts/browser-test.sh
fi

if [ ${#failed[@]} -gt 0 ]; then
  log "failed steps: ${failed[*]}"
  exit 1
fi
log "all checks passed"
