#!/usr/bin/env bash
# `make package`: every function of template.yaml built as Lambda deploys it
# (`cargo lambda build --release --arm64`, zipped), then each bootstrap.zip's size.
# The binaries are the ones `sam build` makes (BuildMethod rust-cargolambda runs the same
# command per function); the zips land in $CARGO_TARGET_DIR/lambda/<binary>/bootstrap.zip.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
PY=.venv/bin/python
TARGET_DIR=${CARGO_TARGET_DIR:-target}

mapfile -t BINARIES < <("$PY" - <<'PY'
import sys
sys.path.insert(0, "scripts")
import localstack
tpl = localstack.Template(localstack.TEMPLATE)
for logical in tpl.functions():
    print(tpl.binary(logical))
PY
)
args=()
for b in "${BINARIES[@]}"; do args+=(--bin "$b"); done
started=$(date +%s)
cargo lambda build --release --arm64 --output-format zip "${args[@]}"
echo "built ${#BINARIES[@]} functions in $(( $(date +%s) - started ))s (cargo lambda build --release --arm64 --output-format zip)"
limit=$((10 * 1024 * 1024))
status=0
printf '%-24s %12s\n' function bootstrap.zip
for b in "${BINARIES[@]}"; do
  zip="$TARGET_DIR/lambda/$b/bootstrap.zip"
  size=$(stat -c %s "$zip")
  printf '%-24s %9s MB\n' "$b" "$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }')"
  if [ "$size" -gt "$limit" ]; then
    echo "  $b is over 10 MB zipped" >&2
    status=1
  fi
done
exit $status
