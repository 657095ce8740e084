#!/usr/bin/env bash
# Create (or update) the project-local virtualenv .venv from requirements-dev.txt.
# Called by `make venv`; idempotent (make skips it while the stamp is newer
# than requirements-dev.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PYTHON=${PYTHON:-python3}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "venv: $PYTHON not found; install Python 3.11+ (Debian: apt-get install python3 python3-venv)" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "venv: $("$PYTHON" --version 2>&1) is too old; Python 3.11+ is needed" >&2
  exit 1
fi

# A venv without a working pip (e.g. created while python3-venv was missing) is rebuilt.
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  rm -rf "$VENV"
  if ! "$PYTHON" -m venv "$VENV"; then
    rm -rf "$VENV"
    echo "venv: '$PYTHON -m venv' failed, trying virtualenv" >&2
    "$PYTHON" -m pip install --user --quiet virtualenv 2>/dev/null \
      || "$PYTHON" -m pip install --user --quiet --break-system-packages virtualenv
    "$PYTHON" -m virtualenv --quiet "$VENV"
  fi
fi

# Progress goes to stderr: `make -s token` is read by scripts, and a venv refresh it
# triggers must not end up in the token.
"$VENV/bin/python" -m pip install --disable-pip-version-check --quiet -r requirements-dev.txt >&2
touch "$VENV/.installed"
echo "venv: $VENV ready ($("$VENV/bin/python" --version), moto $("$VENV/bin/python" -c 'import moto; print(moto.__version__)'), $("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null || echo 'cargo-lambda ?'))" >&2
