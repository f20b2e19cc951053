//! Sizes at the API boundary: a hostile plugin's 40 MiB message, 400k-segment message, huge raw call and
//! oversized forward are refused as `too-large` (an error value, audited), never reach the implementation, and
//! the canary `ping` beside it keeps answering. A message within the limits still goes out.

use crate::onebot::forward_setup_with;
use crate::support::coral::{Coral, Setup};
use crate::support::onebot_peer::{Peer, SELF_ID};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn group_event(message_id: i64, text: &str) -> Value {
    json!({
        "time": 1718000000, "self_id": SELF_ID.parse::<i64>().unwrap(), "post_type": "message",
        "message_type": "group", "sub_type": "normal", "message_id": message_id, "group_id": 100,
        "user_id": 1000002, "message": [{"type": "text", "data": {"text": text}}], "raw_message": text,
        "font": 0, "sender": {"user_id": 1000002, "nickname": "m", "card": "", "role": "member"}
    })
}

fn start(peer: &Peer) -> (Setup, Coral) {
    // Memory enough for the plugin to build a 40 MiB message and 400k segments itself: the host's limits, not
    // the plugin's own memory cap, must be what stops them.
    let config = "[plugins.attacker]\nmemory_mb = 512\ngrants = [\"send\", \"call-api:send_msg\"]\n";
    let running = forward_setup_with(peer, &["attacker", "ping"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    running
}

fn command(peer: &mut Peer, message_id: i64, text: &str) -> String {
    let name = text.split(' ').next().unwrap();
    peer.send_event(&group_event(message_id, text));
    peer.expect_reply(&format!("{name} "))
}

fn audit_outcomes(setup: &Setup, outcome: &str, want: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let entries: Vec<Value> = std::fs::read_to_string(setup.path().join("data/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|e: &Value| e["outcome"] == outcome)
            .collect();
        if entries.len() >= want || Instant::now() > deadline {
            return entries;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn oversized_messages_are_refused_as_too_large_and_never_reach_the_peer() {
    let mut peer = Peer::new();
    let (setup, _coral) = start(&peer);
    let cases = [
        // The group id ("100") counts as text as well.
        ("bigtext group 100 41943040", "41943043 bytes of text"),
        ("manysegs group 100 400000", "400000 segments"),
        ("bigraw group 100 41943040", "params-json is"),
        ("manycq group 100 400000", "400000 segments"),
        ("manycq group 100 201", "201 segments"),
        ("manynodes group 100 101", "101 forward nodes"),
    ];
    for (i, (line, why)) in cases.iter().enumerate() {
        let answer = command(&mut peer, 10 + i as i64, line);
        assert!(
            answer.contains("err ErrorCode::TooLarge 1414 too large: "),
            "{line}: {answer}"
        );
        assert!(answer.contains(why), "{line}: {answer}");
    }
    // Within the limits, the same commands go out.
    assert_eq!(command(&mut peer, 30, "bigtext group 100 60000"), "bigtext ok");
    assert_eq!(command(&mut peer, 31, "manycq group 100 3"), "manycq ok");
    // The canary answers.
    peer.send_event(&group_event(32, "ping still"));
    assert_eq!(peer.expect_reply("pong"), "pong still");
    // Nothing oversized reached the implementation: every frame is small, and the only big one is the 60 kB text.
    let sizes: Vec<(String, usize)> = peer
        .actions()
        .iter()
        .map(|r| (r.action.clone(), r.params.to_string().len()))
        .collect();
    assert!(sizes.iter().all(|(_, n)| *n < 70_000), "{sizes:?}");
    assert_eq!(sizes.iter().filter(|(_, n)| *n > 50_000).count(), 1, "{sizes:?}");
    // Each refusal is in the audit log.
    let refused = audit_outcomes(&setup, "too-large", cases.len());
    assert_eq!(refused.len(), cases.len(), "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|e| e["plugin"] == "attacker" && e["retcode"] == 1414),
        "{refused:?}"
    );
}

#[test]
fn size_limits_are_configurable_per_plugin() {
    let mut peer = Peer::new();
    let config = "[plugins.attacker]\ngrants = [\"send\"]\nsizes = { max_segments = 5, max_message_kb = 1 }\n";
    let (_setup, _coral) = forward_setup_with(&peer, &["attacker"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    assert_eq!(command(&mut peer, 40, "manysegs group 100 5"), "manysegs ok");
    let answer = command(&mut peer, 41, "manysegs group 100 6");
    assert!(
        answer.contains("TooLarge 1414 too large: 6 segments; at most 5 per call (`max_segments`)"),
        "{answer}"
    );
    // The group id ("100") counts as text too: 1021 + 3 fits, 1022 + 3 does not.
    assert_eq!(command(&mut peer, 42, "bigtext group 100 1021"), "bigtext ok");
    let answer = command(&mut peer, 43, "bigtext group 100 1022");
    assert!(answer.contains("1025 bytes of text; at most 1024"), "{answer}");
}
