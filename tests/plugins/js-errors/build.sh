#!/usr/bin/env bash
# Build this JavaScript test fixture into a component: ./build.sh OUT.wasm (needs componentize-qjs; ./scripts/run.sh installs it).
# app.js imports the SDK (sdk/js/coral_sdk.js) as ./coral_sdk.js: both are copied into a scratch folder and built there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="$(realpath -m "${1:-$here/js-errors.wasm}")"
tool="${COMPONENTIZE_QJS:-$root/.tools/js/node_modules/.bin/componentize-qjs}"
[ -x "$tool" ] || { echo "error: componentize-qjs not found at $tool (run ./scripts/run.sh or ./scripts/test.sh to install it)" >&2; exit 1; }
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp "$here/app.js" "$root/sdk/js/coral_sdk.js" "$scratch/"
cd "$scratch"
# --sync: no component-model async; --stub-wasi: the component imports nothing but Coral's own WIT.
"$tool" --wit "$root/wit" --js app.js -n plugin --sync --stub-wasi -o "$out"
