//! Versioned contract: plugins built against `coral:bot@0.1.0`, `0.2.0` and `0.3.0` (the `ping-v01`, `ping-v02`
//! and `ping-v03` fixtures, plain wit-bindgen over `wit/v0.1.0`, `wit/v0.2.0` and `wit/v0.3.0`) load and answer
//! beside plugins built against 0.4.0, get errors and query results in their own types, and see events the way
//! their version defined them.

use crate::onebot::{ALL_GRANTS, forward_setup_with, private_message};
use crate::support::coral::{Coral, Setup};
use crate::support::onebot_peer::{Peer, message_text};
use serde_json::json;

const GRANTS: &str = "[plugins.ping-v01]\ngrants = [\"send\", \"query\"]\n";

fn connected(peer: &Peer, plugins: &[&str], config: &str) -> (Setup, Coral) {
    let running = forward_setup_with(peer, plugins, "", config);
    peer.expect_handshake();
    running
}

fn group_message(text: &str, message_id: i64) -> serde_json::Value {
    json!({
        "time": 1718000000, "self_id": 10001, "post_type": "message", "message_type": "group",
        "sub_type": "normal", "message_id": message_id, "group_id": 100100, "user_id": 1000002,
        "message": [{"type": "text", "data": {"text": text}}], "raw_message": text, "font": 0,
        "sender": {"user_id": 1000002, "nickname": "n", "role": "member"}
    })
}

/// The texts of the next `n` pongs the plugins send, sorted (they answer in either order).
fn pongs(peer: &mut Peer, n: usize) -> Vec<String> {
    let mut replies: Vec<String> = (0..n)
        .map(|_| {
            let sent = peer.expect_action("a pong", |r| {
                r.action.starts_with("send_") && message_text(&r.params["message"]).starts_with("pong")
            });
            message_text(&sent.params["message"])
        })
        .collect();
    replies.sort();
    replies
}

#[test]
fn a_0_1_0_plugin_and_current_plugins_answer_the_same_message_side_by_side() {
    let mut peer = Peer::new();
    let config = format!("{GRANTS}[plugins.api-probe]\n{ALL_GRANTS}");
    let (_setup, coral) = connected(&peer, &["ping", "ping-v01", "api-probe"], &config);
    peer.send_event(&private_message("ping", 1));
    // Both answer, each in its own contract (in either order).
    let replies = pongs(&mut peer, 2);
    assert_eq!(replies, ["pong", "pong from 0.1.0"]);
    // The 0.2.0 probe, beside it, still gets 0.2.0's fields.
    peer.send_event(&json!({
        "time": 1718000001, "self_id": 10001, "post_type": "request", "request_type": "group", "sub_type": "add",
        "group_id": 100100, "user_id": 1000005, "comment": "hi", "flag": "f-2", "invitor_id": 1000006
    }));
    peer.send_event(&private_message("last event", 2));
    let seen = peer.expect_reply("last ");
    assert!(seen.contains("invitor-id: Some(\"1000006\")"), "{seen}");
    // The operator sees which contract each plugin was built against.
    let log = coral.expect_log("plugin=ping-v01 version=0.1.0");
    let line = |needle: &str| log.lines().find(|l| l.contains(needle)).unwrap_or_default().to_string();
    assert!(
        line("plugin=ping-v01 version=").contains("wit=coral:bot@0.1.0"),
        "{log}"
    );
    assert!(line("plugin=ping version=").contains("wit=coral:bot@0.4.0"), "{log}");
}

#[test]
fn a_0_2_0_plugin_is_served_the_same_host_functions_beside_0_3_0_and_0_1_0_ones() {
    let mut peer = Peer::new();
    let config = format!("{GRANTS}[plugins.ping-v02]\ngrants = [\"send\", \"query\"]\n");
    let (_setup, coral) = connected(&peer, &["ping", "ping-v01", "ping-v02"], &config);
    peer.send_event(&private_message("ping", 1));
    let replies = pongs(&mut peer, 3);
    assert_eq!(replies, ["pong", "pong from 0.1.0", "pong from 0.2.0"]);
    // A denial reaches it as a value of its own contract, and nothing reaches the platform.
    peer.send_event(&group_message("v02 kick", 11));
    assert_eq!(
        peer.expect_reply("v02 kick"),
        "v02 kick err ErrorCode::PermissionDenied 102"
    );
    assert!(!peer.actions().iter().any(|r| r.action.contains("kick")));
    // A record from the bot interface crosses whole.
    peer.send_event(&group_message("v02 get-msg -2147483000", 12));
    assert_eq!(
        peer.expect_reply("v02 got"),
        "v02 got  会议改到 [3F] 了 & 记得带电脑 from 1000004"
    );
    let log = coral.expect_log("plugin=ping-v02 version=0.2.0");
    let line = log
        .lines()
        .find(|l| l.contains("plugin=ping-v02 version="))
        .unwrap_or_default();
    assert!(line.contains("wit=coral:bot@0.2.0"), "{log}");
}

#[test]
fn a_0_1_0_plugin_gets_denials_query_results_and_heartbeats_in_its_own_types() {
    let mut peer = Peer::new();
    let (_setup, _coral) = connected(&peer, &["ping-v01"], GRANTS);
    // No kick grant: the denial comes back as a 0.1.0 error value.
    peer.send_event(&group_message("v01 kick", 11));
    let answer = peer.expect_reply("v01 kick");
    assert_eq!(answer, "v01 kick err ErrorCode::PermissionDenied 102");
    assert!(
        !peer.actions().iter().any(|r| r.action.contains("kick")),
        "a denied kick reached the platform"
    );
    // A query answered by the platform, converted down to 0.1.0's message-info.
    peer.send_event(&group_message("v01 get-msg -2147483000", 12));
    let answer = peer.expect_reply("v01 got");
    assert_eq!(answer, "v01 got  会议改到 [3F] 了 & 记得带电脑 from 1000004");
    // 0.2.0 reads a `null` heartbeat status as none; 0.1.0 plugins still see the JSON `null` they always saw.
    peer.send_event(&json!({
        "time": 1718000002, "self_id": 10001, "post_type": "meta_event", "meta_event_type": "heartbeat",
        "interval": 5000, "status": null
    }));
    peer.send_event(&group_message("v01 heartbeat", 13));
    assert_eq!(peer.expect_reply("v01 heartbeat"), "v01 heartbeat null");
    peer.send_event(&json!({
        "time": 1718000003, "self_id": 10001, "post_type": "meta_event", "meta_event_type": "heartbeat",
        "interval": 5000, "status": {"online": true, "good": true}
    }));
    peer.send_event(&group_message("v01 heartbeat", 14));
    assert_eq!(
        peer.expect_reply("v01 heartbeat {"),
        "v01 heartbeat {\"online\":true,\"good\":true}"
    );
}

#[test]
fn a_0_3_0_plugin_keeps_its_commands_and_awaited_sends_beside_0_4_0_ones() {
    let mut peer = Peer::new();
    let (_setup, coral) = connected(&peer, &["ping", "ping-v03"], "");
    peer.send_event(&private_message("ping", 1));
    let replies = pongs(&mut peer, 2);
    // The current `ping` posts its answer (0.4.0's `post-msg`); the 0.3.0 one awaits `send-msg` and fails its
    // event if no message id came back (none did: the event did not fail, see below).
    assert_eq!(replies, ["pong", "pong from 0.3.0"]);
    // Its command, parsed and checked by the host, reaches its 0.3.0 `on-command`.
    peer.send_event(&group_message("/v03 7", 2));
    assert_eq!(peer.expect_reply("v03 got"), "v03 got 7");
    let log = coral.expect_log("plugin=ping-v03 version=0.3.0");
    let line = |needle: &str| log.lines().find(|l| l.contains(needle)).unwrap_or_default().to_string();
    assert!(
        line("plugin=ping-v03 version=").contains("wit=coral:bot@0.3.0"),
        "{log}"
    );
    assert!(line("plugin=ping version=").contains("wit=coral:bot@0.4.0"), "{log}");
    assert!(!coral.stderr().contains("no message id"), "{}", coral.stderr());
}
