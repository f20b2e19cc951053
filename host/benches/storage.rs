//! Benchmark: storage calls from inside a plugin. The `kv` fixture plugin (tests/plugins/kv) handles one console
//! line `kv bench N` by making N/2 `storage.set` then N/2 `storage.get` calls (16-byte values over 1000 keys);
//! reported: ops/s and CPU per op, end to end (guest → host import → SQLite on the blocking pool → back). Also
//! the same mix straight on the host-side store, without a plugin, for comparison.
//!
//! Run with `cargo bench --bench storage` after building the fixture plugins (`./scripts/bench.sh` does both).
//! `CORAL_BENCH_STORAGE_OPS` sets N (default 100 000). Not a test: it asserts only that the plugin finished.

#[path = "common/mod.rs"]
mod common;

use coral_host::config::Config;
use coral_model::Bots;
use coral_policy::{Capability, Grants};
use coral_runtime::{Dispatcher, Runtime, StartSpec};
use coral_services::Services;
use coral_services::storage::Quota;
use std::path::PathBuf;
use std::time::{Duration, Instant};

async fn in_plugin(n: usize, dir: &std::path::Path) {
    let wasm = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm/wasm32-wasip2/release/kv.wasm");
    assert!(
        wasm.is_file(),
        "{} missing: run ./scripts/bench.sh (it builds the plugins first)",
        wasm.display()
    );
    let bots = Bots::default();
    let services = Services::open(&common::folder(dir)).expect("services");
    let runtime = Runtime::new(Some(common::folder(&dir.join("cache"))), bots.clone(), None)
        .expect("runtime")
        .with_services(services);
    let mut limits = Config::default().limits("kv");
    limits.max_host_calls = n as u32 + 10;
    limits.cpu_budget = Duration::from_secs(3600);
    limits.call_timeout = Duration::from_secs(3600);
    let grants = Grants {
        grants: [Capability::Send, Capability::Storage].into(),
        ..Grants::default()
    };
    let handle = runtime
        .load(
            "kv",
            std::fs::read(&wasm).expect("plugin file"),
            StartSpec {
                config_json: "{}".into(),
                limits,
                grants,
                priority: 0,
                tz: None,
            },
        )
        .await
        .expect("load kv");
    let dispatcher = Dispatcher::default();
    dispatcher.add(handle);
    let input = format!("kv bench {n}\n");
    let common::Burst { wall, cpu } = common::console_burst(&input, 1, &dispatcher, bots).await;
    println!(
        "from a plugin: {n} storage calls (half set, half get) in {:.3} s = {:.0} ops/s; CPU {:.1} µs/op \
         (process user+sys)",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n as f64
    );
}

fn host_side(n: usize, dir: &std::path::Path) {
    let services = Services::open(&common::folder(dir)).expect("services");
    let s = &services.storage;
    let half = n / 2;
    let (cpu0, t0) = (common::cpu_time("self"), Instant::now());
    for i in 0..half {
        s.set(
            "host",
            Quota::default(),
            &format!("bench{}", i % 1000),
            b"0123456789abcdef",
            None,
        )
        .unwrap();
    }
    for i in 0..(n - half) {
        s.get("host", &format!("bench{}", i % 1000)).unwrap();
    }
    let (wall, cpu) = (t0.elapsed(), common::cpu_time("self") - cpu0);
    println!(
        "host side, no plugin: {n} calls in {:.3} s = {:.0} ops/s; CPU {:.1} µs/op",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n as f64
    );
}

fn main() {
    let n: usize = std::env::var("CORAL_BENCH_STORAGE_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    rt.block_on(in_plugin(n, dir.path()));
    rt.shutdown_background();
    let host_dir = tempfile::tempdir().expect("temp dir");
    host_side(n, host_dir.path());
}
