//! Events written out by hand: lenient ids, times and messages, who a message is to and from, defaults for missing
//! fields, unknown kinds and NapCat's extensions kept as JSON, and the malformed events that are errors.

use super::{decode, message_of, meta_of, notice_of, request_of};
use crate::onebot::protocol::{DecodeError, decode_event};
use coral_model::bindings::coral::bot::types::{ForwardNode, MetaEvent, NoticeEvent, OtherNotice, RequestEvent};
use coral_model::bindings::{ChatType, EventKind, Segment};
use coral_model::wire::segment::segments_to_json;
use serde_json::{Value, json};

#[test]
fn ids_may_be_strings_and_sender_may_be_missing() {
    let e = decode(&json!({
        "time": "1718000001", "self_id": "10001", "post_type": "message", "message_type": "group",
        "sub_type": "normal", "message_id": "abc-1", "group_id": "100100", "user_id": "1000001",
        "message": [{"type": "at", "data": {"qq": 10001}}, {"type": "text", "data": {"text": "  ping x "}}],
    }));
    assert_eq!(e.self_id, "10001");
    assert_eq!(e.time, 1_718_000_001);
    let m = message_of(&e);
    assert_eq!(m.message_id, "abc-1");
    assert_eq!(m.group_id.as_deref(), Some("100100"));
    assert_eq!(m.user_id, "1000001");
    // No sender: only the user id is known.
    assert_eq!(m.sender.user_id, "1000001");
    assert_eq!(m.sender.nickname, "");
    assert_eq!(m.sender.role, None);
    assert!(m.to_me, "a numeric `qq` still mentions the bot");
    assert_eq!(m.plain_text, "ping x");
    // No raw_message: written from the message.
    assert_eq!(m.raw_message, "[CQ:at,qq=10001]  ping x ");
}

#[test]
fn to_me_needs_a_mention_of_this_bot_in_groups() {
    let group = |message: Value| {
        json!({"time": 1, "self_id": 10001, "post_type": "message", "message_type": "group",
            "sub_type": "normal", "message_id": 1, "group_id": 100100, "user_id": 1000001,
            "message": message})
    };
    let to_me = |message: Value| message_of(&decode(&group(message))).to_me;
    assert!(!to_me(json!("[CQ:reply,id=5] yes")), "a quote alone does not count");
    assert!(!to_me(json!("[CQ:at,qq=1000002] hi")), "someone else's mention");
    assert!(!to_me(json!("[CQ:at,qq=all] hi")));
    assert!(to_me(json!("hi [CQ:at,qq=10001]")), "a mention anywhere counts");
    let e = decode(&group(json!("[CQ:reply,id=5][CQ:at,qq=10001] ping  ")));
    assert_eq!(message_of(&e).plain_text, "ping");
}

#[test]
fn message_sent_is_self_sent_and_not_to_me() {
    let e = decode(&json!({
        "time": 1718000050, "self_id": 10001, "post_type": "message_sent", "message_type": "private",
        "sub_type": "friend", "message_id": 1300, "user_id": 10001, "target_id": 1000001,
        "message": "hello", "raw_message": "hello", "font": 0,
        "sender": {"user_id": 10001, "nickname": "bot"},
    }));
    let m = message_of(&e);
    assert!(m.self_sent);
    assert!(!m.to_me, "the bot's own message is not addressed to it");
    assert_eq!(m.user_id, "10001");
    assert!(matches!(&m.message[..], [Segment::Text(t)] if t == "hello"));
}

#[test]
fn messages_fall_back_to_raw_message_and_accept_one_segment() {
    let base = json!({"time": 1, "self_id": 10001, "post_type": "message", "message_type": "private",
        "sub_type": "friend", "message_id": 1, "user_id": 1000001});
    let with = |extra: Value| {
        let mut v = base.clone();
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        v
    };
    let m = decode(&with(json!({"raw_message": "[CQ:face,id=1]hi"})));
    assert_eq!(message_of(&m).message.len(), 2);
    assert_eq!(message_of(&m).plain_text, "hi");
    let m = decode(&with(json!({"message": {"type": "text", "data": {"text": "one"}}})));
    assert_eq!(message_of(&m).plain_text, "one");
    assert_eq!(message_of(&m).raw_message, "one");
    assert_eq!(decode_event(&base).err(), Some(DecodeError::NoMessage));
    assert_eq!(
        decode_event(&with(json!({"message": 42}))).err(),
        Some(DecodeError::NoMessage)
    );
    // Message type missing: a group id makes it a group message.
    let mut v = with(json!({"message": "x", "group_id": 100100}));
    if let Some(o) = v.as_object_mut() {
        o.remove("message_type");
    }
    assert_eq!(message_of(&decode(&v)).message_type, ChatType::Group);
}

#[test]
fn unknown_kinds_are_kept_as_json() {
    let title = json!({"time": 1, "self_id": 10001, "post_type": "notice", "notice_type": "notify",
        "sub_type": "title", "group_id": 100100, "user_id": 1000004, "title": "王者"});
    let NoticeEvent::Other(o) = notice_of(&decode(&title)).clone() else {
        panic!("notify/title is an extension");
    };
    assert_eq!(o.notice_type, "notify");
    assert_eq!(o.sub_type.as_deref(), Some("title"));
    assert_eq!(serde_json::from_str::<Value>(&o.json).ok(), Some(title));

    let essence = json!({"time": 1, "self_id": 10001, "post_type": "notice", "notice_type": "essence",
        "sub_type": "add", "group_id": 100100, "message_id": 5});
    assert!(matches!(notice_of(&decode(&essence)),
        NoticeEvent::Other(o) if o.notice_type == "essence" && o.sub_type.as_deref() == Some("add")));
    let no_type = json!({"time": 1, "self_id": 10001, "post_type": "notice"});
    assert!(matches!(notice_of(&decode(&no_type)),
        NoticeEvent::Other(o) if o.notice_type.is_empty() && o.sub_type.is_none()));

    let unknown_post = json!({"time": 1, "self_id": 10001, "post_type": "future_thing", "x": [1, 2]});
    let EventKind::Other(json_text) = decode(&unknown_post).kind else {
        panic!("unknown post_type");
    };
    assert_eq!(serde_json::from_str::<Value>(&json_text).ok(), Some(unknown_post));

    let guild = json!({"time": 1, "self_id": 10001, "post_type": "message", "message_type": "guild",
        "guild_id": "7", "channel_id": "8", "user_id": "9", "message": "hi"});
    assert!(matches!(decode(&guild).kind, EventKind::Other(_)));

    let request = json!({"time": 1, "self_id": 10001, "post_type": "request", "request_type": "group",
        "sub_type": "something_new", "flag": "f"});
    assert!(matches!(request_of(&decode(&request)), RequestEvent::Other(j) if j.contains("something_new")));
    let request = json!({"time": 1, "self_id": 10001, "post_type": "request", "request_type": "x"});
    assert!(matches!(request_of(&decode(&request)), RequestEvent::Other(_)));

    let meta = json!({"time": 1, "self_id": 10001, "post_type": "meta_event", "meta_event_type": "lifecycle",
        "sub_type": "reborn"});
    assert!(matches!(meta_of(&decode(&meta)), MetaEvent::Other(j) if j.contains("reborn")));
    let meta = json!({"time": 1, "self_id": 10001, "post_type": "meta_event", "meta_event_type": "x"});
    assert!(matches!(meta_of(&decode(&meta)), MetaEvent::Other(_)));
}

#[test]
fn missing_optional_fields_get_defaults() {
    let beat = json!({"time": 1, "self_id": 10001, "post_type": "meta_event",
        "meta_event_type": "heartbeat"});
    let MetaEvent::Heartbeat(h) = meta_of(&decode(&beat)).clone() else {
        panic!("heartbeat");
    };
    assert_eq!((h.interval_ms, h.status_json), (0, None));

    // A ban with no sub_type: lifted when its duration is 0.
    let ban = json!({"post_type": "notice", "notice_type": "group_ban", "group_id": 1, "user_id": 2,
        "duration": 0});
    let e = decode(&ban);
    assert_eq!((e.self_id.as_str(), e.time), ("", 0));
    assert!(matches!(notice_of(&e), NoticeEvent::GroupBan(b) if b.lifted && b.operator_id.is_empty()));

    // A friend poke (extension) has no group.
    let poke = json!({"post_type": "notice", "notice_type": "notify", "sub_type": "poke", "user_id": 2,
        "target_id": 10001});
    assert!(matches!(notice_of(&decode(&poke)), NoticeEvent::Poke(p) if p.group_id.is_none()));

    // A leave without operator: the member themself.
    let leave = json!({"post_type": "notice", "notice_type": "group_decrease", "sub_type": "leave",
        "group_id": 1, "user_id": 2});
    assert!(matches!(notice_of(&decode(&leave)), NoticeEvent::GroupDecrease(c) if c.operator_id == "2"));

    // group_admin with an unknown sub_type cannot say set or unset: kept as other.
    let admin = json!({"post_type": "notice", "notice_type": "group_admin", "group_id": 1, "user_id": 2});
    assert!(matches!(notice_of(&decode(&admin)), NoticeEvent::Other(_)));
}

/// A private `message` event from `user_id` to bot `self_id` (either may be a number or a string).
fn private_from(self_id: Value, user_id: Value) -> Value {
    json!({"time": 1718000000, "self_id": self_id, "post_type": "message", "message_type": "private",
        "sub_type": "friend", "message_id": 1, "user_id": user_id, "message": "hi", "raw_message": "hi"})
}

#[test]
fn the_bots_own_messages_are_self_sent_however_they_are_reported() {
    let self_sent = |v: &Value| message_of(&decode(v)).self_sent;
    // go-cqhttp: the bot's own message is a plain `message` from the bot's account, ids in any form.
    for (me, user) in [
        (json!(10001), json!(10001)),
        (json!("10001"), json!(10001)),
        (json!(10001), json!("10001")),
        (json!(9007199254740993_u64), json!("9007199254740993")),
        (json!(18446744073709551615_u64), json!(18446744073709551615_u64)),
        (json!(-1), json!("-1")),
        (json!("abc"), json!("abc")),
    ] {
        let v = private_from(me, user);
        assert!(self_sent(&v), "{v}");
        assert!(
            !message_of(&decode(&v)).to_me,
            "{v}: the bot's own message is not addressed to it"
        );
    }
    // Someone else, however close the ids look (as floats, these two would be equal).
    for (me, user) in [
        (json!(10001), json!(10002)),
        (json!(9007199254740993_u64), json!(9007199254740992_u64)),
        (json!("9007199254740993"), json!(9007199254740992_u64)),
        (json!(-1), json!(1)),
        (json!("abc"), json!("ABC")),
        (Value::Null, Value::Null),
    ] {
        let v = private_from(me, user);
        assert!(!self_sent(&v), "{v}");
    }
    // No `user_id`: the sender's is the user id, and it is the bot's.
    let mut v = private_from(json!(10001), Value::Null);
    v["sender"] = json!({"user_id": "10001", "nickname": "bot"});
    assert!(self_sent(&v));

    // NapCat: `message_sent` (with `message_sent_type`), here a group message.
    let napcat = json!({"time": 1718000060, "self_id": 10001, "post_type": "message_sent",
        "message_sent_type": "self", "message_type": "group", "sub_type": "normal", "message_id": 1400,
        "group_id": 100100, "user_id": 10001, "message": [{"type": "text", "data": {"text": "sent"}}],
        "raw_message": "sent", "font": 14, "sender": {"user_id": 10001, "nickname": "bot", "role": "owner"}});
    let m = message_of(&decode(&napcat)).clone();
    assert!(m.self_sent && !m.to_me);
    assert_eq!((m.user_id.as_str(), m.group_id.as_deref()), ("10001", Some("100100")));
}

#[test]
fn mentions_of_the_bot_compare_ids_exactly() {
    let group = |me: Value, qq: Value| {
        json!({"time": 1, "self_id": me, "post_type": "message", "message_type": "group",
            "sub_type": "normal", "message_id": 1, "group_id": 100100, "user_id": 1000001,
            "message": [{"type": "at", "data": {"qq": qq}}, {"type": "text", "data": {"text": " hi"}}]})
    };
    let to_me = |v: Value| message_of(&decode(&v)).to_me;
    assert!(to_me(group(json!("9007199254740993"), json!(9007199254740993_u64))));
    assert!(!to_me(group(json!(9007199254740993_u64), json!(9007199254740992_u64))));
    assert!(to_me(group(json!("abc"), json!("abc"))));
    assert!(
        !to_me(group(Value::Null, json!(""))),
        "no bot id: an empty mention is nobody's"
    );
}

#[test]
fn millisecond_and_string_times_are_read_as_seconds() {
    let time = |t: Value| {
        let v = json!({"time": t, "self_id": 10001, "post_type": "notice", "notice_type": "friend_add",
            "user_id": 1000001});
        decode(&v).time
    };
    assert_eq!(time(json!(1718000000)), 1718000000);
    assert_eq!(time(json!(1718000000123_i64)), 1718000000, "milliseconds, rounded down");
    assert_eq!(time(json!(1718000000999_i64)), 1718000000);
    assert_eq!(time(json!("1718000000")), 1718000000, "a string of digits");
    assert_eq!(time(json!("1718000000456")), 1718000000, "milliseconds as a string");
    assert_eq!(
        time(json!(100_000_000_000_i64)),
        100_000_000_000,
        "10^11 is still seconds"
    );
    assert_eq!(time(json!(100_000_000_001_i64)), 100_000_000);
    assert_eq!(time(json!(0)), 0);
    assert_eq!(time(json!("soon")), 0);
    // Every kind of event, including those kept as JSON (whose JSON keeps the time as sent).
    let ms = 1718000000123_i64;
    for v in [
        private_from(json!(10001), json!(1000001)),
        json!({"post_type": "meta_event", "meta_event_type": "heartbeat", "interval": 5000}),
        json!({"post_type": "request", "request_type": "friend", "user_id": 1, "flag": "f"}),
        json!({"post_type": "notice", "notice_type": "bot_offline", "user_id": 10001}),
        json!({"post_type": "mystery"}),
    ] {
        let mut v = v;
        v["time"] = json!(ms);
        let e = decode(&v);
        assert_eq!(e.time, 1718000000, "{v}");
        if let EventKind::Other(j) | EventKind::Notice(NoticeEvent::Other(OtherNotice { json: j, .. })) = &e.kind {
            assert!(j.contains("1718000000123"), "{j}");
        }
    }
}

#[test]
fn a_heartbeat_without_status_has_no_status() {
    let status = |status: Option<Value>| {
        let mut v = json!({"time": 1, "self_id": 10001, "post_type": "meta_event",
            "meta_event_type": "heartbeat", "interval": 5000});
        if let Some(status) = status {
            v["status"] = status;
        }
        let MetaEvent::Heartbeat(h) = meta_of(&decode(&v)).clone() else {
            panic!("{v}: a heartbeat");
        };
        assert_eq!(h.interval_ms, 5000);
        h.status_json
    };
    assert_eq!(status(Some(Value::Null)), None);
    assert_eq!(status(None), None);
    let full = json!({"online": true, "good": false, "stat": {"packet_received": 9007199254740993_u64}});
    assert_eq!(
        serde_json::from_str::<Value>(&status(Some(full.clone())).unwrap()).ok(),
        Some(full)
    );
    assert_eq!(
        status(Some(json!({}))).as_deref(),
        Some("{}"),
        "an empty status is still a status"
    );
}

/// Every id field of every decoded event kind, with this id value; each must read back as `want`.
fn check_ids(x: &Value, want: &str) {
    let e = decode(
        &json!({"time": 1, "self_id": x, "post_type": "message", "message_type": "group",
        "sub_type": "anonymous", "message_id": x, "group_id": x, "user_id": x,
        "anonymous": {"id": x, "name": "n", "flag": x},
        "message": [{"type": "reply", "data": {"id": x}}, {"type": "at", "data": {"qq": x}},
            {"type": "node", "data": {"id": x}}],
        "sender": {"user_id": x, "nickname": "n"}}),
    );
    assert_eq!(e.self_id, want);
    let m = message_of(&e);
    let a = m.anonymous.as_ref().expect("anonymous");
    for got in [&m.message_id, &m.user_id, &m.sender.user_id, &a.id, &a.flag] {
        assert_eq!(got, want, "{x}");
    }
    assert_eq!(m.group_id.as_deref(), Some(want));
    assert!(m.self_sent, "{x}: from the bot's own account");
    assert!(
        matches!(&m.message[..], [Segment::Reply(r), Segment::At(q), Segment::Node(ForwardNode::Existing(n))]
            if r == want && q == want && n == want),
        "{:?}",
        m.message
    );

    let notice = |notice_type: &str, sub_type: &str| {
        let v = json!({"time": 1, "self_id": x, "post_type": "notice", "notice_type": notice_type,
            "sub_type": sub_type, "group_id": x, "user_id": x, "operator_id": x, "target_id": x,
            "message_id": x, "duration": 60, "honor_type": "talkative", "file": {"id": x, "name": "f"}});
        notice_of(&decode(&v)).clone()
    };
    let ids: Vec<String> = match notice("group_upload", "") {
        NoticeEvent::GroupUpload(u) => vec![u.group_id, u.user_id, u.file.id],
        other => panic!("{other:?}"),
    };
    assert!(ids.iter().all(|i| i == want), "{ids:?}");
    let mut ids = Vec::new();
    for (kind, sub) in [
        ("group_admin", "set"),
        ("group_increase", "approve"),
        ("group_decrease", "kick"),
        ("group_ban", "ban"),
        ("friend_add", ""),
        ("group_recall", ""),
        ("friend_recall", ""),
        ("notify", "poke"),
        ("notify", "lucky_king"),
        ("notify", "honor"),
    ] {
        ids.extend(match notice(kind, sub) {
            NoticeEvent::GroupAdmin(a) => vec![a.group_id, a.user_id],
            NoticeEvent::GroupIncrease(c) | NoticeEvent::GroupDecrease(c) => {
                vec![c.group_id, c.user_id, c.operator_id]
            }
            NoticeEvent::GroupBan(b) => vec![b.group_id, b.user_id, b.operator_id],
            NoticeEvent::FriendAdd(u) => vec![u],
            NoticeEvent::GroupRecall(r) => vec![r.group_id, r.user_id, r.operator_id, r.message_id],
            NoticeEvent::FriendRecall(r) => vec![r.user_id, r.message_id],
            NoticeEvent::Poke(p) => vec![p.group_id.unwrap_or_default(), p.user_id, p.target_id],
            NoticeEvent::LuckyKing(l) => vec![l.group_id, l.user_id, l.target_id],
            NoticeEvent::Honor(h) => vec![h.group_id, h.user_id],
            other => panic!("{kind}/{sub}: {other:?}"),
        });
    }
    assert_eq!(ids.len(), 26);
    assert!(ids.iter().all(|i| i == want), "{x}: {ids:?}");

    let request = |request_type: &str, sub_type: &str| {
        let v = json!({"time": 1, "self_id": x, "post_type": "request", "request_type": request_type,
            "sub_type": sub_type, "group_id": x, "user_id": x, "comment": "c", "flag": x});
        request_of(&decode(&v)).clone()
    };
    let RequestEvent::Friend(f) = request("friend", "") else {
        panic!("a friend request");
    };
    assert_eq!((f.user_id.as_str(), f.flag.as_str()), (want, want));
    let RequestEvent::Group(g) = request("group", "invite") else {
        panic!("a group request");
    };
    assert_eq!([g.group_id, g.user_id, g.flag], [want, want, want]);

    // Kept as JSON: the id's text is in it as sent.
    let NoticeEvent::Other(o) = notice("essence", "add") else {
        panic!("essence is an extension");
    };
    assert!(o.json.contains(&x.to_string()), "{x}: {}", o.json);
}

#[test]
fn ids_keep_their_exact_text() {
    for (x, want) in [
        (json!(9007199254740993_u64), "9007199254740993"),
        (json!("9007199254740993"), "9007199254740993"),
        (json!(-1), "-1"),
        (json!("abc"), "abc"),
        (json!(i64::MIN), "-9223372036854775808"),
        (json!(u64::MAX), "18446744073709551615"),
        (json!("007"), "007"),
    ] {
        check_ids(&x, want);
    }
    // Read from JSON text, as the transports do: still exact.
    let text = r#"{"time": 1, "self_id": 10001, "post_type": "message", "message_type": "private",
        "message_id": 9007199254740993, "user_id": 9007199254740995, "message": "x"}"#;
    let v: Value = serde_json::from_str(text).expect("JSON");
    let m = message_of(&decode(&v)).clone();
    assert_eq!(
        (m.message_id.as_str(), m.user_id.as_str()),
        ("9007199254740993", "9007199254740995")
    );
}

#[test]
fn napcat_extensions_arrive_whole_as_other() {
    // Segments: `mface`, `markdown`, `file`, kept with their whole data and sent back unchanged.
    let segments = json!([
        {"type": "mface", "data": {"emoji_package_id": 235514, "emoji_id": "a3d4b1c2e5f6",
            "key": "7d3c0f1e2a4b5c6d", "summary": "[好耶]", "url": "https://gxh.vip.qq.com/x.png"}},
        {"type": "markdown", "data": {"content": "# 标题\n**粗体** [链接](https://a.b)"}},
        {"type": "file", "data": {"file": "季度报表.pdf", "file_id": "/a8f0c5e4", "file_size": 9007199254740993_u64,
            "url": "", "nested": {"list": [1, -1, "x"]}}},
    ]);
    let e = decode(
        &json!({"time": 1, "self_id": 10001, "post_type": "message", "message_type": "private",
        "sub_type": "friend", "message_id": 1, "user_id": 1000001, "message": segments}),
    );
    let m = message_of(&e);
    for (segment, want) in m.message.iter().zip(segments.as_array().expect("segments")) {
        let Segment::Other(other) = segment else {
            panic!("{want} is not a V11 segment: {segment:?}");
        };
        assert_eq!(other.kind, want["type"].as_str().expect("type"));
        assert_eq!(
            serde_json::from_str::<Value>(&other.data_json).ok().as_ref(),
            Some(&want["data"])
        );
    }
    assert!(m.message.len() == 3 && segments_to_json(&m.message) == segments);
    assert!(m.raw_message.contains("9007199254740993"), "{}", m.raw_message);

    // Notices NapCat adds: kept whole, with their type and sub-type named.
    for (notice, notice_type, sub_type) in [
        (
            json!({"time": 1718000070, "self_id": 10001, "post_type": "notice",
                "notice_type": "group_msg_emoji_like", "group_id": 100100, "user_id": 1000004,
                "message_id": -2147483000, "likes": [{"emoji_id": "76", "count": 1}], "is_add": true}),
            "group_msg_emoji_like",
            None,
        ),
        (
            json!({"time": 1718000071, "self_id": 10001, "post_type": "notice", "notice_type": "notify",
                "sub_type": "input_status", "status_text": "对方正在输入...", "event_type": 1,
                "user_id": 1000001, "group_id": 0}),
            "notify",
            Some("input_status"),
        ),
        (
            json!({"time": 1718000072, "self_id": 10001, "post_type": "notice", "notice_type": "bot_offline",
                "user_id": 10001, "tag": "BotOfflineEvent", "message": "账号已下线"}),
            "bot_offline",
            None,
        ),
    ] {
        let NoticeEvent::Other(o) = notice_of(&decode(&notice)).clone() else {
            panic!("{notice} is an extension");
        };
        assert_eq!(o.notice_type, notice_type);
        assert_eq!(o.sub_type.as_deref(), sub_type);
        assert_eq!(serde_json::from_str::<Value>(&o.json).ok(), Some(notice));
    }
}

#[test]
fn malformed_events_are_errors() {
    assert_eq!(
        decode_event(&json!([1])).err(),
        Some(DecodeError::NotAnObject("an array"))
    );
    assert_eq!(
        decode_event(&json!("x")).err(),
        Some(DecodeError::NotAnObject("a string"))
    );
    assert_eq!(decode_event(&Value::Null).err(), Some(DecodeError::NotAnObject("null")));
    assert_eq!(
        decode_event(&json!({"self_id": 1})).err(),
        Some(DecodeError::MissingPostType)
    );
    assert_eq!(
        decode_event(&json!({"post_type": 3})).err(),
        Some(DecodeError::InvalidPostType("3".into()))
    );
}

#[test]
fn a_frame_read_in_place_decodes_as_its_tree_does() {
    use super::super::decode_object;
    use coral_model::wire::object::Fields;
    let in_place = |text: &str| decode_object(&Fields::parse(text).unwrap());
    let from_tree = |text: &str| decode_event(&serde_json::from_str::<Value>(text).unwrap());
    let same = |text: &str| {
        let (a, b) = (in_place(text), from_tree(text));
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{text}");
    };
    // A repeated key: the last one counts, as a parser keeps it.
    same(r#"{"post_type":"message","message_type":"private","self_id":9,"user_id":1,"user_id":2,"message":"hi"}"#);
    // Escaped keys and strings, unmapped fields (also inside `sender`) in their order, odd numbers.
    same(
        r#"{"post_type":"message","message_type":"group","self_id":9,"group_id":5,"user_id":"7",
        "message":[{"type":"text","data":{"text":"a\"b\\c\u4f60\n","extra":1}}],"raw_message":"x\u0041",
        "sender":{"user_id":7,"nickname":"n\u00e9","role":"admin","\u0078":[1.5e3,-0,null]},
        "message_format":"array","real_seq":"12","z":{"deep":{"er":true}},"font":1e2}"#,
    );
    // A notice, a request, a meta event and an unknown type go through a tree either way.
    same(
        r#"{"post_type":"notice","notice_type":"group_recall","self_id":9,"group_id":5,"user_id":7,"message_id":3,"extra":[1]}"#,
    );
    same(r#"{"post_type":"request","request_type":"friend","self_id":9,"user_id":7,"comment":"hi","flag":"f"}"#);
    same(
        r#"{"post_type":"meta_event","meta_event_type":"heartbeat","self_id":9,"interval":5000,"status":{"online":true}}"#,
    );
    same(r#"{"post_type":"weird","self_id":9,"a":{"b":[1,2]}}"#);
    // Errors are the same too.
    same(r#"{"self_id":1}"#);
    same(r#"{"post_type":3}"#);
    same(r#"{"post_type":"message","message_type":"private","self_id":9,"user_id":1,"message":42}"#);
    // Deeper than a tree may be: read in place it is refused as such, never decoded half-way.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let message =
        format!(r#"{{"post_type":"message","message_type":"private","self_id":9,"user_id":1,"message":{deep}}}"#);
    assert_eq!(in_place(&message).err(), Some(DecodeError::NoMessage));
    let notice = format!(r#"{{"post_type":"notice","notice_type":"x","self_id":9,"deep":{deep}}}"#);
    assert_eq!(in_place(&notice).err(), Some(DecodeError::TooDeep));
}

#[test]
fn a_message_array_read_in_place_decodes_as_its_tree_does() {
    use super::super::decode_object;
    use coral_model::wire::object::Fields;
    let frame = |message: &str| {
        format!(
            r#"{{"post_type":"message","message_type":"private","self_id":9,"user_id":1,"raw_message":"r","message":{message}}}"#
        )
    };
    let in_place = |message: &str| decode_object(&Fields::parse(&frame(message)).unwrap());
    let from_tree = |message: &str| decode_event(&serde_json::from_str::<Value>(&frame(message)).unwrap());
    let same = |message: &str| {
        let (a, b) = (in_place(message), from_tree(message));
        assert!(a.is_ok(), "{message}: {a:?}");
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{message}");
    };
    // Every kind with its optional fields, `null`s, extras (a repeated key: the last value, the first place).
    same(
        r#"[{"type":"text","data":{"text":"a\"[b]\\","x":1,"x":[2,{"y":null}]}},
        {"type":"image","data":{"file":"f","url":null,"cache":null,"proxy":"0","timeout":"7","type":"flash","sub_type":1,"file_size":"12","summary":"[s]"}},
        {"type":"record","data":{"file":"v","magic":1}},{"type":"video","data":{"file":"m"}},
        {"type":"at","data":{"qq":9}},{"type":"rps","data":{"result":3}},{"type":"dice"},{"type":"shake","data":null},
        {"type":"poke","data":{"type":"1","id":2}},{"type":"anonymous","data":{}},
        {"type":"share","data":{"url":"u","title":"t"}},{"type":"contact","data":{"type":"group","id":5}},
        {"type":"location","data":{"lat":"1.5","lon":2}},{"type":"music","data":{"type":"custom","url":"u","audio":"a","title":"t"}},
        {"type":"music","data":{"type":"qq","id":"3"}},{"type":"reply","data":{"id":"-7"}},{"type":"forward","data":{"id":"f"}},
        {"type":"node","data":{"id":"4"}},{"type":"node","data":{"uin":1,"name":"n","content":"[CQ:face,id=1]hi"}},
        {"type":"node","data":{"user_id":1,"nickname":"n","content":{"type":"face","data":{"id":"1"}}}},
        {"type":"xml","data":{"data":"<x/>"}},{"type":"json","data":{"data":"{}"}},
        {"type":"mface","data":{"emoji_id":"e","n":[1,2]}},{"type":"weird"},{"data":{"a":1}},{"type":"text","data":"x"}]"#,
    );
    // Items that are not segments, and an empty message.
    same(r#"["plain",1,null,[{"type":"text","data":{"text":"t"}}]]"#);
    same("[]");
    // As deep as a tree may be it is read; one level more and the message is refused, as the tree refuses it.
    let nested = |levels: usize| format!("[{}{}]", "[".repeat(levels - 1), "]".repeat(levels - 1));
    assert!(in_place(&nested(127)).is_ok());
    assert_eq!(in_place(&nested(128)).err(), Some(DecodeError::NoMessage));
    // Brackets inside strings are not nesting.
    let bracketed = format!(r#"[{{"type":"text","data":{{"text":"{}"}}}}]"#, "[".repeat(300));
    assert!(in_place(&bracketed).is_ok());
}
