//! Containment of resource abuse in the audit log: a plugin refused 100 000 times leaves a few coalesced lines
//! (`repeated: N`) within the configured size cap, `coral audit` reports the counts, and a plugin beside it still
//! answers.

use crate::onebot::{forward_setup_with, private_message};
use crate::support::coral::Setup;
use crate::support::onebot_peer::{Peer, SELF_ID, message_text};
use serde_json::{Value, json};
use std::process::Command;

/// A group message from user 1000002 in group 100 with id `message_id`.
fn group_event(message_id: i64, text: &str) -> Value {
    json!({
        "time": 1718000000, "self_id": SELF_ID.parse::<i64>().unwrap(), "post_type": "message",
        "message_type": "group", "sub_type": "normal", "message_id": message_id, "group_id": 100,
        "user_id": 1000002, "message": [{"type": "text", "data": {"text": text}}], "raw_message": text,
        "font": 0, "anonymous": null,
        "sender": {"user_id": 1000002, "nickname": "m", "card": "", "role": "member"}
    })
}

/// The audit files (`audit.jsonl` and its rotations): their total size and their lines, oldest first.
fn audit_files(setup: &Setup) -> (u64, Vec<Value>) {
    let data = setup.path().join("data");
    let mut rotated: Vec<(usize, std::path::PathBuf)> = std::fs::read_dir(&data)
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let n = name.strip_prefix("audit.jsonl")?;
            Some((
                if n.is_empty() {
                    0
                } else {
                    n.strip_prefix('.')?.parse().ok()?
                },
                p,
            ))
        })
        .collect();
    rotated.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    let mut size = 0;
    let mut lines = Vec::new();
    for (_, path) in rotated {
        let text = std::fs::read_to_string(&path).unwrap();
        size += text.len() as u64;
        lines.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
    }
    (size, lines)
}

fn coral_audit(setup: &Setup, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_coral"))
        .arg("audit")
        .args(args)
        .arg("--config")
        .arg(setup.config_path())
        .output()
        .expect("running coral audit");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_flood_of_refusals_is_coalesced_within_the_audit_cap_while_others_answer() {
    let mut peer = Peer::new();
    // No grants; enough host calls and time for 10 000 calls in one event. A 1 MiB cap, two files at most.
    let config = "[host]\naudit_max_mb = 1\naudit_files = 2\n\
                  [plugins.attacker]\nmax_host_calls = 20000\ncpu_budget_ms = 60000\ncall_timeout_ms = 120000\n";
    let (setup, _coral) = forward_setup_with(&peer, &["attacker", "ping"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    for round in 0..10 {
        // 10 000 @all messages each round, every one refused; `ping` is asked while the flood runs.
        peer.send_event(&group_event(1 + round, "alls 10000 100"));
        peer.send_event(&private_message(&format!("ping {round}"), 100 + round));
        let mut replies: Vec<String> = (0..2)
            .map(|_| {
                let found = peer.expect_action("the flood's and ping's answers", |r| {
                    let text = message_text(&r.params["message"]);
                    r.action.starts_with("send_") && (text.starts_with("alls ") || text == format!("pong {round}"))
                });
                message_text(&found.params["message"])
            })
            .collect();
        replies.sort();
        assert_eq!(replies, ["alls ok=0 limited=0 other=10000", &format!("pong {round}")]);
    }
    // The answer left after the plugin's counts were written: the log holds every refusal, in a few lines.
    let (size, lines) = audit_files(&setup);
    assert!(size <= 2 * 1024 * 1024, "{size} bytes");
    let refusals: Vec<&Value> = lines
        .iter()
        .filter(|e| e["plugin"] == "attacker" && e["outcome"] == "denied")
        .collect();
    let stands_for: u64 = refusals.iter().map(|e| e["repeated"].as_u64().unwrap_or(1)).sum();
    assert_eq!(stands_for, 100_000, "{} lines", refusals.len());
    assert!(refusals.len() < 1000, "{} lines for 100 000 refusals", refusals.len());
    assert!(refusals.iter().any(|e| e["repeated"].as_u64() > Some(1)));
    // `coral audit` shows the counts, and its filters still apply.
    let out = coral_audit(
        &setup,
        &["--plugin", "attacker", "--action", "denied", "--limit", "100000"],
    );
    assert!(out.contains(" (×"), "{out}");
    assert!(out.contains("standing for 100000 events"), "{out}");
    let out = coral_audit(&setup, &["--plugin", "ping"]);
    assert!(out.contains("\n0 of "), "nothing of ping's: {out}");
}
