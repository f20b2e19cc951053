#!/usr/bin/env bash
# Set up everything on a fresh machine and start Coral on the console with the example plugins.
# Type `ping hello`; Coral answers `[private 10000] pong hello`. Ctrl-D quits. Also works from a pipe:
#   echo "ping hello" | ./scripts/run.sh
source "$(dirname "$0")/lib.sh"
ensure_rust_target
ensure_python_tools
ensure_c_tools
ensure_js_tools
build_guests example-plugins/Cargo.toml
build_other_language_plugins
install_example_plugins
say "building the coral host (release)"
# To stderr like every build step (lib.sh): piped, stdout carries only the bot's replies.
cargo build --release --bin coral 1>&2
say "starting coral: console platform, plugins from ./plugins, data in ./data"
exec "$ROOT/target/release/coral" run "$@"
