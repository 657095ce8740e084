#!/usr/bin/env bash
# Refreshes the embedded Swagger UI and ReDoc files from the npm registry.
#
#   functions/docs/assets/refresh.sh [SWAGGER_UI_VERSION] [REDOC_VERSION]
#
# With no arguments it re-fetches the versions pinned below (a no-op apart from checking them).
# After a version change: update the table in README.md (the script prints the new sums),
# rebuild, and look at /api/docs/ and /api/redoc/ once in a browser with the network off.
set -euo pipefail

SWAGGER_UI_VERSION="${1:-5.35.0}"
REDOC_VERSION="${2:-2.5.2}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "swagger-ui-dist@${SWAGGER_UI_VERSION}" "redoc@${REDOC_VERSION}" >/dev/null
mkdir sw rd
tar xzf "swagger-ui-dist-${SWAGGER_UI_VERSION}.tgz" -C sw
tar xzf "redoc-${REDOC_VERSION}.tgz" -C rd

mkdir -p "$here/swagger-ui" "$here/redoc"
for f in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE; do
  cp "sw/package/$f" "$here/swagger-ui/$f"
done
for f in bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt LICENSE; do
  cp "rd/package/$f" "$here/redoc/$(basename "$f")"
done

echo "swagger-ui-dist@${SWAGGER_UI_VERSION}, redoc@${REDOC_VERSION}"
cd "$here" && sha256sum swagger-ui/* redoc/*
