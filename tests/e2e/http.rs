//! Outgoing HTTP: the `fetch` example (wasi:http) and the `http-probe` fixture (coral:bot/http) against a local
//! HTTP server that records every connection and request reaching it, under allowlists that name it (or do not,
//! or name it without its port), and against the host's own OneBot endpoints, which no allowlist opens.

use crate::support::coral::Setup;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A tiny HTTP/1.1 server on 127.0.0.1 that counts the connections it accepts and logs `METHOD /path` of every
/// request it receives.
struct TestServer {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
}

impl TestServer {
    fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the test server");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (log, count) = (seen.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                count.fetch_add(1, Ordering::SeqCst);
                let log = log.clone();
                std::thread::spawn(move || serve(stream, port, &log));
            }
        });
        TestServer {
            port,
            seen,
            connections,
        }
    }

    /// How many connections it has accepted.
    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// `http://<host>:<port><path>`.
    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    /// The paths that arrived, in order.
    fn paths(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    fn saw(&self, path: &str) -> bool {
        self.paths().iter().any(|p| p.ends_with(&format!(" {path}")))
    }
}

fn serve(stream: TcpStream, port: u16, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    log.lock().unwrap().push(format!("{method} {path}"));
    let mut out = stream;
    let respond = |out: &mut TcpStream, status: &str, headers: &str, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
            body.len()
        );
        let _ = out.write_all(head.as_bytes());
        let _ = out.write_all(body);
    };
    match path.as_str() {
        "/hello" => respond(&mut out, "200 OK", "", b"hello from the test server\nsecond line\n"),
        "/redirect" => respond(&mut out, "302 Found", "Location: /hello\r\n", b""),
        "/away" => {
            let location = format!("Location: http://127.0.0.1:{port}/secret\r\n");
            respond(&mut out, "302 Found", &location, b"")
        }
        "/big" => respond(&mut out, "200 OK", "", &[b'x'; 64 * 1024]),
        "/stream" => {
            // No Content-Length: the size is only known while reading.
            let _ = out.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
            for _ in 0..8 {
                let chunk = [b'y'; 8 * 1024];
                let _ = out.write_all(format!("{:x}\r\n", chunk.len()).as_bytes());
                let _ = out.write_all(&chunk);
                let _ = out.write_all(b"\r\n");
            }
            let _ = out.write_all(b"0\r\n\r\n");
        }
        "/slow" => {
            std::thread::sleep(Duration::from_secs(4));
            respond(&mut out, "200 OK", "", b"too late\n")
        }
        "/echo" => respond(&mut out, "200 OK", "", &body),
        _ => respond(&mut out, "200 OK", "", b"this should never have been fetched\n"),
    }
}

/// The audit entries of action `http`.
/// A request that was sent is written twice, `pending` before it leaves and its outcome after (same `call`): this
/// checks the pairing and gives one entry per request, the outcome.
fn http_audit(setup: &Setup) -> Vec<Value> {
    let log = std::fs::read_to_string(setup.path().join("data/audit.jsonl")).unwrap_or_default();
    let all: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["action"] == "http")
        .collect();
    let mut entries = Vec::new();
    for (i, e) in all.iter().enumerate() {
        if e["outcome"] == "pending" {
            let outcome = all[i + 1..].iter().find(|o| o["call"] == e["call"]);
            assert!(outcome.is_some(), "a pending request was never completed: {all:#?}");
            continue;
        }
        if e.get("call").is_some() {
            let pending = all[..i]
                .iter()
                .any(|p| p["call"] == e["call"] && p["outcome"] == "pending");
            assert!(pending, "a sent request was not written before it left: {all:#?}");
        }
        entries.push(e.clone());
    }
    entries
}

/// `localhost` on the test server's port listed; 127.0.0.1 and ::1 allowed although private; 16 KiB and 1 s
/// limits.
fn allowed_config(plugin: &str, port: u16) -> String {
    format!(
        "[console]\nenabled = true\n[plugins.{plugin}]\ngrants = [\"http\"]\nhttp = [\"localhost:{port}\"]\n\
         http_limits = {{ max_response_kb = 16, timeout_ms = 1000, allow_private = [\"127.0.0.1\", \"::1\"] }}\n"
    )
}

/// `N` distinct ports nobody listens on right now (bound together, then released), for listeners a test
/// configures.
fn free_ports<const N: usize>() -> [u16; N] {
    let probes: [TcpListener; N] =
        std::array::from_fn(|_| TcpListener::bind("127.0.0.1:0").expect("binding a probe listener"));
    probes.map(|l| l.local_addr().unwrap().port())
}

#[test]
fn wasi_http_reaches_the_listed_host_and_nothing_else() {
    let server = TestServer::start();
    let setup = Setup::new(&["fetch"], &allowed_config("fetch", server.port));
    let mut coral = setup.start();

    coral.send(&format!("fetch {}", server.url("localhost", "/hello")));
    coral.expect("[private 10000] fetch: 200 hello from the test server");

    coral.send(&format!("fetch {}", server.url("localhost", "/redirect")));
    coral.expect("[private 10000] fetch: 200 hello from the test server (after 1 redirect)");

    // A host that is not listed, directly and as a redirect target: refused before any connection.
    coral.send(&format!("fetch {}", server.url("127.0.0.1", "/direct")));
    coral.expect("[private 10000] fetch: error ErrorCode::HttpRequestDenied");
    coral.send(&format!("fetch {}", server.url("localhost", "/away")));
    coral.expect("[private 10000] fetch: error ErrorCode::HttpRequestDenied (after 1 redirect)");

    // Over the 16 KiB cap: by Content-Length before reading, and while streaming a chunked body.
    coral.send(&format!("fetch {}", server.url("localhost", "/big")));
    let line = coral.expect_line("the /big answer", |l| l.contains("fetch: ") && !l.contains("hello"));
    assert_eq!(
        line,
        "[private 10000] fetch: error ErrorCode::HttpResponseBodySize(Some(65536))"
    );
    coral.send(&format!("fetch {}", server.url("localhost", "/stream")));
    let line = coral.expect_line("the /stream answer", |l| l.contains("fetch: 200 body error"));
    // wasmtime-wasi-http 48 does not map a body error to an error code (`http-error-code` is none), so the plugin
    // shows the error's text.
    assert!(line.contains("body size exceeds limit"), "{line}");

    // Slower than the 1 s limit.
    coral.send(&format!("fetch {}", server.url("localhost", "/slow")));
    coral.expect("[private 10000] fetch: error ErrorCode::HttpResponseTimeout");

    let paths = server.paths();
    assert!(!server.saw("/direct"), "{paths:?}");
    assert!(
        !server.saw("/secret"),
        "the redirect to an unlisted host was followed: {paths:?}"
    );
    for path in ["/hello", "/redirect", "/away", "/big", "/stream", "/slow"] {
        assert!(server.saw(path), "{path} never arrived: {paths:?}");
    }

    // One audit entry per request, allowed or refused, naming the host.
    let audit = http_audit(&setup);
    let outcomes: Vec<(String, String)> = audit
        .iter()
        .map(|e| {
            (
                e["target"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("localhost", "ok"),      // /hello
        ("localhost", "ok"),      // /redirect
        ("localhost", "ok"),      // → /hello
        ("127.0.0.1", "denied"),  // /direct
        ("localhost", "ok"),      // /away
        ("127.0.0.1", "denied"),  // → /secret
        ("localhost", "failed"),  // /big
        ("localhost", "ok"),      // /stream (its head was fine; the body was cut)
        ("localhost", "unknown"), // /slow: timed out, so it may have reached the server
    ]
    .iter()
    .map(|(t, o)| (t.to_string(), o.to_string()))
    .collect();
    assert_eq!(outcomes, expected, "{audit:#?}");
    assert!(
        audit
            .iter()
            .all(|e| e["plugin"] == "fetch" && e["capability"] == "http")
    );
    assert_eq!(audit[3]["retcode"], 102);
    assert!(
        audit[0]["detail"].as_str().unwrap().ends_with("/hello → 200"),
        "{:?}",
        audit[0]
    );
}

#[test]
fn a_listed_name_that_resolves_to_a_private_address_is_prohibited() {
    let server = TestServer::start();
    let config = format!(
        "[console]\nenabled = true\n[plugins.fetch]\ngrants = [\"http\"]\nhttp = [\"localhost:{}\"]\n",
        server.port
    );
    let setup = Setup::new(&["fetch"], &config);
    let mut coral = setup.start();
    coral.send(&format!("fetch {}", server.url("localhost", "/private")));
    coral.expect("[private 10000] fetch: error ErrorCode::DestinationIpProhibited");
    assert!(server.paths().is_empty(), "{:?}", server.paths());
    assert_eq!(server.connections(), 0);
    let audit = http_audit(&setup);
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["outcome"], "denied");
    let detail = audit[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("loopback") && detail.contains("allow_private"),
        "{detail}"
    );
}

#[test]
fn without_the_grant_no_request_leaves_the_host() {
    let server = TestServer::start();
    let config = format!(
        "[console]\nenabled = true\n[plugins.fetch]\nhttp = [\"localhost:{}\"]\n\
         http_limits = {{ allow_private = [\"127.0.0.1\", \"::1\"] }}\n",
        server.port
    );
    let setup = Setup::new(&["fetch"], &config);
    let mut coral = setup.start();
    coral.send(&format!("fetch {}", server.url("localhost", "/hello")));
    coral.expect("[private 10000] fetch: error ErrorCode::HttpRequestDenied");
    assert!(server.paths().is_empty(), "{:?}", server.paths());
    assert_eq!(server.connections(), 0);
    let audit = http_audit(&setup);
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["outcome"], "denied");
    assert_eq!(audit[0]["retcode"], 102);
    assert!(
        audit[0]["detail"].as_str().unwrap().contains("not granted"),
        "{:?}",
        audit[0]
    );
}

#[test]
fn coral_bot_http_fetch_is_checked_the_same_way() {
    let server = TestServer::start();
    let setup = Setup::new(&["http-probe"], &allowed_config("http-probe", server.port));
    let mut coral = setup.start();

    coral.send(&format!("get {}", server.url("localhost", "/hello")));
    coral.expect("[private 10000] get 200 loc=- hello from the test server");

    // Redirects are returned, not followed.
    coral.send(&format!("get {}", server.url("localhost", "/redirect")));
    let line = coral.expect_line("the /redirect answer", |l| l.contains("get 302"));
    assert!(line.starts_with("[private 10000] get 302 loc=/hello"), "{line}");

    coral.send(&format!("post {}", server.url("localhost", "/echo")));
    coral.expect("[private 10000] post 200 loc=- {\"probe\":1}");

    coral.send(&format!("get {}", server.url("127.0.0.1", "/direct")));
    let line = coral.expect_line("the /direct answer", |l| l.contains("get err"));
    assert!(
        line.starts_with("[private 10000] get err ErrorCode::PermissionDenied 102 "),
        "{line}"
    );
    assert!(line.contains("127.0.0.1") && line.contains("allowlist"), "{line}");

    coral.send(&format!("get {}", server.url("localhost", "/big")));
    let line = coral.expect_line("the /big answer", |l| l.contains("get err"));
    assert!(
        line.starts_with("[private 10000] get err ErrorCode::OperationFailed 103 "),
        "{line}"
    );
    assert!(line.contains("16384-byte limit"), "{line}");

    coral.send(&format!("get {}", server.url("localhost", "/stream")));
    let line = coral.expect_line("the /stream answer", |l| l.contains("get err"));
    assert!(
        line.starts_with("[private 10000] get err ErrorCode::OperationFailed 103 "),
        "{line}"
    );

    coral.send(&format!("get {}", server.url("localhost", "/slow")));
    let line = coral.expect_line("the /slow answer", |l| l.contains("get err"));
    assert!(
        line.starts_with("[private 10000] get err ErrorCode::Timeout 202 "),
        "{line}"
    );

    coral.send(&format!("get ftp://localhost:{}/file", server.port));
    let line = coral.expect_line("the ftp answer", |l| l.contains("get err"));
    assert!(
        line.starts_with("[private 10000] get err ErrorCode::InvalidArgument 100 "),
        "{line}"
    );

    assert!(!server.saw("/direct"), "{:?}", server.paths());
    assert!(!server.saw("/file"), "{:?}", server.paths());
    let hellos = server.paths().iter().filter(|p| p.as_str() == "GET /hello").count();
    assert_eq!(hellos, 1, "the redirect was followed: {:?}", server.paths());
    assert!(server.saw("/echo") && server.paths().contains(&"POST /echo".to_string()));
    let audit = http_audit(&setup);
    assert_eq!(audit.len(), 8, "one entry per request: {audit:#?}");
}

/// `http = [<entries>]` for both `fetch` and `http-probe`, 127.0.0.1 and ::1 allowed although private; `extra` is
/// appended (more tables).
fn both_plugins(entries: &[String], extra: &str) -> String {
    let list = entries.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>().join(", ");
    let mut config = String::from("[console]\nenabled = true\n");
    for plugin in ["fetch", "http-probe"] {
        config.push_str(&format!(
            "[plugins.{plugin}]\ngrants = [\"http\"]\nhttp = [{list}]\n\
             http_limits = {{ timeout_ms = 3000, allow_private = [\"127.0.0.1\", \"::1\"] }}\n"
        ));
    }
    config.push_str(extra);
    config
}

#[test]
fn an_allowlisted_host_on_an_unlisted_port_is_refused_before_connecting() {
    let server = TestServer::start();
    // A bare host admits only 80 (http) and 443 (https): the test server's port is not admitted.
    let setup = Setup::new(&["fetch", "http-probe"], &both_plugins(&["127.0.0.1".into()], ""));
    let mut coral = setup.start();
    coral.send(&format!("get {}", server.url("127.0.0.1", "/other-port")));
    let line = coral.expect_line("the answer", |l| l.starts_with("[private 10000] get "));
    assert!(
        line.starts_with("[private 10000] get err ErrorCode::PermissionDenied 102 "),
        "{line}"
    );
    assert!(
        line.contains(&format!("port {} of `127.0.0.1` is not in", server.port)),
        "the reason names the port: {line}"
    );
    coral.send(&format!("fetch {}", server.url("127.0.0.1", "/other-port-wasi")));
    coral.expect("[private 10000] fetch: error ErrorCode::HttpRequestDenied");
    assert_eq!(server.connections(), 0, "{:?}", server.paths());
    let audit = http_audit(&setup);
    let outcomes: Vec<&str> = audit.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["denied", "denied"], "{audit:#?}");
    assert!(
        audit.iter().all(|e| e["detail"]
            .as_str()
            .unwrap()
            .contains("is not in this plugin's `http` allowlist")),
        "{audit:#?}"
    );
    drop(coral);

    // Listed with its port, the same URL is fetched.
    let setup = Setup::new(
        &["fetch", "http-probe"],
        &both_plugins(&[format!("127.0.0.1:{}", server.port)], ""),
    );
    let mut coral = setup.start();
    coral.send(&format!("get {}", server.url("127.0.0.1", "/hello")));
    coral.expect("[private 10000] get 200 loc=- hello from the test server");
    coral.send(&format!("fetch {}", server.url("127.0.0.1", "/hello")));
    coral.expect("[private 10000] fetch: 200 hello from the test server");
    assert_eq!(server.connections(), 2, "{:?}", server.paths());
    // The port admits only itself: 127.0.0.1 on port 80 is not listed now.
    coral.send("get http://127.0.0.1/default-port");
    let line = coral.expect_line("the port-80 answer", |l| l.starts_with("[private 10000] get "));
    assert!(line.contains("port 80 of `127.0.0.1` is not in"), "{line}");
    assert_eq!(server.connections(), 2);
}

#[test]
fn the_hosts_own_onebot_and_metrics_endpoints_are_never_reachable() {
    // The "OneBot implementation" Coral connects to (forward WebSocket, by name) and a control server.
    let implementation = TestServer::start();
    let control = TestServer::start();
    let [listener, metrics] = free_ports();
    let extra = format!(
        "[[onebot]]\ntransport = \"ws-reverse\"\nlisten = \"127.0.0.1:{listener}\"\n\
         [[onebot]]\ntransport = \"ws\"\nurl = \"ws://localhost:{}/onebot\"\n\
         [metrics]\nenabled = true\nlisten = \"127.0.0.1:{metrics}\"\n",
        implementation.port
    );
    // Every one of those ports is listed and 127.0.0.1 is in allow_private: only the endpoint rule stands between.
    let entries = [listener, implementation.port, metrics, control.port].map(|p| format!("127.0.0.1:{p}"));
    let mut entries = entries.to_vec();
    entries.push(format!("localhost:{}", implementation.port));
    let setup = Setup::new(&["fetch", "http-probe"], &both_plugins(&entries, &extra));
    let mut coral = setup.start();
    coral.expect_log(&format!("ws-reverse listening on ws://127.0.0.1:{listener}"));

    // The control: an allowed local server on a listed port is reached.
    coral.send(&format!("get {}", control.url("127.0.0.1", "/hello")));
    coral.expect("[private 10000] get 200 loc=- hello from the test server");

    let refused = |coral: &mut crate::support::coral::Coral, url: &str, what: &str| {
        coral.send(&format!("get {url}"));
        let line = coral.expect_line(&format!("the answer to {url}"), |l| {
            l.starts_with("[private 10000] get ")
        });
        assert!(
            line.starts_with("[private 10000] get err ErrorCode::PermissionDenied 102 "),
            "{line}"
        );
        assert!(
            line.contains("Coral's own endpoint") && line.contains(what),
            "{url}: the reason should name {what:?}: {line}"
        );
    };
    refused(
        &mut coral,
        &format!("http://127.0.0.1:{listener}/onebot/v11/ws"),
        "the OneBot listener onebot[0].listen",
    );
    refused(
        &mut coral,
        &implementation.url("127.0.0.1", "/from-plugin"),
        "the OneBot implementation at onebot[1].url",
    );
    refused(
        &mut coral,
        &implementation.url("localhost", "/from-plugin-by-name"),
        "the OneBot implementation at onebot[1].url",
    );
    refused(
        &mut coral,
        &format!("http://127.0.0.1:{metrics}/metrics"),
        "the metrics listener",
    );
    // The same through wasi:http.
    coral.send(&format!("fetch http://127.0.0.1:{listener}/onebot/v11/ws"));
    coral.expect("[private 10000] fetch: error ErrorCode::DestinationIpProhibited");
    coral.send(&format!("fetch {}", implementation.url("localhost", "/from-fetch")));
    coral.expect("[private 10000] fetch: error ErrorCode::DestinationIpProhibited");

    // The implementation sees Coral's own WebSocket attempts, never a plugin's request.
    for path in ["/from-plugin", "/from-plugin-by-name", "/from-fetch"] {
        assert!(!implementation.saw(path), "{path}: {:?}", implementation.paths());
    }
    let audit = http_audit(&setup);
    let outcomes: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e["plugin"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("http-probe", "ok"),
            ("http-probe", "denied"),
            ("http-probe", "denied"),
            ("http-probe", "denied"),
            ("http-probe", "denied"),
            ("fetch", "denied"),
            ("fetch", "denied"),
        ],
        "{audit:#?}"
    );
    for entry in &audit[1..] {
        let detail = entry["detail"].as_str().unwrap();
        assert!(detail.contains("Coral's own endpoint"), "{detail}");
        assert_eq!(entry["retcode"], 102);
    }
}
