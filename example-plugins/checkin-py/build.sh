#!/usr/bin/env bash
# Build this Python plugin into a component: ./build.sh OUT.wasm (needs componentize-py; ./scripts/run.sh installs it).
# The SDK module (sdk/python/coral_sdk.py) is found on the Python path given here.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$(realpath -m "${1:-$here/checkin.wasm}")"
tool="${COMPONENTIZE_PY:-$root/.tools/py/bin/componentize-py}"
[ -x "$tool" ] || { echo "error: componentize-py not found at $tool (run ./scripts/run.sh or ./scripts/test.sh to install it)" >&2; exit 1; }
cd "$here"
"$tool" -d "$root/wit" -w plugin componentize app -p "$here" -p "$root/sdk/python" -o "$out"
