#!/usr/bin/env bash
# Time an incremental debug build of the `coral` binary after a one-line change in an adapter (BENCHMARKS.md,
# "Incremental rebuild"). Usage: scripts/rebuild-time.sh [FILE] [RUNS]. FILE (default: the OneBot WebSocket
# adapter) must contain the log text "onebot connected"; each run toggles a `!` on it, rebuilds, and the file is
# restored at the end. The first build warms the cache and is not counted. Runs in the current directory when it
# holds a Cargo.toml (so an older checkout can be measured with a copy of this script), else in the repository.
set -euo pipefail
[ -f Cargo.toml ] || cd "$(dirname "$0")/.."
file="${1:-host/crates/adapters/src/onebot/ws.rs}"
runs="${2:-5}"
grep -q '"onebot connected' "$file" || { echo "error: $file has no \"onebot connected\" log text" >&2; exit 1; }
backup="$(mktemp)"
cp "$file" "$backup"
trap 'cp "$backup" "$file"; rm -f "$backup"' EXIT
cargo build --bin coral >/dev/null 2>&1
for i in $(seq 1 "$runs"); do
    if grep -q '"onebot connected!"' "$file"; then
        sed -i 's/"onebot connected!"/"onebot connected"/' "$file"
    else
        sed -i 's/"onebot connected"/"onebot connected!"/' "$file"
    fi
    start=$(date +%s.%N)
    cargo build --bin coral >/dev/null 2>&1
    end=$(date +%s.%N)
    awk -v i="$i" -v a="$start" -v b="$end" 'BEGIN { printf "run %d: %.1f s\n", i, b - a }'
done
