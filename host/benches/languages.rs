//! Benchmark: the same `ping <x>` path for plugins written in different languages (Rust `ping`, Python `dice`,
//! C `calc`, JavaScript `memo`):
//! compile time (no cache), load time from the compilation cache, instantiate + `metadata` time, and per-event
//! throughput / CPU through the console adapter. Run `./scripts/bench.sh` (builds the plugins) or
//! `cargo bench --bench languages` after it.

#[path = "common/mod.rs"]
mod common;

use coral_host::config::Config;
use coral_model::Bots;
use coral_runtime::{Dispatcher, Runtime, StartSpec};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn measure(label: &str, wasm: &Path, events: usize) {
    let cache = tempfile::tempdir().unwrap();
    let limits = Config::default().limits("bench");
    let spec = || StartSpec {
        config_json: "{}".into(),
        limits,
        grants: Default::default(),
        priority: 0,
        tz: None,
    };
    // Compile with an empty cache, then again from the cache (a fresh runtime, as after a restart).
    let cold_rt = Runtime::new(Some(common::folder(cache.path())), Bots::default(), None).unwrap();
    let t = Instant::now();
    let compiled = cold_rt
        .compile(std::fs::read(wasm).expect("plugin file"))
        .await
        .expect("compile");
    let cold = t.elapsed();
    drop(compiled);
    let bots = Bots::default();
    let runtime = Runtime::new(Some(common::folder(cache.path())), bots.clone(), None).unwrap();
    let t = Instant::now();
    let compiled = runtime
        .compile(std::fs::read(wasm).expect("plugin file"))
        .await
        .expect("compile from cache");
    let cached = t.elapsed();
    let t = Instant::now();
    for _ in 0..20 {
        runtime.metadata(&compiled, limits).await.expect("instantiate");
    }
    let instantiate = t.elapsed() / 20;
    let handle = runtime.start("bench", compiled, spec()).await.expect("start");
    let dispatcher = Dispatcher::default();
    dispatcher.add(handle);
    let input: String = (0..events).map(|i| format!("ping {i}\n")).collect();
    let common::Burst { wall, cpu } = common::console_burst(&input, events, &dispatcher, bots).await;
    let size = std::fs::metadata(wasm).unwrap().len();
    println!(
        "| {label} | {:.1} MB | {:.0} ms | {:.0} ms | {:.2} ms | {:.0} events/s | {:.0} µs |",
        size as f64 / 1e6,
        ms(cold),
        ms(cached),
        ms(instantiate),
        events as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / events as f64
    );
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let rust = root.join("target/wasm/wasm32-wasip2/release/ping.wasm");
    let python = root.join("target/wasm/lang/dice.wasm");
    let js = root.join("target/wasm/lang/memo.wasm");
    let c = root.join("target/wasm/lang/calc.wasm");
    assert!(
        [&rust, &python, &js, &c].iter().all(|p| p.is_file()),
        "build first: ./scripts/bench.sh builds the plugins"
    );
    println!(
        "| plugin | size | compile (no cache) | load from cache | instantiate + metadata | console ping throughput | CPU / event |"
    );
    println!("|---|---|---|---|---|---|---|");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        measure("Rust `ping`", &rust, 20_000).await;
        measure("Python `dice`", &python, 2_000).await;
        measure("C `calc`", &c, 20_000).await;
        measure("JavaScript `memo`", &js, 2_000).await;
    });
    rt.shutdown_background();
}
