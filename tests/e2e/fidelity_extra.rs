//! Nothing the implementation sends is dropped: fields Coral has typed slots for (coral:bot@0.2.0) arrive typed,
//! and every other field arrives in the event's `extra` or the segment's extra, as the implementation sent it.

use crate::onebot::{forward_setup_with, private_message};
use crate::support::coral::{Coral, Setup};
use crate::support::onebot_peer::Peer;
use serde_json::json;

fn connected(peer: &Peer, plugins: &[&str], config: &str) -> (Setup, Coral) {
    let running = forward_setup_with(peer, plugins, "", config);
    peer.expect_handshake();
    running
}

/// What api-probe says about the last event it saw (its `Debug` form and `extra`), asked in a private chat.
fn ask_probe(peer: &mut Peer) -> String {
    static NEXT_ID: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(7700);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    peer.send_event(&private_message("last event", id));
    peer.expect_reply("last ").replacen("last ", "", 1)
}

#[test]
fn a_napcat_sticker_mention_and_face_keep_every_field() {
    let mut peer = Peer::new();
    let (_setup, _coral) = connected(&peer, &["api-probe"], "");
    // As NapCat sends a group message with a sticker (an image with sub_type 1 and its emoji ids), a mention
    // carrying the member's name, a face with its raw object, and fields of its own.
    peer.send_event(&json!({
        "self_id": 10001, "user_id": 1000002, "time": 1718000100, "message_id": 880001, "message_seq": 880001,
        "real_id": 880002, "real_seq": "5521", "message_type": "group",
        "sender": {"user_id": 1000002, "nickname": "群友乙", "card": "", "role": "member", "x_badge": "vip"},
        "raw_message": "[CQ:image,file=a.gif,sub_type=1][CQ:at,qq=10001,name=bot][CQ:face,id=178] x",
        "font": 14, "sub_type": "normal",
        "message": [
            {"type": "image", "data": {"summary": "[动画表情]", "file": "a.gif", "sub_type": 1,
                "url": "https://multimedia.nt.qq.com.cn/download?appid=1407", "file_size": "48213",
                "key": "k-77", "emoji_id": "5", "emoji_package_id": 230}},
            {"type": "at", "data": {"qq": "10001", "name": "bot"}},
            {"type": "face", "data": {"id": "178", "raw": {"faceIndex": 178, "faceText": "[斜眼笑]"}, "sub_type": 2}},
            {"type": "text", "data": {"text": " x"}}
        ],
        "message_format": "array", "post_type": "message", "group_id": 100100, "group_name": "测试群"
    }));
    let seen = ask_probe(&mut peer);
    // Typed in 0.2.0.
    for typed in [
        "sub-type: Some(1)",
        "summary: Some(\"[动画表情]\")",
        "file-size: Some(48213)",
        "font: Some(14)",
        "message-seq: Some(\"880001\")",
        "real-id: Some(\"880002\")",
    ] {
        assert!(seen.contains(typed), "{typed} missing from {seen}");
    }
    // The segments' own extras, by position.
    for extra in [
        "index: 0, json: \"{\\\"key\\\":\\\"k-77\\\",\\\"emoji_id\\\":\\\"5\\\",\\\"emoji_package_id\\\":230}\"",
        "index: 1, json: \"{\\\"name\\\":\\\"bot\\\"}\"",
        "index: 2, json: \"{\\\"raw\\\":{\\\"faceIndex\\\":178,\\\"faceText\\\":\\\"[斜眼笑]\\\"},\\\"sub_type\\\":2}\"",
    ] {
        assert!(seen.contains(extra), "{extra} missing from {seen}");
    }
    // The event's fields with no slot, nested ones keeping only what is unmapped.
    // (In the order the implementation sent them.)
    let extra = "extra: Some(\"{\\\"real_seq\\\":\\\"5521\\\",\\\"sender\\\":{\\\"x_badge\\\":\\\"vip\\\"},\\\"message_format\\\":\\\"array\\\",\\\"group_name\\\":\\\"测试群\\\"}\")";
    assert!(seen.contains(extra), "{extra} missing from {seen}");
}

#[test]
fn a_poke_an_invitation_and_a_temporary_chat_keep_their_fields() {
    let mut peer = Peer::new();
    let (_setup, _coral) = connected(&peer, &["api-probe"], "");
    // Lagrange/NapCat poke with the verb and suffix the client shows.
    peer.send_event(&json!({
        "time": 1718000200, "self_id": 10001, "post_type": "notice", "notice_type": "notify", "sub_type": "poke",
        "group_id": 100100, "user_id": 1000002, "target_id": 10001, "action": "戳了戳", "suffix": "的脸",
        "action_img_url": "https://gxh.vip.qq.com/poke.png",
        "raw_info": [{"col": "1", "nm": "", "type": "qq", "uid": "u_x"}, {"txt": "戳了戳", "type": "nor"}]
    }));
    let seen = ask_probe(&mut peer);
    assert!(seen.starts_with("EventKind::Notice(NoticeEvent::Poke("), "{seen}");
    assert!(seen.contains("action: Some(\"戳了戳\")"), "{seen}");
    assert!(seen.contains("suffix: Some(\"的脸\")"), "{seen}");
    assert!(seen.contains("raw-info-json: Some(\"[{\\\"col\\\":\\\"1\\\""), "{seen}");
    assert!(
        seen.contains("extra: Some(\"{\\\"action_img_url\\\":\\\"https://gxh.vip.qq.com/poke.png\\\"}\")"),
        "{seen}"
    );

    // NapCat's join request names who invited the user.
    peer.send_event(&json!({
        "time": 1718000201, "self_id": 10001, "post_type": "request", "request_type": "group", "sub_type": "add",
        "group_id": 100100, "user_id": 1000005, "comment": "let me in", "flag": "f-1", "invitor_id": 1000006
    }));
    let seen = ask_probe(&mut peer);
    assert!(seen.contains("invitor-id: Some(\"1000006\")"), "{seen}");
    assert!(seen.ends_with("extra: None"), "everything was mapped: {seen}");

    // A temporary chat started from a group: the group is its source.
    let mut temp = private_message("from a group member", 7799);
    temp["sub_type"] = json!("group");
    temp["sender"]["group_id"] = json!(100100);
    temp["temp_source"] = json!(0);
    peer.send_event(&temp);
    let seen = ask_probe(&mut peer);
    assert!(seen.contains("from a group member"), "{seen}");
    assert!(seen.contains("source-group-id: Some(\"100100\")"), "{seen}");
    assert!(seen.contains("extra: Some(\"{\\\"temp_source\\\":0}\")"), "{seen}");
}

#[test]
fn an_unknown_notice_still_arrives_whole_and_a_known_one_keeps_what_has_no_slot() {
    let mut peer = Peer::new();
    let (_setup, _coral) = connected(&peer, &["api-probe"], "");
    peer.send_event(&json!({
        "time": 1718000300, "self_id": 10001, "post_type": "notice", "notice_type": "group_ban", "sub_type": "ban",
        "group_id": 100100, "operator_id": 1000003, "user_id": 1000002, "duration": 600, "operator_nick": "管理"
    }));
    let seen = ask_probe(&mut peer);
    assert!(seen.contains("duration-secs: 600"), "{seen}");
    assert!(
        seen.contains("extra: Some(\"{\\\"operator_nick\\\":\\\"管理\\\"}\")"),
        "{seen}"
    );
    peer.send_event(&json!({
        "time": 1718000301, "self_id": 10001, "post_type": "notice", "notice_type": "essence", "sub_type": "add",
        "group_id": 100100, "message_id": 42, "sender_id": 1000002, "operator_id": 1000003
    }));
    let seen = ask_probe(&mut peer);
    assert!(seen.starts_with("EventKind::Notice(NoticeEvent::Other("), "{seen}");
    assert!(seen.contains("sender_id"), "{seen}");
    // The whole JSON is already in the `other` case: no second copy.
    assert!(seen.ends_with("extra: None"), "{seen}");
}
