//! Tests of raw `call-api` calls: the `call-api:<name>` grant plus the typed capability under every alias,
//! extensions under their real names, and targets taken from facts rather than extra parameters.

use super::*;
use serde_json::json;

#[test]
fn raw_calls_need_call_api_and_the_standard_capability_under_every_alias() {
    let params = json!({"group_id": 1, "user_id": 2});
    let p = policy(&["call-api:set_group_kick"]);
    for alias in [
        "set_group_kick",
        "SET_GROUP_KICK",
        ".set_group_kick",
        "set_group_kick_async",
        "set_group_kick_rate_limited_async",
    ] {
        assert_eq!(
            denied(check(&p, &raw(alias, params.clone()))),
            Capability::Kick,
            "{alias}"
        );
    }
    let p = policy(&["call-api:set_group_kick_async", "kick"]);
    assert!(check(&p, &raw("set_group_kick_async", params.clone())).is_ok());
    assert!(
        check(&p, &raw("Set_Group_Kick", params.clone())).is_ok(),
        "one grant for every alias"
    );
    let p = policy(&["call-api:get_group_notice"]);
    assert!(check(&p, &raw("get_group_notice", params.clone())).is_ok());
    assert!(check(&p, &raw(".handle_quick_operation", params.clone())).is_err());
    // Extensions that send, kick or touch files need the typed capability too.
    for (action, params, needs) in [
        (
            "send_group_forward_msg",
            json!({"group_id": 1, "messages": []}),
            Capability::Send,
        ),
        (
            "upload_group_file",
            json!({"group_id": 1, "file": "x", "name": "x"}),
            Capability::Send,
        ),
        (
            "set_group_kick_members",
            json!({"group_id": 1, "user_id": [2, 3]}),
            Capability::Kick,
        ),
    ] {
        let p = policy(&[&format!("call-api:{action}")]);
        assert_eq!(denied(check(&p, &raw(action, params))), needs, "{action}");
    }
    let p = policy(&["call-api:upload_group_file", "send"]);
    let upload = raw(
        "upload_group_file",
        json!({"group_id": 1, "file": "/etc/passwd", "name": "x"}),
    );
    assert_eq!(denied(check(&p, &upload)), Capability::LocalFile);
    // Bad names are refused as invalid, before anything else.
    assert!(matches!(
        check(&p, &raw("kick\n\u{1b}[31m", json!({}))),
        Err(PolicyError::Invalid(_))
    ));
}

/// Extensions that send, exit, hand out the session or write files, under the names the implementations use.
#[test]
fn extensions_under_their_real_names_need_their_typed_capability() {
    for (action, params, needs) in [
        (
            "_send_group_notice",
            json!({"group_id": 1, "content": "pinned for everyone"}),
            Capability::Send,
        ),
        (
            "send_group_ai_record",
            json!({"group_id": 1, "character": "c", "text": "hi"}),
            Capability::Send,
        ),
        (
            "send_msg_with_group",
            json!({"message_id": 7, "target_group_id": 2}),
            Capability::Send,
        ),
        (
            "send_msg_with_group_seq",
            json!({"source_group_id": 2, "source_seq": 5, "target_group_id": 2}),
            Capability::Send,
        ),
        (
            ".join_group_emoji_chain",
            json!({"group_id": 1, "message_id": 7, "emoji_id": 1}),
            Capability::Send,
        ),
        (
            "send_guild_channel_msg",
            json!({"guild_id": 1, "channel_id": 2, "message": "hi"}),
            Capability::Send,
        ),
        (
            "send_online_file",
            json!({"user_id": 5, "file_path": "x.txt"}),
            Capability::Send,
        ),
        (
            "send_flash_msg",
            json!({"fileset_id": "f", "group_id": 2}),
            Capability::Send,
        ),
        ("bot_exit", json!({}), Capability::Restart),
        (
            "llonebot_debug",
            json!({"method": "x", "args": []}),
            Capability::Restart,
        ),
        ("set_config", json!({}), Capability::Restart),
        ("get_clientkey", json!({}), Capability::Credentials),
        ("get_skey", json!({}), Capability::Credentials),
        ("get_config", json!({}), Capability::Credentials),
        (
            "set_doubt_friends_add_request",
            json!({"flag": "f", "approve": true}),
            Capability::HandleRequest,
        ),
        (
            "upload_file_stream",
            json!({"stream_id": "s", "filename": "x", "total_chunks": 1, "file_retention": 0}),
            Capability::LocalFile,
        ),
        (
            "download_file",
            json!({"base64": "IyEvYmluL3NoCg==", "name": "../../../../root/.bashrc"}),
            Capability::LocalFile,
        ),
    ] {
        let p = policy(&[&format!("call-api:{action}")]);
        assert_eq!(denied(check(&p, &raw(action, params))), needs, "{action}");
    }
    // Copying another group's message by seq is no send Coral can judge.
    let p = policy(&["call-api:send_msg_with_group_seq", "send"]);
    let copy = raw(
        "send_msg_with_group_seq",
        json!({"source_group_id": 3, "source_seq": 5, "target_group_id": 2}),
    );
    assert!(matches!(check(&p, &copy), Err(PolicyError::Invalid(_))));
}

/// NapCat reads local paths from `folder_path` (`send_online_folder`), `thumb_path` (`create_flash_task`) and
/// joins `filename` to its temp folder.
#[test]
fn every_path_parameter_is_a_file_parameter() {
    for (action, params) in [
        (
            "send_online_folder",
            json!({"user_id": 5, "folder_path": "/root/.config/QQ"}),
        ),
        (
            "create_flash_task",
            json!({"files": "x.jpg", "thumb_path": "C:\\secret.jpg"}),
        ),
        ("anything", json!({"local_path": "../x"})),
        ("anything", json!({"filename": "../../../home/u/.bashrc"})),
    ] {
        let p = policy(&[&format!("call-api:{action}"), "send"]);
        assert_eq!(
            denied(check(&p, &raw(action, params))),
            Capability::LocalFile,
            "{action}"
        );
    }
    let p = policy(&["call-api:send_online_file", "send"]);
    let named = raw(
        "send_online_file",
        json!({"user_id": 5, "file_path": "base64://AAAA", "file_name": "report.pdf"}),
    );
    assert!(check(&p, &named).is_ok());
}

#[test]
fn raw_targets_come_from_facts_not_from_extra_parameters() {
    let mut g = grants(&["recall", "send", "call-api:delete_msg", "call-api:send_private_msg"]);
    g.scope = Scope {
        groups: Some(["1".to_string()].into()),
        users: None,
    };
    let p = Policy::new(
        &req(&["recall", "send", "call-api:delete_msg", "call-api:send_private_msg"]),
        &g,
    );
    let known = Known([("9", Chat::Group("2".into()))].into());
    let context = Context {
        bot: None,
        reply_chat: None,
        messages: &known,
    };
    // Message 9 is in group 2: a forged group_id 1 does not move it into the scope.
    let mut recall = raw("delete_msg", json!({"message_id": 9, "group_id": 1}));
    assert_eq!(denied(p.check(&mut recall, &context)), Capability::Recall);
    // A private message is to a user, whatever group_id rides along.
    let mut private = raw("send_private_msg", json!({"user_id": 5, "group_id": 1, "message": "x"}));
    assert_eq!(denied(p.check(&mut private, &context)), Capability::Send);
    // send_msg with both ids and no message_type could go either way: refused.
    let p = policy(&["call-api:send_msg", "send"]);
    let mut both = raw("send_msg", json!({"user_id": 5, "group_id": 1, "message": "x"}));
    assert!(matches!(p.check(&mut both, &context), Err(PolicyError::Invalid(_))));
}

/// NapCat's `base_handle` lets `message_type` override the action's kind, its single-message forwards go to
/// `user_id` whenever one is given, and its pokes go to `group_id` whenever one is given.
#[test]
fn raw_sends_go_where_the_implementation_sends_them() {
    let known = Known([("7", Chat::Group("1".into()))].into());
    let here = Chat::Group("1".into());
    let context = Context {
        bot: None,
        reply_chat: Some(&here),
        messages: &known,
    };
    let p = policy(&[
        "call-api:send_group_forward_msg",
        "call-api:send_private_forward_msg",
        "call-api:forward_group_single_msg",
        "call-api:friend_poke",
    ]);
    let nodes = json!([{"type": "node", "data": {"user_id": "1", "nickname": "n", "content": "hi"}}]);
    // A "group" forward in the event's group that NapCat would send to user 5.
    let mut to_user = raw(
        "send_group_forward_msg",
        json!({"group_id": 1, "user_id": 5, "message_type": "private", "messages": nodes}),
    );
    assert!(matches!(p.check(&mut to_user, &context), Err(PolicyError::Invalid(_))));
    let mut to_group = raw(
        "send_private_forward_msg",
        json!({"user_id": 5, "group_id": 2, "message_type": "group", "messages": nodes}),
    );
    assert!(matches!(p.check(&mut to_group, &context), Err(PolicyError::Invalid(_))));
    // Message 7 of the event's group, "forwarded to the group", that NapCat would forward to user 5.
    let mut single = raw(
        "forward_group_single_msg",
        json!({"group_id": 1, "user_id": 5, "message_id": 7}),
    );
    assert!(p.check(&mut single, &context).is_err());
    let mut single = raw("forward_group_single_msg", json!({"user_id": 5, "message_id": 7}));
    assert_eq!(denied(p.check(&mut single, &context)), Capability::Send);
    // A "friend" poke that NapCat sends in group 2.
    let mut poke = raw("friend_poke", json!({"user_id": 5, "group_id": 2}));
    assert_eq!(denied(p.check(&mut poke, &context)), Capability::Send);
    // What agrees is a reply.
    let mut fine = raw(
        "send_group_forward_msg",
        json!({"group_id": 1, "message_type": "group", "messages": nodes}),
    );
    assert!(p.check(&mut fine, &context).is_ok());
    let mut fine = raw("forward_group_single_msg", json!({"group_id": 1, "message_id": 7}));
    assert!(p.check(&mut fine, &context).is_ok());
}

/// A file upload, an announcement or a check-in in the event's group is a send there, but no reply.
#[test]
fn only_chat_messages_are_free_replies() {
    let here = Chat::Group("1".into());
    for (action, params) in [
        (
            "upload_group_file",
            json!({"group_id": 1, "file": "base64://AAAA", "name": "x.txt"}),
        ),
        (
            "_send_group_notice",
            json!({"group_id": 1, "content": "everyone read this"}),
        ),
        (
            "send_group_notice",
            json!({"group_id": 1, "content": "everyone read this"}),
        ),
        ("send_group_sign", json!({"group_id": 1})),
    ] {
        let p = policy(&[&format!("call-api:{action}")]);
        assert_eq!(
            denied(check_in(&p, &raw(action, params), &here)),
            Capability::Send,
            "{action}"
        );
    }
    let p = policy(&["call-api:send_group_msg", "call-api:group_poke"]);
    let message = raw("send_group_msg", json!({"group_id": 1, "message": "hi"}));
    assert!(check_in(&p, &message, &here).is_ok());
    let poke = raw("group_poke", json!({"group_id": 1, "user_id": 2}));
    assert!(check_in(&p, &poke, &here).is_ok());
}
