#!/usr/bin/env bash
# Shared set-up for Coral's scripts: install what a fresh machine lacks, build guest plugins.
# Sourced by run.sh, test.sh and bench.sh; every step is idempotent and re-runs are cheap.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Guests build in their own target dir so the host's build is never invalidated by them.
WASM_TARGET_DIR="$ROOT/target/wasm"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_rust_target() {
    command -v cargo >/dev/null || { echo "error: cargo not found; install Rust with rustup first" >&2; exit 1; }
    if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
        say "installing the wasm32-wasip2 Rust target"
        rustup target add wasm32-wasip2
    fi
}

# Build a guest workspace for wasm32-wasip2 (release).
build_guests() {
    local manifest="$1"
    say "building guest plugins: $manifest"
    env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS CARGO_TARGET_DIR="$WASM_TARGET_DIR" \
        cargo build --release --target wasm32-wasip2 --manifest-path "$manifest"
}

# Copy the example plugins into ./plugins (the embedded default plugin folder).
install_example_plugins() {
    mkdir -p "$ROOT/plugins"
    for crate in "$ROOT"/example-plugins/*/Cargo.toml; do
        name="$(basename "$(dirname "$crate")")"
        cp "$WASM_TARGET_DIR/wasm32-wasip2/release/${name//-/_}.wasm" "$ROOT/plugins/$name.wasm"
    done
}
