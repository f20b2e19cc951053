//! Benchmark: hot-reload time, from the moment a new `ping.wasm` is in place (renamed into the plugin folder) to
//! the new version answering a `ping`, against a real `coral` (release) on the console. Cold: a fresh compilation
//! cache for every swap (each swap installs a byte-different file, so nothing is cached); warm: alternating two
//! versions whose compiled code is in the cache. Includes the watcher's debounce (`reload_debounce_ms`, set to
//! 50 ms here; the default is 300). Run: `./scripts/bench.sh` or `cargo bench --bench reload`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn install(dir: &Path, bytes: &[u8]) {
    let tmp = dir.join("plugins/.ping.partial");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join("plugins/ping.wasm")).unwrap();
}

/// A copy of a component with a custom section appended: a different file (and cache key), same behaviour.
fn variant(bytes: &[u8], n: u32) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let name = b"coral-bench";
    let payload = n.to_le_bytes();
    out.push(0); // custom section id
    out.push((1 + name.len() + payload.len()) as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

fn run(label: &str, rounds: u32, cold: bool) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let coral = root.join("target/release/coral");
    let v1 = std::fs::read(root.join("target/wasm/wasm32-wasip2/release/ping.wasm"))
        .expect("build first: ./scripts/bench.sh");
    let v2 =
        std::fs::read(root.join("target/wasm/wasm32-wasip2/release/ping2.wasm")).expect("build tests/plugins first");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::write(dir.path().join("plugins/ping.wasm"), &v1).unwrap();
    std::fs::write(
        dir.path().join("coral.toml"),
        "[host]\nreload_debounce_ms = 50\n[console]\n",
    )
    .unwrap();
    let mut child = Command::new(coral)
        .args(["run", "--config"])
        .arg(dir.path().join("coral.toml"))
        .env("CORAL_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Wait until v1 answers.
    writeln!(stdin, "ping warmup").unwrap();
    rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let mut samples = Vec::new();
    for round in 0..rounds {
        let to_v2 = round % 2 == 0;
        let base = if to_v2 { &v2 } else { &v1 };
        let bytes = if cold { variant(base, round) } else { base.clone() };
        let want = if to_v2 { "pong2 " } else { "pong " };
        let start = Instant::now();
        install(dir.path(), &bytes);
        // Poll with pings until the new version answers one.
        let mut k = 0;
        'wait: loop {
            writeln!(stdin, "ping {round}-{k}").unwrap();
            k += 1;
            let deadline = Instant::now() + Duration::from_millis(5);
            while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                if line.contains(want) && line.ends_with(&format!("{round}-{}", k - 1)) {
                    break 'wait;
                }
            }
            assert!(start.elapsed() < Duration::from_secs(60), "no reload");
        }
        samples.push(start.elapsed());
        while rx.recv_timeout(Duration::from_millis(20)).is_ok() {}
    }
    let _ = child.kill();
    let _ = child.wait();
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}: {rounds} swaps, file in place → new version answering: median {:.0} ms, min {:.0} ms, max {:.0} ms (incl. 50 ms debounce)",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1])
    );
}

fn main() {
    run("warm cache", 20, false);
    run("cold (nothing cached)", 10, true);
}
