//! OneBot V11 end to end: the real `coral` against the fake implementation over every transport.

use crate::support::coral::{Coral, Setup};
use crate::support::onebot_peer::{Peer, Reply, SELF_ID, fixture, fixture_names, message_text};
use serde_json::{Value, json};
use std::time::Duration;

/// A private message event from user 1000001 to the bot.
pub fn private_message(text: &str, message_id: i64) -> Value {
    json!({
        "time": 1718000000, "self_id": SELF_ID.parse::<i64>().unwrap(), "post_type": "message",
        "message_type": "private", "sub_type": "friend", "message_id": message_id, "user_id": 1000001,
        "message": [{"type": "text", "data": {"text": text}}], "raw_message": text, "font": 0,
        "sender": {"user_id": 1000001, "nickname": "小不点", "sex": "unknown", "age": 0}
    })
}

fn group_message(self_id: &str, group: i64, text: &str) -> Value {
    json!({
        "time": 1718000000, "self_id": self_id, "post_type": "message", "message_type": "group",
        "sub_type": "normal", "message_id": 7, "group_id": group, "user_id": 1000002,
        "message": text, "raw_message": text, "font": 0, "anonymous": null,
        "sender": {"user_id": 1000002, "nickname": "群友", "card": "", "role": "member"}
    })
}

/// Every capability the api-probe fixture requests.
pub const ALL_GRANTS: &str = "grants = [\"send\", \"recall\", \"kick\", \"ban\", \"whole-ban\", \"set-admin\", \
    \"set-group-anonymous\", \"set-card\", \"set-title\", \"set-group-name\", \"leave-group\", \"handle-request\", \
    \"delete-friend\", \"send-like\", \"query\", \"credentials\", \"restart\", \"at-all\", \"local-file\", \"media-url\"]\n";

/// Coral connected to `peer` over forward WebSocket; `extra` goes into the `[[onebot]]` entry, `plugins` is more
/// config (e.g. `[plugins.api-probe]` grants).
pub fn forward_setup_with(peer: &Peer, plugins: &[&str], extra: &str, plugin_config: &str) -> (Setup, Coral) {
    let url = peer.serve_ws();
    let config =
        format!("{plugin_config}\n[[onebot]]\ntransport = \"ws\"\nurl = \"{url}\"\naccess_token = \"t0k\"\n{extra}");
    let setup = Setup::new(plugins, &config);
    let coral = setup.start();
    (setup, coral)
}

fn forward_setup(peer: &Peer, plugins: &[&str], extra: &str) -> (Setup, Coral) {
    forward_setup_with(peer, plugins, extra, "")
}

fn probe_with_all_grants() -> String {
    format!("[plugins.api-probe]\n{ALL_GRANTS}")
}

#[test]
fn forward_ws_ping_round_trip_with_token() {
    let mut peer = Peer::new();
    let (_setup, _coral) = forward_setup(&peer, &["ping"], "");
    let handshake = peer.expect_handshake();
    assert_eq!(handshake.get("authorization").map(String::as_str), Some("Bearer t0k"));
    // Coral asks who the bot is, then serves it.
    peer.expect_action("get_login_info", |r| r.action == "get_login_info");
    peer.send_event(&private_message("ping hello", 1));
    let sent = peer.expect_action("pong", |r| r.action.starts_with("send_"));
    assert_eq!(message_text(&sent.params["message"]), "pong hello");
    assert_eq!(sent.params["message_type"], "private");
    assert_eq!(sent.params["user_id"], 1000001);
    assert!(
        sent.params["message"].is_array(),
        "outgoing messages always use the array form"
    );
    assert_eq!(sent.token.as_deref(), Some("t0k"));
}

#[test]
fn reverse_ws_checks_the_token_before_the_upgrade_and_serves_universal_clients() {
    let mut peer = Peer::new();
    let setup = Setup::new(
        &["ping"],
        "[[onebot]]\ntransport = \"ws-reverse\"\nlisten = \"127.0.0.1:0\"\naccess_token = \"s3cret\"\n",
    );
    let coral = setup.start();
    let url = coral.log_value("ws-reverse listening on ");
    assert!(url.ends_with("/onebot/v11/ws"), "{url}");
    assert_eq!(peer.connect_reverse(&url, SELF_ID, None, "Universal"), Err(401));
    assert_eq!(
        peer.connect_reverse(&url, SELF_ID, Some("wrong"), "Universal"),
        Err(403)
    );
    assert_eq!(peer.connect_reverse(&url, SELF_ID, Some("s3cret"), "Universal"), Ok(()));
    peer.send_event(&group_message(SELF_ID, 100100, "ping reverse"));
    let sent = peer.expect_action("pong", |r| r.action.starts_with("send_"));
    assert_eq!(message_text(&sent.params["message"]), "pong reverse");
    assert_eq!(sent.params["group_id"], 100100);
}

#[test]
fn reverse_ws_split_api_and_event_clients() {
    let mut peer = Peer::new();
    let setup = Setup::new(
        &["ping"],
        "[[onebot]]\ntransport = \"ws-reverse\"\nlisten = \"127.0.0.1:0\"\npath = \"/ob\"\n",
    );
    let coral = setup.start();
    let url = coral.log_value("ws-reverse listening on ");
    assert!(url.ends_with("/ob"));
    peer.connect_reverse(&url, SELF_ID, None, "API").unwrap();
    peer.connect_reverse(&url, SELF_ID, None, "Event").unwrap();
    peer.send_event(&private_message("ping split", 2));
    assert_eq!(peer.expect_reply("pong"), "pong split");
}

#[test]
fn two_bots_on_two_connections_answer_on_their_own_connection() {
    let mut peer = Peer::new();
    let setup = Setup::new(
        &["ping"],
        "[[onebot]]\ntransport = \"ws-reverse\"\nlisten = \"127.0.0.1:0\"\n",
    );
    let coral = setup.start();
    let url = coral.log_value("ws-reverse listening on ");
    let other = Peer::new();
    peer.connect_reverse(&url, "10001", None, "Universal").unwrap();
    other.connect_reverse(&url, "10002", None, "Universal").unwrap();
    other.send_event(&group_message("10002", 100200, "ping from two"));
    peer.send_event(&group_message("10001", 100100, "ping from one"));
    let mut other = other;
    let one = peer.expect_action("reply on bot one", |r| r.action.starts_with("send_"));
    assert_eq!(message_text(&one.params["message"]), "pong from one");
    assert_eq!(one.conn, "10001");
    let two = other.expect_action("reply on bot two", |r| r.action.starts_with("send_"));
    assert_eq!(message_text(&two.params["message"]), "pong from two");
    assert_eq!(two.conn, "10002");
    assert!(
        peer.actions().iter().all(|r| r.conn == "10001"),
        "nothing for bot two went to bot one"
    );
}

#[test]
fn http_api_and_signed_event_posts() {
    let mut peer = Peer::new();
    let api = peer.serve_http_api();
    let setup = Setup::new(
        &["ping"],
        &format!(
            "[[onebot]]\ntransport = \"http\"\nurl = \"{api}\"\nlisten = \"127.0.0.1:0\"\nsecret = \"sig\"\n\
             access_token = \"tok\"\nself_id = \"10001\"\n"
        ),
    );
    let coral = setup.start();
    let url = coral.log_value("http events listening on ");
    let event = private_message("ping over http", 3);
    let body = event.to_string();
    // The access token is required on event POSTs too (see transport_auth.rs); here it is always given.
    let post = |signature: Option<String>| {
        let mut headers = vec![("Authorization", "Bearer tok".to_string())];
        headers.extend(signature.map(|sig| ("X-Signature", sig)));
        peer.post_event_with(&url, &event, &headers).0
    };
    assert_eq!(post(None), 401, "missing signature");
    assert_eq!(post(Some("sha1=0000".into())), 403, "wrong signature");
    let good = coral_adapters::onebot::auth::sign("sig", body.as_bytes());
    assert_eq!(post(Some(good)), 204);
    let sent = peer.expect_action("pong over HTTP", |r| r.action.starts_with("send_"));
    assert_eq!(message_text(&sent.params["message"]), "pong over http");
    assert_eq!(sent.token.as_deref(), Some("tok"));
    assert_eq!(sent.conn, "http");
}

#[test]
fn http_post_without_an_api_answers_with_quick_operations() {
    let peer = Peer::new();
    let setup = Setup::new(
        &["ping", "api-probe"],
        "[plugins.api-probe]\ngrants = [\"kick\", \"ban\", \"recall\", \"handle-request\"]\n\
         [[onebot]]\ntransport = \"http\"\nlisten = \"127.0.0.1:0\"\n",
    );
    let coral = setup.start();
    let url = coral.log_value("http events listening on ");
    // A group message: ping's reply becomes the quick `reply` (at_sender off: the spec's default is on).
    let (status, body) = peer.post_event_full(&url, &group_message(SELF_ID, 100100, "ping quick"), None);
    assert_eq!(status, 200, "{body}");
    let op: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(message_text(&op["reply"]), "pong quick");
    assert_eq!(op["at_sender"], false);
    // A kick of the sender, in the event's group, is a quick `kick` (and the probe's own reply rides along).
    let (status, body) = peer.post_event_full(&url, &group_message(SELF_ID, 100100, "kick 100100 1000002"), None);
    assert_eq!(status, 200, "{body}");
    let op: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(op["kick"], true, "{body}");
    assert_eq!(message_text(&op["reply"]), "kick ok ()");
    // Kicking someone else cannot be said as a quick operation, and there is no API: the plugin is told.
    let (_, body) = peer.post_event_full(&url, &group_message(SELF_ID, 100100, "kick 100100 42"), None);
    let op: Value = serde_json::from_str(&body).unwrap();
    assert!(op.get("kick").is_none(), "{body}");
    assert!(
        message_text(&op["reply"]).starts_with("kick err ErrorCode::BotUnavailable 1503"),
        "{body}"
    );
    // Nothing to say: 204.
    let (status, body) = peer.post_event_full(&url, &group_message(SELF_ID, 100100, "nothing for anyone"), None);
    assert_eq!((status, body.as_str()), (204, ""));
}

/// Scalar values of a fixture event that a plugin must be able to see (ids, texts, numbers).
fn leaves(v: &Value, key: &str, out: &mut Vec<String>) {
    const SKIP: &[&str] = &[
        "post_type",
        "time",
        "font",
        "message_format",
        "raw_message",
        "sub_type",
        "message_type",
        "notice_type",
        "request_type",
        "meta_event_type",
        "self_id",
        "honor_type",
        "type",
        "interval",
        "role",
        "sex",
        "approve",
    ];
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| leaves(v, k, out)),
        Value::Array(a) => a.iter().for_each(|v| leaves(v, key, out)),
        // As Rust's `Debug` shows it (the plugin reports what it saw with `{:?}`).
        Value::String(s) if !SKIP.contains(&key) && !s.is_empty() && !s.contains("[CQ:") => {
            let debug = format!("{s:?}");
            out.push(debug[1..debug.len() - 1].to_string());
        }
        Value::Number(n) if !SKIP.contains(&key) && n.as_i64() != Some(0) => out.push(n.to_string()),
        _ => {}
    }
}

#[test]
fn every_fixture_event_reaches_a_plugin_with_no_field_lost() {
    let mut peer = Peer::new();
    let (_setup, _coral) = forward_setup(&peer, &["api-probe"], "");
    peer.expect_handshake();
    let names: Vec<String> = fixture_names("events")
        .into_iter()
        .map(|n| format!("{n}.json"))
        .collect();
    assert_eq!(names.len(), 35);
    for (i, name) in names.into_iter().enumerate() {
        let event = fixture(&format!("events/{name}"));
        peer.send_event(&event);
        // A distinct id each time: the same message delivered again is dropped as a duplicate.
        peer.send_event(&private_message("last event", 9900 + i as i64));
        let seen = peer.expect_reply("last ");
        let mut values = Vec::new();
        leaves(&event, "", &mut values);
        for value in values {
            assert!(seen.contains(&value), "{name}: {value:?} lost; the plugin saw: {seen}");
        }
        let kind = name.split('.').next().unwrap();
        let expected = match kind {
            "message" => "Message(",
            "notice" => "Notice(",
            "request" => "Request(",
            _ => "Meta(",
        };
        assert!(
            seen.starts_with(&format!("last EventKind::{expected}")),
            "{name}: {seen}"
        );
    }
}

#[test]
fn unknown_events_pass_through_and_malformed_frames_do_not_break_the_connection() {
    let mut peer = Peer::new();
    let (_setup, coral) = forward_setup(&peer, &["api-probe"], "");
    peer.expect_handshake();
    peer.send_raw("this is not json");
    peer.send_raw("[1, 2, 3]");
    peer.send_raw("{\"neither\": \"event nor response\"}");
    peer.send_event(&json!({"time": 1, "self_id": 10001, "post_type": "mystery", "payload": {"x": 42}}));
    peer.send_event(&private_message("last event", 5));
    let seen = peer.expect_reply("last ");
    assert!(seen.starts_with("last EventKind::Other("), "{seen}");
    assert!(seen.contains("mystery") && seen.contains("42"), "{seen}");
    peer.send_event(
        &json!({"time": 1, "self_id": 10001, "post_type": "notice", "notice_type": "essence",
        "sub_type": "add", "group_id": 100100, "message_id": 77}),
    );
    peer.send_event(&private_message("last event", 6));
    let seen = peer.expect_reply("last ");
    assert!(
        seen.contains("NoticeEvent::Other(OtherNotice") && seen.contains("essence"),
        "{seen}"
    );
    assert_eq!(
        coral.stderr().matches("ignored a frame").count(),
        3,
        "{}",
        coral.stderr()
    );
}

/// Each of the 38 V11 APIs, called through its typed WIT function from a plugin, seen at the implementation with
/// the fixture's parameters, and its fixture result returned to the plugin.
#[test]
fn all_38_apis_round_trip_from_a_plugin() {
    let mut peer = Peer::new();
    let (_setup, _coral) = forward_setup_with(&peer, &["api-probe"], "", &probe_with_all_grants());
    peer.expect_handshake();
    let actions = fixture_names("api");
    assert_eq!(actions.len(), 38);
    for (i, action) in actions.iter().enumerate() {
        let fixture = fixture(&format!("api/{action}.json"));
        peer.send_event(&private_message(&format!("call {action}"), 100 + i as i64));
        let seen = peer.expect_action(action, |r| {
            &r.action == action && !message_text(&r.params["message"]).contains(" ok ")
        });
        let expected = &fixture["request"]["params"];
        for (key, value) in expected.as_object().unwrap() {
            match key.as_str() {
                // Compared by content below / sent in a different legal form.
                "message" | "auto_escape" | "anonymous" => {}
                _ => assert_eq!(&seen.params[key], value, "{action}: param {key} in {}", seen.params),
            }
        }
        if action == "set_group_anonymous_ban" {
            assert_eq!(seen.params["flag"], "ab12cd34ef|大力水手");
        }
        let reply = peer.expect_reply(&format!("{action} "));
        assert!(reply.starts_with(&format!("{action} ok ")), "{reply}");
        // A value from the fixture's response data reached the plugin.
        let mut values = Vec::new();
        leaves(&fixture["response"]["data"], "", &mut values);
        if let Some(value) = values.first() {
            assert!(
                reply.contains(value.as_str()),
                "{action}: {value:?} missing from {reply}"
            );
        }
    }
}

#[test]
fn platform_failures_keep_retcode_and_wording_and_timeouts_return_202() {
    let mut peer = Peer::new();
    let (_setup, _coral) = forward_setup_with(&peer, &["api-probe"], "timeout_ms = 300\n", &probe_with_all_grants());
    peer.expect_handshake();
    peer.set_reply(
        "set_group_kick",
        Reply::Failed(100, "NOT_MANAGEABLE".into(), "无法操作".into()),
    );
    peer.send_event(&private_message("call set_group_kick", 1));
    let reply = peer.expect_reply("set_group_kick ");
    assert_eq!(
        reply,
        "set_group_kick err ErrorCode::OperationFailed 100 platform failed `set_group_kick` with retcode 100: NOT_MANAGEABLE (无法操作)"
    );
    peer.set_reply("send_like", Reply::Never);
    peer.send_event(&private_message("call send_like", 2));
    let reply = peer.expect_reply("send_like ");
    assert!(reply.starts_with("send_like err ErrorCode::Timeout 202"), "{reply}");
    peer.set_reply(
        "get_status",
        Reply::Slow(Duration::from_millis(50), Box::new(Reply::Ok(json!({"good": true})))),
    );
    peer.send_event(&private_message("call get_status", 3));
    assert!(peer.expect_reply("get_status ").starts_with("get_status ok"));
}

#[test]
fn a_dropped_connection_fails_pending_calls_at_once_and_the_client_reconnects() {
    let mut peer = Peer::new();
    let (_setup, coral) = forward_setup_with(
        &peer,
        &["api-probe", "ping"],
        "timeout_ms = 600000\n",
        &probe_with_all_grants(),
    );
    peer.expect_handshake();
    peer.set_reply("get_status", Reply::Never);
    peer.send_event(&private_message("call get_status", 1));
    peer.expect_action("get_status", |r| r.action == "get_status");
    peer.drop_connections();
    // The pending call fails now, not after its 10-minute timeout.
    coral.expect_log("probe: get_status err ErrorCode::BotUnavailable 1503");
    // Coral reconnects by itself; events flow again.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while peer.connections() == 0 {
        assert!(std::time::Instant::now() < deadline, "no reconnect");
        std::thread::sleep(Duration::from_millis(20));
    }
    peer.send_event(&private_message("ping again", 2));
    assert_eq!(peer.expect_reply("pong"), "pong again");
}
