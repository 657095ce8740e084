#!/usr/bin/env bash
# `make reliability`: the fault-injection suite on a fresh emulator, then its matrix into
# docs/reliability.md.
#
#   1. scripts/test.sh with TEST_CARGO_ARGS="-p hub-tests --test faults" (and without the
#      walkthrough and browser steps): the template checks, a fresh moto server and SMTP sink on
#      TEST_MOTO_PORT / TEST_SMTP_PORT, the suite exactly as `make test` runs it;
#   2. every scenario's `hub_tests::faults::Row::report()` writes one JSON row into
#      RELIABILITY_DIR (emptied first; default target/reliability at the workspace root);
#   3. scripts/reliability_matrix.py --write docs/reliability.md: the table between the
#      markers, with the date and commit it was made at.
#
# The docs are only rewritten when every scenario passed. Arguments are a test-name filter
# (`make reliability ARGS=webhooks`); the table then has only those rows, so regenerate it
# without a filter before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
LOG_TAG=reliability
PY=.venv/bin/python

RELIABILITY_DIR=${RELIABILITY_DIR:-$PWD/target/reliability}
mkdir -p "$RELIABILITY_DIR"
# Absolute: cargo runs each test binary in its package's directory.
RELIABILITY_DIR=$(cd "$RELIABILITY_DIR" && pwd)
export RELIABILITY_DIR
# Rows of scenarios that no longer exist must not reach the table.
find "$RELIABILITY_DIR" -maxdepth 1 -name '*.json' -delete

log "fault suite (rows in $RELIABILITY_DIR)"
TEST_CARGO_ARGS="-p hub-tests --test faults $*" SKIP_WALKTHROUGH=1 SKIP_BROWSER_TESTS=1 scripts/test.sh
"$PY" scripts/reliability_matrix.py --dir "$RELIABILITY_DIR" --write docs/reliability.md
"$PY" scripts/reliability_matrix.py --dir "$RELIABILITY_DIR"
