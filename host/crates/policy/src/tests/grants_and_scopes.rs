//! Tests of grants and scopes: both locks (requested and granted), free replies, group / user scopes, and
//! where a recall or a send to the bot itself is judged.

use super::*;
use serde_json::json;

#[test]
fn both_locks_are_needed() {
    let p = Policy::new(&req(&["kick"]), &grants(&[]));
    assert_eq!(denied(check(&p, &kick("1"))), Capability::Kick);
    let p = Policy::new(&req(&[]), &grants(&["kick"]));
    assert_eq!(denied(check(&p, &kick("1"))), Capability::Kick);
    let p = policy(&["kick"]);
    assert_eq!(check(&p, &kick("1")).unwrap().capability, Capability::Kick);
    assert_eq!(p.effective(), [Capability::Kick].into());
}

#[test]
fn without_grants_only_replies_into_the_events_chat() {
    let p = Policy::new(&req(&["send"]), &grants(&[]));
    let here = Chat::Group("100".into());
    let text = vec![Segment::Text("hi".into())];
    assert!(check_in(&p, &send(here.clone(), text.clone()), &here).is_ok());
    assert!(check_in(&p, &send(Chat::Group("200".into()), text.clone()), &here).is_err());
    assert!(check_in(&p, &send(Chat::Private("42".into()), text.clone()), &here).is_err());
    assert!(check(&p, &send(here.clone(), text)).is_err(), "no event, no reply");
    // Even a reply may not carry @all or a local file without their grants, in any form.
    let all = vec![Segment::At("all".into())];
    assert_eq!(denied(check_in(&p, &send(here.clone(), all), &here)), Capability::AtAll);
    let via_options = send_with(here.clone(), vec![Segment::Text("hi".into())], Some("all"), None);
    assert_eq!(denied(check_in(&p, &via_options, &here)), Capability::AtAll);
    let via_options = send_with(here.clone(), vec![], Some(" ALL "), None);
    assert_eq!(denied(check_in(&p, &via_options, &here)), Capability::AtAll);
    for (kind, data, needs) in [
        ("at", json!({"qq": "all"}), Capability::AtAll),
        ("AT", json!({"qq": "ALL"}), Capability::AtAll),
        ("image", json!({"file": "/etc/passwd"}), Capability::LocalFile),
        ("file", json!({"file": "C:/x"}), Capability::LocalFile),
        ("video", json!({"file": "file:///x"}), Capability::LocalFile),
        (
            "record",
            json!({"file": "http://169.254.169.254/x"}),
            Capability::MediaUrl,
        ),
        ("mface", json!({"url": "https://x/y.gif"}), Capability::MediaUrl),
    ] {
        let message = vec![other(kind, data)];
        assert_eq!(
            denied(check_in(&p, &send(here.clone(), message), &here)),
            needs,
            "{kind}"
        );
    }
}

#[test]
fn scopes_limit_where_a_grant_applies() {
    let mut g = grants(&["kick", "send"]);
    g.scopes.insert(
        Capability::Kick,
        Scope {
            groups: Some(["1000001".to_string()].into()),
            users: None,
        },
    );
    let p = Policy::new(&req(&["kick", "send"]), &g);
    assert!(check(&p, &kick("1000001")).is_ok());
    let err = check(&p, &kick("1000002")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "permission denied: `kick` is not granted for group 1000002 user 42"
    );
    // `send` has the plugin-wide (open) scope.
    assert!(check(&p, &send(Chat::Group("5".into()), vec![])).is_ok());
    // A plugin-wide scope limits every grant, and user targets need the user list.
    let mut g = grants(&["send"]);
    g.scope = Scope {
        groups: Some(["7".to_string()].into()),
        users: None,
    };
    let p = Policy::new(&req(&["send"]), &g);
    assert!(check(&p, &send(Chat::Group("7".into()), vec![])).is_ok());
    assert!(check(&p, &send(Chat::Private("7".into()), vec![])).is_err());
}

#[test]
fn a_users_scope_restricts_who_may_be_touched_even_in_a_listed_group() {
    let mut g = grants(&["kick", "send"]);
    g.scope = Scope {
        groups: Some(["1".to_string()].into()),
        users: Some(["42".to_string()].into()),
    };
    let p = Policy::new(&req(&["kick", "send"]), &g);
    assert!(check(&p, &kick("1")).is_ok(), "42 in group 1");
    let other_user = Action::SetGroupKick {
        group_id: "1".into(),
        user_id: "43".into(),
        reject_add_request: false,
    };
    assert_eq!(denied(check(&p, &other_user)), Capability::Kick);
    assert!(check(&p, &send(Chat::Private("42".into()), vec![])).is_ok());
    assert!(check(&p, &send(Chat::Private("43".into()), vec![])).is_err());
    // A raw kick is judged the same way.
    let p = Policy::new(
        &req(&["kick", "call-api:set_group_kick"]),
        &Grants {
            grants: [Capability::Kick, Capability::CallApi("set_group_kick".into())].into(),
            scope: g.scope.clone(),
            ..Grants::default()
        },
    );
    assert!(check(&p, &raw("set_group_kick", json!({"group_id": 1, "user_id": 42}))).is_ok());
    assert!(check(&p, &raw("set_group_kick", json!({"group_id": 1, "user_id": 43}))).is_err());
}

#[test]
fn a_typed_send_to_the_bot_itself_is_refused_but_a_raw_one_is_allowed() {
    let p = policy(&["send", "call-api:send_private_msg"]);
    let context = Context {
        bot: Some("10001"),
        reply_chat: None,
        messages: &NoMessages,
    };
    let to_self = send(Chat::Private("10001".into()), vec![Segment::Text("x".into())]);
    let refused = p.check(&mut to_self.clone(), &context).unwrap_err();
    assert!(refused.to_string().contains("this bot itself"), "{refused}");
    let here = Chat::Private("10001".into());
    let as_reply = Context {
        reply_chat: Some(&here),
        ..context
    };
    assert!(p.check(&mut to_self.clone(), &as_reply).is_err(), "not even as a reply");
    let mut raw_self = raw("send_private_msg", json!({"user_id": 10001, "message": "x"}));
    assert!(p.check(&mut raw_self, &as_reply).is_ok());
    assert!(
        p.check(&mut send(Chat::Private("42".into()), vec![]), &as_reply)
            .is_ok()
    );
}

#[test]
fn recalls_are_scoped_by_where_the_message_is() {
    let mut g = grants(&["recall"]);
    g.scope = Scope {
        groups: Some(["1".to_string()].into()),
        users: None,
    };
    let p = Policy::new(&req(&["recall"]), &g);
    let known = Known([("9", Chat::Group("1".into())), ("10", Chat::Group("2".into()))].into());
    let context = Context {
        bot: None,
        reply_chat: None,
        messages: &known,
    };
    let recall = |id: &str| Action::DeleteMsg { message_id: id.into() };
    assert!(p.check(&mut recall("9"), &context).is_ok());
    assert!(p.check(&mut recall("10"), &context).is_err());
    assert!(
        p.check(&mut recall("11"), &context).is_err(),
        "an unknown message is outside a scoped grant"
    );
    let open = policy(&["recall"]);
    assert!(check(&open, &recall("11")).is_ok());
}

/// A message seen in group 2, then named in group 1 (an id inside a quote or forward of a group-1 message, as
/// the implementation resolved it from what the sender wrote), stays in group 2: a recall scoped to group 1
/// cannot reach it.
#[test]
fn a_message_seen_in_one_chat_is_not_moved_by_a_later_sighting() {
    let mut g = grants(&["recall"]);
    g.scope = Scope {
        groups: Some(["1".to_string()].into()),
        users: None,
    };
    let p = Policy::new(&req(&["recall"]), &g);
    let mut index = crate::messages::MessageIndex::default();
    index.remember("10001", "9", &Chat::Group("2".into()));
    index.remember("10001", "9", &Chat::Group("1".into()));
    let messages = index.of_bot("10001");
    let context = Context {
        bot: Some("10001"),
        reply_chat: None,
        messages: &messages,
    };
    let mut recall = Action::DeleteMsg { message_id: "9".into() };
    assert_eq!(denied(p.check(&mut recall, &context)), Capability::Recall);
}
