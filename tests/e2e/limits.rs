//! A misbehaving plugin is contained: it traps, loops or allocates without bound, and `ping` keeps answering.

use crate::support::coral::Setup;

#[test]
fn a_plugin_that_traps_on_every_event_is_contained() {
    let setup = Setup::new(&["ping", "trap"], "[console]\n");
    let mut coral = setup.start();
    for i in 0..3 {
        coral.send(&format!("ping {i}"));
        coral.expect(&format!("[private 10000] pong {i}"));
    }
    // Each event reached a fresh instance, and each trapped: three failures, all contained.
    coral.expect_log_count("event failed: plugin trapped", 3);
    let (status, _, log) = coral.finish();
    assert!(status.success());
    assert!(
        log.contains("trap fixture: refusing"),
        "the plugin's panic message reaches the log: {log}"
    );
    assert_eq!(log.matches("event failed").count(), 3, "{log}");
}

#[test]
fn a_plugin_that_loops_forever_is_stopped_at_its_cpu_budget() {
    // The wall-clock limit is far away, so only the CPU budget can stop the loop.
    let setup = Setup::new(
        &["ping", "spin"],
        "[console]\n[plugins.spin]\ncpu_budget_ms = 200\ncall_timeout_ms = 600000\n",
    );
    let mut coral = setup.start();
    coral.send("ping a");
    coral.send("ping b");
    coral.expect("[private 10000] pong a");
    coral.expect("[private 10000] pong b");
    coral.expect_log("exceeded its CPU budget of 200 ms");
    // A fresh instance takes the next event (and is stopped again).
    coral.send("ping c");
    coral.expect("[private 10000] pong c");
    coral.expect_log_count("exceeded its CPU budget of 200 ms", 3);
    let (status, _, log) = coral.finish();
    assert!(
        !log.contains("wall-clock"),
        "the CPU budget, not the wall clock, stopped it: {log}"
    );
    assert!(status.success());
}

#[test]
fn a_plugin_that_allocates_without_bound_hits_its_memory_cap() {
    let setup = Setup::new(&["ping", "hog"], "[console]\n[plugins.hog]\nmemory_mb = 32\n");
    let mut coral = setup.start();
    coral.send("ping a");
    coral.expect("[private 10000] pong a");
    let log = coral.expect_log("hit its memory cap of 32 MiB");
    assert!(log.contains("plugin=\"hog\""), "{log}");
    coral.send("ping b");
    coral.expect("[private 10000] pong b");
    // Without the cap the hog would grow to the 4 GiB wasm32 limit; the whole host stays far below that.
    let peak = coral.peak_rss_kib();
    eprintln!("coral peak RSS with a capped hog: {peak} KiB");
    assert!(peak < 256 * 1024, "coral peak RSS {peak} KiB; the hog was not capped");
    let (status, _, _) = coral.finish();
    assert!(status.success());
}

#[test]
fn a_call_over_its_wall_clock_limit_is_cut_off() {
    // Here the wall-clock limit is the tighter one.
    let setup = Setup::new(
        &["ping", "spin"],
        "[console]\n[plugins.spin]\ncpu_budget_ms = 600000\ncall_timeout_ms = 300\n",
    );
    let mut coral = setup.start();
    coral.send("ping a");
    coral.expect("[private 10000] pong a");
    coral.expect_log("event failed: plugin exceeded its wall-clock limit");
    coral.send("ping b");
    coral.expect("[private 10000] pong b");
    let (status, _, log) = coral.finish();
    assert!(status.success());
    assert!(!log.contains("CPU budget"), "{log}");
}
