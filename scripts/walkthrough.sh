#!/usr/bin/env bash
# README.md's "Five-minute walkthrough", executed (scripts/walkthrough.py) against a local
# stack of its own, so the docs cannot drift from what the hub answers. Part of `make test`
# (SKIP_WALKTHROUGH=1 skips it); the stack comes up as the browser tests' does (lib.sh).
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
# The functions the walkthrough calls.
FUNCTIONS=(health sms ai webhooks)

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
log "whole step $((SECONDS - started)) s"
exit "$status"
