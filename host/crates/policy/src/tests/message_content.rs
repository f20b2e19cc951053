//! Tests of what a message carries: content capabilities (`at-all`, `local-file`, `media-url`), the message
//! strings Coral replaces with what it judged, and references (quotes, forwards) into the chat sent to.

use super::*;
use coral_model::bindings::coral::bot::types::{CustomNode, ForwardNode};
use serde_json::json;

#[test]
fn content_needs_its_own_grants() {
    let p = policy(&["send", "media-url"]);
    let chat = Chat::Group("1".into());
    assert!(check(&p, &send(chat.clone(), vec![image("https://x/y.png")])).is_ok());
    assert!(check(&p, &send(chat.clone(), vec![image("base64://AAAA")])).is_ok());
    assert_eq!(
        denied(check(&p, &send(chat.clone(), vec![image("file:///etc/passwd")]))),
        Capability::LocalFile
    );
    for path in ["/etc/passwd", "C:/x", "c:\\x", "../x", "~/x", "FILE:///x"] {
        assert!(check(&p, &send(chat.clone(), vec![image(path)])).is_err(), "{path}");
    }
    assert!(check(&p, &send(chat.clone(), vec![Segment::At("all".into())])).is_err());
    // Hidden inside a forward node, or in a raw call's CQ string, it is found too.
    let node = Segment::Node(ForwardNode::Custom(CustomNode {
        user_id: "1".into(),
        nickname: "n".into(),
        content_json: r#"[{"type":"at","data":{"qq":"all"}}]"#.into(),
    }));
    assert!(check(&p, &send(chat.clone(), vec![node])).is_err());
    let p = policy(&["send", "call-api:send_msg"]);
    let at_all = raw("send_msg", json!({"group_id": 1, "message": "hi [CQ:at,qq=all]"}));
    assert_eq!(denied(check(&p, &at_all)), Capability::AtAll);
    // The lenient form is sent as the text Coral parsed it as: nothing for the implementation to re-parse.
    let mut lenient = raw("send_msg", json!({"group_id": 1, "message": "[CQ:at,qq=all,a=[]"}));
    assert!(p.check(&mut lenient, &Context::none()).is_ok());
    let Action::Raw { params, .. } = &lenient else {
        unreachable!()
    };
    assert_eq!(
        params["message"],
        json!([{"type": "text", "data": {"text": "[CQ:at,qq=all,a=[]"}}])
    );
}

/// go-cqhttp reads an `at` it cannot parse as 0 and MiraiGo's `NewAt(0)` is @all; Lagrange's `Mention(0)` is
/// @all and a missing `qq` defaults to "0". Only one account's number is a plain mention.
#[test]
fn a_mention_of_account_zero_or_of_no_account_is_an_at_all() {
    let p = Policy::new(&req(&["send"]), &grants(&[]));
    let here = Chat::Group("100".into());
    for who in ["0", "00", "", " 42", "+0", "-1", "alice"] {
        let typed = send(here.clone(), vec![Segment::At(who.into())]);
        assert_eq!(denied(check_in(&p, &typed, &here)), Capability::AtAll, "{who:?}");
        let via_options = send_with(here.clone(), vec![Segment::Text("x".into())], Some(who), None);
        assert_eq!(denied(check_in(&p, &via_options, &here)), Capability::AtAll, "{who:?}");
    }
    for data in [
        json!({"qq": "0"}),
        json!({"qq": 0}),
        json!({}),
        json!({"qq": ""}),
        json!({"qq": "", "target": "0"}),
        json!({"name": "x"}),
    ] {
        let message = vec![other("at", data.clone())];
        assert_eq!(
            denied(check_in(&p, &send(here.clone(), message), &here)),
            Capability::AtAll,
            "{data}"
        );
    }
    let p = Policy::new(
        &req(&["send", "call-api:send_group_msg"]),
        &grants(&["call-api:send_group_msg"]),
    );
    let cq = raw("send_group_msg", json!({"group_id": 100, "message": "hi [CQ:at,qq=0]"}));
    assert_eq!(denied(check_in(&p, &cq, &here)), Capability::AtAll);
    // One account is a plain mention, by number or string, with a display name.
    let p = Policy::new(&req(&["send"]), &grants(&[]));
    for message in [
        vec![Segment::At("42".into())],
        vec![other("at", json!({"qq": "42", "name": "Alice"}))],
        vec![other("at", json!({"qq": 42}))],
    ] {
        assert!(check_in(&p, &send(here.clone(), message), &here).is_ok());
    }
}

/// NapCat fetches `http:host` (the URL parser adds the slashes); go-cqhttp decodes `%2F` in what starts with
/// `file` before reading it.
#[test]
fn urls_without_slashes_and_percent_encoded_paths_are_judged_as_what_they_reach() {
    let p = policy(&["send"]);
    let chat = Chat::Group("1".into());
    for (file, needs) in [
        ("http:169.254.169.254", Capability::MediaUrl),
        ("https:internal.lan:8080?x=1", Capability::MediaUrl),
        ("HTTP:10.0.0.1", Capability::MediaUrl),
        ("file%2F..%2F..%2Fdevice.json", Capability::LocalFile),
        ("x%5C..%5Csecret", Capability::LocalFile),
        ("%2Fetc%2Fpasswd", Capability::LocalFile),
    ] {
        assert_eq!(
            denied(check(&p, &send(chat.clone(), vec![image(file)]))),
            needs,
            "{file}"
        );
    }
    for inline in ["cat.jpg", "abc.image", "base64:AAAA", "100%.png"] {
        assert!(check(&p, &send(chat.clone(), vec![image(inline)])).is_ok(), "{inline}");
    }
}

/// A call's parameters that also look like a segment (`type` and `data`) are judged as a segment *and* as
/// parameters; a node-shaped one still has its `message` string replaced by an array.
#[test]
fn parameters_shaped_like_a_segment_are_still_parameters() {
    let p = policy(&["send", "call-api:send_group_msg", "call-api:upload_group_file"]);
    let at_all = raw(
        "send_group_msg",
        json!({"type": "text", "data": {}, "group_id": 1, "message": "[CQ:at,qq=all]"}),
    );
    assert_eq!(denied(check(&p, &at_all)), Capability::AtAll);
    let upload = raw(
        "upload_group_file",
        json!({"type": "text", "data": {}, "group_id": 1, "file": "/etc/passwd", "name": "x"}),
    );
    assert_eq!(denied(check(&p, &upload)), Capability::LocalFile);
    let mut node_shaped = raw(
        "send_group_msg",
        json!({"type": "node", "data": {"content": "x"}, "group_id": 1, "message": "[CQ:at,qq=all,a=[]"}),
    );
    assert!(p.check(&mut node_shaped, &Context::none()).is_ok());
    let Action::Raw { params, .. } = &node_shaped else {
        unreachable!()
    };
    assert!(params["message"].is_array(), "{params}");
    assert!(params["data"]["content"].is_array(), "{params}");
}

/// Every message string Coral judged is replaced, however deep: a string left as written would be parsed by the
/// implementation's own (lenient) CQ parser. `[CQ:image,file=file:///etc/passwd,a=[]` is text to Coral and an
/// image of a local file to NapCat's regex.
#[test]
fn every_judged_message_string_is_replaced_however_deep() {
    let p = policy(&["send", "call-api:send_group_forward_msg"]);
    let mut content = json!("[CQ:image,file=file:///etc/passwd,a=[]");
    for _ in 0..4 {
        content = json!({"type": "node", "data": {"user_id": "1", "nickname": "n", "content": content}});
    }
    let mut deep = raw("send_group_forward_msg", json!({"group_id": 1, "messages": content}));
    assert!(
        p.check(&mut deep, &Context::none()).is_ok(),
        "four levels are within the judge's depth"
    );
    {
        let Action::Raw { params, .. } = &deep else {
            unreachable!()
        };
        fn strings_left(v: &serde_json::Value) -> bool {
            match v {
                serde_json::Value::Object(m) => m
                    .iter()
                    .any(|(k, v)| (k == "content" || k == "messages") && v.is_string() || strings_left(v)),
                serde_json::Value::Array(items) => items.iter().any(strings_left),
                _ => false,
            }
        }
        assert!(!strings_left(params), "a message string went out as written: {params}");
    }
}

#[test]
fn content_is_charged_and_listed_when_used() {
    let mut g = grants(&["send", "at-all"]);
    g.rates
        .insert(Capability::AtAll, ("1/hour".into(), Rate::parse("1/hour").unwrap()));
    let p = Policy::new(&req(&["send", "at-all"]), &g);
    let all = send(Chat::Group("1".into()), vec![Segment::At("all".into())]);
    let decision = check(&p, &all).unwrap();
    assert!(decision.is_audited());
    assert_eq!(decision.capabilities(), "send+at-all");
    assert!(matches!(check(&p, &all), Err(PolicyError::RateLimited { .. })));
    // A plain send is not limited by the @all rate.
    assert!(check(&p, &send(Chat::Group("1".into()), vec![Segment::Text("x".into())])).is_ok());
}

#[test]
fn references_must_point_into_the_chat_sent_to() {
    let p = policy(&["send"]);
    let known = Known([("7", Chat::Group("1".into())), ("8", Chat::Group("2".into()))].into());
    let context = Context {
        bot: None,
        reply_chat: None,
        messages: &known,
    };
    let here = Chat::Group("1".into());
    let quote = |id: &str| send_with(here.clone(), vec![Segment::Text("x".into())], None, Some(id));
    assert!(p.check(&mut quote("7"), &context).is_ok());
    assert_eq!(denied(p.check(&mut quote("8"), &context)), Capability::Send);
    assert!(p.check(&mut quote("unknown"), &context).is_err());
    let mut node = send(here.clone(), vec![Segment::Node(ForwardNode::Existing("8".into()))]);
    assert!(p.check(&mut node, &context).is_err());
    let mut reply_seg = send(here.clone(), vec![other("reply", json!({"id": "8"}))]);
    assert!(p.check(&mut reply_seg, &context).is_err());
}

/// go-cqhttp turns a `reply` with `text` (and `qq`/`user_id`, `seq`, `time`) into a quote of that text from that
/// account, with or without an id; the text is parsed as CQ code.
#[test]
fn a_quote_is_of_a_known_message_by_id_never_custom() {
    let p = policy(&["send"]);
    let known = Known([("7", Chat::Group("1".into()))].into());
    let context = Context {
        bot: None,
        reply_chat: None,
        messages: &known,
    };
    let here = Chat::Group("1".into());
    for data in [
        json!({"text": "[CQ:at,qq=all] I never said this", "qq": "10000", "seq": "1"}),
        json!({"id": "7", "text": "forged"}),
        json!({"id": "7", "user_id": "10000"}),
    ] {
        let mut forged = send(here.clone(), vec![other("reply", data.clone())]);
        assert!(
            matches!(p.check(&mut forged, &context), Err(PolicyError::Invalid(_))),
            "{data}"
        );
    }
    let mut no_id = send(here.clone(), vec![other("reply", json!({}))]);
    assert_eq!(denied(p.check(&mut no_id, &context)), Capability::Send);
    let p = policy(&["send", "call-api:send_group_msg"]);
    let mut raw_forged = raw(
        "send_group_msg",
        json!({"group_id": 1, "message": [{"type": "reply", "data": {"text": "x", "qq": "1"}}]}),
    );
    assert!(matches!(
        p.check(&mut raw_forged, &context),
        Err(PolicyError::Invalid(_))
    ));
    let mut fine = send(here.clone(), vec![other("reply", json!({"id": "7"}))]);
    assert!(p.check(&mut fine, &context).is_ok());
}
