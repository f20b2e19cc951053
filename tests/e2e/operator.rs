//! The operator's view: slow-call and slow-handler warnings, `coral status` (table and JSON) over the admin socket,
//! the Prometheus `/metrics` endpoint checked by a strict parser, the retry policy (queries only) and broadcast
//! through the per-bot send governor.

use crate::onebot::{forward_setup_with, private_message};
use crate::support::coral::{Coral, Setup};
use crate::support::onebot_peer::{Peer, Reply, message_text};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

/// A private message from `user`.
fn from(user: i64, text: &str) -> Value {
    let mut event = private_message(text, 1);
    event["user_id"] = user.into();
    event["sender"]["user_id"] = user.into();
    event
}

/// The first stderr line containing every one of `needles`, waiting for it.
fn log_line(coral: &Coral, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let err = coral.stderr();
        if let Some(line) = err.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {needles:?}; stderr:\n{err}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run `coral status [extra…] --config <setup>`; returns (success, stdout, stderr).
fn status(setup: &Setup, extra: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_coral"))
        .arg("status")
        .args(extra)
        .arg("--config")
        .arg(setup.config_path())
        .output()
        .expect("running coral status");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `coral status --json`, repeated until `ready` holds for it (counters are updated when handlers return, a
/// moment after their output appears).
fn status_json_when(setup: &Setup, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ok, out, err) = status(setup, &["--json"]);
        assert!(ok, "coral status --json failed: {err}");
        let json: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        if ready(&json) {
            return json;
        }
        assert!(Instant::now() < deadline, "status never showed {what}: {json:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn plugin<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no plugin {name} in {status:#}"))
}

fn action<'a>(plugin: &'a Value, name: &str) -> &'a Value {
    plugin["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == name)
        .unwrap_or_else(|| panic!("no action {name} in {plugin:#}"))
}

#[test]
fn a_slow_platform_answer_logs_a_slow_call_and_a_slow_handler() {
    let mut peer = Peer::new();
    peer.set_reply(
        "send_msg",
        Reply::Slow(
            Duration::from_millis(400),
            Box::new(Reply::Ok(json!({"message_id": 5}))),
        ),
    );
    let config = "[host]\nslow_call_ms = 200\nslow_event_ms = 300\n";
    let (setup, coral) = forward_setup_with(&peer, &["ping", "ping-v03"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    peer.send_event(&private_message("ping slow", 1));
    assert_eq!(peer.expect_reply("pong"), "pong slow");
    let call = log_line(&coral, &["slow platform call", "plugin=ping "]);
    assert!(call.contains("WARN"), "{call}");
    assert!(call.contains("plugin=ping") && call.contains("send_msg"), "{call}");
    // `ping-v03` (built against 0.3.0) waits for its send: its handler is slow too.
    peer.send_event(&private_message("ping", 2));
    assert_eq!(peer.expect_reply("pong from"), "pong from 0.3.0");
    let handler = log_line(&coral, &["slow event handler"]);
    assert!(
        handler.contains("WARN") && handler.contains("plugin=ping-v03"),
        "{handler}"
    );
    assert!(handler.contains("on-event"), "{handler}");
    // `ping` posts its reply and does not wait: a slow platform, but never a slow handler.
    status_json_when(&setup, "both handled", |s| {
        s["plugins"].as_array().unwrap().iter().all(|p| p["handled"] == 2)
    });
    let err = coral.stderr();
    assert!(
        !err.lines()
            .any(|l| l.contains("slow event handler") && (l.contains("plugin=ping ") || l.ends_with("plugin=ping"))),
        "{err}"
    );
}

#[test]
fn fast_calls_log_no_warning() {
    let mut peer = Peer::new();
    let (setup, coral) = forward_setup_with(&peer, &["ping"], "self_id = \"10001\"\n", "");
    peer.expect_handshake();
    peer.send_event(&private_message("ping fast", 1));
    assert_eq!(peer.expect_reply("pong"), "pong fast");
    // Once the handler has returned, any warning would have been logged.
    status_json_when(&setup, "the ping handled", |s| s["plugins"][0]["handled"] == 1);
    let err = coral.stderr();
    assert!(
        !err.contains("slow platform call") && !err.contains("slow event handler"),
        "{err}"
    );
}

const CONSOLE_WITH_MODERATION: &str = "[console]\n[plugins.moderation.config]\nwords = [\"spam\"]\n";

#[test]
fn coral_status_shows_the_counts_of_a_known_workload() {
    let setup = Setup::new(&["ping", "moderation"], CONSOLE_WITH_MODERATION);
    let mut coral = setup.start();
    for k in 1..=5 {
        coral.send(&format!("ping {k}"));
        coral.expect(&format!("[private 10000] pong {k}"));
    }
    coral.send(":group 1000001");
    coral.send("buy spam here");
    coral.expect_line("the moderation warning", |l| l.contains("请注意言辞"));

    let json = status_json_when(&setup, "6 handled events for both plugins", |s| {
        ["ping", "moderation"].iter().all(|n| {
            s["plugins"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == *n && p["handled"] == 6)
        })
    });
    let ping = plugin(&json, "ping");
    assert_eq!(
        (ping["received"].as_u64(), ping["failed"].as_u64()),
        (Some(6), Some(0)),
        "{ping:#}"
    );
    assert_eq!(action(ping, "send_msg")["ok"], 5, "{ping:#}");
    assert_eq!(ping["denied"], 0);
    assert_eq!(ping["handler"]["count"], 6, "one handler time per event");
    assert!(ping["memory_peak_bytes"].as_u64().unwrap() > 0, "{ping:#}");
    let moderation = plugin(&json, "moderation");
    assert_eq!(moderation["received"], 6);
    // Without grants it may not recall or mute: two denials, then its warning (a reply) goes out.
    assert_eq!(moderation["denied"], 2, "{moderation:#}");
    assert_eq!(action(moderation, "delete_msg")["denied"], 1);
    assert_eq!(action(moderation, "set_group_ban")["denied"], 1);
    assert_eq!(action(moderation, "send_group_msg")["ok"], 1);
    let console = &json["bots"][0];
    assert_eq!(
        (console["self_id"].as_str(), console["online"].as_bool()),
        (Some("console"), Some(true))
    );
    assert_eq!(
        console["api_calls"], 6,
        "5 pongs and 1 warning reached the bot; denials never do"
    );

    // The same as a table.
    let (ok, table, err) = status(&setup, &[]);
    assert!(ok, "{err}");
    let row = |first: &str, second: &str| -> Vec<String> {
        table
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|cells| cells.len() > 2 && cells[0] == first && cells[1] == second)
            .unwrap_or_else(|| panic!("no row {first} {second} in:\n{table}"))
    };
    let header: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("PLUGIN  "))
        .unwrap()
        .split_whitespace()
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let ping_row = row("ping", "0.1.0");
    assert_eq!(ping_row[col("RECEIVED")], "6", "{table}");
    assert_eq!(ping_row[col("HANDLED")], "6", "{table}");
    let moderation_row = row("moderation", "0.1.0");
    assert_eq!(moderation_row[col("DENIED")], "2", "{table}");
    // PLUGIN ACTION OK FAILED DENIED …
    assert_eq!(row("ping", "send_msg")[2..5], ["5", "0", "0"], "{table}");
    assert_eq!(row("moderation", "set_group_ban")[2..5], ["0", "0", "1"], "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("console") && l.contains("online")),
        "{table}"
    );

    // A second host on the same data folder is refused while this one runs.
    let second = setup.start();
    let (status2, _, err2) = second.finish();
    assert!(!status2.success());
    assert!(err2.contains("another coral host is already running"), "{err2}");
    let socket = setup.path().join("data/coral.sock");
    assert!(socket.exists(), "the first host's socket is untouched");
    let (exit, _, _) = coral.finish();
    assert!(exit.success());
    assert!(!socket.exists(), "the socket is removed on exit");
}

#[test]
fn coral_status_without_a_running_host_says_so() {
    let setup = Setup::new(&[], "[console]\n");
    let (ok, out, err) = status(&setup, &[]);
    assert!(!ok, "{out}");
    assert!(err.contains("no coral host is running"), "{err}");
    assert!(err.contains("coral.sock"), "names the socket it tried: {err}");
}

/// A strict reader of the Prometheus text format (0.0.4): returns every sample as (name{labels}) → value.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
    };
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let at = format!("line {}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("{at}"));
            assert!(valid_name(name), "{at}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{at}"
            );
            assert!(
                types.insert(name.into(), kind.into()).is_none(),
                "{at}: TYPE given twice"
            );
            assert!(
                !samples
                    .keys()
                    .any(|k: &String| k.starts_with(&format!("{name}{{")) || k == name),
                "{at}: TYPE after samples"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(valid_name(rest.split(' ').next().unwrap()), "{at}");
            continue;
        }
        assert!(!line.starts_with('#'), "{at}: unknown comment form");
        // name{labels} value
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("{at}: no value"),
        };
        assert!(valid_name(name), "{at}: bad metric name");
        let mut labels = Vec::new();
        let value_text = if let Some(body) = rest.strip_prefix('{') {
            let mut i = 0;
            loop {
                if body[i..].starts_with('}') {
                    i += 1;
                    break;
                }
                let eq = i + body[i..].find('=').unwrap_or_else(|| panic!("{at}: label without '='"));
                let label = &body[i..eq];
                assert!(
                    valid_name(label) && !label.contains(':'),
                    "{at}: bad label name {label:?}"
                );
                assert!(body[eq + 1..].starts_with('"'), "{at}: label value not quoted");
                let mut value = String::new();
                let mut j = eq + 2;
                loop {
                    let c = body[j..]
                        .chars()
                        .next()
                        .unwrap_or_else(|| panic!("{at}: unterminated value"));
                    j += c.len_utf8();
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = body[j..]
                                .chars()
                                .next()
                                .unwrap_or_else(|| panic!("{at}: dangling escape"));
                            j += e.len_utf8();
                            value.push(match e {
                                '\\' => '\\',
                                '"' => '"',
                                'n' => '\n',
                                other => panic!("{at}: bad escape \\{other}"),
                            });
                        }
                        c => value.push(c),
                    }
                }
                labels.push((label.to_string(), value));
                if body[j..].starts_with(',') {
                    j += 1;
                } else {
                    assert!(body[j..].starts_with('}'), "{at}: expected ',' or '}}' after a label");
                }
                i = j;
            }
            let names: HashSet<&String> = labels.iter().map(|(k, _)| k).collect();
            assert_eq!(names.len(), labels.len(), "{at}: repeated label");
            body[i..].to_string()
        } else {
            rest.to_string()
        };
        let value_text = value_text
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("{at}: no space before value"));
        let value_word = value_text.split(' ').next().unwrap();
        let value: f64 = match value_word {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("{at}: value {v:?} is not a number")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "{at}: sample before its TYPE");
        if types[family] == "counter" {
            assert!(name.ends_with("_total"), "{at}: a counter's name ends in _total");
            assert!(value >= 0.0, "{at}");
        }
        let key = if labels.is_empty() {
            name.to_string()
        } else {
            let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            format!("{name}{{{}}}", inner.join(","))
        };
        assert!(samples.insert(key, value).is_none(), "{at}: duplicate sample");
    }
    samples
}

fn http_get(addr: &str, path: &str) -> (String, String) {
    let mut tcp = std::net::TcpStream::connect(addr).expect("connecting to the metrics endpoint");
    write!(tcp, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    (head.to_string(), body.to_string())
}

#[test]
fn the_metrics_endpoint_is_strict_prometheus_text_and_matches_a_known_workload() {
    let mut peer = Peer::new();
    let config = "[metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\n[plugins.api-probe]\ngrants = [\"send\"]\n";
    let (_setup, coral) = forward_setup_with(&peer, &["ping", "api-probe"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    for k in 1..=3 {
        peer.send_event(&private_message(&format!("ping {k}"), k));
        assert_eq!(peer.expect_reply("pong"), format!("pong {k}"));
    }
    // api-probe may not kick (not granted): one denial.
    peer.send_event(&from(1000099, "kick 100100 42"));
    assert!(
        peer.expect_reply("kick ")
            .starts_with("kick err ErrorCode::PermissionDenied")
    );
    let url = coral.log_value("metrics listening on ");
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (head, samples) = loop {
        let (head, body) = http_get(&addr, "/metrics");
        let samples = parse_prometheus(&body);
        // Replies are posted: their calls are counted when the platform answers, which may be after the handler.
        if samples.get("coral_plugin_events_handled_total{plugin=\"api-probe\"}") == Some(&4.0)
            && samples.get("coral_plugin_events_handled_total{plugin=\"ping\"}") == Some(&4.0)
            && samples.get("coral_bot_api_calls_total{bot=\"10001\",platform=\"onebot\"}") == Some(&4.0)
            && samples.get("coral_plugin_api_calls_total{plugin=\"ping\",action=\"send_msg\",outcome=\"ok\"}")
                == Some(&3.0)
            && samples.get("coral_plugin_api_calls_total{plugin=\"api-probe\",action=\"send_msg\",outcome=\"ok\"}")
                == Some(&1.0)
        {
            break (head, samples);
        }
        assert!(Instant::now() < deadline, "handled counts never reached 4:\n{body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase().contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let get = |k: &str| {
        *samples
            .get(k)
            .unwrap_or_else(|| panic!("no sample {k}; have {samples:#?}"))
    };
    // Both plugins got all 4 events (3 pings and the kick request).
    assert_eq!(get("coral_plugin_events_received_total{plugin=\"ping\"}"), 4.0);
    assert_eq!(get("coral_plugin_events_received_total{plugin=\"api-probe\"}"), 4.0);
    assert_eq!(get("coral_plugin_event_duration_seconds_count{plugin=\"ping\"}"), 4.0);
    assert_eq!(
        get("coral_plugin_event_duration_seconds_bucket{plugin=\"ping\",le=\"+Inf\"}"),
        4.0
    );
    assert_eq!(
        get("coral_plugin_api_calls_total{plugin=\"ping\",action=\"send_msg\",outcome=\"ok\"}"),
        3.0
    );
    assert_eq!(
        get("coral_plugin_api_calls_total{plugin=\"api-probe\",action=\"set_group_kick\",outcome=\"denied\"}"),
        1.0
    );
    assert_eq!(get("coral_plugin_denials_total{plugin=\"api-probe\"}"), 1.0);
    // The probe's answer to the kick was a reply (send_msg).
    assert_eq!(
        get("coral_plugin_api_calls_total{plugin=\"api-probe\",action=\"send_msg\",outcome=\"ok\"}"),
        1.0
    );
    assert_eq!(get("coral_bot_up{bot=\"10001\",platform=\"onebot\"}"), 1.0);
    assert_eq!(get("coral_bot_api_calls_total{bot=\"10001\",platform=\"onebot\"}"), 4.0);
    assert_eq!(
        get("coral_bot_api_failures_total{bot=\"10001\",platform=\"onebot\"}"),
        0.0
    );
    assert_eq!(
        get("coral_bot_reconnects_total{bot=\"10001\",platform=\"onebot\"}"),
        0.0
    );
    // Histogram buckets are cumulative.
    let buckets: Vec<f64> = samples
        .iter()
        .filter(|(k, _)| k.starts_with("coral_plugin_event_duration_seconds_bucket{plugin=\"ping\""))
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(buckets.len(), 18);
    assert!(buckets.iter().all(|b| *b <= 4.0));
}

#[test]
fn the_prometheus_checker_rejects_malformed_text() {
    let ok = "# HELP a_total x\n# TYPE a_total counter\na_total{p=\"x\\\"y\"} 1\n";
    assert_eq!(parse_prometheus(ok).len(), 1);
    for bad in [
        "a_total 1\n",                                                      // no TYPE
        "# TYPE a_total counter\na_total{p=\"x\"} 1\na_total{p=\"x\"} 2\n", // duplicate
        "# TYPE a_total counter\na_total{p=x} 1\n",                         // unquoted
        "# TYPE a_total counter\na_total{p=\"x\"} one\n",                   // not a number
        "# TYPE a_total counter\na_total{p=\"\\q\"} 1\n",                   // bad escape
        "# TYPE a counter\na 1\n",                                          // counter without _total
    ] {
        assert!(
            std::panic::catch_unwind(|| parse_prometheus(bad)).is_err(),
            "accepted {bad:?}"
        );
    }
}

#[test]
fn a_failed_query_is_retried_and_a_failed_kick_never_is() {
    let mut peer = Peer::new();
    peer.set_reply(
        "get_group_info",
        Reply::Failed(1200, "temporarily unavailable".into(), String::new()),
    );
    peer.set_reply(
        "set_group_kick",
        Reply::Failed(1200, "kick failed".into(), String::new()),
    );
    let config = "[plugins.api-probe]\ngrants = [\"query\", \"kick\"]\nretry = { attempts = 3, backoff_ms = 20 }\n";
    let (_setup, _coral) = forward_setup_with(&peer, &["api-probe"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    peer.send_event(&from(1000099, "call get_group_info"));
    let reply = peer.expect_reply("get_group_info ");
    assert!(
        reply.starts_with("get_group_info err ErrorCode::OperationFailed 1200"),
        "{reply}"
    );
    peer.send_event(&from(1000099, "kick 100100 42"));
    let reply = peer.expect_reply("kick ");
    assert!(reply.starts_with("kick err ErrorCode::OperationFailed 1200"), "{reply}");
    let count = |name: &str| peer.actions().iter().filter(|a| a.action == name).count();
    assert_eq!(count("get_group_info"), 3, "three attempts in all");
    assert_eq!(count("set_group_kick"), 1, "a kick is never retried");
}

#[test]
fn broadcast_to_twenty_groups_is_paced_by_the_governor_and_reports_twenty_results() {
    let mut peer = Peer::new();
    let config = "[plugins.api-probe]\ngrants = [\"send\"]\ncall_timeout_ms = 30000\n";
    let (_setup, _coral) = forward_setup_with(
        &peer,
        &["api-probe"],
        "self_id = \"10001\"\nmax_send_rate = \"5/s\"\n",
        config,
    );
    peer.expect_handshake();
    let started = Instant::now();
    peer.send_event(&from(1000099, "bcast 20"));
    assert_eq!(peer.expect_reply("bcast "), "bcast results=20 ok=20");
    let took = started.elapsed();
    // 5/s with a burst of 5: five at once, then one every 200 ms: the 20th leaves 3 s after the first.
    assert!(took >= Duration::from_secs(3), "took {took:?}");
    let groups: Vec<i64> = peer
        .actions()
        .iter()
        .filter(|a| a.action == "send_msg" && message_text(&a.params["message"]) == "news")
        .map(|a| a.params["group_id"].as_i64().unwrap())
        .collect();
    assert_eq!(groups, (200_001..=200_020).collect::<Vec<_>>(), "in order, once each");
}

#[test]
fn broadcast_works_on_the_console_and_refuses_more_than_500_targets() {
    let setup = Setup::new(&["api-probe"], "[console]\n[plugins.api-probe]\ngrants = [\"send\"]\n");
    let mut coral = setup.start();
    coral.send("bcast 3");
    for g in 200_001..=200_003 {
        coral.expect(&format!("[group {g}] news"));
    }
    coral.expect("[private 10000] bcast results=3 ok=3");
    coral.send("bcast 501");
    coral.expect("[private 10000] bcast results=501 ok=0 ErrorCode::InvalidArgument");
    let (exit, rest, _) = coral.finish();
    assert!(exit.success());
    assert!(
        !rest.iter().any(|l| l.contains("news")),
        "nothing sent for 501 targets: {rest:?}"
    );
}

#[test]
fn status_counts_a_bots_reconnection() {
    let mut peer = Peer::new();
    let (setup, _coral) = forward_setup_with(&peer, &["ping"], "self_id = \"10001\"\n", "");
    peer.expect_handshake();
    let first = status_json_when(&setup, "the bot online", |s| s["bots"][0]["online"] == true);
    assert_eq!(first["bots"][0]["reconnects"], 0, "{first:#}");
    peer.drop_connections();
    let again = status_json_when(&setup, "one reconnection", |s| s["bots"][0]["reconnects"] == 1);
    assert_eq!(again["bots"][0]["platform"], "onebot");
    peer.send_event(&private_message("ping back", 2));
    assert_eq!(peer.expect_reply("pong"), "pong back");
}
