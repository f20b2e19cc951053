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

# Pinned guest toolchains, installed once into .tools/ (re-runs reuse them).
COMPONENTIZE_PY_VERSION=0.25.1

ensure_python_tools() {
    local venv="$ROOT/.tools/py"
    if [ ! -x "$venv/bin/componentize-py" ] || ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -q "$COMPONENTIZE_PY_VERSION"; then
        command -v python3 >/dev/null || { echo "error: python3 not found; it is needed for Python plugins" >&2; exit 1; }
        say "installing componentize-py $COMPONENTIZE_PY_VERSION into .tools/py"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
    fi
}

COMPONENTIZE_QJS_VERSION=0.4.5

# componentize-qjs (JavaScript on QuickJS) into .tools/js; builds use .tools/js/node_modules/.bin/componentize-qjs.
ensure_js_tools() {
    local dir="$ROOT/.tools/js"
    local installed
    installed="$(node -p "require('$dir/node_modules/componentize-qjs/package.json').version" 2>/dev/null || true)"
    if [ "$installed" != "$COMPONENTIZE_QJS_VERSION" ] || [ ! -x "$dir/node_modules/.bin/componentize-qjs" ]; then
        command -v node >/dev/null || { echo "error: node not found; Node.js 18+ is needed for JavaScript plugins" >&2; exit 1; }
        command -v npm >/dev/null || { echo "error: npm not found; it is needed to install componentize-qjs" >&2; exit 1; }
        say "installing componentize-qjs $COMPONENTIZE_QJS_VERSION into .tools/js"
        mkdir -p "$dir"
        [ -f "$dir/package.json" ] || printf '{ "name": "coral-js-tools", "private": true }\n' >"$dir/package.json"
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error "componentize-qjs@$COMPONENTIZE_QJS_VERSION")
    fi
}

# Build the example plugins written in other languages (each folder with a build.sh) into target/wasm/lang/.
build_other_language_plugins() {
    mkdir -p "$WASM_TARGET_DIR/lang"
    for script in "$ROOT"/example-plugins/*/build.sh; do
        folder="$(basename "$(dirname "$script")")"
        name="${folder%-*}"
        say "building $folder"
        bash "$script" "$WASM_TARGET_DIR/lang/$name.wasm"
    done
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
    for built in "$WASM_TARGET_DIR"/lang/*.wasm; do
        [ -e "$built" ] && cp "$built" "$ROOT/plugins/"
    done
    return 0
}
