#!/usr/bin/env bash
# The admin console's end-to-end tests in a real browser (tests/browser/): its own local
# stack on its own ports, the functions the console calls built and warmed first (cargo
# lambda watch compiles on a function's first request), then `node --test` drives Debian's
# headless Chromium through playwright-core. Screenshots land in .local/browser/.
#
#   moto server        127.0.0.1:4568  (BROWSER_MOTO_PORT)
#   SMTP sink          127.0.0.1:1027  (BROWSER_SMTP_PORT)
#   cargo lambda watch 127.0.0.1:9010  (BROWSER_INVOKE_PORT)  the hub, production paths
#   fake Kavenegar     127.0.0.1:9011  (BROWSER_FAKE_PORT)    served by the test itself
#
# Needs /usr/bin/chromium (apt-get install chromium) and `npm ci` in tests/browser
# (.ci/run does both). Everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
LOG_TAG=browser

MOTO_PORT=${BROWSER_MOTO_PORT:-4568}
SMTP_PORT=${BROWSER_SMTP_PORT:-1027}
INVOKE_PORT=${BROWSER_INVOKE_PORT:-9010}
FAKE_PORT=${BROWSER_FAKE_PORT:-9011}
PY=.venv/bin/python
export PATH="$PWD/.venv/bin:$PATH"
ENDPOINT="http://127.0.0.1:$MOTO_PORT"
HUB="http://127.0.0.1:$INVOKE_PORT"
# The functions the console calls (and docs, which serves it).
FUNCTIONS=(docs providers webhooks sms ai notifications)

if [ ! -x /usr/bin/chromium ]; then
  log "/usr/bin/chromium is missing: apt-get install -y chromium (.ci/run does it)"
  exit 1
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  log "playwright-core is missing: (cd tests/browser && npm ci)"
  exit 1
fi

mkdir -p .local/browser
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
# Build first: the browser's first requests must not wait for a compile (lib.sh).
BUILD_QUIET=1 build_functions "${FUNCTIONS[@]}"

require_free_port "$FAKE_PORT" "fake Kavenegar (browser tests)"
# Kavenegar is faked at the HTTP level by the test (tests/browser/fake-kavenegar.mjs).
start_local_stack .local/browser "$MOTO_PORT" "$SMTP_PORT" "$INVOKE_PORT" \
  "KAVENEGAR_BASE_URL=http://127.0.0.1:$FAKE_PORT/v1"

# Warm every function: its first request starts its process. An answer of any status means
# the function is up.
for path in /admin/ /admin/app.js /api/integrations/providers /api/integrations/webhooks \
  /api/integrations/sms/warm-up /api/integrations/ai/jobs/warm-up /api/v1/notifications; do
  wait_for_answer "$HUB$path"
done
log "stack up and warm ($((SECONDS - started)) s)"

ADMIN_TOKEN=$($PY scripts/localstack.py token --user browser-admin --role admin --ttl 3600 --endpoint "$ENDPOINT")
browser_started=$SECONDS
status=0
(
  cd tests/browser
  HUB_URL="$HUB" FAKE_KAVENEGAR_PORT="$FAKE_PORT" ADMIN_TOKEN="$ADMIN_TOKEN" \
    SCREENSHOT_DIR="$PWD/../../.local/browser" \
    node --test --test-concurrency=1 --test-reporter=spec console.test.mjs
) || status=$?
log "browser tests: $((SECONDS - browser_started)) s (whole step $((SECONDS - started)) s)"
exit "$status"
