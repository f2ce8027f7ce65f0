#!/usr/bin/env bash
# Bundles the dashboard into OUT (index.html, app.js, app.css, style.css,
# herald.js): esbuild and uPlot come from node_modules (scripts/setup runs
# `npm ci` here). Called by the build (target herald_dashboard).
#
#   edge/dashboard/build.sh OUT
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh OUT}"
if [ ! -x "$here/node_modules/.bin/esbuild" ]; then
  echo "dashboard: node_modules missing in $here: run scripts/setup (npm ci there)" >&2
  exit 1
fi
mkdir -p "$out"
"$here/node_modules/.bin/esbuild" "$here/src/app.js" --bundle --format=esm --target=es2022 \
  --minify --sourcemap --log-level=warning --outfile="$out/app.js"
cp "$here/src/index.html" "$here/src/style.css" "$here/src/herald.js" "$out/"
