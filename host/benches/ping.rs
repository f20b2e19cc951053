//! Benchmark: console input → runtime → `ping` plugin → console output, in process, release build.
//!
//! Reports (1) throughput and CPU per event for a burst of N piped lines, and (2) the round-trip latency of one
//! line at a time. Run with `cargo bench --bench ping` after building the example plugins
//! (`./scripts/bench.sh` does both). Not a test: it asserts only that every ping was answered.

#[path = "common/mod.rs"]
mod common;

use coral_adapters::console;
use coral_host::config::{Config, ConsoleConfig};
use coral_model::Bots;
use coral_runtime::{Dispatcher, Runtime, StartSpec};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncWriteExt, BufReader};

async fn start(cache: &std::path::Path) -> (Dispatcher, Bots) {
    let wasm = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm/wasm32-wasip2/release/ping.wasm");
    assert!(
        wasm.is_file(),
        "{} missing: run ./scripts/bench.sh (it builds the plugins first)",
        wasm.display()
    );
    let bots = Bots::default();
    let runtime = Runtime::new(Some(common::folder(cache)), bots.clone(), None).expect("runtime");
    let mut limits = Config::default().limits("ping");
    limits.queue_len = 1024;
    let handle = runtime
        .load(
            "ping",
            std::fs::read(&wasm).expect("plugin file"),
            StartSpec {
                config_json: "{}".into(),
                limits,
                grants: Default::default(),
                priority: 0,
                tz: None,
            },
        )
        .await
        .expect("load ping");
    let dispatcher = Dispatcher::default();
    dispatcher.add(handle);
    (dispatcher, bots)
}

async fn throughput(n: usize, cache: &std::path::Path) {
    let (dispatcher, bots) = start(cache).await;
    let input: String = (0..n).map(|i| format!("ping {i}\n")).collect();
    let common::Burst { wall, cpu } = common::console_burst(&input, n, &dispatcher, bots).await;
    println!(
        "throughput: {n} events in {:.3} s = {:.0} events/s; CPU {:.1} µs/event (process user+sys, 10 ms ticks)",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n as f64
    );
}

async fn latency(n: usize, cache: &std::path::Path) {
    let (dispatcher, bots) = start(cache).await;
    let lines = common::LineCounter::default();
    let out: console::Output = Arc::new(parking_lot::Mutex::new(lines.clone()));
    let (mut writer, reader) = tokio::io::duplex(1 << 16);
    let console = tokio::spawn(async move {
        console::run(
            &ConsoleConfig::default(),
            BufReader::new(reader),
            out,
            Arc::new(dispatcher.clone()),
            bots,
        )
        .await
        .unwrap();
        dispatcher.shutdown().await;
    });
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t0 = Instant::now();
        writer.write_all(format!("ping {i}\n").as_bytes()).await.unwrap();
        let wanted = i + 1;
        let lines = lines.clone();
        tokio::task::spawn_blocking(move || lines.wait_for(wanted))
            .await
            .unwrap();
        samples.push(t0.elapsed());
    }
    drop(writer);
    console.await.unwrap();
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)].as_secs_f64() * 1e6;
    println!(
        "latency (one at a time, {n} round trips): p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; accept and ignore harness flags.
    let n: usize = std::env::var("CORAL_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let cache = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    rt.block_on(async {
        throughput(n, cache.path()).await;
        latency(2_000, cache.path()).await;
    });
    rt.shutdown_background();
}
