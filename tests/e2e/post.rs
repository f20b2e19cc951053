//! Posted messages (`post-msg`, the SDK's default `reply` since `coral:bot@0.4.0`): checked when posted (a refusal
//! comes back at once and nothing reaches the platform), sent in the order posted, never awaited by the handler;
//! a failure after that is logged, counted and audited; and at most 256 per plugin wait for their answer.

use crate::onebot::forward_setup_with;
use crate::support::coral::{Coral, Setup};
use crate::support::onebot_peer::{Peer, Reply, SELF_ID, message_text};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

fn group_event(message_id: i64, text: &str) -> Value {
    json!({
        "time": 1718000000, "self_id": 10001, "post_type": "message", "message_type": "group",
        "sub_type": "normal", "message_id": message_id, "group_id": 100, "user_id": 1000002,
        "message": [{"type": "text", "data": {"text": text}}], "raw_message": text, "font": 0,
        "sender": {"user_id": 1000002, "nickname": "m", "role": "member"}
    })
}

/// Coral with the attacker fixture (`[plugins.attacker]` lines in `config`, `[[onebot]]` lines in `entry`).
fn start(peer: &Peer, config: &str, entry: &str) -> (Setup, Coral) {
    let running = forward_setup_with(
        peer,
        &["attacker"],
        &format!("self_id = \"{SELF_ID}\"\n{entry}"),
        &format!("[plugins.attacker]\n{config}\n"),
    );
    peer.expect_handshake();
    running
}

/// The texts of the `post i` messages the peer received, in the order it received them.
fn posts(peer: &Peer) -> Vec<String> {
    peer.actions()
        .iter()
        .filter(|a| a.action == "send_msg")
        .map(|a| message_text(&a.params["message"]))
        .filter(|t| t.starts_with("post ") && !t.starts_with("post ok") && !t.starts_with("post err"))
        .collect()
}

fn status_json(setup: &Setup) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_coral"))
        .args(["status", "--json", "--config"])
        .arg(setup.config_path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `send_msg`'s counters for the attacker: (ok, failed).
fn send_counts(setup: &Setup) -> (u64, u64) {
    let status = status_json(setup);
    let plugin = status["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "attacker")
        .cloned()
        .unwrap_or_default();
    let action = plugin["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["action"] == "send_msg")
        .cloned()
        .unwrap_or_default();
    (
        action["ok"].as_u64().unwrap_or(0),
        action["failed"].as_u64().unwrap_or(0),
    )
}

#[track_caller]
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn posted_messages_arrive_in_order_and_a_refused_one_never_leaves() {
    let mut peer = Peer::new();
    let (setup, _coral) = start(&peer, "grants = [\"send\"]\nscopes.send = { groups = [200] }", "");
    // 200 posts into an allowed group, from one handler: all admitted, all sent, in the order posted.
    peer.send_event(&group_event(1, "post group 200 200"));
    assert_eq!(peer.expect_reply("post ok"), "post ok 200");
    until("200 posted messages", || posts(&peer).len() == 200);
    let expected: Vec<String> = (1..=200).map(|i| format!("post {i}")).collect();
    assert_eq!(posts(&peer), expected);
    // Outside the grant's scope: refused when posted, returned to the plugin at once, nothing sent.
    peer.send_event(&group_event(2, "post group 300 5"));
    let refused = peer.expect_reply("post err");
    assert!(
        refused.starts_with("post err ErrorCode::PermissionDenied 102"),
        "{refused}"
    );
    assert!(
        peer.actions()
            .iter()
            .all(|a| a.params["group_id"] != json!("300") && a.params["group_id"] != json!(300))
    );
    let audit = std::fs::read_to_string(setup.path().join("data/audit.jsonl")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"outcome\":\"denied\"") && l.contains("\"target\":\"group 300\"")),
        "{audit}"
    );
    // Every admitted post was answered and counted: 200, plus the attacker's own two posted answers.
    until("the counters", || send_counts(&setup) == (202, 0));
}

#[test]
fn a_posted_message_that_fails_later_is_logged_counted_and_audited() {
    let mut peer = Peer::new();
    peer.set_reply(
        "send_msg",
        Reply::Failed(1200, "upload failed".into(), "rich media".into()),
    );
    let (setup, coral) = start(&peer, "grants = [\"send\"]", "");
    peer.send_event(&group_event(1, "post group 200 3"));
    // The plugin was told its posts were admitted; the platform refused each of them later.
    assert_eq!(peer.expect_reply("post ok"), "post ok 3");
    coral.expect_log_count("a posted message failed", 4);
    until("the counters", || send_counts(&setup) == (0, 4));
    let audit = std::fs::read_to_string(setup.path().join("data/audit.jsonl")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"outcome\":\"failed\"") && l.contains("\"retcode\":1200")),
        "{audit}"
    );
}

#[test]
fn at_most_256_posts_wait_for_an_answer() {
    let mut peer = Peer::new();
    // The platform never answers: every post stays in flight until its call times out (after 2 s).
    peer.set_reply("send_msg", Reply::Never);
    let (setup, _coral) = start(&peer, "grants = [\"send\"]", "timeout_ms = 2000\n");
    peer.send_event(&group_event(1, "post group 200 300"));
    // The 257th post can only be sent once one of the first 256 is answered, here by its timeout: when the peer
    // has it, the failure of an earlier one has been counted already.
    until("the 257th post", || posts(&peer).len() >= 257);
    let (_, failed) = send_counts(&setup);
    assert!(
        failed >= 1,
        "the 257th post left before any of the first 256 was answered"
    );
    until("all 300 posts and the answer", || posts(&peer).len() == 300);
    assert_eq!(peer.expect_reply("post ok"), "post ok 300");
}

#[test]
fn over_the_http_api_posted_messages_keep_their_order_too() {
    let mut peer = Peer::new();
    let api = peer.serve_http_api();
    let setup = Setup::new(
        &["attacker"],
        &format!(
            "[plugins.attacker]\ngrants = [\"send\"]\n[[onebot]]\ntransport = \"http\"\nurl = \"{api}\"\n\
             listen = \"127.0.0.1:0\"\nself_id = \"{SELF_ID}\"\n"
        ),
    );
    let coral = setup.start();
    let url = coral.log_value("http events listening on ");
    // Each message is an HTTP request of its own; they still reach the implementation in the order posted.
    assert_eq!(peer.post_event(&url, &group_event(1, "post group 200 60"), None), 204);
    assert_eq!(peer.expect_reply("post ok"), "post ok 60");
    until("60 posted messages", || posts(&peer).len() == 60);
    let expected: Vec<String> = (1..=60).map(|i| format!("post {i}")).collect();
    assert_eq!(posts(&peer), expected);
}
