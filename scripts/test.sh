#!/usr/bin/env bash
# Run every check and test: self-containment (nothing read from outside the repository), formatting, clippy (host
# and guests), unit tests, end-to-end tests against the real binary (the e2e tests build the example and fixture
# plugins from source themselves).
source "$(dirname "$0")/lib.sh"
# First, and cheap: nothing the tests or scripts read may be outside the repository.
bash "$ROOT/scripts/check-self-contained.sh"
# The crate graph (docs/architecture.md): the checker proves it catches forbidden arrows, then checks ours.
python3 "$ROOT/scripts/crate_graph.py" --self-test
python3 "$ROOT/scripts/crate_graph.py"
ensure_rust_target
ensure_python_tools
ensure_c_tools
ensure_js_tools
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

say "cargo fmt --check"
cargo fmt --all -- --check
for ws in sdk example-plugins tests/plugins; do
    cargo fmt --manifest-path "$ws/Cargo.toml" --all -- --check
done

say "clippy (host)"
cargo clippy --all-targets -- -D warnings
for ws in sdk example-plugins tests/plugins; do
    say "clippy ($ws, wasm32-wasip2)"
    env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS CARGO_TARGET_DIR="$WASM_TARGET_DIR" \
        cargo clippy --release --target wasm32-wasip2 --manifest-path "$ws/Cargo.toml" -- -D warnings
done

say "cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run (cargo prints one result line per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
