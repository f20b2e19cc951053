#!/usr/bin/env bash
# Benchmarks (release build). Figures go in BENCHMARKS.md.
#   ping:        console → runtime → ping plugin → console, in process (CORAL_BENCH_EVENTS=200000)
#   commands:    non-command messages beside 1 and 10 command plugins (the host skips their wasm)
#   onebot_load: a load generator playing the OneBot implementation over forward WebSocket against a real coral
#                process (CORAL_LOAD_EVENTS / CORAL_LOAD_INFLIGHT to pick one run; default C=1 and C=64)
source "$(dirname "$0")/lib.sh"
ensure_rust_target
build_guests example-plugins/Cargo.toml
build_guests tests/plugins/Cargo.toml
ensure_python_tools
ensure_c_tools
ensure_js_tools
build_other_language_plugins
cargo build --release --bin coral
cargo bench --bench ping
cargo bench --bench policy
cargo bench --bench reload
cargo bench --bench languages
cargo bench --bench storage
cargo bench --bench commands
# Run directly: `cargo bench` would drive a coral built with the benchmarks' dev-dependency features (lib.sh).
"$(load_generator)"
# Side by side with the reference bots (Kovi, the bare echo floor), in one sitting.
"$ROOT/scripts/bench-reference.sh"
