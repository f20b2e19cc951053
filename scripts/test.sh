#!/usr/bin/env bash
# Run every check and test: self-containment (nothing read from outside the repository), formatting, clippy (host
# and guests), run.sh's plugin build being a no-op when nothing changed, unit tests, end-to-end tests against the
# real binary (the e2e tests build the example and fixture plugins from source themselves).
source "$(dirname "$0")/lib.sh"
# First, and cheap: nothing the tests or scripts read may be outside the repository.
bash "$ROOT/scripts/check-self-contained.sh"
# The crate graph (docs/architecture.md): the checker proves it catches forbidden arrows, then checks ours.
python3 "$ROOT/scripts/crate_graph.py" --self-test
python3 "$ROOT/scripts/crate_graph.py"
# The link-order generator (host/link-order.txt) on a made-up trace of a small C program.
python3 "$ROOT/scripts/link-order.py" --self-test
ensure_rust_target
ensure_python_tools
ensure_c_tools
ensure_js_tools
ensure_browser
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

# run.sh's build and install steps, a second time with nothing changed: no plugin is rebuilt (a Python or JavaScript
# rebuild gets another hash: compile cache missed, audited hash changed), no installed file is rewritten (the running
# host would reload it), and nothing is printed on stdout (piped, run.sh's stdout is the bot's replies). The e2e
# tests build the examples with build.sh directly, so this is the only place these functions run. They install into
# a scratch folder, not ./plugins, which a bot started by run.sh may be watching; the build outputs are the real ones
# (target/wasm), so after the first run this takes seconds.
say "second build of the example plugins: nothing rebuilt, nothing reinstalled, nothing on stdout"
check="$(mktemp -d)"
trap 'rm -rf "$check"' EXIT
build_guests example-plugins/Cargo.toml
build_other_language_plugins
install_example_plugins "$check/plugins"
# Content, size, inode and modification time (nanoseconds) of every file: a rewrite with the same bytes still shows.
snapshot() {
    local dir
    for dir in "$WASM_TARGET_DIR/lang" "$check/plugins"; do
        echo "$dir:"
        (cd "$dir" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 -r sha256sum)
        (cd "$dir" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 -r stat -c '%n: %s bytes, inode %i, %y')
    done
}
snapshot >"$check/before"
{
    build_guests example-plugins/Cargo.toml
    build_other_language_plugins
    install_example_plugins "$check/plugins"
} >"$check/stdout"
snapshot >"$check/after"
if ! diff "$check/before" "$check/after" >&2; then
    echo "error: building and installing the unchanged example plugins again changed the files above" >&2
    exit 1
fi
if [ -s "$check/stdout" ]; then
    echo "error: building the example plugins printed on stdout (it must go to stderr):" >&2
    cat "$check/stdout" >&2
    exit 1
fi
rm -rf "$check"

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
