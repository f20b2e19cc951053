//! The attacker's view: a hostile plugin (`tests/plugins/attacker`) tries every way around grants, scopes, rate
//! limits and the audit log, and the fake OneBot implementation records every frame it receives. Each test asserts
//! that the forbidden frame never arrived, and that the plugin got the refusal and the audit log has the entry.

use crate::onebot::forward_setup_with;
use crate::support::coral::{Coral, Setup};
use crate::support::onebot_peer::{Peer, Recorded, Reply, SELF_ID, message_text};
use serde_json::{Value, json};
use std::process::Command;

/// A group message from user 1000002 in `group` with id `message_id`, on bot `self_id`.
fn group_event(self_id: &str, group: i64, message_id: i64, text: &str) -> Value {
    json!({
        "time": 1718000000, "self_id": self_id.parse::<i64>().unwrap(), "post_type": "message",
        "message_type": "group", "sub_type": "normal", "message_id": message_id, "group_id": group,
        "user_id": 1000002, "message": [{"type": "text", "data": {"text": text}}], "raw_message": text,
        "font": 0, "anonymous": null,
        "sender": {"user_id": 1000002, "nickname": "m", "card": "", "role": "member"}
    })
}

/// Coral with the attacker (granted `grants`, more `[plugins.attacker]` lines in `extra`) on one forward peer.
fn attack(peer: &Peer, plugin_config: &str) -> (Setup, Coral) {
    let config = format!("[plugins.attacker]\n{plugin_config}\n");
    let setup = forward_setup_with(peer, &["attacker"], "self_id = \"10001\"\n", &config);
    peer.expect_handshake();
    setup
}

/// Send a command as a group message in group 100 and wait for the attacker's answer to it.
fn command(peer: &mut Peer, message_id: i64, text: &str) -> String {
    let name = text.split(' ').next().unwrap();
    peer.send_event(&group_event(SELF_ID, 100, message_id, text));
    peer.expect_reply(&format!("{name} "))
}

/// Whether a value holds an @all segment anywhere (any case, any nesting, any key).
fn has_at_all(v: &Value) -> bool {
    match v {
        Value::Object(map) => {
            let is_at = map
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("at"));
            let all = map.get("data").and_then(Value::as_object).is_some_and(|d| {
                d.values()
                    .any(|x| x.as_str().is_some_and(|s| s.trim().eq_ignore_ascii_case("all")))
            });
            (is_at && all) || map.values().any(has_at_all)
        }
        Value::Array(items) => items.iter().any(has_at_all),
        // A CQ string `message` is caught by the tests' `is_array` checks; text inside an array is only text.
        _ => false,
    }
}

/// Whether a value names anything that looks like a local path or a URL to fetch, anywhere.
fn has_path_or_url(v: &Value) -> bool {
    match v {
        Value::Object(map) => map.values().any(has_path_or_url),
        Value::Array(items) => items.iter().any(has_path_or_url),
        Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            s.starts_with('/')
                || s.starts_with("file:")
                || s.starts_with("c:")
                || s.starts_with("../")
                || s.starts_with("~/")
                || s.starts_with("http")
        }
        _ => false,
    }
}

/// Every frame but the attacker's own answers (a `send_msg` into group 100 whose text starts with a command name).
fn frames_besides_answers(peer: &Peer) -> Vec<Recorded> {
    peer.actions()
        .into_iter()
        .filter(|a| a.action != "get_login_info")
        .filter(|a| {
            let answer = a.action == "send_msg"
                && a.params["group_id"] == 100
                && a.params["message"].as_array().is_some_and(|m| m.len() == 1)
                && message_text(&a.params["message"])
                    .split(' ')
                    .nth(1)
                    .is_some_and(|w| w == "ok" || w == "err" || w.contains('='));
            !answer
        })
        .collect()
}

fn audit(setup: &Setup) -> Vec<Value> {
    std::fs::read_to_string(setup.path().join("data/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// How many refusals the audit entries matching `pred` stand for (identical refusals within a second are one line
/// and a `repeated` count).
fn stands_for(entries: &[Value], pred: impl Fn(&Value) -> bool) -> u64 {
    entries
        .iter()
        .filter(|e| pred(e))
        .map(|e| e["repeated"].as_u64().unwrap_or(1))
        .sum()
}

fn denied_102(reply: &str, capability: &str) {
    assert!(
        reply.contains("PermissionDenied 102 ") && reply.contains(&format!("`{capability}`")),
        "expected a denial of `{capability}`: {reply}"
    );
}

#[test]
fn with_no_grants_at_all_via_send_options_is_refused_and_audited() {
    let mut peer = Peer::new();
    let (setup, _coral) = attack(&peer, "");
    // Into the event's own chat, where a plain reply needs no grant.
    denied_102(&command(&mut peer, 1, "atsender group 100 all"), "at-all");
    denied_102(&command(&mut peer, 2, "atsender group 100 ALL"), "at-all");
    let forbidden: Vec<_> = peer.actions().into_iter().filter(|a| has_at_all(&a.params)).collect();
    assert!(forbidden.is_empty(), "an @all reached the platform: {forbidden:#?}");
    let entries = audit(&setup);
    assert_eq!(
        stands_for(&entries, |e| e["outcome"] == "denied"
            && e["capability"] == "at-all"
            && e["retcode"] == 102),
        2,
        "{entries:#?}"
    );
}

#[test]
fn with_no_grants_at_all_via_a_quick_operation_is_refused() {
    let peer = Peer::new();
    let setup = Setup::new(
        &["attacker"],
        "[[onebot]]\ntransport = \"http\"\nlisten = \"127.0.0.1:0\"\n",
    );
    let coral = setup.start();
    let url = coral.log_value("http events listening on ");
    let (status, body) = peer.post_event_full(&url, &group_event(SELF_ID, 100, 1, "atsender group 100 all"), None);
    assert_eq!(status, 200, "{body}");
    let op: Value = serde_json::from_str(&body).unwrap();
    assert!(!has_at_all(&op), "the quick operation carries an @all: {body}");
    assert_ne!(op["at_sender"], true, "{body}");
    denied_102(&message_text(&op["reply"]), "at-all");
    assert!(
        audit(&setup)
            .iter()
            .any(|e| e["outcome"] == "denied" && e["capability"] == "at-all")
    );
}

#[test]
fn with_no_grants_other_segments_carrying_at_all_files_paths_or_urls_are_refused() {
    let mut peer = Peer::new();
    let (_setup, _coral) = attack(&peer, "");
    let cases = [
        (r#"at {"qq":"all"}"#, "at-all"),
        (r#"AT {"qq":" All "}"#, "at-all"),
        (r#"image {"file":"/etc/passwd"}"#, "local-file"),
        (r#"image {"file":"cat.jpg","url":"file:///etc/shadow"}"#, "local-file"),
        (r#"file {"file":"C:/Windows/win.ini"}"#, "local-file"),
        (r#"record {"file":"c:\\x.amr"}"#, "local-file"),
        (r#"video {"file":"../../secret.mp4"}"#, "local-file"),
        (r#"mface {"path":"~/x.gif"}"#, "local-file"),
        (r#"image {"file":"FILE:///etc/passwd"}"#, "local-file"),
        (
            r#"image {"file":"http://169.254.169.254/latest/meta-data"}"#,
            "media-url",
        ),
        (r#"node {"content":[{"type":"at","data":{"qq":"all"}}]}"#, "at-all"),
        (r#"node {"content":"[CQ:image,file=file:///etc/passwd]"}"#, "local-file"),
    ];
    for (i, (segment, capability)) in cases.iter().enumerate() {
        let reply = command(&mut peer, 10 + i as i64, &format!("seg group 100 {segment}"));
        denied_102(&reply, capability);
    }
    // Also inside a custom forward node built with the typed API.
    let reply = command(&mut peer, 40, r#"fwd group 100 [{"type":"at","data":{"qq":"all"}}]"#);
    denied_102(&reply, "at-all");
    let frames = frames_besides_answers(&peer);
    assert!(frames.is_empty(), "forbidden frames reached the platform: {frames:#?}");
    for a in peer.actions() {
        assert!(!has_at_all(&a.params) && !has_path_or_url(&a.params), "{a:#?}");
    }
}

#[test]
fn lenient_cq_strings_never_reach_the_platform_as_at_all() {
    let mut peer = Peer::new();
    let (_setup, _coral) = attack(&peer, "grants = [\"send\", \"call-api:send_group_msg\"]");
    for (i, cq) in [
        "[CQ:at,qq=all]",
        "[CQ:AT,QQ=ALL]",
        "[CQ:at,qq=all,a=[]",
        "x[CQ:at,qq=all,a=[]]",
        "[CQ:at,qq=all",
        "[CQ:at,qq= all ]",
        "&#91;CQ:at,qq=all&#93;",
        "[CQ:image,file=file:///etc/passwd]",
    ]
    .iter()
    .enumerate()
    {
        let params = json!({"group_id": 100, "message": cq}).to_string();
        let reply = command(&mut peer, 50 + i as i64, &format!("raw send_group_msg {params}"));
        assert!(
            reply.starts_with("raw ok") || reply.contains("PermissionDenied 102"),
            "{cq}: {reply}"
        );
    }
    // Whatever went out went as arrays the implementation does not re-parse, and none holds an @all or a path.
    let sends: Vec<_> = frames_besides_answers(&peer);
    assert!(!sends.is_empty(), "the harmless forms are sent (as text)");
    for a in &sends {
        assert!(
            a.params["message"].is_array(),
            "a CQ string reached the platform: {a:#?}"
        );
        assert!(!has_at_all(&a.params), "{a:#?}");
        assert!(
            a.params["message"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["type"] == "text"),
            "{a:#?}"
        );
    }
}

#[test]
fn every_alias_of_a_kick_needs_the_kick_grant() {
    let mut peer = Peer::new();
    // Granted every spelling as a raw call (the plugin asked for them all), but never `kick` itself.
    let grants = "grants = [\"call-api:set_group_kick\", \"call-api:SET_GROUP_KICK\", \"call-api:.set_group_kick\", \
                  \"call-api:set_group_kick_async\", \"call-api:Set_Group_Kick_Async_Rate_Limited\"]";
    let (setup, _coral) = attack(&peer, grants);
    let aliases = [
        "set_group_kick",
        "SET_GROUP_KICK",
        ".set_group_kick",
        "..set_group_kick",
        "set_group_kick_async",
        "set_group_kick_rate_limited",
        "Set_Group_Kick_Async_Rate_Limited",
        "set_group_kick_rate_limited_async_async",
    ];
    for (i, alias) in aliases.iter().enumerate() {
        let reply = command(
            &mut peer,
            60 + i as i64,
            &format!(r#"raw {alias} {{"group_id":100,"user_id":42}}"#),
        );
        denied_102(&reply, "kick");
    }
    let kicks: Vec<_> = peer
        .actions()
        .into_iter()
        .filter(|a| a.action.to_ascii_lowercase().contains("kick"))
        .collect();
    assert!(kicks.is_empty(), "{kicks:#?}");
    assert_eq!(
        stands_for(&audit(&setup), |e| e["outcome"] == "denied"
            && e["capability"] == "kick"),
        aliases.len() as u64
    );
}

#[test]
fn a_raw_recall_with_a_forged_group_id_is_judged_by_where_the_message_is() {
    let mut peer = Peer::new();
    let config = "grants = [\"recall\", \"call-api:delete_msg\"]\ngroups = [100]";
    let (_setup, _coral) = attack(&peer, config);
    // Message 901 was seen in group 200, outside the scope.
    peer.send_event(&group_event(SELF_ID, 200, 901, "hello from 200"));
    let reply = command(&mut peer, 2, r#"raw delete_msg {"message_id":901,"group_id":100}"#);
    denied_102(&reply, "recall");
    // A message seen in group 100 may be recalled.
    let reply = command(&mut peer, 3, r#"raw delete_msg {"message_id":3}"#);
    assert!(reply.starts_with("raw ok"), "{reply}");
    let recalls: Vec<_> = peer
        .actions()
        .into_iter()
        .filter(|a| a.action == "delete_msg")
        .collect();
    assert_eq!(recalls.len(), 1, "{recalls:#?}");
    assert_eq!(recalls[0].params["message_id"], 3);
}

#[test]
fn a_raw_private_send_with_a_forged_group_id_is_a_private_send() {
    let mut peer = Peer::new();
    let config = "grants = [\"send\", \"call-api:send_private_msg\", \"call-api:send_msg\"]\ngroups = [100]";
    let (_setup, _coral) = attack(&peer, config);
    let reply = command(
        &mut peer,
        1,
        r#"raw send_private_msg {"user_id":555,"group_id":100,"message":"hi"}"#,
    );
    denied_102(&reply, "send");
    // send_msg naming both ids without saying which could go either way: refused.
    let reply = command(
        &mut peer,
        2,
        r#"raw send_msg {"user_id":555,"group_id":100,"message":"hi"}"#,
    );
    assert!(reply.contains("InvalidArgument 100 "), "{reply}");
    let frames = frames_besides_answers(&peer);
    assert!(frames.is_empty(), "{frames:#?}");
}

#[test]
fn a_users_scope_restricts_who_may_be_kicked_in_a_listed_group() {
    let mut peer = Peer::new();
    let config = "grants = [\"kick\", \"send\"]\nscopes.kick = { groups = [100], users = [42] }";
    let (_setup, _coral) = attack(&peer, config);
    assert!(command(&mut peer, 1, "kick 100 42").starts_with("kick ok"));
    denied_102(&command(&mut peer, 2, "kick 100 43"), "kick");
    denied_102(&command(&mut peer, 3, "kick 200 42"), "kick");
    let kicks: Vec<_> = peer
        .actions()
        .into_iter()
        .filter(|a| a.action == "set_group_kick")
        .collect();
    assert_eq!(kicks.len(), 1);
    assert_eq!(kicks[0].params["user_id"], 42);
}

#[test]
fn a_message_id_reused_across_two_bots_is_judged_per_bot() {
    let mut peer_a = Peer::new();
    let mut peer_b = Peer::new();
    let (url_a, url_b) = (peer_a.serve_ws(), peer_b.serve_ws());
    let config = format!(
        "[plugins.attacker]\ngrants = [\"recall\"]\ngroups = [100]\n\
         [[onebot]]\ntransport = \"ws\"\nurl = \"{url_a}\"\nself_id = \"10001\"\n\
         [[onebot]]\ntransport = \"ws\"\nurl = \"{url_b}\"\nself_id = \"10002\"\n"
    );
    let setup = Setup::new(&["attacker"], &config);
    let _coral = setup.start();
    peer_a.expect_handshake();
    peer_b.expect_handshake();
    // Bot B delivers message 555 in group 200 (outside the scope); then bot A has its own message 555 in group 100.
    // Each is a command the attacker answers (on the bot that delivered it), so both are seen before going on.
    peer_b.send_event(&group_event("10002", 200, 555, "kick 200 1"));
    peer_b.expect_reply("kick ");
    peer_a.send_event(&group_event("10001", 100, 555, "kick 100 1"));
    peer_a.expect_reply("kick ");
    // Recalling 555 on bot B means B's message, in group 200: refused.
    peer_a.send_event(&group_event("10001", 100, 1, "recallon 10002 555"));
    denied_102(&peer_a.expect_reply("recallon "), "recall");
    // On bot A it is A's message, in group 100: allowed, and it goes to A only.
    peer_a.send_event(&group_event("10001", 100, 2, "recallon 10001 555"));
    assert!(peer_a.expect_reply("recallon ").starts_with("recallon ok"));
    assert!(
        peer_b.actions().iter().all(|a| a.action != "delete_msg"),
        "{:#?}",
        peer_b.actions()
    );
    assert_eq!(peer_a.actions().iter().filter(|a| a.action == "delete_msg").count(), 1);
}

#[test]
fn a_free_reply_goes_only_to_the_bot_that_delivered_the_event() {
    let mut peer_a = Peer::new();
    let peer_b = Peer::new();
    let (url_a, url_b) = (peer_a.serve_ws(), peer_b.serve_ws());
    let config = format!(
        "[[onebot]]\ntransport = \"ws\"\nurl = \"{url_a}\"\nself_id = \"10001\"\n\
         [[onebot]]\ntransport = \"ws\"\nurl = \"{url_b}\"\nself_id = \"10002\"\n"
    );
    let setup = Setup::new(&["attacker"], &config);
    let _coral = setup.start();
    peer_a.expect_handshake();
    peer_b.expect_handshake();
    // Same group id, other bot: that is another account speaking, which needs `send`.
    peer_a.send_event(&group_event("10001", 100, 1, "sendon 10002 group 100 hi"));
    denied_102(&peer_a.expect_reply("sendon "), "send");
    assert!(
        peer_b.actions().iter().all(|a| !a.action.starts_with("send")),
        "{:#?}",
        peer_b.actions()
    );
}

#[test]
fn references_may_only_point_into_the_chat_sent_to() {
    let mut peer = Peer::new();
    let (_setup, _coral) = attack(&peer, "grants = [\"send\"]");
    peer.send_event(&group_event(SELF_ID, 200, 777, "a secret in group 200"));
    // Quoting or forwarding message 777 (from group 200) into group 100 leaks it: refused.
    for (i, attempt) in [
        "quote group 100 777",
        "node group 100 777",
        r#"seg group 100 reply {"id":"777"}"#,
    ]
    .iter()
    .enumerate()
    {
        let reply = command(&mut peer, 1 + i as i64, attempt);
        assert!(
            reply.contains("PermissionDenied 102") && reply.contains("message 777 was not seen in group 100"),
            "{attempt}: {reply}"
        );
    }
    // Quoting a message of group 100 in group 100 is fine.
    assert!(command(&mut peer, 5, "quote group 100 5").starts_with("quote ok"));
    let leaks: Vec<_> = frames_besides_answers(&peer)
        .into_iter()
        .filter(|a| a.params.to_string().contains("777"))
        .collect();
    assert!(leaks.is_empty(), "{leaks:#?}");
}

#[test]
fn raw_kicks_are_charged_to_the_typed_kick_rate() {
    let mut peer = Peer::new();
    let config = "grants = [\"kick\", \"call-api:set_group_kick\"]\nrate = { kick = \"3/hour\" }";
    let (_setup, _coral) = attack(&peer, config);
    assert_eq!(
        command(&mut peer, 1, "rawkicks 20 100"),
        "rawkicks ok=3 limited=17 other=0"
    );
    // The typed door is closed too: the bucket is one.
    let reply = command(&mut peer, 2, "kick 100 42");
    assert!(reply.contains("RateLimited 1429 "), "{reply}");
    let kicks = peer
        .actions()
        .into_iter()
        .filter(|a| a.action.to_ascii_lowercase().contains("kick"))
        .count();
    assert_eq!(kicks, 3);
}

#[test]
fn at_all_is_charged_and_audited_when_used() {
    let mut peer = Peer::new();
    let config = "grants = [\"send\", \"at-all\"]\nrate = { at-all = \"2/hour\" }";
    let (setup, _coral) = attack(&peer, config);
    assert_eq!(command(&mut peer, 1, "alls 10 100"), "alls ok=2 limited=8 other=0");
    let with_all = peer.actions().into_iter().filter(|a| has_at_all(&a.params)).count();
    assert_eq!(with_all, 2);
    let entries = audit(&setup);
    let ok: Vec<_> = entries
        .iter()
        .filter(|e| e["outcome"] == "ok" && e["capability"] == "send+at-all")
        .collect();
    assert_eq!(ok.len(), 2, "{entries:#?}");
    let limited = stands_for(&entries, |e| {
        e["outcome"] == "rate-limited" && e["capability"] == "at-all"
    });
    assert_eq!(limited, 8, "{entries:#?}");
}

#[test]
fn a_call_the_platform_never_answers_is_audited_before_and_as_unknown_after() {
    let mut peer = Peer::new();
    peer.set_reply("set_group_kick", Reply::Never);
    let url = peer.serve_ws();
    let config = format!(
        "[plugins.attacker]\ngrants = [\"kick\"]\n\
         [[onebot]]\ntransport = \"ws\"\nurl = \"{url}\"\nself_id = \"10001\"\ntimeout_ms = 1000\n"
    );
    let setup = Setup::new(&["attacker"], &config);
    let _coral = setup.start();
    peer.expect_handshake();
    let reply = command(&mut peer, 1, "kick 100 42");
    assert!(reply.contains("Timeout 202 "), "{reply}");
    let kicks: Vec<Value> = audit(&setup)
        .into_iter()
        .filter(|e| e["action"] == "set_group_kick")
        .collect();
    let outcomes: Vec<&str> = kicks.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["pending", "unknown"], "{kicks:#?}");
    assert_eq!(kicks[0]["call"], kicks[1]["call"]);
    // The frame did leave: the entry was there first.
    assert_eq!(
        peer.actions().iter().filter(|a| a.action == "set_group_kick").count(),
        1
    );
}

#[test]
fn a_plugin_stopped_mid_call_leaves_an_unknown_outcome() {
    let mut peer = Peer::new();
    peer.set_reply("set_group_kick", Reply::Never);
    let url = peer.serve_ws();
    // Waiting on the platform does not count against `call_timeout_ms`: the per-event hard cap stops it.
    let config = format!(
        "[plugins.attacker]\ngrants = [\"kick\"]\ncall_timeout_ms = 1000\nmax_event_ms = 1000\n\
         [[onebot]]\ntransport = \"ws\"\nurl = \"{url}\"\nself_id = \"10001\"\n"
    );
    let setup = Setup::new(&["attacker"], &config);
    let coral = setup.start();
    peer.expect_handshake();
    peer.send_event(&group_event(SELF_ID, 100, 1, "kick 100 42"));
    peer.expect_action("the kick", |a| a.action == "set_group_kick");
    coral.expect_log("exceeded its wall-clock limit");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let outcomes: Vec<String> = audit(&setup)
            .into_iter()
            .filter(|e| e["action"] == "set_group_kick")
            .map(|e| e["outcome"].as_str().unwrap().to_string())
            .collect();
        if outcomes == ["pending", "unknown"] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "audit outcomes: {outcomes:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Run a `coral` subcommand against the setup's config; returns stdout and stderr.
fn run(setup: &Setup, args: &[&str]) -> (String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_coral"))
        .args(args)
        .arg("--config")
        .arg(setup.config_path())
        .output()
        .expect("running coral");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn control_bytes_and_newlines_in_an_action_name_are_shown_escaped() {
    let mut peer = Peer::new();
    let (setup, coral) = attack(&peer, "grants = [\"call-api:get_group_notice\"]");
    let evil = "get\u{1b}[2J\u{1b}[31mFAKE\nforged-line\r\u{7}";
    let reply = command(&mut peer, 1, &format!("raw {evil} {{}}"));
    assert!(reply.contains("InvalidArgument 100 "), "{reply}");
    assert!(frames_besides_answers(&peer).is_empty());
    // The audit log keeps it (JSON-escaped) …
    assert!(
        audit(&setup)
            .iter()
            .any(|e| e["action"] == evil && e["outcome"] == "invalid")
    );
    // … and `coral audit` and `coral status` show it escaped.
    let (audit_out, _) = run(&setup, &["audit"]);
    let (status_out, status_err) = run(&setup, &["status"]);
    assert!(status_out.contains("get\\u{1b}[2J"), "{status_out}{status_err}");
    for (what, out) in [("coral audit", &audit_out), ("coral status", &status_out)] {
        assert!(
            out.contains("get\\u{1b}[2J\\u{1b}[31mFAKE\\nforged-line\\r\\u{7}"),
            "{what}: {out}"
        );
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains('\r'),
            "{what}: {out:?}"
        );
        assert!(!out.lines().any(|l| l.starts_with("forged-line")), "{what}: {out}");
    }
    // The host's own log shows no raw control byte either.
    let log = coral.stderr();
    assert!(!log.contains('\u{1b}') && !log.contains('\u{7}'), "{log:?}");
    assert!(!log.lines().any(|l| l.starts_with("forged-line")), "{log}");
}

#[test]
fn raw_forwards_and_uploads_need_send_and_their_content_grants() {
    let mut peer = Peer::new();
    let grants = "grants = [\"call-api:send_group_forward_msg\", \"call-api:upload_group_file\", \
                  \"call-api:.handle_quick_operation\"]";
    let (_setup, _coral) = attack(&peer, grants);
    // Without `send`, a raw forward or upload into another chat is refused even with its call-api grant.
    let forward = r#"raw send_group_forward_msg {"group_id":200,"messages":[{"type":"node","data":{"user_id":"1","nickname":"n","content":"hi"}}]}"#;
    denied_102(&command(&mut peer, 1, forward), "send");
    denied_102(
        &command(
            &mut peer,
            2,
            r#"raw upload_group_file {"group_id":200,"file":"x.txt","name":"x.txt"}"#,
        ),
        "send",
    );
    // A quick operation through the API is each typed action it carries.
    let quick = r#"raw .handle_quick_operation {"context":{"post_type":"message","message_type":"group","group_id":100,"user_id":5,"message_id":1},"operation":{"kick":true}}"#;
    denied_102(&command(&mut peer, 3, quick), "kick");
    let frames = frames_besides_answers(&peer);
    assert!(frames.is_empty(), "{frames:#?}");
}

#[test]
fn raw_forwards_and_uploads_are_judged_on_every_parameter() {
    let mut peer = Peer::new();
    let grants = "grants = [\"send\", \"call-api:send_group_forward_msg\", \"call-api:upload_group_file\"]";
    let (_setup, _coral) = attack(&peer, grants);
    let forward = r#"raw send_group_forward_msg {"group_id":100,"messages":[{"type":"node","data":{"user_id":"1","nickname":"n","content":"[CQ:at,qq=all]"}}]}"#;
    denied_102(&command(&mut peer, 1, forward), "at-all");
    let upload =
        r#"raw upload_group_file {"group_id":100,"file":"/root/.config/QQ/nt_qq/global/nt_db/nt_msg.db","name":"x"}"#;
    denied_102(&command(&mut peer, 2, upload), "local-file");
    // A forward of plain text goes out, as arrays.
    let plain = r#"raw send_group_forward_msg {"group_id":100,"messages":[{"type":"node","data":{"user_id":"1","nickname":"n","content":"[CQ:face,id=1] hi"}}]}"#;
    assert!(command(&mut peer, 3, plain).starts_with("raw ok"));
    let frames = frames_besides_answers(&peer);
    assert_eq!(frames.len(), 1, "{frames:#?}");
    assert_eq!(frames[0].action, "send_group_forward_msg");
    assert!(
        frames[0].params["messages"][0]["data"]["content"].is_array(),
        "{:#?}",
        frames[0]
    );
}
