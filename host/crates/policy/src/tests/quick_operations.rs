//! Tests of `.handle_quick_operation`: each operation maps to its typed capability, however it is written.

use super::*;
use serde_json::json;

#[test]
fn quick_operations_map_to_each_typed_capability() {
    let p = policy(&["call-api:.handle_quick_operation", "send"]);
    let context = json!({"post_type": "message", "message_type": "group", "group_id": 1, "user_id": 2});
    let reply = raw(
        ".handle_quick_operation",
        json!({"context": context, "operation": {"reply": "hi"}}),
    );
    assert!(check(&p, &reply).is_ok());
    let kick = raw(
        ".handle_quick_operation",
        json!({"context": context, "operation": {"kick": true}}),
    );
    assert_eq!(denied(check(&p, &kick)), Capability::Kick);
    let all = raw(
        ".handle_quick_operation",
        json!({"context": context, "operation": {"reply": "[CQ:at,qq=all]"}}),
    );
    assert_eq!(denied(check(&p, &all)), Capability::AtAll);
    let forged = json!({"post_type": "message", "message_type": "group", "group_id": 1, "user_id": 2,
                        "sender": {"user_id": 3}});
    let forged = raw(
        ".handle_quick_operation",
        json!({"context": forged, "operation": {"reply": "x"}}),
    );
    assert!(matches!(check(&p, &forged), Err(PolicyError::Invalid(_))));
}

/// go-cqhttp reads quick-operation flags with `gjson.Bool`: `1`, `"1"`, `"true"` kick, ban and recall too.
#[test]
fn quick_operation_flags_are_on_however_they_are_written() {
    let p = policy(&["call-api:.handle_quick_operation", "send"]);
    let known = Known([("9", Chat::Group("1".into()))].into());
    let check = |p: &Policy, action: &Action| {
        p.check(
            &mut action.clone(),
            &Context {
                bot: None,
                reply_chat: None,
                messages: &known,
            },
        )
    };
    let context = json!({"post_type": "message", "message_type": "group", "group_id": 1, "user_id": 2,
                         "message_id": 9});
    for (key, needs) in [
        ("kick", Capability::Kick),
        ("ban", Capability::Ban),
        ("delete", Capability::Recall),
    ] {
        for on in [json!(1), json!("1"), json!("true"), json!("TRUE"), json!(0.5)] {
            let op = raw(
                ".handle_quick_operation",
                json!({"context": context, "operation": {"reply": "hi", key: on}}),
            );
            assert_eq!(denied(check(&p, &op)), needs, "{key}: {on}");
        }
        for off in [json!(false), json!(0), json!(null), json!("")] {
            let op = raw(
                ".handle_quick_operation",
                json!({"context": context, "operation": {"reply": "hi", key: off}}),
            );
            assert!(check(&p, &op).is_ok(), "{key}: {off}");
        }
    }
}

/// go-cqhttp's `at_sender` mentions `sender.user_id` (a missing one is 0: @all), and NapCat quotes the context's
/// `message_id` in a group reply: both are the plugin's to write in a raw quick operation.
#[test]
fn a_quick_reply_mentions_and_quotes_what_its_context_says() {
    let p = policy(&["call-api:.handle_quick_operation", "send"]);
    let known = Known([("9", Chat::Group("1".into())), ("10", Chat::Group("2".into()))].into());
    let context = Context {
        bot: None,
        reply_chat: None,
        messages: &known,
    };
    let quick = |ctx: serde_json::Value, op: serde_json::Value| {
        raw(".handle_quick_operation", json!({"context": ctx, "operation": op}))
    };
    let group = |extra: serde_json::Value| {
        let mut ctx = json!({"post_type": "message", "message_type": "group", "group_id": 1, "user_id": 2,
                             "message_id": 9});
        for (k, v) in extra.as_object().unwrap() {
            ctx[k] = v.clone();
        }
        ctx
    };
    let mut fine = quick(
        group(json!({"sender": {"user_id": 2}})),
        json!({"reply": "hi", "at_sender": true}),
    );
    assert!(p.check(&mut fine, &context).is_ok());
    // No sender: go-cqhttp mentions account 0.
    let mut no_sender = quick(group(json!({})), json!({"reply": "hi", "at_sender": true}));
    assert_eq!(denied(p.check(&mut no_sender, &context)), Capability::AtAll);
    let mut zero = quick(
        group(json!({"user_id": 0, "sender": {"user_id": 0}})),
        json!({"reply": "hi"}),
    );
    assert_eq!(denied(p.check(&mut zero, &context)), Capability::AtAll);
    // NapCat quotes message 10, which is in group 2.
    let mut elsewhere = quick(
        group(json!({"message_id": 10})),
        json!({"reply": "hi", "at_sender": false}),
    );
    assert_eq!(denied(p.check(&mut elsewhere, &context)), Capability::Send);
    let mut unknown = quick(
        group(json!({"message_id": 11})),
        json!({"reply": "hi", "at_sender": false}),
    );
    assert_eq!(denied(p.check(&mut unknown, &context)), Capability::Send);
}
