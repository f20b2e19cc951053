#!/usr/bin/env bash
# Reference bots beside coral in the OneBot load benchmark (host/benches/onebot_load.rs): builds the Kovi echo bot and
# the bare echo floor (host/benches/reference/, release, into target/reference/), then runs the same closed loop
# against each: C=64 (100 000 events) and C=1 (5 000 events) for the floor, Kovi, coral, and coral with 16 `ping`
# instances; then heap allocations per event of each (host/benches/malloc_count.c preloaded). Expects coral
# (release) and the plugins built already: ./scripts/bench.sh does that, then calls this.
source "$(dirname "$0")/lib.sh"

REFERENCE_TARGET_DIR="$ROOT/target/reference"
for bot in kovi-echo echo-floor; do
    say "building reference bot $bot (release)"
    CARGO_TARGET_DIR="$REFERENCE_TARGET_DIR" \
        cargo build --release --manifest-path "$ROOT/host/benches/reference/$bot/Cargo.toml" 1>&2
done

# The allocation counter preloaded into the bot under test for the allocations-per-event runs below.
say "building the allocation counter (host/benches/malloc_count.c)"
mkdir -p "$REFERENCE_TARGET_DIR"
gcc -O2 -shared -fPIC -Wall -o "$REFERENCE_TARGET_DIR/malloc_count.so" "$ROOT/host/benches/malloc_count.c"

# One configuration of onebot_load: PEER EVENTS INFLIGHT [INSTANCES].
# The load generator, run directly (not through `cargo bench`, whose coral is not the one users run: lib.sh).
LOAD="$(load_generator)"

load() {
    local peer="$1" events="$2" inflight="$3" instances="${4:-1}"
    say "onebot_load: $peer, C=$inflight, N=$events${4:+, $instances instances}"
    CORAL_LOAD_PEER="$peer" CORAL_LOAD_EVENTS="$events" CORAL_LOAD_INFLIGHT="$inflight" \
        CORAL_LOAD_INSTANCES="$instances" CORAL_LOAD_KOVI_BIN="$REFERENCE_TARGET_DIR/release/kovi-echo" \
        CORAL_LOAD_FLOOR_BIN="$REFERENCE_TARGET_DIR/release/echo-floor" \
        "$LOAD"
}

load floor 100000 64
load kovi 100000 64
load coral 100000 64
load coral 100000 64 16
load floor 5000 1
load kovi 5000 1
load coral 5000 1
load coral 5000 1 16
# Heap allocations per event (exact counts, separate runs: counting slows every allocation).
for peer in floor kovi coral; do
    say "onebot_load: $peer, C=64, N=20000, allocations counted"
    CORAL_LOAD_PEER="$peer" CORAL_LOAD_EVENTS=20000 CORAL_LOAD_INFLIGHT=64 \
        CORAL_LOAD_MALLOC_COUNT="$REFERENCE_TARGET_DIR/malloc_count.so" \
        CORAL_LOAD_KOVI_BIN="$REFERENCE_TARGET_DIR/release/kovi-echo" \
        CORAL_LOAD_FLOOR_BIN="$REFERENCE_TARGET_DIR/release/echo-floor" \
        "$LOAD"
done
