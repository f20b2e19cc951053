//! Tests of [`action_request`]: every API fixture's request is produced from its [`Action`], ids are numbers only
//! when canonical, and the extension and raw actions.

use super::{Id, action_request, num};
use crate::onebot::protocol::tests::fixture_dir;
use coral_model::Action;
use coral_model::bindings::{Chat, GroupRequestKind, Segment, SendOptions};
use coral_model::wire::json::{self as data, id, int, uint};
use coral_model::wire::segment::message_array;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The [`Action`] a fixture request stands for, built from the fixture's own params.
fn fixture_action(action: &str, p: &Value) -> Action {
    let s = |key: &str| id(p, key);
    let b = |key: &str| p[key].as_bool().unwrap_or_else(|| panic!("{action}: {key}"));
    match action {
        "send_private_msg" => Action::SendPrivateMsg {
            user_id: s("user_id"),
            message: data::message(&p["message"]),
        },
        "send_group_msg" => Action::SendGroupMsg {
            group_id: s("group_id"),
            message: data::message(&p["message"]),
        },
        "send_msg" => Action::SendMsg {
            target: if p["message_type"] == "group" {
                Chat::Group(s("group_id"))
            } else {
                Chat::Private(s("user_id"))
            },
            message: data::message(&p["message"]),
            options: SendOptions {
                at_sender: None,
                reply_to: None,
            },
        },
        "delete_msg" => Action::DeleteMsg {
            message_id: s("message_id"),
        },
        "get_msg" => Action::GetMsg {
            message_id: s("message_id"),
        },
        "get_forward_msg" => Action::GetForwardMsg { id: s("id") },
        "send_like" => Action::SendLike {
            user_id: s("user_id"),
            times: uint(p, "times"),
        },
        "set_group_kick" => Action::SetGroupKick {
            group_id: s("group_id"),
            user_id: s("user_id"),
            reject_add_request: b("reject_add_request"),
        },
        "set_group_ban" => Action::SetGroupBan {
            group_id: s("group_id"),
            user_id: s("user_id"),
            duration_secs: uint(p, "duration"),
        },
        "set_group_anonymous_ban" => Action::SetGroupAnonymousBan {
            group_id: s("group_id"),
            flag: id(&p["anonymous"], "flag"),
            duration_secs: uint(p, "duration"),
        },
        "set_group_whole_ban" => Action::SetGroupWholeBan {
            group_id: s("group_id"),
            enable: b("enable"),
        },
        "set_group_admin" => Action::SetGroupAdmin {
            group_id: s("group_id"),
            user_id: s("user_id"),
            enable: b("enable"),
        },
        "set_group_anonymous" => Action::SetGroupAnonymous {
            group_id: s("group_id"),
            enable: b("enable"),
        },
        "set_group_card" => Action::SetGroupCard {
            group_id: s("group_id"),
            user_id: s("user_id"),
            card: s("card"),
        },
        "set_group_name" => Action::SetGroupName {
            group_id: s("group_id"),
            name: s("group_name"),
        },
        "set_group_leave" => Action::SetGroupLeave {
            group_id: s("group_id"),
            is_dismiss: b("is_dismiss"),
        },
        "set_group_special_title" => Action::SetGroupSpecialTitle {
            group_id: s("group_id"),
            user_id: s("user_id"),
            title: s("special_title"),
            duration_secs: int(p, "duration"),
        },
        "set_friend_add_request" => Action::SetFriendAddRequest {
            flag: s("flag"),
            approve: b("approve"),
            remark: s("remark"),
        },
        "set_group_add_request" => Action::SetGroupAddRequest {
            flag: s("flag"),
            kind: if s("sub_type") == "invite" {
                GroupRequestKind::Invite
            } else {
                GroupRequestKind::Add
            },
            approve: b("approve"),
            reason: s("reason"),
        },
        "get_login_info" => Action::GetLoginInfo,
        "get_stranger_info" => Action::GetStrangerInfo {
            user_id: s("user_id"),
            no_cache: b("no_cache"),
        },
        "get_friend_list" => Action::GetFriendList,
        "get_group_info" => Action::GetGroupInfo {
            group_id: s("group_id"),
            no_cache: b("no_cache"),
        },
        "get_group_list" => Action::GetGroupList,
        "get_group_member_info" => Action::GetGroupMemberInfo {
            group_id: s("group_id"),
            user_id: s("user_id"),
            no_cache: b("no_cache"),
        },
        "get_group_member_list" => Action::GetGroupMemberList {
            group_id: s("group_id"),
        },
        "get_group_honor_info" => Action::GetGroupHonorInfo {
            group_id: s("group_id"),
            honor_type: s("type"),
        },
        "get_cookies" => Action::GetCookies { domain: s("domain") },
        "get_csrf_token" => Action::GetCsrfToken,
        "get_credentials" => Action::GetCredentials { domain: s("domain") },
        "get_record" => Action::GetRecord {
            file: s("file"),
            out_format: s("out_format"),
        },
        "get_image" => Action::GetImage { file: s("file") },
        "can_send_image" => Action::CanSendImage,
        "can_send_record" => Action::CanSendRecord,
        "get_status" => Action::GetStatus,
        "get_version_info" => Action::GetVersionInfo,
        "set_restart" => Action::SetRestart {
            delay_ms: uint(p, "delay"),
        },
        "clean_cache" => Action::CleanCache,
        other => panic!("no Action for fixture action {other}"),
    }
}

/// The bytes of every string and number in `params` outside its messages (what [`Action::text_bytes`] counts).
fn param_text_bytes(params: &Value) -> usize {
    match params {
        Value::String(s) => s.len(),
        Value::Number(n) => n.to_string().len(),
        Value::Array(items) => items.iter().map(param_text_bytes).sum(),
        Value::Object(map) => map
            .iter()
            .filter(|(key, _)| key.as_str() != "message")
            .map(|(_, v)| param_text_bytes(v))
            .sum(),
        _ => 0,
    }
}

#[test]
fn an_action_s_text_bytes_cover_every_id_and_text_it_sends() {
    for (_, fixture) in fixture_dir("api") {
        let request = &fixture["request"];
        let name = request["action"].as_str().expect("action");
        let action = fixture_action(name, &request["params"]);
        let params = action_request(&action).1.to_value();
        // Ids go out as numbers or strings and flags, times and counts as numbers: every id and text is
        // counted, and what is not counted is a short scalar.
        let sent = param_text_bytes(&params);
        let counted = action.text_bytes();
        assert!(counted <= sent, "{name}: counted {counted} of {sent}");
        assert!(
            sent - counted <= 16,
            "{name}: {sent} bytes sent, only {counted} counted: a field is missed"
        );
    }
}

#[test]
fn every_api_fixture_request_is_produced_from_its_action() {
    let files = fixture_dir("api");
    assert_eq!(files.len(), 38, "the 38 V11 APIs");
    let mut names = BTreeSet::new();
    for (file, fixture) in files {
        let request = &fixture["request"];
        let name = request["action"].as_str().expect("action");
        assert_eq!(file, format!("{name}.json"));
        let mut want = request["params"].clone();
        let action = fixture_action(name, &want);
        let (got_name, got) = action_request(&action);
        let mut got = got.to_value();
        assert_eq!(got_name, name);
        names.insert(got_name.to_string());

        // Equivalent forms, normalised: messages as arrays; `auto_escape: false` is the default and
        // only matters for string messages, which Coral never sends; the anonymous object of
        // `set_group_anonymous_ban` is sent as its flag; `type` duplicates `sub_type`.
        let want_obj = want.as_object_mut().expect("params object");
        if let Some(message) = want_obj.get("message").and_then(message_array) {
            want_obj.insert("message".into(), Value::Array(message));
        }
        if want_obj.get("auto_escape") == Some(&Value::Bool(false)) {
            want_obj.remove("auto_escape");
        }
        if let Some(anonymous) = want_obj.remove("anonymous") {
            want_obj.insert("anonymous_flag".into(), anonymous["flag"].clone());
            want_obj.insert("flag".into(), anonymous["flag"].clone());
        }
        if name == "set_group_add_request" {
            let got_obj = got.as_object_mut().expect("params object");
            assert_eq!(got_obj.remove("type"), got_obj.get("sub_type").cloned());
        }
        assert_eq!(got, want, "{name}");
    }
    assert_eq!(names.len(), 38);
}

#[test]
fn send_msg_puts_the_reply_first_then_the_mention() {
    let action = Action::SendMsg {
        target: Chat::Group("100100".into()),
        message: vec![Segment::Text("pong".into())],
        options: SendOptions {
            at_sender: Some("1000004".into()),
            reply_to: Some("-2147483000".into()),
        },
    };
    let (name, params) = action_request(&action);
    assert_eq!(name, "send_msg");
    assert_eq!(
        params.to_value(),
        json!({"message_type": "group", "group_id": 100100, "message": [
            {"type": "reply", "data": {"id": "-2147483000"}},
            {"type": "at", "data": {"qq": "1000004"}},
            {"type": "text", "data": {"text": " "}},
            {"type": "text", "data": {"text": "pong"}},
        ]})
    );
    let action = Action::SendMsg {
        target: Chat::Private("u-1".into()),
        message: vec![],
        options: SendOptions {
            at_sender: None,
            reply_to: None,
        },
    };
    let (_, params) = action_request(&action);
    assert_eq!(
        params.to_value(),
        json!({"message_type": "private", "user_id": "u-1", "message": []})
    );
}

#[test]
fn ids_are_numbers_only_when_they_are_canonical_integers() {
    assert_eq!(num("100100"), json!(100100));
    assert_eq!(num("-2147483000"), json!(-2147483000_i64));
    assert_eq!(num("18446744073709551615"), json!(u64::MAX));
    assert_eq!(num("18446744073709551616"), json!("18446744073709551616"));
    assert_eq!(num("007"), json!("007"));
    assert_eq!(num("+7"), json!("+7"));
    assert_eq!(num(" 7"), json!(" 7"));
    assert_eq!(num(""), json!(""));
    assert_eq!(num("abc"), json!("abc"));
    assert_eq!(num("0"), json!(0));
    assert_eq!(num("-0"), json!("-0"));
    assert_eq!(num("-"), json!("-"));
    assert_eq!(num("-07"), json!("-07"));
    assert_eq!(num("-9223372036854775808"), json!(i64::MIN));
    assert_eq!(num("-9223372036854775809"), json!("-9223372036854775809"));
    // A send's ids are written without a tree, the same way.
    for id in [
        "100100",
        "-2147483000",
        "18446744073709551615",
        "18446744073709551616",
        "007",
        "-0",
        "0",
        "u-1",
    ] {
        assert_eq!(serde_json::to_value(Id(id)).unwrap(), num(id), "{id}");
    }
    let action = Action::DeleteMsg {
        message_id: "a1b2".into(),
    };
    let (_, params) = action_request(&action);
    assert_eq!(params.to_value(), json!({"message_id": "a1b2"}));
    // The forward id is a string in the spec, even when it looks like a number.
    let action = Action::GetForwardMsg { id: "123".into() };
    let (_, params) = action_request(&action);
    assert_eq!(params.to_value(), json!({"id": "123"}));
}

#[test]
fn extension_and_raw_actions() {
    let request = |action: Action| {
        let (name, params) = action_request(&action);
        (name.to_string(), params.to_value())
    };
    assert_eq!(
        request(Action::DeleteFriend {
            user_id: "1000001".into()
        }),
        ("delete_friend".to_string(), json!({"user_id": 1000001}))
    );
    let params = json!({"message_id": 5, "emoji_id": "76", "set": true});
    assert_eq!(
        request(Action::Raw {
            action: "set_msg_emoji_like".into(),
            params: params.clone(),
        }),
        ("set_msg_emoji_like".to_string(), params)
    );
    assert_eq!(
        request(Action::Raw {
            action: "get_online_clients".into(),
            params: Value::Null,
        }),
        ("get_online_clients".to_string(), json!({}))
    );
    let (_, params) = request(Action::SetGroupAddRequest {
        flag: "f".into(),
        kind: GroupRequestKind::Invite,
        approve: true,
        reason: String::new(),
    });
    assert_eq!(
        params,
        json!({"flag": "f", "sub_type": "invite", "type": "invite", "approve": true, "reason": ""})
    );
}
