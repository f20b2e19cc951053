//! Load benchmark: this program plays the OneBot implementation (a forward-WebSocket server) and drives a real
//! `coral` process (release build) running the `ping` plugin. Closed loop: C events `ping K` in flight; each
//! `send_msg` carrying `pong K` is answered and frees a slot for the next event.
//!
//! Reports events/s, coral's CPU per event (from /proc), p50/p99 latency (event written → pong received), lost
//! events, and coral's peak RSS. Run: `./scripts/bench.sh` (builds coral and the plugins first), or
//! `cargo bench --bench onebot_load` with `CORAL_LOAD_EVENTS` / `CORAL_LOAD_INFLIGHT` to override, and
//! `CORAL_LOAD_BIN` / `CORAL_LOAD_PLUGIN` to drive another `coral` binary and `ping.wasm` (before/after figures).
//! `CORAL_LOAD_EXTRA=<folder>` loads every other `.wasm` in it beside `ping` (the example plugins: `./plugins`).
//! Compiled plugins are cached in `target/load-cache` (`CORAL_LOAD_CACHE_DIR`) from one run to the next.
//!
//! A hostile plugin beside the canary: `CORAL_LOAD_HOSTILE=<plugin.wasm>` loads it too (config lines for it in
//! `CORAL_LOAD_HOSTILE_CONFIG`), and every `CORAL_LOAD_HOSTILE_EVERY`-th event (default 50) is followed by a group
//! message `CORAL_LOAD_HOSTILE_TEXT` (e.g. `alls 1000 100`), which the hostile plugin acts on; the latency is still
//! the canary's. Every action either plugin sends is answered `ok`.
//!
//! Reference bots in coral's place, same harness and figures: `CORAL_LOAD_PEER=kovi` drives the Kovi echo bot
//! (`host/benches/reference/kovi-echo`, a client on `/api` and `/event`: events go out on `/event`, every action
//! is answered on the connection it came on), `CORAL_LOAD_PEER=floor` the bare echo client
//! (`host/benches/reference/echo-floor`); `coral` is the default. `./scripts/bench-reference.sh` builds both into
//! `target/reference/release/` (or `CORAL_LOAD_KOVI_BIN` / `CORAL_LOAD_FLOOR_BIN` name other builds) and runs all.
//!
//! Heap allocations per event: `CORAL_LOAD_MALLOC_COUNT=<malloc_count.so>` (built from `host/benches/malloc_count.c`
//! by `./scripts/bench-reference.sh`) preloads the counter into the bot under test and adds its allocations (and
//! bytes asked for) per event over the measured events to the report. Exact, but every allocation then costs an
//! atomic add: take times from runs without it.

#[path = "common/mod.rs"]
mod common;

use futures_util::stream::{LocalBoxStream, SelectAll, SplitSink};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the bot's /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The bot's allocation counts (`malloc_count.so`'s file): allocations and bytes asked for so far.
fn malloc_counts(file: &Path) -> (u64, u64) {
    let bytes = std::fs::read(file).expect("the allocation counts");
    let word = |i: usize| u64::from_ne_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
    (word(0), word(1))
}

fn event(k: u64) -> String {
    format!(
        r#"{{"time":1718000000,"self_id":10001,"post_type":"message","message_type":"private","sub_type":"friend","message_id":{k},"user_id":1000001,"message":[{{"type":"text","data":{{"text":"ping {k}"}}}}],"raw_message":"ping {k}","font":0,"sender":{{"user_id":1000001,"nickname":"load"}}}}"#
    )
}

struct Run {
    events: u64,
    inflight: u64,
    /// `[plugins.ping] instances` (coral only).
    instances: u64,
}

/// The bot process under test (`CORAL_LOAD_PEER`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    Coral,
    Kovi,
    Floor,
}

impl Peer {
    fn from_env() -> Peer {
        match std::env::var("CORAL_LOAD_PEER").as_deref() {
            Err(_) | Ok("") | Ok("coral") => Peer::Coral,
            Ok("kovi") => Peer::Kovi,
            Ok("floor") => Peer::Floor,
            Ok(other) => panic!("CORAL_LOAD_PEER={other:?}: expected coral, kovi or floor"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Peer::Coral => "coral",
            Peer::Kovi => "kovi",
            Peer::Floor => "floor",
        }
    }

    /// WebSocket connections it opens: Kovi's driver one for `/api` and one for `/event`, the others one universal.
    fn connections(self) -> usize {
        if self == Peer::Kovi { 2 } else { 1 }
    }
}

/// The binaries a run needs, and coral's compile cache.
struct Bins {
    coral: PathBuf,
    ping: PathBuf,
    kovi: PathBuf,
    floor: PathBuf,
    /// Kept between runs (`CORAL_LOAD_CACHE_DIR`, default `target/load-cache`), so plugins load from the compile
    /// cache as they do on a host that has run before. A first run compiles them, in coral's compile worker, and
    /// coral holds each compiled artifact while writing it to the cache: for a Python plugin, tens of MiB of peak RSS.
    cache: PathBuf,
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

/// Prepare `dir` for `peer` (plugins and config pointing at `addr`) and start it: coral with `--config` there, as
/// before; a reference bot inside it (Kovi reads ./kovi.conf.toml and writes ./kovi.plugin.toml when it stops).
fn spawn(
    peer: Peer,
    bins: &Bins,
    dir: &Path,
    addr: std::net::SocketAddr,
    spec: &Run,
    hostile: Option<&Hostile>,
    preload: Option<&Path>,
) -> Child {
    let mut command = match peer {
        Peer::Coral => {
            std::fs::create_dir_all(dir.join("plugins")).unwrap();
            std::fs::copy(&bins.ping, dir.join("plugins/ping.wasm")).unwrap();
            // Every other plugin in CORAL_LOAD_EXTRA (a folder, e.g. ./plugins after ./scripts/run.sh) loads too.
            if let Some(extra) = std::env::var_os("CORAL_LOAD_EXTRA") {
                for entry in std::fs::read_dir(&extra).unwrap_or_else(|e| panic!("CORAL_LOAD_EXTRA {extra:?}: {e}")) {
                    let path = entry.unwrap().path();
                    let name = path.file_name().unwrap().to_owned();
                    if path.extension().is_some_and(|e| e == "wasm") && name != "ping.wasm" {
                        std::fs::copy(&path, dir.join("plugins").join(name)).unwrap();
                    }
                }
            }
            let mut hostile_config = String::new();
            if let Some(h) = hostile {
                std::fs::copy(&h.wasm, dir.join(format!("plugins/{}.wasm", h.name()))).unwrap();
                hostile_config = format!("[plugins.{}]\n{}\n", h.name(), h.config.replace("\\n", "\n"));
            }
            std::fs::write(
                dir.join("coral.toml"),
                format!(
                    "[host]\nqueue_len = 1024\n[plugins.ping]\ninstances = {}\n{hostile_config}\
                     [[onebot]]\ntransport = \"ws\"\nurl = \"ws://{addr}\"\nself_id = \"10001\"\n",
                    spec.instances
                ),
            )
            .unwrap();
            let mut command = Command::new(&bins.coral);
            command
                .args(["run", "--config"])
                .arg(dir.join("coral.toml"))
                .arg("--cache-dir")
                .arg(&bins.cache)
                .env("CORAL_LOG", "warn");
            command
        }
        Peer::Kovi => {
            // Kovi's `[config]` and its OneBot driver's `[server]`, both read from ./kovi.conf.toml (asked for
            // interactively when missing). `path = "/"` and `all_in_one = false`: the driver's default, separate
            // `/api` and `/event` connections.
            std::fs::write(
                dir.join("kovi.conf.toml"),
                format!(
                    "[config]\nmain_admin = 10000\nadmins = []\ndebug = false\n\n\
                     [server]\nhost = \"{}\"\nport = {}\naccess_token = \"\"\nsecure = false\npath = \"/\"\n\
                     all_in_one = false\n",
                    addr.ip(),
                    addr.port()
                ),
            )
            .unwrap();
            let mut command = Command::new(&bins.kovi);
            command.current_dir(dir).env("RUST_LOG", "warn");
            command
        }
        Peer::Floor => {
            let mut command = Command::new(&bins.floor);
            command.current_dir(dir).arg(format!("ws://{addr}/"));
            command
        }
    };
    if let Some(preload) = preload {
        std::fs::write(dir.join("malloc.count"), [0u8; 16]).unwrap();
        command
            .env("LD_PRELOAD", preload)
            .env("MALLOC_COUNT_FILE", dir.join("malloc.count"));
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", peer.name()))
}

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;
/// Frames of every connection, tagged with its index; `None` once it has closed.
type Frames = SelectAll<LocalBoxStream<'static, (usize, Option<Result<Message, WsError>>)>>;

enum Input {
    Connection(TcpStream),
    Frame(usize, Option<Result<Message, WsError>>),
}

/// Complete a client's WebSocket handshake; the request's path comes back beside the socket.
#[allow(clippy::result_large_err)] // the handshake callback's signature is tungstenite's
async fn accept(tcp: TcpStream) -> (WebSocketStream<TcpStream>, String) {
    let mut path = String::new();
    let socket = tokio_tungstenite::accept_hdr_async(tcp, |request: &Request, response: Response| {
        path = request.uri().path().to_owned();
        Ok(response)
    })
    .await
    .unwrap();
    (socket, path)
}

async fn run(peer: Peer, bins: &Bins, spec: Run, hostile: Option<&Hostile>) {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let preload = std::env::var_os("CORAL_LOAD_MALLOC_COUNT").map(PathBuf::from);
    let counts = preload.as_ref().map(|_| dir.path().join("malloc.count"));
    let mut child: Child = spawn(peer, bins, dir.path(), addr, &spec, hostile, preload.as_deref());
    let mut allocs0 = (0, 0);
    let pid = child.id();

    // The peer's connections: answers go back on the one an action came on, events out on the first one whose
    // path is not `…/api` (Kovi's `/event`, or the universal `/` of coral and the floor).
    let mut sinks: Vec<Sink> = Vec::new();
    let mut frames: Frames = SelectAll::new();
    let mut events_on: Option<usize> = None;
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    let mut latencies: Vec<Duration> = Vec::with_capacity(spec.events as usize);
    let mut next: u64 = 1;
    let mut warm = false;
    let (mut cpu0, mut t0) = (common::cpu_time(&pid.to_string()), Instant::now());
    let deadline_connect = Duration::from_secs(30);
    let deadline_idle = Duration::from_secs(10);
    loop {
        let connecting = sinks.len() < peer.connections();
        let input = tokio::time::timeout(if connecting { deadline_connect } else { deadline_idle }, async {
            tokio::select! {
                accepted = listener.accept(), if connecting => Some(Input::Connection(accepted.unwrap().0)),
                Some((id, frame)) = frames.next() => Some(Input::Frame(id, frame)),
                else => None,
            }
        })
        .await;
        let (id, frame) = match input {
            Ok(Some(Input::Connection(tcp))) => {
                let (socket, path) = accept(tcp).await;
                let (mut sink, stream) = socket.split();
                let id = sinks.len();
                frames.push(
                    stream
                        .map(move |frame| (id, Some(frame)))
                        .chain(futures_util::stream::once(async move { (id, None) }))
                        .boxed_local(),
                );
                if events_on.is_none() && !path.trim_end_matches('/').ends_with("/api") {
                    events_on = Some(id);
                    // Warm up: one round trip (instantiation, caches).
                    sink.send(Message::text(event(0))).await.unwrap();
                }
                sinks.push(sink);
                continue;
            }
            Ok(Some(Input::Frame(id, frame))) => (id, frame),
            Err(_) if connecting => panic!("{} connects", peer.name()),
            // Idle for 10 s or closed: whatever is missing is lost.
            Ok(None) | Err(_) => break,
        };
        let frame = match frame {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break,
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
        let data = match action {
            "get_login_info" => serde_json::json!({"user_id": 10001, "nickname": "bench"}),
            _ => serde_json::json!({"message_id": k}),
        };
        let reply = serde_json::json!({"status": "ok", "retcode": 0, "data": data, "echo": echo});
        sinks[id].feed(Message::text(reply.to_string())).await.unwrap();
        if action != "send_msg" || k == u64::MAX {
            sinks[id].flush().await.unwrap();
            continue;
        }
        let ev = events_on.expect("a pong before any event was sent");
        if !warm {
            warm = true;
            (cpu0, t0) = (common::cpu_time(&pid.to_string()), Instant::now());
            if let Some(file) = &counts {
                allocs0 = malloc_counts(file);
            }
            let first = spec.inflight.min(spec.events);
            for k in 1..=first {
                sent_at.insert(k, Instant::now());
                sinks[ev].feed(Message::text(event(k))).await.unwrap();
            }
            next = first + 1;
        } else {
            if let Some(at) = sent_at.remove(&k) {
                latencies.push(at.elapsed());
            }
            if next <= spec.events {
                sent_at.insert(next, Instant::now());
                sinks[ev].feed(Message::text(event(next))).await.unwrap();
                if let Some(h) = hostile.filter(|h| next.is_multiple_of(h.every)) {
                    sinks[ev]
                        .feed(Message::text(hostile_event(next, &h.text)))
                        .await
                        .unwrap();
                }
                next += 1;
            }
        }
        if id != ev {
            sinks[id].flush().await.unwrap();
        }
        sinks[ev].flush().await.unwrap();
        if latencies.len() as u64 == spec.events {
            break;
        }
    }
    let (wall, cpu) = (t0.elapsed(), common::cpu_time(&pid.to_string()) - cpu0);
    let rss = peak_rss_kib(pid);
    let allocs = counts.as_ref().map(|file| {
        let (n, bytes) = malloc_counts(file);
        (n - allocs0.0, bytes - allocs0.1)
    });
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
    let instances = match peer {
        Peer::Coral => spec.instances.to_string(),
        _ => "-".to_string(),
    };
    println!(
        "C={:<3} N={:<7} instances={:<2} {:>8.0} events/s  {name} CPU {:>5.1} µs/event  latency p50 {:>5.0} µs p99 {:>6.0} µs  lost {}  {name} peak RSS {:.1} MiB",
        spec.inflight,
        spec.events,
        instances,
        done as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / done.max(1) as f64,
        pct(0.5),
        pct(0.99),
        spec.events - done,
        rss as f64 / 1024.0,
        name = peer.name(),
    );
    if let Some((n, bytes)) = allocs {
        let per = |x: u64| x as f64 / done.max(1) as f64;
        println!(
            "  {name} heap allocations: {:.1} per event, {:.0} bytes asked for per event",
            per(n),
            per(bytes),
            name = peer.name()
        );
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    // CORAL_LOAD_BIN / CORAL_LOAD_PLUGIN drive another build (e.g. an older commit's) with the same harness.
    let path_env = |k: &str, default: PathBuf| std::env::var_os(k).map_or(default, PathBuf::from);
    let peer = Peer::from_env();
    let bins = Bins {
        coral: path_env("CORAL_LOAD_BIN", root.join("target/release/coral")),
        ping: path_env(
            "CORAL_LOAD_PLUGIN",
            root.join("target/wasm/wasm32-wasip2/release/ping.wasm"),
        ),
        kovi: path_env("CORAL_LOAD_KOVI_BIN", root.join("target/reference/release/kovi-echo")),
        floor: path_env("CORAL_LOAD_FLOOR_BIN", root.join("target/reference/release/echo-floor")),
        cache: path_env("CORAL_LOAD_CACHE_DIR", root.join("target/load-cache")),
    };
    match peer {
        Peer::Coral => assert!(
            bins.coral.is_file() && bins.ping.is_file(),
            "build first: ./scripts/bench.sh builds coral (release) and the plugins"
        ),
        Peer::Kovi | Peer::Floor => {
            let bin = if peer == Peer::Kovi { &bins.kovi } else { &bins.floor };
            assert!(
                bin.is_file(),
                "build first: ./scripts/bench-reference.sh builds the reference bots ({} is missing)",
                bin.display()
            );
        }
    }
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let instances = env("CORAL_LOAD_INSTANCES");
        let hostile = Hostile::from_env();
        let hostile = hostile.as_ref();
        assert!(
            hostile.is_none() || peer == Peer::Coral,
            "CORAL_LOAD_HOSTILE loads a plugin into coral: it needs CORAL_LOAD_PEER=coral"
        );
        match (env("CORAL_LOAD_EVENTS"), env("CORAL_LOAD_INFLIGHT")) {
            (Some(events), Some(inflight)) => {
                run(
                    peer,
                    &bins,
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
                let mut runs = vec![
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
                ];
                // Plugin instances are coral's; a reference bot has nothing to scale.
                if peer == Peer::Coral {
                    runs.push(Run {
                        events: 200_000,
                        inflight: 64,
                        instances: instances.unwrap_or(16),
                    });
                }
                for spec in runs {
                    run(peer, &bins, spec, hostile).await;
                }
            }
        }
    });
}
