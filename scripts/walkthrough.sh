#!/usr/bin/env bash
# README.md's "Five-minute walkthrough", executed (scripts/walkthrough.py) against a local
# stack of its own, so the docs cannot drift from what the hub answers; then, on the same
# stack (one start-up for both), schemathesis over the OpenAPI document
# (scripts/fuzz-api.sh; SKIP_FUZZ_API=1 skips it). Part of `make test` (SKIP_WALKTHROUGH=1
# skips both); the stack comes up as the browser tests' does (lib.sh).
#
#   moto server        127.0.0.1:4569  (WALKTHROUGH_MOTO_PORT)
#   SMTP sink          127.0.0.1:1028  (WALKTHROUGH_SMTP_PORT)
#   cargo lambda watch 127.0.0.1:9020  (WALKTHROUGH_INVOKE_PORT)  the hub, production paths
#
# Everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
LOG_TAG=walkthrough

MOTO_PORT=${WALKTHROUGH_MOTO_PORT:-4569}
SMTP_PORT=${WALKTHROUGH_SMTP_PORT:-1028}
INVOKE_PORT=${WALKTHROUGH_INVOKE_PORT:-9020}
PY=.venv/bin/python
export PATH="$PWD/.venv/bin:$PATH"
HUB="http://127.0.0.1:$INVOKE_PORT"
# The functions the walkthrough calls; the fuzz step calls every HTTP function.
FUNCTIONS=(health sms ai webhooks)
if [ "${SKIP_FUZZ_API:-0}" != 1 ]; then
  mapfile -t FUNCTIONS < <("$PY" scripts/localstack.py functions --http)
fi

trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
BUILD_QUIET=1 build_functions "${FUNCTIONS[@]}"
start_local_stack .local/walkthrough "$MOTO_PORT" "$SMTP_PORT" "$INVOKE_PORT"
for path in /health /api/integrations/sms/warm-up /api/integrations/ai/chat /api/integrations/webhooks; do
  wait_for_answer "$HUB$path"
done
log "stack up and warm ($((SECONDS - started)) s)"

# `make -s token` in the walkthrough reads the JWT secret from this stack's moto.
status=0
MOTO_PORT=$MOTO_PORT "$PY" scripts/walkthrough.py --hub "$HUB" || status=$?
log "walkthrough done ($((SECONDS - started)) s, exit $status)"

# The OpenAPI fuzz step on this stack (after the walkthrough, whose requests it must not
# disturb). SKIP_FUZZ_API=1 skips it (say so when reporting a run).
if [ "${SKIP_FUZZ_API:-0}" = 1 ]; then
  log "skipped: OpenAPI fuzz (SKIP_FUZZ_API=1)"
else
  scripts/fuzz-api.sh --hub "$HUB" --moto-port "$MOTO_PORT" || status=1
fi
log "whole step $((SECONDS - started)) s"
exit "$status"
