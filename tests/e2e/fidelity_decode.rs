//! Decoding fidelity end to end: events as go-cqhttp and NapCat really send them (the bot's own messages,
//! millisecond times, a heartbeat without status, ids beyond 2^53) reach plugins as they mean, and ids go back
//! to the implementation with exactly the text they came with.

use crate::onebot::{forward_setup_with, private_message};
use crate::support::coral::{Coral, Setup};
use crate::support::onebot_peer::{Peer, message_text};
use serde_json::{Value, json};

/// Coral with these plugins, connected to `peer` over forward WebSocket, the connection made.
fn connected(peer: &Peer, plugins: &[&str]) -> (Setup, Coral) {
    let running = forward_setup_with(peer, plugins, "", "");
    peer.expect_handshake();
    running
}

/// What the api-probe plugin says about the last event it saw (`last event`: its kind, `last time`: its time),
/// asked by user 1000001 in a private chat; without the leading `last `.
fn ask_probe(peer: &mut Peer, question: &str) -> String {
    // A new message id each time: the same message delivered twice is handed to plugins once.
    static NEXT_ID: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(9900);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    peer.send_event(&private_message(question, id));
    peer.expect_reply("last ").replacen("last ", "", 1)
}

/// A plain private `message` event from `user_id` to bot 10001 (go-cqhttp's form, also for the bot's own
/// messages).
fn private_from(user_id: Value, text: &str) -> Value {
    json!({
        "time": 1718000000, "self_id": 10001, "post_type": "message", "message_type": "private",
        "sub_type": "friend", "message_id": 501, "user_id": user_id,
        "message": [{"type": "text", "data": {"text": text}}], "raw_message": text, "font": 0,
        "sender": {"user_id": user_id, "nickname": "n", "sex": "unknown", "age": 0}
    })
}

#[test]
fn a_go_cqhttp_message_from_the_bots_own_account_reaches_plugins_as_self_sent() {
    let mut peer = Peer::new();
    let (_setup, _coral) = connected(&peer, &["api-probe"]);
    // go-cqhttp reports what the bot account said elsewhere as a plain `message` with user_id == self_id.
    peer.send_event(&private_from(json!("10001"), "said by the bot"));
    let seen = ask_probe(&mut peer, "last event");
    assert!(seen.contains("said by the bot"), "{seen}");
    assert!(seen.contains("self-sent: true"), "{seen}");
    assert!(seen.contains("to-me: false"), "{seen}");
    // Anyone else's message is not.
    peer.send_event(&private_from(json!(1000002), "said by a friend"));
    let seen = ask_probe(&mut peer, "last event");
    assert!(
        seen.contains("said by a friend") && seen.contains("self-sent: false"),
        "{seen}"
    );
}

#[test]
fn a_napcat_message_sent_reaches_plugins_as_self_sent() {
    let mut peer = Peer::new();
    let (_setup, _coral) = connected(&peer, &["api-probe"]);
    peer.send_event(&json!({
        "time": 1718000060, "self_id": 10001, "post_type": "message_sent", "message_sent_type": "self",
        "message_type": "group", "sub_type": "normal", "message_id": -2147483001, "group_id": 100100,
        "user_id": 10001, "message": [{"type": "text", "data": {"text": "sent from the phone"}}],
        "raw_message": "sent from the phone", "font": 14,
        "sender": {"user_id": 10001, "nickname": "bot", "card": "", "role": "owner"}
    }));
    let seen = ask_probe(&mut peer, "last event");
    assert!(seen.starts_with("EventKind::Message("), "{seen}");
    assert!(
        seen.contains("sent from the phone") && seen.contains("-2147483001"),
        "{seen}"
    );
    assert!(seen.contains("self-sent: true"), "{seen}");
}

#[test]
fn millisecond_times_reach_plugins_in_seconds() {
    let mut peer = Peer::new();
    let (_setup, _coral) = connected(&peer, &["api-probe"]);
    // NapCat's fallback path: milliseconds.
    peer.send_event(
        &json!({"time": 1718000000123_i64, "self_id": 10001, "post_type": "notice",
        "notice_type": "friend_add", "user_id": 1000012}),
    );
    assert_eq!(ask_probe(&mut peer, "last time"), "time 1718000000");
    // Milliseconds as a string of digits.
    let mut message = private_from(json!(1000001), "a late message");
    message["time"] = json!("1718000001999");
    peer.send_event(&message);
    assert_eq!(ask_probe(&mut peer, "last time"), "time 1718000001");
    // Seconds stay seconds.
    peer.send_event(&json!({"time": 1718000002, "self_id": 10001, "post_type": "notice",
        "notice_type": "friend_add", "user_id": 1000012}));
    assert_eq!(ask_probe(&mut peer, "last time"), "time 1718000002");
}

#[test]
fn a_heartbeat_with_status_null_reaches_plugins_without_status() {
    let mut peer = Peer::new();
    let (_setup, _coral) = connected(&peer, &["api-probe"]);
    let heartbeat = |status: Value| {
        json!({"time": 1718000000, "self_id": 10001, "post_type": "meta_event", "meta_event_type": "heartbeat",
            "status": status, "interval": 60000})
    };
    peer.send_event(&heartbeat(Value::Null));
    let seen = ask_probe(&mut peer, "last event");
    assert!(seen.starts_with("EventKind::Meta(MetaEvent::Heartbeat("), "{seen}");
    assert!(seen.contains("status-json: None"), "{seen}");
    // A status object arrives as it was sent.
    peer.send_event(&heartbeat(json!({"online": true, "good": false})));
    let seen = ask_probe(&mut peer, "last event");
    assert!(
        seen.contains(r#"status-json: Some("{\"online\":true,\"good\":false}")"#),
        "{seen}"
    );
}

#[test]
fn ids_beyond_2_pow_53_negative_and_textual_go_back_exactly_as_they_came() {
    let mut peer = Peer::new();
    let (_setup, _coral) = connected(&peer, &["ping"]);
    for (user, wire) in [
        (json!(9007199254740993_u64), "9007199254740993"),
        (json!(-1), "-1"),
        (json!("abc"), "\"abc\""),
    ] {
        peer.send_event(&private_from(user.clone(), &format!("ping {wire}")));
        let sent = peer.expect_action("the pong", |r| r.action.starts_with("send_"));
        assert_eq!(message_text(&sent.params["message"]), format!("pong {wire}"));
        // The frame as the implementation reads it: the very same JSON value, number or string.
        assert_eq!(sent.params["user_id"].to_string(), wire, "{}", sent.params);
        assert_eq!(sent.params["user_id"], user);
    }
    // A group beyond 2^53 too.
    peer.send_event(&json!({
        "time": 1718000000, "self_id": 10001, "post_type": "message", "message_type": "group",
        "sub_type": "normal", "message_id": 9007199254740997_u64, "group_id": 9007199254740995_u64,
        "user_id": 9007199254740993_u64, "message": "ping group", "raw_message": "ping group", "font": 0,
        "sender": {"user_id": 9007199254740993_u64, "nickname": "n", "role": "member"}
    }));
    let sent = peer.expect_action("the group pong", |r| r.action.starts_with("send_"));
    assert_eq!(message_text(&sent.params["message"]), "pong group");
    assert_eq!(
        sent.params["group_id"].to_string(),
        "9007199254740995",
        "{}",
        sent.params
    );
}

#[test]
fn a_reply_to_the_bots_own_private_message_is_never_sent_to_the_bot_itself() {
    let mut peer = Peer::new();
    let (_setup, coral) = connected(&peer, &["ping"]);
    // The bot's own "ping loop" in a private chat (go-cqhttp's form): ping answers into that chat, which is the
    // bot's own account: refused, so the bot does not talk to itself forever.
    peer.send_event(&private_from(json!(10001), "ping loop"));
    coral.expect_log("is this bot itself");
    // Another user's ping still gets its answer, and nothing ever went to the bot's own account.
    peer.send_event(&private_from(json!(1000002), "ping other"));
    assert_eq!(peer.expect_reply("pong"), "pong other");
    let to_self: Vec<_> = peer
        .actions()
        .into_iter()
        .filter(|a| a.action.starts_with("send_") && a.params["user_id"] == 10001)
        .collect();
    assert!(to_self.is_empty(), "{to_self:#?}");
}
