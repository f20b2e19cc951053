//! Benchmark: what command plugins cost for messages that are none of their commands. A burst of N `ping <i>`
//! lines goes through the console to the `ping` plugin beside (a) 1 and (b) 10 copies of the `signin` example
//! (commands only: the host routes each line past them without entering their wasm), and (c) 10 copies of the
//! `cmd-probe` fixture, which asks for every message (each line enters each copy's wasm: what skipping saves).
//! Run with `cargo bench --bench commands` after building the plugins (`./scripts/bench.sh` does both).

#[path = "common/mod.rs"]
mod common;

use coral_host::config::Config;
use coral_model::Bots;
use coral_runtime::commands::Settings;
use coral_runtime::{Dispatcher, Runtime, StartSpec};
use std::path::{Path, PathBuf};

fn wasm(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../target/wasm/wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    ));
    assert!(
        path.is_file(),
        "{} missing: run ./scripts/bench.sh (it builds the plugins first)",
        path.display()
    );
    path
}

/// `ping` plus `copies` plugins loaded from `other`'s file (as `other-1`, `other-2`, …).
async fn start(cache: &Path, other: &str, copies: usize) -> (Dispatcher, Bots) {
    let bots = Bots::default();
    let runtime = Runtime::new(Some(common::folder(cache)), bots.clone(), None).expect("runtime");
    // Copies declare the same commands: the operator allows it here.
    runtime.hub().set_settings(Settings {
        allow_duplicates: true,
        ..Settings::default()
    });
    let dispatcher = runtime.dispatcher();
    let mut plugins = vec![("ping".to_string(), wasm("ping"))];
    plugins.extend((1..=copies).map(|i| (format!("{other}-{i}"), wasm(other))));
    for (name, path) in plugins {
        let mut limits = Config::default().limits(&name);
        limits.queue_len = 1 << 16;
        let spec = StartSpec {
            config_json: "{}".into(),
            limits,
            grants: Default::default(),
            priority: 0,
            tz: None,
        };
        let handle = runtime
            .load(&name, std::fs::read(&path).expect("plugin file"), spec)
            .await
            .expect("load");
        dispatcher.replace(handle).expect("no clash");
    }
    (dispatcher, bots)
}

async fn run(n: usize, cache: &Path, other: &str, copies: usize) -> f64 {
    let (dispatcher, bots) = start(cache, other, copies).await;
    let input: String = (0..n).map(|i| format!("ping {i}\n")).collect();
    let common::Burst { wall, cpu } = common::console_burst(&input, n, &dispatcher, bots).await;
    let per_event = cpu.as_secs_f64() * 1e6 / n as f64;
    println!(
        "ping + {copies:>2} × {other:<9}: {n} non-command messages in {:.3} s = {:>6.0} events/s; CPU {per_event:.1} µs/event",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
    );
    per_event
}

fn main() {
    let n: usize = std::env::var("CORAL_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let cache = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    rt.block_on(async {
        // Warm the compile cache so loading is not what the first run measures.
        run(200, cache.path(), "signin", 1).await;
        // 1, 10, 1 again: the first long run also pays the process's warm-up, so 10 is set against both.
        let first = run(n, cache.path(), "signin", 1).await;
        let ten = run(n, cache.path(), "signin", 10).await;
        let again = run(n, cache.path(), "signin", 1).await;
        let one = (first + again) / 2.0;
        let probes = run(n, cache.path(), "cmd-probe", 10).await;
        println!(
            "CPU per event, 10 command plugins ÷ 1 (mean of both runs): {:.2}×; 10 plugins that take every message ÷ 1 command plugin: {:.2}×",
            ten / one,
            probes / one
        );
    });
    rt.shutdown_background();
}
