//! The JavaScript plugin (componentize-qjs) in the real `coral`: `example-plugins/memo-js` on the console and over
//! the fake OneBot peer, and `coral new --lang js` built and loaded as generated.

use crate::onebot::forward_setup_with;
use crate::support::coral::Setup;
use crate::support::onebot_peer::{Peer, fixture, message_text};
use crate::support::plugins::repo_root;
use serde_json::{Value, json};
use std::process::Command;

#[test]
fn the_js_plugin_keeps_segments_and_sees_denials_as_exceptions() {
    let setup = Setup::new(&["memo"], "[console]\n");
    let mut coral = setup.start();
    coral.send("ping hi");
    coral.expect("[private 10000] [reply #1] pong hi (javascript)");
    // Typed CQ codes become face, image and @ segments; the memo keeps every one of them.
    coral.send("remember cat look [CQ:face,id=1] at [CQ:image,file=cat.jpg] and [CQ:at,qq=42]");
    coral.expect("[private 10000] [reply #3] remembered cat (6 segments)");
    coral.send(":group 1000001");
    coral.send("recall cat");
    coral.expect("[group 1000001] [reply #5] @10000 look [face:1] at [image:cat.jpg] and @42");
    coral.send("memos");
    coral.expect("[group 1000001] [reply #7] @10000 memos: cat");
    // No `send` grant: the host's error value reaches JavaScript as an exception carrying the WIT error record.
    coral.send("recall cat to 1000002");
    coral.expect("[group 1000001] [reply #9] @10000 cannot send there: permission-denied (102)");
    coral.send("forget cat");
    coral.expect("[group 1000001] [reply #11] @10000 forgot cat");
    coral.send("recall cat");
    coral.expect("[group 1000001] [reply #13] @10000 no memo named cat");
}

/// A group message in group 100100 from member 1000004, as array segments.
fn group_message(message_id: i64, message: Value) -> Value {
    json!({
        "time": 1718000000, "self_id": 10001, "post_type": "message", "message_type": "group",
        "sub_type": "normal", "message_id": message_id, "group_id": 100100, "user_id": 1000004,
        "message": message, "raw_message": "", "font": 0, "anonymous": null,
        "sender": {"user_id": 1000004, "nickname": "群友甲", "card": "", "role": "member"}
    })
}

fn text(t: &str) -> Value {
    json!([{"type": "text", "data": {"text": t}}])
}

#[test]
fn the_js_plugin_over_onebot_replays_segments_sends_with_its_grant_and_forgets_recalled_memos() {
    let mut peer = Peer::new();
    let config = "[plugins.memo]\ngrants = [\"send\"]\nscopes.send = { groups = [100200] }\n";
    let (_setup, _coral) = forward_setup_with(&peer, &["memo"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    // The fixture's group message (a quote, an @bot, text, a face, a share card), turned into a `remember`.
    let mut event = fixture("events/message.group.normal.array.json");
    let original = event["message"][2]["data"]["text"].as_str().unwrap().to_string();
    event["message"][2]["data"]["text"] = format!(" remember meeting{original}").into();
    peer.send_event(&event);
    assert_eq!(peer.expect_reply("remembered"), " remembered meeting (3 segments)");

    peer.send_event(&group_message(11, text("recall meeting")));
    let replay = peer.expect_action("the replay", |r| {
        r.action.starts_with("send_") && message_text(&r.params["message"]).contains("开会")
    });
    assert_eq!(replay.params["group_id"], 100100);
    let segments = replay.params["message"].as_array().unwrap();
    let kinds: Vec<&str> = segments.iter().map(|s| s["type"].as_str().unwrap()).collect();
    // Quoting the asker, @-ing them, then the memo: text, face, share.
    assert_eq!(kinds, ["reply", "at", "text", "text", "face", "share"], "{segments:?}");
    assert_eq!(segments[0]["data"]["id"], "11");
    assert_eq!(segments[1]["data"]["qq"], "1000004");
    assert_eq!(segments[4]["data"]["id"], "14");
    assert_eq!(segments[5]["data"]["url"], event["message"][4]["data"]["url"]);

    // With `send` granted for group 100200, the memo goes there; another group is refused.
    peer.send_event(&group_message(12, text("recall meeting to 100200")));
    let sent = peer.expect_action("the send to 100200", |r| r.action == "send_group_msg");
    assert_eq!(sent.params["group_id"], 100200);
    assert_eq!(sent.params["message"][1]["data"]["id"], "14");
    assert!(
        peer.expect_reply("sent meeting")
            .ends_with("sent meeting to group 100200")
    );
    peer.send_event(&group_message(13, text("recall meeting to 100300")));
    assert!(
        peer.expect_reply("cannot send there")
            .ends_with("cannot send there: permission-denied (102)")
    );

    // The member recalls the message that created the memo: the memo is dropped.
    let recall = fixture("events/notice.group_recall.json");
    assert_eq!(recall["message_id"], event["message_id"]);
    peer.send_event(&recall);
    peer.send_event(&group_message(14, text("memos")));
    assert!(peer.expect_reply("memos").ends_with("no memos"));
}

#[test]
fn the_js_plugin_approves_friend_requests_with_the_passphrase() {
    let mut peer = Peer::new();
    let request = fixture("events/request.friend.json");
    let config = format!(
        "[plugins.memo]\ngrants = [\"handle-request\"]\n[plugins.memo.config]\npassphrase = {}\n",
        request["comment"]
    );
    let (_setup, _coral) = forward_setup_with(&peer, &["memo"], "self_id = \"10001\"\n", &config);
    peer.expect_handshake();
    // A request with another comment is left alone; the one with the passphrase is approved.
    let mut stranger = request.clone();
    stranger["comment"] = "let me in".into();
    stranger["flag"] = "stranger-flag".into();
    peer.send_event(&stranger);
    peer.send_event(&request);
    let approval = peer.expect_action("the approval", |r| r.action == "set_friend_add_request");
    assert_eq!(approval.params["flag"], request["flag"]);
    assert_eq!(approval.params["approve"], true);
    let approvals = peer
        .actions()
        .iter()
        .filter(|r| r.action == "set_friend_add_request")
        .count();
    assert_eq!(approvals, 1, "only the passphrase is approved");
}

fn run(what: &str, command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn coral_new_js_builds_and_answers_as_generated() {
    let work = tempfile::tempdir().unwrap();
    run(
        "coral new",
        Command::new(env!("CARGO_BIN_EXE_coral"))
            .args(["new", "fresh-js", "--lang", "js", "--dir"])
            .arg(work.path()),
    );
    let project = work.path().join("fresh-js");
    // The generated unit test passes under Node's own runner.
    run("node --test", Command::new("node").arg("--test").current_dir(&project));
    // A relative output path is the caller's, not the project's.
    let out = work.path().join("fresh-js.wasm");
    run(
        "build.sh",
        Command::new("bash")
            .arg(project.join("build.sh"))
            .arg("fresh-js.wasm")
            .current_dir(work.path())
            .env("CORAL_JS_TOOLS", repo_root().join(".tools/js")),
    );
    assert!(out.is_file(), "built where the caller asked");
    assert!(project.join("coral_sdk.js").is_file(), "the scaffold ships the SDK");
    let setup = Setup::new(&[], "[console]\n");
    std::fs::copy(&out, setup.path().join("plugins/fresh-js.wasm")).unwrap();
    let mut coral = setup.start();
    coral.send("fresh-js it works");
    coral.expect("[private 10000] fresh-js: it works");
    coral.send("/fresh-js-ping");
    coral.expect("[private 10000] pong");
}
