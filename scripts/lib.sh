#!/usr/bin/env bash
# Shared set-up for Coral's scripts: install what a fresh machine lacks, build guest plugins.
# Sourced by run.sh, test.sh and bench.sh; every step is idempotent and re-runs are cheap.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Guests build in their own target dir so the host's build is never invalidated by them.
WASM_TARGET_DIR="$ROOT/target/wasm"

# Each step is stamped with the seconds since the script started (where a slow CI run spends its time).
# Everything the set-up and build steps print goes to stderr (`say`, and every tool run with `1>&2`): when
# `./scripts/run.sh` is piped, stdout carries the bot's replies and nothing else.
say() { printf '\033[1m==> [%4ds] %s\033[0m\n' "$SECONDS" "$*" >&2; }

ensure_rust_target() {
    command -v cargo >/dev/null || { echo "error: cargo not found; install Rust with rustup first" >&2; exit 1; }
    if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
        say "installing the wasm32-wasip2 Rust target"
        rustup target add wasm32-wasip2 1>&2
    fi
}

# Pinned guest toolchains, installed once into .tools/ (re-runs reuse them).
COMPONENTIZE_PY_VERSION=0.25.1

ensure_python_tools() {
    local venv="$ROOT/.tools/py"
    if [ ! -x "$venv/bin/componentize-py" ] || ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -q "$COMPONENTIZE_PY_VERSION"; then
        command -v python3 >/dev/null || { echo "error: python3 not found; it is needed for Python plugins" >&2; exit 1; }
        say "installing componentize-py $COMPONENTIZE_PY_VERSION into .tools/py"
        python3 -m venv "$venv" 1>&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION" 1>&2
    fi
}

# C plugins: clang 19 with the WASI sysroot (Debian packages), wit-bindgen-cli for the bindings, and rustup's
# wasm-component-ld (shipped with the Rust toolchain) to link straight to a component.
WIT_BINDGEN_VERSION=0.63.0
C_APT_PACKAGES=(clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)

# Install the Debian packages of $1.. that are missing (as root, or with sudo); the package lists are updated once if
# the first attempt fails (they may be stale or absent on a fresh machine). `$what` names what needs them.
apt_install() {
    local what="$1"
    shift
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null || {
        echo "error: $what need ${missing[*]} (Debian/Ubuntu packages) and apt-get is not available; install them" \
            "yourself" >&2
        exit 1
    }
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || {
            echo "error: $what need: apt-get install ${missing[*]}; run this script as root or install sudo" >&2
            exit 1
        }
        sudo=(sudo)
    fi
    say "installing ${missing[*]} (apt-get) for $what"
    if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" 1>&2; then
        "${sudo[@]}" apt-get update -q 1>&2 && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" \
            apt-get install -y -q --no-install-recommends "${missing[@]}" 1>&2 || {
            echo "error: could not install ${missing[*]} with apt-get (as root or with sudo)" >&2
            exit 1
        }
    fi
}

ensure_c_tools() {
    apt_install "C plugins" "${C_APT_PACKAGES[@]}"
    command -v clang-19 >/dev/null || { echo "error: clang-19 not found after installing ${C_APT_PACKAGES[*]}" >&2; exit 1; }
    local tool="$ROOT/.tools/cargo/bin/wit-bindgen"
    if [ ! -x "$tool" ] || ! "$tool" --version 2>/dev/null | grep -q " $WIT_BINDGEN_VERSION"; then
        # Only the C generator, unoptimized: 82 s to build here instead of 209 s for the default (all generators,
        # release); generating a plugin's bindings takes 0.1 s either way, with byte-identical output.
        say "installing wit-bindgen-cli $WIT_BINDGEN_VERSION (C generator) into .tools/cargo (about 1.5 minutes, once)"
        cargo install --locked --quiet --force --debug --no-default-features --features c \
            --root "$ROOT/.tools/cargo" "wit-bindgen-cli@$WIT_BINDGEN_VERSION" 1>&2
    fi
    local ld
    ld="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/wasm-component-ld"
    [ -x "$ld" ] || { echo "error: $ld not found: update Rust (rustup update) to get wasm-component-ld" >&2; exit 1; }
}

# The web console's browser tests: Debian's Chromium and its ChromeDriver (/usr/bin/chromium, /usr/bin/chromedriver).
ensure_browser() {
    apt_install "the web console's browser tests" chromium chromium-driver fonts-liberation
    command -v chromedriver >/dev/null || { echo "error: chromedriver not found after installing chromium-driver" >&2; exit 1; }
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
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error "componentize-qjs@$COMPONENTIZE_QJS_VERSION") 1>&2
    fi
}

# What goes into one build.sh plugin, as text: a `sha256  path` line per input file, then the toolchain that turns
# them into a component. The inputs: the plugin's folder (build.sh included), wit/, and the SDK of its language
# (sdk/python, sdk/js; a plugin that does not import it is rebuilt for nothing when it changes, never left stale);
# the toolchain: the pinned versions ensure_*_tools installed and any override the build scripts honour. Build
# output inside those folders is no input: __pycache__ (componentize-py imports app.py and coral_sdk.py), a .wasm
# from `./build.sh` run without an argument; the same names as in .gitignore. Paths are relative to the repository,
# so a moved checkout still matches.
plugin_inputs() {
    local folder="$1" sdk tools
    case "${folder##*-}" in
    py)
        sdk=sdk/python
        tools="componentize-py $COMPONENTIZE_PY_VERSION${COMPONENTIZE_PY:+ $COMPONENTIZE_PY}"
        ;;
    js)
        sdk=sdk/js
        tools="componentize-qjs $COMPONENTIZE_QJS_VERSION${COMPONENTIZE_QJS:+ $COMPONENTIZE_QJS}"
        ;;
    *)
        # C: the bindings generator, the compiler, and rustc (whose wasm-component-ld links the component).
        sdk=
        tools="wit-bindgen $WIT_BINDGEN_VERSION${WIT_BINDGEN:+ $WIT_BINDGEN}; $("${CC_WASM:-clang-19}" --version 2>/dev/null | head -n 1); $(rustc -V)"
        ;;
    esac
    printf 'tools: %s\n' "$tools"
    # Last, so that a failure in the pipeline (pipefail) is the function's status.
    (cd "$ROOT" && find "example-plugins/$folder" wit ${sdk:+"$sdk"} \
        \( -name __pycache__ -o -name node_modules \) -prune -o -type f ! -name '*.pyc' ! -name '*.wasm' -print0 |
        LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# Build the example plugins written in other languages (each folder with a build.sh) into target/wasm/lang/, each
# only when its inputs changed since its last successful build. A rebuild is not free and not neutral: Python and
# JavaScript builds are not reproducible, so every rebuild gives a plugin with another hash, which misses the host's
# compile cache and changes the hash the audit log records. The inputs of the last successful build are kept
# beside the plugin (NAME.wasm.inputs); the file is removed before a build and written after it succeeds, so an
# interrupted or failed build is always built again.
build_other_language_plugins() {
    local script folder name out inputs
    mkdir -p "$WASM_TARGET_DIR/lang"
    for script in "$ROOT"/example-plugins/*/build.sh; do
        folder="$(basename "$(dirname "$script")")"
        name="${folder%-*}"
        out="$WASM_TARGET_DIR/lang/$name.wasm"
        inputs="$(plugin_inputs "$folder")"
        if [ -f "$out" ] && [ -f "$out.inputs" ] && [ "$(cat "$out.inputs")" = "$inputs" ]; then
            say "up to date: $folder"
            continue
        fi
        say "building $folder"
        rm -f "$out.inputs"
        bash "$script" "$out" 1>&2
        printf '%s\n' "$inputs" >"$out.inputs"
    done
}

# Build the OneBot load generator (host/benches/onebot_load.rs) and print its path; then build the `coral` it drives
# (target/release/coral) again, as `cargo build --release` makes it. `cargo bench` builds a package's binaries with its
# dev-dependencies' features unified in (another hyper, another h2), so a `coral` built by it is not the one users
# run, and the hashes in its function names differ from those in host/link-order.txt: run the generator directly,
# not through `cargo bench`.
load_generator() {
    local exe
    exe="$(cargo bench -p coral-host --bench onebot_load --no-run --message-format=json |
        python3 -c 'import json, sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("target", {}).get("name") == "onebot_load" and m.get("executable")][-1])')"
    cargo build --release --bin coral 1>&2
    printf '%s\n' "$exe"
}

# Build a guest workspace for wasm32-wasip2 (release).
build_guests() {
    local manifest="$1"
    say "building guest plugins: $manifest"
    env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS CARGO_TARGET_DIR="$WASM_TARGET_DIR" \
        cargo build --release --target wasm32-wasip2 --manifest-path "$manifest" 1>&2
}

# Copy one built plugin to DEST unless DEST already holds the same bytes: a running host watches the plugin folder
# and reloads every file written there, so an unchanged plugin is never touched. A changed one is copied beside it
# under a name the host ignores (not .wasm) and renamed over it, so the host never reads a half-written plugin.
install_plugin() {
    local src="$1" dest="$2"
    cmp -s "$src" "$dest" && return 0
    cp "$src" "$dest.tmp"
    mv -f "$dest.tmp" "$dest"
}

# Copy the example plugins into ./plugins (the embedded default plugin folder), or into the folder given.
install_example_plugins() {
    local dir="${1:-$ROOT/plugins}" crate name built
    mkdir -p "$dir"
    for crate in "$ROOT"/example-plugins/*/Cargo.toml; do
        name="$(basename "$(dirname "$crate")")"
        install_plugin "$WASM_TARGET_DIR/wasm32-wasip2/release/${name//-/_}.wasm" "$dir/$name.wasm"
    done
    for built in "$WASM_TARGET_DIR"/lang/*.wasm; do
        [ -e "$built" ] && install_plugin "$built" "$dir/$(basename "$built")"
    done
    return 0
}
