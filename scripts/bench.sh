#!/usr/bin/env bash
# Benchmarks (release build): console → runtime → ping plugin → console. Figures go in BENCHMARKS.md.
#   CORAL_BENCH_EVENTS=20000 ./scripts/bench.sh
source "$(dirname "$0")/lib.sh"
ensure_rust_target
build_guests example-plugins/Cargo.toml
cargo bench --bench ping
