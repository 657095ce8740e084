#!/usr/bin/env bash
# Schemathesis over the hub's OpenAPI document (/api/openapi.json), against a local stack:
# every request the document allows is sent, and the answers are checked against it (no
# server error, status, content type and body as documented; for the request bodies of
# tests/api-fuzz/schemathesis.toml, what the document allows is accepted). Settings, the
# checks and why some cannot hold by design: tests/api-fuzz/schemathesis.toml.
#
#   scripts/fuzz-api.sh                              its own stack (`make fuzz-api`)
#   scripts/fuzz-api.sh --hub URL --moto-port PORT   a running stack (scripts/walkthrough.sh
#                                                    runs it on the walkthrough's stack; or
#                                                    `make dev`: --hub http://127.0.0.1:9000
#                                                    --moto-port 4566)
#
# Its own stack (ports):
#   moto server        127.0.0.1:4570  (FUZZ_MOTO_PORT)
#   SMTP sink          127.0.0.1:1029  (FUZZ_SMTP_PORT)
#   cargo lambda watch 127.0.0.1:9030  (FUZZ_INVOKE_PORT)
#
# The report (JUnit XML) goes to .local/fuzz-api/. Extra arguments after `--` go to
# `schemathesis run` (e.g. `-- --include-path-regex sms -n 5`). Everything started here is
# stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
LOG_TAG=fuzz-api

PY=.venv/bin/python
export PATH="$PWD/.venv/bin:$PATH"
HUB=
MOTO_PORT=
EXTRA=()
while [ $# -gt 0 ]; do
  case $1 in
    --hub) HUB=$2; shift 2 ;;
    --moto-port) MOTO_PORT=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) log "unknown argument $1 (see the head of $0)"; exit 2 ;;
  esac
done

started=$SECONDS
if [ -z "$HUB" ]; then
  MOTO_PORT=${FUZZ_MOTO_PORT:-4570}
  SMTP_PORT=${FUZZ_SMTP_PORT:-1029}
  INVOKE_PORT=${FUZZ_INVOKE_PORT:-9030}
  HUB="http://127.0.0.1:$INVOKE_PORT"
  trap stop_all EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  mapfile -t FUNCTIONS < <("$PY" scripts/localstack.py functions --http)
  BUILD_QUIET=1 build_functions "${FUNCTIONS[@]}"
  start_local_stack .local/fuzz-api "$MOTO_PORT" "$SMTP_PORT" "$INVOKE_PORT"
fi
MOTO_PORT=${MOTO_PORT:-4566}
# One request per HTTP function first, so no fuzzed request waits for a process to start.
wait_for_answer "$HUB/api/openapi.json"
for path in /health /api/integrations/providers /api/integrations/ai/chat \
  /api/integrations/email/templates /api/integrations/sms/warm-up /api/integrations/subscriptions \
  /api/v1/files /api/integrations/webhooks /api/v1/notifications; do
  wait_for_answer "$HUB$path"
done
log "stack up and warm ($((SECONDS - started)) s)"

# An admin may call every operation; the token is minted with this stack's JWT secret.
FUZZ_TOKEN=$("$PY" scripts/localstack.py token --user fuzz-admin --role admin --ttl 7200 \
  --endpoint "http://127.0.0.1:$MOTO_PORT")
export FUZZ_TOKEN
mkdir -p .local/fuzz-api
# Hypothesis keeps a folder of its own; outside .local it would sit in the work tree, where
# `cargo lambda watch` takes every change for a code change and restarts the functions.
export HYPOTHESIS_STORAGE_DIRECTORY=.local/fuzz-api/hypothesis
status=0
schemathesis --config-file tests/api-fuzz/schemathesis.toml run "$HUB/api/openapi.json" \
  --url "$HUB" --report junit --report-junit-path .local/fuzz-api/junit.xml \
  "${EXTRA[@]}" || status=$?
log "schemathesis $((SECONDS - started)) s, exit $status (report .local/fuzz-api/junit.xml)"
exit "$status"
