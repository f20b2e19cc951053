//! The spec-derived event fixtures: each decodes to the right variant with the right fields, and a message sent as
//! a CQ string decodes as the same message sent as an array.

use super::{decode, fixture_dir, message_of, meta_of, notice_of, request_of};
use coral_model::bindings::coral::bot::types::{Lifecycle, MetaEvent, NoticeEvent, RequestEvent};
use coral_model::bindings::{ChatType, Event, GroupRequestKind, MessageEvent, Role, Segment};
use coral_model::wire::segment::{message_array, segments_to_json};
use serde_json::{Value, json};

/// The fields of a message event every fixture pair is checked on.
struct Expected<'a> {
    chat: ChatType,
    sub_type: &'a str,
    message_id: &'a str,
    user_id: &'a str,
    group_id: Option<&'a str>,
    nickname: &'a str,
    plain_text: &'a str,
    to_me: bool,
    segments: usize,
}

fn check_message(m: &MessageEvent, fixture: &Value, want: Expected<'_>) {
    assert_eq!(m.message_type, want.chat);
    assert_eq!(m.sub_type, want.sub_type);
    assert_eq!(m.message_id, want.message_id);
    assert_eq!(m.user_id, want.user_id);
    assert_eq!(m.group_id.as_deref(), want.group_id);
    assert_eq!(m.sender.user_id, want.user_id);
    assert_eq!(m.sender.nickname, want.nickname);
    assert_eq!(m.plain_text, want.plain_text);
    assert_eq!(m.to_me, want.to_me);
    assert!(!m.self_sent);
    assert_eq!(m.message.len(), want.segments, "{:?}", m.message);
    assert_eq!(Some(m.raw_message.as_str()), fixture["raw_message"].as_str());
    // The decoded message, sent back, is the fixture's message (less `magic: "0"`, the default, which
    // Coral leaves out).
    let mut array = message_array(&fixture["message"]).expect("fixture message");
    for seg in &mut array {
        if seg["type"] == "record"
            && let Some(data) = seg["data"].as_object_mut()
            && data.get("magic") == Some(&json!("0"))
        {
            data.remove("magic");
        }
    }
    assert_eq!(segments_to_json(&m.message), Value::Array(array));
}

fn check_event_fixture(name: &str, v: &Value, e: &Event) {
    let stem = name
        .trim_end_matches(".json")
        .trim_end_matches(".string")
        .trim_end_matches(".array");
    match stem {
        "message.private.friend" => {
            let m = message_of(e);
            check_message(
                m,
                v,
                Expected {
                    chat: ChatType::Private,
                    sub_type: "friend",
                    message_id: "1201",
                    user_id: "1000001",
                    group_id: None,
                    nickname: "小不点",
                    plain_text: "看看我刚拍的照片 & 视频 [1/2]",
                    to_me: true,
                    segments: 3,
                },
            );
            assert_eq!(m.sender.sex.as_deref(), Some("male"));
            assert_eq!(m.sender.age, Some(18));
            assert_eq!(m.sender.role, None);
            assert!(matches!(&m.message[0], Segment::Face(f) if f == "178"));
            let Segment::Image(image) = &m.message[2] else {
                panic!("{:?}", m.message[2]);
            };
            assert_eq!(image.media.file, "6B4DE3DFD1BD271E3297859D41C530F5.jpg");
            assert!(
                image
                    .media
                    .url
                    .as_deref()
                    .is_some_and(|u| u.ends_with("?term=2&is_origin=0"))
            );
            assert!(!image.flash);
        }
        "message.private.group" => {
            let m = message_of(e);
            check_message(
                m,
                v,
                Expected {
                    chat: ChatType::Private,
                    sub_type: "group",
                    message_id: "1202",
                    user_id: "1000002",
                    group_id: None,
                    nickname: "路过的群友",
                    plain_text: "你好，我是从群 100100 来的，想问下入群规则[急]",
                    to_me: true,
                    segments: 3,
                },
            );
            assert!(matches!(&m.message[2], Segment::At(qq) if qq == "10001"));
        }
        "message.private.other" => {
            let m = message_of(e);
            check_message(
                m,
                v,
                Expected {
                    chat: ChatType::Private,
                    sub_type: "other",
                    message_id: "1203",
                    user_id: "1000003",
                    group_id: None,
                    nickname: "陌生人",
                    plain_text: "来自其他来源的消息, 逗号a,b,c 在纯文本里不转义",
                    to_me: true,
                    segments: 2,
                },
            );
            assert_eq!(m.sender.age, Some(0));
            let Segment::Record(voice) = &m.message[1] else {
                panic!("{:?}", m.message[1]);
            };
            assert!(!voice.magic);
            assert_eq!(voice.media.file, "0B38145AA44505000B38145AA4450500.silk");
            assert!(voice.media.url.as_deref().is_some_and(|u| u.contains("&rkey=")));
        }
        "message.group.normal" => {
            let m = message_of(e);
            check_message(
                m,
                v,
                Expected {
                    chat: ChatType::Group,
                    sub_type: "normal",
                    message_id: "-2147483000",
                    user_id: "1000004",
                    group_id: Some("100100"),
                    nickname: "群友甲",
                    plain_text: "明天 10:00 开会，地点[3F]会议室 A&B，带上电脑,充电器",
                    // It @-mentions the bot (10001); the quote alone would not count.
                    to_me: true,
                    segments: 5,
                },
            );
            let s = &m.sender;
            assert_eq!(s.card.as_deref(), Some("甲 [技术组]"));
            assert_eq!(s.role, Some(Role::Admin));
            assert_eq!(s.title.as_deref(), Some("摸鱼大师"));
            assert_eq!(s.level.as_deref(), Some("42"));
            assert_eq!(s.area.as_deref(), Some("北京"));
            assert_eq!(s.age, Some(24));
            assert!(m.anonymous.is_none());
            assert!(matches!(&m.message[0], Segment::Reply(id) if id == "1201"));
            assert!(matches!(&m.message[1], Segment::At(qq) if qq == "10001"));
            let Segment::Share(share) = &m.message[4] else {
                panic!("{:?}", m.message[4]);
            };
            assert_eq!(share.url, "https://example.com/meeting?id=42&lang=zh");
            assert_eq!(share.title, "会议通知[第3期],请查收");
        }
        "message.group.anonymous" => {
            let m = message_of(e);
            check_message(
                m,
                v,
                Expected {
                    chat: ChatType::Group,
                    sub_type: "anonymous",
                    message_id: "1205",
                    user_id: "80000000",
                    group_id: Some("100100"),
                    nickname: "匿名消息",
                    plain_text: "匿名说一句：1 < 2 && 3 > 2，&lt; 不是 CQ 转义",
                    to_me: false,
                    segments: 3,
                },
            );
            let a = m.anonymous.as_ref().expect("anonymous sender");
            assert_eq!(
                (a.id.as_str(), a.name.as_str(), a.flag.as_str()),
                ("1000000123", "大力水手", "ab12cd34ef|大力水手")
            );
            assert!(matches!(m.message[2], Segment::Dice));
        }
        "message.group.notice" => {
            let m = message_of(e);
            check_message(
                m,
                v,
                Expected {
                    chat: ChatType::Group,
                    sub_type: "notice",
                    message_id: "1206",
                    user_id: "10000",
                    group_id: Some("100100"),
                    nickname: "",
                    plain_text: "管理员已禁止群内匿名聊天",
                    to_me: false,
                    segments: 1,
                },
            );
        }
        "meta_event.heartbeat" => {
            let MetaEvent::Heartbeat(h) = meta_of(e) else {
                panic!("{e:?}");
            };
            assert_eq!(h.interval_ms, 15000);
            let status: Value = serde_json::from_str(h.status_json.as_deref().expect("a status")).expect("status JSON");
            assert_eq!(status, json!({"online": true, "good": true}));
        }
        "meta_event.lifecycle.connect" => {
            assert!(matches!(meta_of(e), MetaEvent::Lifecycle(Lifecycle::Connect)));
        }
        "meta_event.lifecycle.disable" => {
            assert!(matches!(meta_of(e), MetaEvent::Lifecycle(Lifecycle::Disable)));
        }
        "meta_event.lifecycle.enable" => {
            assert!(matches!(meta_of(e), MetaEvent::Lifecycle(Lifecycle::Enable)));
        }
        "notice.friend_add" => {
            assert!(matches!(notice_of(e), NoticeEvent::FriendAdd(u) if u == "1000012"));
        }
        "notice.friend_recall" => {
            let NoticeEvent::FriendRecall(r) = notice_of(e) else {
                panic!("{e:?}");
            };
            assert_eq!((r.user_id.as_str(), r.message_id.as_str()), ("1000001", "1201"));
        }
        "notice.group_admin.set" | "notice.group_admin.unset" => {
            let NoticeEvent::GroupAdmin(a) = notice_of(e) else {
                panic!("{e:?}");
            };
            assert_eq!((a.group_id.as_str(), a.user_id.as_str()), ("100100", "1000005"));
            assert_eq!(a.set, stem.ends_with(".set"));
        }
        "notice.group_ban.ban" | "notice.group_ban.lift_ban" => {
            let NoticeEvent::GroupBan(b) = notice_of(e) else {
                panic!("{e:?}");
            };
            assert_eq!(b.group_id, "100100");
            assert_eq!(b.user_id, "1000011");
            assert_eq!(b.operator_id, "1000004");
            let lifted = stem.ends_with("lift_ban");
            assert_eq!(b.lifted, lifted);
            assert_eq!(b.duration_secs, if lifted { 0 } else { 600 });
        }
        "notice.group_decrease.kick"
        | "notice.group_decrease.kick_me"
        | "notice.group_decrease.leave"
        | "notice.group_increase.approve"
        | "notice.group_increase.invite" => {
            let change = match notice_of(e) {
                NoticeEvent::GroupDecrease(c) if stem.contains("decrease") => c,
                NoticeEvent::GroupIncrease(c) if stem.contains("increase") => c,
                other => panic!("{stem}: {other:?}"),
            };
            let sub_type = stem.rsplit('.').next().unwrap_or_default();
            assert_eq!(change.sub_type, sub_type);
            let (group, user, operator) = match sub_type {
                "kick" => ("100100", "1000007", "1000004"),
                "kick_me" => ("100200", "10001", "1000008"),
                "leave" => ("100100", "1000006", "1000006"),
                "approve" => ("100100", "1000009", "1000004"),
                _ => ("100100", "1000010", "1000004"),
            };
            assert_eq!(change.group_id, group);
            assert_eq!(change.user_id, user);
            assert_eq!(change.operator_id, operator);
        }
        "notice.group_recall" => {
            let NoticeEvent::GroupRecall(r) = notice_of(e) else {
                panic!("{e:?}");
            };
            assert_eq!(r.group_id, "100100");
            assert_eq!(r.user_id, "1000004");
            assert_eq!(r.operator_id, "1000004");
            assert_eq!(r.message_id, "-2147483000");
        }
        "notice.group_upload" => {
            let NoticeEvent::GroupUpload(u) = notice_of(e) else {
                panic!("{e:?}");
            };
            assert_eq!((u.group_id.as_str(), u.user_id.as_str()), ("100100", "1000004"));
            assert_eq!(u.file.id, "/a8f0c5e4-1c2b-4d3e-9f10-000000000001");
            assert_eq!(u.file.name, "季度报表 Q3, 最终版.xlsx");
            assert_eq!(u.file.size, 1_048_576);
            assert_eq!(u.file.busid, 102);
        }
        "notice.notify.honor" => {
            let NoticeEvent::Honor(h) = notice_of(e) else {
                panic!("{e:?}");
            };
            assert_eq!(h.group_id, "100100");
            assert_eq!(h.user_id, "1000004");
            assert_eq!(h.honor_type, "talkative");
        }
        "notice.notify.lucky_king" => {
            let NoticeEvent::LuckyKing(l) = notice_of(e) else {
                panic!("{e:?}");
            };
            assert_eq!(l.group_id, "100100");
            assert_eq!(l.user_id, "1000004");
            assert_eq!(l.target_id, "1000013");
        }
        "notice.notify.poke" => {
            let NoticeEvent::Poke(p) = notice_of(e) else {
                panic!("{e:?}");
            };
            assert_eq!(p.group_id.as_deref(), Some("100100"));
            assert_eq!(p.user_id, "1000004");
            assert_eq!(p.target_id, "10001");
        }
        "request.friend" => {
            let RequestEvent::Friend(f) = request_of(e) else {
                panic!("{e:?}");
            };
            assert_eq!(f.user_id, "1000014");
            assert_eq!(f.comment, "我是你的同学，加个好友吧");
            assert_eq!(f.flag, "1718000030000001");
        }
        "request.group.add" | "request.group.invite" => {
            let RequestEvent::Group(g) = request_of(e) else {
                panic!("{e:?}");
            };
            if stem.ends_with("add") {
                assert_eq!(g.kind, GroupRequestKind::Add);
                assert_eq!((g.group_id.as_str(), g.user_id.as_str()), ("100100", "1000015"));
                assert_eq!(g.comment, "问题：你是从哪里知道本群的？\n答案：朋友推荐");
                assert_eq!(g.flag, "add-100100-1000015-1718000031");
            } else {
                assert_eq!(g.kind, GroupRequestKind::Invite);
                assert_eq!((g.group_id.as_str(), g.user_id.as_str()), ("100300", "1000016"));
                assert_eq!(g.comment, "");
                assert_eq!(g.flag, "invite-100300-1000016-1718000032");
            }
        }
        other => panic!("no expectations written for fixture {other}"),
    }
}

#[test]
fn every_event_fixture_decodes_to_the_right_variant_and_fields() {
    let files = fixture_dir("events");
    assert_eq!(files.len(), 35, "the spec-derived event set");
    for (name, v) in &files {
        let e = decode(v);
        assert_eq!(e.platform, "onebot", "{name}");
        assert_eq!(e.self_id, "10001", "{name}");
        assert_eq!(Some(e.time), v["time"].as_i64(), "{name}");
        check_event_fixture(name, v, &e);
    }
}

#[test]
fn string_and_array_messages_decode_to_the_same_event() {
    let files = fixture_dir("events");
    let mut pairs = 0;
    for (name, string_form) in &files {
        let Some(stem) = name.strip_suffix(".string.json") else {
            continue;
        };
        let (_, array_form) = files
            .iter()
            .find(|(n, _)| *n == format!("{stem}.array.json"))
            .unwrap_or_else(|| panic!("{stem} has no array form"));
        assert!(string_form["message"].is_string() && array_form["message"].is_array());
        assert_eq!(
            format!("{:?}", decode(string_form)),
            format!("{:?}", decode(array_form)),
            "{stem}"
        );
        pairs += 1;
    }
    assert_eq!(pairs, 6);
}
