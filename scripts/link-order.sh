#!/usr/bin/env bash
# Regenerate host/link-order.txt, the functions the `coral` binary's start-up and event path run, in the order they
# first ran (host/build.rs hands the list to lld, which places them together: resident code drops from ~15 MB to what
# runs). Each round builds coral (release, with the list so far), runs the OneBot load benchmark against it with the
# kernel's `exceptions:page_fault_user` trace on, and appends the functions whose pages faulted
# (scripts/link-order.py). The binary is dropped from the page cache and block read-ahead is off during the run, so
# every page of code faults by itself, not 64 KB at a time; functions sharing a page with one already listed surface
# in later rounds, after the list has moved their neighbour away. Stops when a round adds fewer than 25 functions
# (at most LINK_ORDER_ROUNDS, default 10).
#
# Needs root (tracefs, /sys/block/*/queue/read_ahead_kb) and `setarch`. Start from an empty list after large changes:
#   rm host/link-order.txt && sudo ./scripts/link-order.sh
source "$(dirname "$0")/lib.sh"
ensure_rust_target
build_guests example-plugins/Cargo.toml

TRACING=/sys/kernel/tracing
[ -d "$TRACING/events/exceptions" ] || mount -t tracefs nodev "$TRACING"
LIST="$ROOT/host/link-order.txt"
WORK="$(mktemp -d)"
BIN="$WORK/coral"
# The block device the binary is read from, whose read-ahead is turned off for the traced run (restored on exit).
DEVICE="$(basename "$(findmnt -no SOURCE --target "$WORK" | sed 's/\[.*//')")"
QUEUE="/sys/class/block/$DEVICE/queue"
[ -d "$QUEUE" ] || QUEUE="$(readlink -f "/sys/class/block/$DEVICE/..")/queue"
READ_AHEAD="$(cat "$QUEUE/read_ahead_kb")"
restore() {
    echo 0 >"$TRACING/tracing_on"
    echo 0 >"$TRACING/events/exceptions/page_fault_user/enable"
    echo "$READ_AHEAD" >"$QUEUE/read_ahead_kb"
    rm -rf "$WORK"
}
trap restore EXIT
# The load generator, built once and run directly (`cargo bench` would rebuild the host for each new list, and with
# other features: lib.sh).
LOAD="$(load_generator)"

for round in $(seq 1 "${LINK_ORDER_ROUNDS:-10}"); do
    say "round $round: build coral (release) with $(wc -l <"$LIST" 2>/dev/null || echo 0) functions ordered"
    cargo build --release --bin coral
    cp "$ROOT/target/release/coral" "$BIN"
    # Started through a wrapper that records its process id, then becomes coral with address randomisation off.
    rm -f "$WORK/pid" "$WORK/maps"
    printf '#!/bin/sh\necho $$ >%s/pid\nexec setarch "$(uname -m)" -R %s "$@"\n' "$WORK" "$BIN" >"$WORK/run"
    chmod +x "$WORK/run"
    sync "$BIN"
    python3 -c 'import os, sys; os.posix_fadvise(os.open(sys.argv[1], os.O_RDONLY), 0, 0, os.POSIX_FADV_DONTNEED)' "$BIN"
    echo 0 >"$TRACING/tracing_on"
    echo >"$TRACING/trace"
    echo 1 >"$TRACING/options/record-tgid"
    echo 65536 >"$TRACING/buffer_size_kb"
    echo 1 >"$TRACING/events/exceptions/page_fault_user/enable"
    echo 0 >"$QUEUE/read_ahead_kb"
    echo 1 >"$TRACING/tracing_on"
    (
        while [ ! -s "$WORK/pid" ]; do sleep 0.05; done
        sleep 0.3
        cp "/proc/$(cat "$WORK/pid")/maps" "$WORK/maps"
    ) &
    CORAL_LOAD_EVENTS=20000 CORAL_LOAD_INFLIGHT=64 CORAL_LOAD_BIN="$WORK/run" "$LOAD"
    wait
    echo 0 >"$TRACING/tracing_on"
    echo "$READ_AHEAD" >"$QUEUE/read_ahead_kb"
    cp "$TRACING/trace" "$WORK/trace"
    added="$(python3 "$ROOT/scripts/link-order.py" "$WORK/trace" "$(cat "$WORK/pid")" "$BIN" "$WORK/maps" "$LIST" |
        tee /dev/stderr | sed -n 's/.*; \([0-9]*\) functions added.*/\1/p')"
    [ "${added:-0}" -ge 25 ] || break
done
say "host/link-order.txt: $(wc -l <"$LIST") functions"
