//! Protocol fidelity of the OneBot link with what real implementations do: streamed responses (NapCat's stream
//! actions), liveness from heartbeats and `bot_offline`, split forward WebSocket without a configured `self_id`,
//! failure frames that answer no call, go-cqhttp's `msg` in failures, and duplicate deliveries.

use crate::onebot::{ALL_GRANTS, forward_setup_with, private_message};
use crate::support::coral::{Coral, Setup};
use crate::support::onebot_peer::{Peer, Reply, SELF_ID, fixture_data, message_text};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// `coral status --json`, repeated until `ready` holds for it.
fn status_when(setup: &Setup, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let output = Command::new(env!("CARGO_BIN_EXE_coral"))
            .args(["status", "--json", "--config"])
            .arg(setup.config_path())
            .output()
            .expect("running coral status");
        let out = String::from_utf8_lossy(&output.stdout);
        if output.status.success() {
            let json: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
            if ready(&json) {
                return json;
            }
            assert!(Instant::now() < deadline, "status never showed {what}: {json:#}");
        } else {
            // The admin socket may not be up yet.
            assert!(
                Instant::now() < deadline,
                "coral status failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The first bot of a status snapshot.
fn bot(status: &Value) -> &Value {
    &status["bots"][0]
}

/// The `/metrics` text of a running Coral.
fn metrics(coral: &Coral) -> String {
    let url = coral.log_value("metrics listening on ");
    let addr = url.trim_start_matches("http://").trim_end_matches("/metrics");
    let mut tcp = std::net::TcpStream::connect(addr).expect("connecting to the metrics endpoint");
    write!(
        tcp,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    response
}

/// A heartbeat of bot 10001 (a ten-minute interval: it never goes stale during a test).
fn heartbeat(status: Value) -> Value {
    json!({"time": 1718000000, "self_id": 10001, "post_type": "meta_event", "meta_event_type": "heartbeat",
        "status": status, "interval": 600000})
}

/// What `list-bots` says about bot 10001 (`online: …`), asked through the console: an event from the
/// implementation would itself mark the bot online.
fn listed_online(coral: &mut Coral) -> String {
    coral.send("bots");
    let line = coral.expect_line("the api-probe's list of bots", |l| l.contains("bots ["));
    let entry = line
        .split("BotInfo")
        .find(|b| b.contains("\"10001\""))
        .unwrap_or_else(|| panic!("bot 10001 not listed: {line}"));
    let online = entry
        .split("online: ")
        .nth(1)
        .and_then(|rest| rest.split([' ', '}', ',']).next())
        .unwrap_or_else(|| panic!("no online field: {line}"));
    online.to_string()
}

#[test]
fn a_streamed_response_reaches_the_plugin_whole() {
    let mut peer = Peer::new();
    let grants = "[plugins.api-probe]\ngrants = [\"send\", \"call-api:get_group_notice\"]\n";
    let (_setup, _coral) = forward_setup_with(&peer, &["api-probe"], "self_id = \"10001\"\n", grants);
    peer.expect_handshake();
    let chunk = |i: usize| {
        json!({"status": "ok", "retcode": 0, "stream": "stream-action", "message": "", "wording": "",
            "data": {"type": "stream", "data_type": "data_chunk", "index": i, "data": format!("chunk-{i}")}})
    };
    let last = json!({"status": "ok", "retcode": 0, "stream": "stream-action", "message": "", "wording": "",
        "data": {"type": "response", "data_type": "data_complete", "total_chunks": 3}});
    peer.set_reply(
        "get_group_notice",
        Reply::Frames(vec![chunk(0), chunk(1), chunk(2), last]),
    );
    peer.send_event(&private_message("call get_group_notice", 1));
    let reply = peer.expect_reply("get_group_notice ");
    assert!(reply.starts_with("get_group_notice ok "), "{reply}");
    // The plugin sees the JSON text (as Rust's Debug shows a string): every chunk, in order, then the final data.
    let at = |needle: &str| {
        reply
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} missing from {reply}"))
    };
    assert!(
        at("chunk-0") < at("chunk-1") && at("chunk-1") < at("chunk-2"),
        "{reply}"
    );
    assert!(at("\\\"chunks\\\"") < at("chunk-0"), "{reply}");
    at("data_complete");
    at("\\\"total_chunks\\\":3");
}

#[test]
fn failure_frames_that_answer_no_call_are_logged_escaped_and_never_taken_for_an_answer() {
    let mut peer = Peer::new();
    let (_setup, coral) = forward_setup_with(
        &peer,
        &["api-probe"],
        "self_id = \"10001\"\n",
        &format!("[plugins.api-probe]\n{ALL_GRANTS}"),
    );
    peer.expect_handshake();
    // A call is pending while the implementation sends failures with a null and an empty echo.
    peer.set_reply(
        "get_status",
        Reply::Slow(
            Duration::from_secs(2),
            Box::new(Reply::Ok(json!({"online": true, "good": true}))),
        ),
    );
    peer.send_event(&private_message("call get_status", 1));
    peer.expect_action("get_status", |r| r.action == "get_status");
    for echo in [Value::Null, json!("")] {
        let frame = json!({"status": "failed", "retcode": 1403, "data": null, "echo": echo,
            "message": "token验证失败\n[fake] forged log line", "wording": "token验证失败\n[fake] forged log line"});
        peer.send_raw(&frame.to_string());
    }
    // The pending call gets its own answer, not the failure.
    let reply = peer.expect_reply("get_status ");
    assert!(reply.starts_with("get_status ok"), "{reply}");
    let log = coral.expect_log("retcode 1403");
    let line = log.lines().find(|l| l.contains("retcode 1403")).unwrap_or_default();
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains("token验证失败\\n[fake] forged log line"),
        "escaped: {line}"
    );
    assert!(
        !log.lines().any(|l| l.starts_with("[fake]")),
        "the implementation's text made a log line of its own:\n{log}"
    );
}

#[test]
fn a_failures_msg_code_and_wording_reach_the_plugins_error_text() {
    let mut peer = Peer::new();
    let (_setup, _coral) = forward_setup_with(
        &peer,
        &["api-probe"],
        "self_id = \"10001\"\n",
        &format!("[plugins.api-probe]\n{ALL_GRANTS}"),
    );
    peer.expect_handshake();
    // go-cqhttp: `msg` (a code) and `wording`, no `message`.
    let gocq = json!({"status": "failed", "retcode": 100, "data": null, "msg": "MSG_NOT_FOUND",
        "wording": "消息不存在"});
    peer.set_reply("delete_msg", Reply::Frames(vec![gocq]));
    peer.send_event(&private_message("call delete_msg", 1));
    assert_eq!(
        peer.expect_reply("delete_msg "),
        "delete_msg err ErrorCode::OperationFailed 100 platform failed `delete_msg` with retcode 100: MSG_NOT_FOUND \
         (消息不存在)"
    );
    // All three: none is lost.
    let all = json!({"status": "failed", "retcode": 100, "data": null, "message": "get_msg failed",
        "msg": "MSG_NOT_FOUND", "wording": "消息不存在"});
    peer.set_reply("get_msg", Reply::Frames(vec![all]));
    peer.send_event(&private_message("call get_msg", 2));
    assert_eq!(
        peer.expect_reply("get_msg "),
        "get_msg err ErrorCode::OperationFailed 100 platform failed `get_msg` with retcode 100: get_msg failed \
         (MSG_NOT_FOUND; 消息不存在)"
    );
}

#[test]
fn an_offline_heartbeat_or_bot_offline_notice_shows_the_bot_offline_until_a_good_event() {
    let peer = Peer::new();
    let config = "[console]\n[metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\n\
                  [plugins.api-probe]\ngrants = [\"send\"]\n";
    let (setup, mut coral) = forward_setup_with(&peer, &["api-probe"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    status_when(&setup, "the bot online", |s| bot(s)["online"] == true);
    assert_eq!(listed_online(&mut coral), "true");

    peer.send_event(&heartbeat(json!({"online": false, "good": true})));
    let status = status_when(&setup, "the bot offline", |s| bot(s)["online"] == false);
    assert_eq!(bot(&status)["self_id"], SELF_ID);
    assert_eq!(listed_online(&mut coral), "false", "list-bots agrees");
    assert!(
        metrics(&coral).contains("coral_bot_up{bot=\"10001\",platform=\"onebot\"} 0\n"),
        "the metric agrees"
    );
    coral.expect_log("onebot bot offline: a heartbeat says status.online = false");

    // A good heartbeat: online again.
    peer.send_event(&heartbeat(json!({"online": true, "good": true})));
    status_when(&setup, "the bot online again", |s| bot(s)["online"] == true);
    assert_eq!(listed_online(&mut coral), "true");

    // NapCat's `bot_offline` notice; then any other event.
    peer.send_event(&json!({"time": 1718000000, "self_id": 10001, "post_type": "notice",
        "notice_type": "bot_offline", "user_id": 10001, "tag": "BotOfflineEvent", "message": "账号已在别处登录"}));
    status_when(&setup, "offline after bot_offline", |s| bot(s)["online"] == false);
    assert_eq!(listed_online(&mut coral), "false");
    coral.expect_log("账号已在别处登录");
    peer.send_event(&private_message("anything at all", 5));
    status_when(&setup, "online after a message", |s| bot(s)["online"] == true);
}

#[test]
fn a_split_forward_entry_without_self_id_answers_the_first_event_before_the_login_answer() {
    let mut peer = Peer::new();
    let (api, event) = peer.serve_ws_split();
    let login = fixture_data("get_login_info").expect("login fixture");
    peer.set_reply(
        "get_login_info",
        Reply::Slow(Duration::from_secs(600), Box::new(Reply::Ok(login))),
    );
    let setup = Setup::new(
        &["ping"],
        &format!("[[onebot]]\ntransport = \"ws\"\napi_url = \"{api}\"\nevent_url = \"{event}\"\n"),
    );
    let _coral = setup.start();
    // `/api` is up and asked who the bot is; the answer will not come during this test.
    let asked = peer.expect_action("get_login_info", |r| r.action == "get_login_info");
    assert_eq!(asked.conn, "api");
    peer.send_event(&private_message("ping first", 1));
    let sent = peer.expect_action("pong", |r| r.action.starts_with("send_"));
    assert_eq!(message_text(&sent.params["message"]), "pong first");
    assert_eq!(sent.conn, "api", "answered over the API connection");
}

#[test]
fn a_message_delivered_twice_is_handled_once() {
    let mut peer = Peer::new();
    let config = "[[onebot]]\ntransport = \"http\"\nlisten = \"127.0.0.1:0\"\n";
    let (setup, coral) = forward_setup_with(&peer, &["ping"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    let twice = private_message("ping twice", 41);
    peer.send_event(&twice);
    peer.send_event(&twice);
    // The same message POSTed by the implementation's HTTP client as well: already handled, nothing to say.
    let url = coral.log_value("http events listening on ");
    assert_eq!(peer.post_event(&url, &twice, None), 204);
    // A different message reusing the id (NapCat's ids are hashes) is not a duplicate.
    peer.send_event(&private_message("ping reused id", 41));
    assert_eq!(peer.expect_reply("pong reused"), "pong reused id");
    // Events are handled in order: every answer to "ping twice" has been sent by now.
    let pongs = peer
        .actions()
        .iter()
        .filter(|r| message_text(&r.params["message"]) == "pong twice")
        .count();
    assert_eq!(pongs, 1, "answered once");
    let status = status_when(&setup, "two duplicates counted", |s| bot(s)["duplicate_events"] == 2);
    assert_eq!(bot(&status)["self_id"], SELF_ID);
}

#[test]
fn with_dedup_off_a_message_delivered_twice_is_handled_twice() {
    let mut peer = Peer::new();
    let (_setup, _coral) = forward_setup_with(&peer, &["ping"], "self_id = \"10001\"\ndedup_secs = 0\n", "");
    peer.expect_handshake();
    let twice = private_message("ping twice", 41);
    peer.send_event(&twice);
    peer.send_event(&twice);
    assert_eq!(peer.expect_reply("pong"), "pong twice");
    assert_eq!(peer.expect_reply("pong"), "pong twice");
}

#[test]
fn frames_the_adapter_cannot_use_are_counted_in_status_and_metrics() {
    let peer = Peer::new();
    let config = "[metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\n";
    let (setup, coral) = forward_setup_with(&peer, &["ping"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    // Not JSON, JSON that is neither event nor response, and a response to a call nobody made.
    peer.send_raw("this is not json");
    peer.send_raw("{\"hello\": 1}");
    peer.send_raw("{\"status\": \"ok\", \"retcode\": 0, \"data\": null, \"echo\": \"nobody-asked\"}");
    let status = status_when(&setup, "the adapter's counters", |s| {
        s["adapters"][0]["malformed_frames"] == 2 && s["adapters"][0]["unmatched_responses"] == 1
    });
    assert_eq!(status["adapters"][0]["platform"], "onebot");
    let text = metrics(&coral);
    assert!(
        text.contains("coral_adapter_malformed_frames_total{platform=\"onebot\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("coral_adapter_unmatched_responses_total{platform=\"onebot\"} 1\n"),
        "{text}"
    );
}
