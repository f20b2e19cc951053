#!/usr/bin/env bash
# Build this JavaScript plugin into a component: ./build.sh OUT.wasm (needs componentize-qjs; ./scripts/run.sh installs it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/memo.wasm}"
tool="${COMPONENTIZE_QJS:-$root/.tools/js/node_modules/.bin/componentize-qjs}"
[ -x "$tool" ] || { echo "error: componentize-qjs not found at $tool (run ./scripts/run.sh or ./scripts/test.sh to install it)" >&2; exit 1; }
cd "$here"
# --sync: no component-model async; --stub-wasi: the component imports nothing but Coral's own WIT.
"$tool" --wit "$root/wit" --js app.js -n plugin --sync --stub-wasi -o "$out"
