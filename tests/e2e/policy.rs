//! Grants, scopes, rate limits, content checks and the audit log, against the fake OneBot implementation.

use crate::onebot::{ALL_GRANTS, forward_setup_with, private_message};
use crate::support::onebot_peer::{Peer, fixture_names, message_text};
use serde_json::Value;

/// A private message from `user` (not 1000001, so nothing the probe sends to 1000001 counts as a reply).
fn from(user: i64, text: &str) -> Value {
    let mut event = private_message(text, 1);
    event["user_id"] = user.into();
    event["sender"]["user_id"] = user.into();
    event
}

#[test]
fn without_grants_every_api_is_denied_and_the_platform_sees_only_replies() {
    let mut peer = Peer::new();
    let (setup, _coral) = forward_setup_with(&peer, &["api-probe"], "self_id = \"10001\"\n", "");
    peer.expect_handshake();
    let names = fixture_names("api");
    for action in &names {
        peer.send_event(&from(1000099, &format!("call {action}")));
        let reply = peer.expect_reply(&format!("{action} "));
        assert!(
            reply.starts_with(&format!("{action} err ErrorCode::PermissionDenied 102")),
            "{reply}"
        );
    }
    // Everything the implementation saw is the probe's replies, into the chat each event came from.
    let actions = peer.actions();
    assert_eq!(actions.len(), names.len(), "{actions:#?}");
    for a in &actions {
        assert_eq!(a.action, "send_msg", "{a:?}");
        assert_eq!(a.params["user_id"], 1000099, "{a:?}");
        assert!(message_text(&a.params["message"]).contains(" err "), "{a:?}");
    }
    // Every denial is in the audit log.
    let log = std::fs::read_to_string(setup.path().join("data/audit.jsonl")).unwrap();
    let denied: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(denied.len(), names.len());
    assert!(
        denied
            .iter()
            .all(|e| e["outcome"] == "denied" && e["retcode"] == 102 && e["plugin"] == "api-probe")
    );
    assert!(
        denied
            .iter()
            .all(|e| e["plugin_hash"].as_str().is_some_and(|h| h.len() == 16))
    );
}

#[test]
fn a_grant_scoped_to_one_group_works_only_there() {
    let mut peer = Peer::new();
    let config = "[plugins.api-probe]\ngrants = [\"kick\"]\nscopes.kick = { groups = [100100] }\n";
    let (_setup, _coral) = forward_setup_with(&peer, &["api-probe"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    peer.send_event(&from(1000099, "kick 100100 42"));
    assert_eq!(peer.expect_reply("kick "), "kick ok ()");
    peer.send_event(&from(1000099, "kick 100200 42"));
    let reply = peer.expect_reply("kick ");
    assert!(reply.starts_with("kick err ErrorCode::PermissionDenied 102"), "{reply}");
    assert!(reply.contains("group 100200"), "{reply}");
    let kicks: Vec<_> = peer
        .actions()
        .into_iter()
        .filter(|a| a.action == "set_group_kick")
        .collect();
    assert_eq!(kicks.len(), 1);
    assert_eq!(kicks[0].params["group_id"], 100100);
}

#[test]
fn ten_thousand_kicks_reach_the_platform_exactly_as_often_as_the_rate_allows() {
    let mut peer = Peer::new();
    let config = "[plugins.api-probe]\ngrants = [\"kick\"]\nrate = { kick = \"3/hour\" }\nmax_host_calls = 20000\n\
                  cpu_budget_ms = 60000\ncall_timeout_ms = 120000\n";
    let (setup, _coral) = forward_setup_with(&peer, &["api-probe"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    peer.send_event(&from(1000099, "flood 10000"));
    // 3/hour: three at once, the next not for 20 minutes.
    assert_eq!(peer.expect_reply("flood "), "flood ok=3 limited=9997 other=0");
    let kicks = peer
        .actions()
        .into_iter()
        .filter(|a| a.action == "set_group_kick")
        .count();
    assert_eq!(kicks, 3);
    let log = std::fs::read_to_string(setup.path().join("data/audit.jsonl")).unwrap();
    let entries: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.iter().filter(|e| e["outcome"] == "ok").count(), 3);
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["outcome"] == "rate-limited" && e["retcode"] == 1429)
            .count(),
        9997
    );
}

#[test]
fn a_host_call_flood_past_the_per_event_budget_stops_the_plugin() {
    let mut peer = Peer::new();
    let config = "[plugins.api-probe]\ngrants = [\"kick\"]\nrate = { kick = \"3/hour\" }\nmax_host_calls = 100\n";
    let (_setup, coral) = forward_setup_with(&peer, &["api-probe", "ping"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    peer.send_event(&from(1000099, "flood 10000"));
    coral.expect_log("made more than 100 host calls while handling one event");
    peer.send_event(&from(1000099, "ping still"));
    assert_eq!(peer.expect_reply("pong"), "pong still");
}

#[test]
fn at_all_and_local_files_need_their_own_grants() {
    let mut peer = Peer::new();
    let config = "[plugins.api-probe]\ngrants = [\"send\"]\n";
    let (_setup, _coral) = forward_setup_with(&peer, &["api-probe"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    peer.send_event(&from(1000099, "send-to 100100 hello"));
    assert!(
        peer.expect_reply("send-to ").starts_with("send-to ok"),
        "plain sends are granted"
    );
    peer.send_event(&from(1000099, "send-all 100100"));
    let reply = peer.expect_reply("send-all ");
    assert!(
        reply.contains("PermissionDenied 102") && reply.contains("`at-all`"),
        "{reply}"
    );
    peer.send_event(&from(1000099, "send-file 100100"));
    let reply = peer.expect_reply("send-file ");
    assert!(
        reply.contains("PermissionDenied 102") && reply.contains("`local-file`"),
        "{reply}"
    );
    let sends: Vec<_> = peer
        .actions()
        .into_iter()
        .filter(|a| a.action == "send_group_msg")
        .collect();
    assert_eq!(sends.len(), 1, "only the plain send reached the platform: {sends:?}");
}

#[test]
fn with_all_grants_the_same_calls_go_through() {
    let mut peer = Peer::new();
    let config = format!("[plugins.api-probe]\n{ALL_GRANTS}");
    let (_setup, _coral) = forward_setup_with(&peer, &["api-probe"], "self_id = \"10001\"\n", &config);
    peer.expect_handshake();
    peer.send_event(&from(1000099, "send-all 100100"));
    assert!(peer.expect_reply("send-all ").starts_with("send-all ok"));
    peer.send_event(&from(1000099, "call set_group_kick"));
    assert!(peer.expect_reply("set_group_kick ").starts_with("set_group_kick ok"));
}

#[test]
fn the_send_governor_paces_a_bots_messages() {
    let mut peer = Peer::new();
    let config = "[plugins.api-probe]\ngrants = [\"send\"]\n";
    let (_setup, _coral) = forward_setup_with(
        &peer,
        &["api-probe"],
        "self_id = \"10001\"\nmax_send_rate = \"5/s burst 1\"\n",
        config,
    );
    peer.expect_handshake();
    peer.send_event(&from(1000099, "burst 6 100100"));
    assert_eq!(peer.expect_reply("burst sent="), "burst sent=6");
    let sends: Vec<_> = peer
        .actions()
        .into_iter()
        .filter(|a| a.action == "send_group_msg")
        .collect();
    assert_eq!(sends.len(), 6);
    // One token at once, then one every 200 ms: six messages span at least one second (minus delivery jitter).
    let span = sends[5].at - sends[0].at;
    assert!(
        span >= std::time::Duration::from_millis(950),
        "six paced messages arrived within {span:?}"
    );
}
