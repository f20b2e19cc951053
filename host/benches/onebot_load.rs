//! Load benchmark: this program plays the OneBot implementation (a forward-WebSocket server) and drives a real
//! `coral` process (release build) running the `ping` plugin. Closed loop: C events `ping K` in flight; each
//! `send_msg` carrying `pong K` is answered and frees a slot for the next event.
//!
//! Reports events/s, coral's CPU per event (from /proc), p50/p99 latency (event written → pong received), lost
//! events, and coral's peak RSS. Run: `./scripts/bench.sh` (builds coral and the plugins first), or
//! `cargo bench --bench onebot_load` with `CORAL_LOAD_EVENTS` / `CORAL_LOAD_INFLIGHT` to override, and
//! `CORAL_LOAD_BIN` / `CORAL_LOAD_PLUGIN` to drive another `coral` binary and `ping.wasm` (before/after figures).
//!
//! A hostile plugin beside the canary: `CORAL_LOAD_HOSTILE=<plugin.wasm>` loads it too (config lines for it in
//! `CORAL_LOAD_HOSTILE_CONFIG`), and every `CORAL_LOAD_HOSTILE_EVERY`-th event (default 50) is followed by a group
//! message `CORAL_LOAD_HOSTILE_TEXT` (e.g. `alls 1000 100`), which the hostile plugin acts on; the latency is still
//! the canary's. Every action either plugin sends is answered `ok`.

#[path = "common/mod.rs"]
mod common;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("coral's /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn event(k: u64) -> String {
    format!(
        r#"{{"time":1718000000,"self_id":10001,"post_type":"message","message_type":"private","sub_type":"friend","message_id":{k},"user_id":1000001,"message":[{{"type":"text","data":{{"text":"ping {k}"}}}}],"raw_message":"ping {k}","font":0,"sender":{{"user_id":1000001,"nickname":"load"}}}}"#
    )
}

struct Run {
    events: u64,
    inflight: u64,
    /// `[plugins.ping] instances`.
    instances: u64,
}

/// A hostile plugin run beside the canary.
struct Hostile {
    wasm: PathBuf,
    config: String,
    text: String,
    every: u64,
}

impl Hostile {
    fn from_env() -> Option<Hostile> {
        let wasm = PathBuf::from(std::env::var_os("CORAL_LOAD_HOSTILE")?);
        Some(Hostile {
            wasm,
            config: std::env::var("CORAL_LOAD_HOSTILE_CONFIG").unwrap_or_default(),
            text: std::env::var("CORAL_LOAD_HOSTILE_TEXT").unwrap_or_default(),
            every: std::env::var("CORAL_LOAD_HOSTILE_EVERY")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(50),
        })
    }

    fn name(&self) -> String {
        self.wasm.file_stem().unwrap().to_string_lossy().into_owned()
    }
}

fn hostile_event(k: u64, text: &str) -> String {
    serde_json::json!({
        "time": 1718000000, "self_id": 10001, "post_type": "message", "message_type": "group",
        "sub_type": "normal", "message_id": 1_000_000_000 + k, "group_id": 100, "user_id": 1000002,
        "message": [{"type": "text", "data": {"text": text}}], "raw_message": text, "font": 0,
        "sender": {"user_id": 1000002, "nickname": "hostile", "role": "member"}
    })
    .to_string()
}

async fn run(coral_bin: &PathBuf, ping: &PathBuf, spec: Run, hostile: Option<&Hostile>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::copy(ping, dir.path().join("plugins/ping.wasm")).unwrap();
    let mut hostile_config = String::new();
    if let Some(h) = hostile {
        std::fs::copy(&h.wasm, dir.path().join(format!("plugins/{}.wasm", h.name()))).unwrap();
        hostile_config = format!("[plugins.{}]\n{}\n", h.name(), h.config.replace("\\n", "\n"));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    std::fs::write(
        dir.path().join("coral.toml"),
        format!(
            "[host]\nqueue_len = 1024\n[plugins.ping]\ninstances = {}\n{hostile_config}\
             [[onebot]]\ntransport = \"ws\"\nurl = \"ws://{addr}\"\nself_id = \"10001\"\n",
            spec.instances
        ),
    )
    .unwrap();
    let mut child: Child = Command::new(coral_bin)
        .args(["run", "--config"])
        .arg(dir.path().join("coral.toml"))
        .env("CORAL_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting coral");
    let pid = child.id();
    let (tcp, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept())
        .await
        .expect("coral connects")
        .unwrap();
    let socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
    let (mut sink, mut stream) = socket.split();

    // Warm up: one round trip (instantiation, caches).
    sink.send(Message::text(event(0))).await.unwrap();
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    let mut latencies: Vec<Duration> = Vec::with_capacity(spec.events as usize);
    let mut next: u64 = 1;
    let mut warm = false;
    let (mut cpu0, mut t0) = (common::cpu_time(&pid.to_string()), Instant::now());
    let deadline_idle = Duration::from_secs(10);
    loop {
        let frame = match tokio::time::timeout(deadline_idle, stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(_))) => continue,
            _ => break, // idle for 10 s or closed: whatever is missing is lost
        };
        let v: Value = serde_json::from_str(&frame).unwrap();
        let Some(action) = v["action"].as_str() else {
            continue;
        };
        let echo = v["echo"].clone();
        let k: u64 = v["params"]["message"][0]["data"]["text"]
            .as_str()
            .and_then(|t| t.strip_prefix("pong "))
            .and_then(|k| k.parse().ok())
            .unwrap_or(u64::MAX);
        let reply = serde_json::json!({"status": "ok", "retcode": 0, "data": {"message_id": k}, "echo": echo});
        sink.feed(Message::text(reply.to_string())).await.unwrap();
        if action != "send_msg" || k == u64::MAX {
            sink.flush().await.unwrap();
            continue;
        }
        if !warm {
            warm = true;
            (cpu0, t0) = (common::cpu_time(&pid.to_string()), Instant::now());
            let first = spec.inflight.min(spec.events);
            for k in 1..=first {
                sent_at.insert(k, Instant::now());
                sink.feed(Message::text(event(k))).await.unwrap();
            }
            next = first + 1;
            sink.flush().await.unwrap();
            continue;
        }
        if let Some(at) = sent_at.remove(&k) {
            latencies.push(at.elapsed());
        }
        if next <= spec.events {
            sent_at.insert(next, Instant::now());
            sink.feed(Message::text(event(next))).await.unwrap();
            if let Some(h) = hostile.filter(|h| next.is_multiple_of(h.every)) {
                sink.feed(Message::text(hostile_event(next, &h.text))).await.unwrap();
            }
            next += 1;
        }
        sink.flush().await.unwrap();
        if latencies.len() as u64 == spec.events {
            break;
        }
    }
    let (wall, cpu) = (t0.elapsed(), common::cpu_time(&pid.to_string()) - cpu0);
    let rss = peak_rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    let done = latencies.len() as u64;
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    if let Some(h) = hostile {
        println!("beside {} ({:?} every {} events):", h.name(), h.text, h.every);
    }
    println!(
        "C={:<3} N={:<7} instances={:<2} {:>8.0} events/s  coral CPU {:>5.1} µs/event  latency p50 {:>5.0} µs p99 {:>6.0} µs  lost {}  coral peak RSS {:.1} MiB",
        spec.inflight,
        spec.events,
        spec.instances,
        done as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / done.max(1) as f64,
        pct(0.5),
        pct(0.99),
        spec.events - done,
        rss as f64 / 1024.0
    );
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    // CORAL_LOAD_BIN / CORAL_LOAD_PLUGIN drive another build (e.g. an older commit's) with the same harness.
    let path_env = |k: &str, default: PathBuf| std::env::var_os(k).map_or(default, PathBuf::from);
    let coral = path_env("CORAL_LOAD_BIN", root.join("target/release/coral"));
    let ping = path_env(
        "CORAL_LOAD_PLUGIN",
        root.join("target/wasm/wasm32-wasip2/release/ping.wasm"),
    );
    assert!(
        coral.is_file() && ping.is_file(),
        "build first: ./scripts/bench.sh builds coral (release) and the plugins"
    );
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let instances = env("CORAL_LOAD_INSTANCES");
        let hostile = Hostile::from_env();
        let hostile = hostile.as_ref();
        match (env("CORAL_LOAD_EVENTS"), env("CORAL_LOAD_INFLIGHT")) {
            (Some(events), Some(inflight)) => {
                run(
                    &coral,
                    &ping,
                    Run {
                        events,
                        inflight,
                        instances: instances.unwrap_or(1),
                    },
                    hostile,
                )
                .await
            }
            _ => {
                let runs = [
                    Run {
                        events: 5_000,
                        inflight: 1,
                        instances: 1,
                    },
                    Run {
                        events: 200_000,
                        inflight: 64,
                        instances: 1,
                    },
                    Run {
                        events: 200_000,
                        inflight: 64,
                        instances: instances.unwrap_or(16),
                    },
                ];
                for spec in runs {
                    run(&coral, &ping, spec, hostile).await;
                }
            }
        }
    });
}
