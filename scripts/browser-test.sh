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
for port in "$MOTO_PORT" "$SMTP_PORT" "$INVOKE_PORT" "$FAKE_PORT"; do
  require_free_port "$port" "browser test stack"
done

trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
# Build first: the browser's first requests must not wait for a compile. Built the way
# `cargo lambda watch` runs them (`cargo run --bin X` at the workspace root: features unified
# over the workspace, not `-p X`), so watch finds them up to date.
cargo build --quiet $(printf -- '--bin %s ' "${FUNCTIONS[@]}")
log "functions built ($((SECONDS - started)) s)"

start_bg "moto (browser)" .local/browser/moto.log "$PY" scripts/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT"
start_bg "smtp sink (browser)" .local/browser/smtp.log "$PY" -u -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT"
$PY scripts/localstack.py wait --endpoint "$ENDPOINT" --timeout 60
$PY scripts/localstack.py create --endpoint "$ENDPOINT" --no-seed >.local/browser/create.log 2>&1
$PY scripts/localstack.py env --port "$MOTO_PORT" --smtp-port "$SMTP_PORT" --output .local/browser/hub.env >/dev/null
# Kavenegar is faked at the HTTP level by the test (tests/browser/fake-kavenegar.mjs).
echo "KAVENEGAR_BASE_URL=http://127.0.0.1:$FAKE_PORT/v1" >>.local/browser/hub.env
$PY scripts/localstack.py router --output .local/browser/CargoLambda.toml >/dev/null

start_bg "cargo lambda watch (browser)" .local/browser/watch.log cargo lambda watch \
  --invoke-address 127.0.0.1 \
  --invoke-port "$INVOKE_PORT" \
  --env-file .local/browser/hub.env \
  --global "$PWD/.local/browser/CargoLambda.toml"

# Warm every function: its first request starts it (and builds it if cargo lambda's build
# differs from ours). An answer of any status means the function is up.
warm() {
  local path=$1 code
  for _ in $(seq 1 600); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 "$HUB$path" || true)
    case $code in
      000 | 502 | 503 | 504) sleep 1 ;;
      *) return 0 ;;
    esac
  done
  log "no answer from $HUB$path"
  return 1
}
for path in /admin/ /admin/app.js /api/integrations/providers /api/integrations/webhooks \
  /api/integrations/sms/warm-up /api/integrations/ai/jobs/warm-up /api/v1/notifications; do
  warm "$path"
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
