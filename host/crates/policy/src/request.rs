//! What an action asks for, in the policy's terms: the capability of its typed twin, the targets it touches (from
//! facts: the message index for recalls, the chat a message really goes to), and what its content carries.
//!
//! Typed calls and raw `call-api` calls end in the same [`Request`], so a raw call is never weaker than its typed
//! twin: `call-api` names are normalised first ([`normalise_name`]), the standard 38 and the extensions that send,
//! kick, ban, mute or touch files map to the typed capability, and content is judged over every parameter.

use super::content::{Content, ContentError};
use super::{Capability, PolicyError, Target, standard_capability};
use coral_model::Action;
use coral_model::bindings::{Chat, Segment};
use coral_model::wire::json as data;
use serde_json::Value;

/// Longest raw action name accepted.
pub use coral_model::wire::name::MAX_ACTION_NAME;

/// Where the message ids a plugin knows are (for the bot being called).
pub trait MessageLookup {
    /// The chat a message is in, if the plugin saw or sent it on this bot.
    fn chat_of(&self, message_id: &str) -> Option<Chat>;
}

/// No message is known.
pub struct NoMessages;

impl MessageLookup for NoMessages {
    fn chat_of(&self, _: &str) -> Option<Chat> {
        None
    }
}

/// One capability an action needs, where, and for a message: where it goes and what it carries.
#[derive(Debug, Clone)]
pub struct Request {
    /// The typed capability (`send`, `kick`, …), or `call-api:<name>` for an action with no typed twin.
    pub capability: Capability,
    /// Who or what it touches; every one must be inside the grant's scope.
    pub targets: Vec<Target>,
    /// Where a message goes (sends): a reply there on the event's bot needs no grant, and every message it
    /// points at must be from there.
    pub chat: Option<Chat>,
    /// What its content carries.
    pub content: Content,
    /// Whether it is a chat message, which into the event's chat is a free reply. File uploads, notices, check-ins
    /// and file transfers into that chat are sends, but no reply: they need `send`.
    pub reply: bool,
}

impl Request {
    fn new(capability: Capability, targets: Vec<Target>) -> Request {
        Request {
            capability,
            targets,
            chat: None,
            content: Content::default(),
            reply: false,
        }
    }

    fn send(chat: Chat) -> Request {
        Request {
            capability: Capability::Send,
            targets: vec![Target::of_chat(&chat)],
            chat: Some(chat),
            content: Content::default(),
            reply: true,
        }
    }
}

/// Raw actions that send into a chat but are no reply there.
fn is_no_reply(name: &str) -> bool {
    matches!(
        name,
        "upload_private_file"
            | "upload_group_file"
            | "send_online_file"
            | "send_online_folder"
            | "send_flash_msg"
            | "send_group_notice"
            | "_send_group_notice"
            | "send_group_sign"
            | "set_group_sign"
    )
}

/// The name a raw action is checked under ([`coral_model::wire::name::normalise_name`]).
pub fn normalise_name(name: &str) -> Result<String, PolicyError> {
    coral_model::wire::name::normalise_name(name).map_err(|e| PolicyError::Invalid(e.to_string()))
}

fn invalid(e: ContentError) -> PolicyError {
    PolicyError::Invalid(e.to_string())
}

/// The requests of a typed action (its effective message judged on the segments the adapter sends).
pub fn typed(action: &Action, messages: &dyn MessageLookup) -> Result<Request, PolicyError> {
    let (chat, message, options) = match action {
        Action::SendMsg {
            target,
            message,
            options,
        } => (target.clone(), message, Some(options)),
        Action::SendGroupMsg { group_id, message } => (Chat::Group(group_id.clone()), message, None),
        Action::SendPrivateMsg { user_id, message } => (Chat::Private(user_id.clone()), message, None),
        Action::DeleteMsg { message_id } => {
            let target = messages
                .chat_of(message_id)
                .map(|c| Target::of_chat(&c))
                .unwrap_or_default();
            return Ok(Request::new(Capability::Recall, vec![target]));
        }
        Action::Raw { .. } => unreachable!("raw calls are interpreted by `raw`"),
        other => {
            let (capability, target) = super::capability_of(other);
            return Ok(Request::new(capability, vec![target]));
        }
    };
    let mut request = Request::send(chat);
    let segments = coral_model::send_segments(message, options);
    judge_segments(&segments, &mut request.content)?;
    Ok(request)
}

/// Judge typed segments on their wire form (text and faces carry nothing). The two most common kinds, a mention and
/// a quote, are judged without building their JSON; `typed_shortcuts_match_the_wire_judge` keeps them equal.
fn judge_segments(segments: &[Segment], content: &mut Content) -> Result<(), PolicyError> {
    for segment in segments {
        match segment {
            Segment::Text(_) | Segment::Face(_) | Segment::Rps | Segment::Dice | Segment::Shake => {}
            Segment::At(who) => content.at(who),
            Segment::Reply(id) => content.refs.push(id.clone()),
            other => content
                .segment(&coral_model::wire::segment::segment_to_json(other), 0)
                .map_err(invalid)?,
        }
    }
    Ok(())
}

fn id(params: &Value, key: &str) -> Option<String> {
    data::opt_str(params, key).filter(|s| !s.is_empty())
}

fn require(params: &Value, key: &str, action: &str) -> Result<String, PolicyError> {
    id(params, key).ok_or_else(|| PolicyError::Invalid(format!("`{action}` needs `{key}`")))
}

/// The chat a raw send goes to, as the implementations decide it; where they could disagree, refuse.
fn send_chat(name: &str, params: &Value) -> Result<Chat, PolicyError> {
    let group = id(params, "group_id");
    let user = id(params, "user_id");
    let kind = data::opt_str(params, "message_type");
    match (kind.as_deref(), group, user) {
        (Some("group"), Some(g), _) => Ok(Chat::Group(g)),
        (Some("private"), _, Some(u)) => Ok(Chat::Private(u)),
        (Some(kind @ ("group" | "private")), _, _) => Err(PolicyError::Invalid(format!(
            "`{name}` with message_type {kind} needs `{}`",
            if kind == "group" { "group_id" } else { "user_id" }
        ))),
        (Some(other), _, _) => Err(PolicyError::Invalid(format!(
            "`{name}`: message_type must be `group` or `private`, not {:?}",
            super::escape(other)
        ))),
        (None, Some(g), None) => Ok(Chat::Group(g)),
        (None, None, Some(u)) => Ok(Chat::Private(u)),
        (None, Some(_), Some(_)) => Err(PolicyError::Invalid(format!(
            "`{name}` has both group_id and user_id: say which with message_type"
        ))),
        (None, None, None) => Err(PolicyError::Invalid(format!("`{name}` needs group_id or user_id"))),
    }
}

/// Refuse a `message_type` that contradicts the kind of chat the action sends to.
fn kind_agrees(name: &str, params: &Value, kind: &str) -> Result<(), PolicyError> {
    match data::opt_str(params, "message_type") {
        Some(given) if given != kind => Err(PolicyError::Invalid(format!(
            "`{name}` sends to a {kind} chat, but message_type says {:?}",
            super::escape(&given)
        ))),
        _ => Ok(()),
    }
}

/// The requests of a raw call of `name` (already normalised) with these parameters (already normalised: CQ
/// strings replaced by arrays).
pub fn raw(name: &str, params: &Value, messages: &dyn MessageLookup) -> Result<Vec<Request>, PolicyError> {
    let group = || require(params, "group_id", name);
    let user = || require(params, "user_id", name);
    let member = || -> Result<Target, PolicyError> { Ok(Target::member(&group()?, &user()?)) };
    let message_target = |key: &str| {
        id(params, key)
            .and_then(|m| messages.chat_of(&m))
            .map(|c| Target::of_chat(&c))
            .unwrap_or_default()
    };
    let mut requests = match name {
        "handle_quick_operation" => return quick_operation(params, messages),
        // Messages, wherever they go. NapCat lets a `message_type` override the action's own kind (its
        // `send_private_forward_msg` with `message_type: group` posts into `group_id`): a contradicting one is refused.
        "send_private_msg"
        | "send_private_forward_msg"
        | "upload_private_file"
        | "send_online_file"
        | "send_online_folder" => {
            kind_agrees(name, params, "private")?;
            vec![Request::send(Chat::Private(user()?))]
        }
        "send_group_msg"
        | "send_group_forward_msg"
        | "upload_group_file"
        | "send_group_notice"
        | "_send_group_notice"
        | "send_group_ai_record"
        | "send_group_sign"
        | "set_group_sign" => {
            kind_agrees(name, params, "group")?;
            vec![Request::send(Chat::Group(group()?))]
        }
        "send_msg" | "send_forward_msg" => vec![Request::send(send_chat(name, params)?)],
        // Lagrange re-sends a stored message (`send_msg_with_group`) or a group's message by seq
        // (`send_msg_with_group_seq`) into `target_group_id`; it adds an emoji to a message's chain.
        "send_msg_with_group" => {
            let mut request = Request::send(Chat::Group(require(params, "target_group_id", name)?));
            request.content.refs.push(require(params, "message_id", name)?);
            vec![request]
        }
        "send_msg_with_group_seq" => {
            let target = require(params, "target_group_id", name)?;
            if require(params, "source_group_id", name)? != target {
                return Err(PolicyError::Invalid(format!(
                    "`{name}` copies a message by seq from another group: only within one group"
                )));
            }
            vec![Request::send(Chat::Group(target))]
        }
        "join_group_emoji_chain" | "join_friend_emoji_chain" => {
            let chat = if name == "join_group_emoji_chain" {
                Chat::Group(group()?)
            } else {
                Chat::Private(user()?)
            };
            let mut request = Request::send(chat);
            request.content.refs.push(require(params, "message_id", name)?);
            vec![request]
        }
        // go-cqhttp's guild channels are no chat a scope or a reply names: an unscoped `send` only.
        "send_guild_channel_msg" => vec![Request::new(Capability::Send, vec![Target::default()])],
        // NapCat pokes and sends flash files in `group_id` whenever one is given, whatever the action's name or
        // `message_type`.
        "friend_poke" | "group_poke" | "send_poke" | "send_flash_msg" => {
            let chat = match id(params, "group_id") {
                Some(g) => Chat::Group(g),
                None => Chat::Private(user()?),
            };
            vec![Request::send(chat)]
        }
        "forward_group_single_msg" | "forward_friend_single_msg" => {
            // NapCat and LLOneBot forward to `user_id` whenever one is given, whatever the action's name.
            let chat = match (id(params, "group_id"), id(params, "user_id")) {
                (Some(_), Some(_)) => {
                    return Err(PolicyError::Invalid(format!(
                        "`{name}` has both group_id and user_id: give one"
                    )));
                }
                (_, Some(u)) => Chat::Private(u),
                (Some(g), None) => Chat::Group(g),
                (None, None) => {
                    return Err(PolicyError::Invalid(format!("`{name}` needs group_id or user_id")));
                }
            };
            let mut request = Request::send(chat);
            request.content.refs.push(require(params, "message_id", name)?);
            vec![request]
        }
        "delete_msg" => vec![Request::new(Capability::Recall, vec![message_target("message_id")])],
        "set_group_kick" | "set_group_ban" | "set_group_admin" | "set_group_card" | "set_group_special_title" => {
            let capability = standard_capability(name).unwrap_or(Capability::Kick);
            vec![Request::new(capability, vec![member()?])]
        }
        // NapCat's batch kick: every member named.
        "set_group_kick_members" => {
            let g = group()?;
            let users: Vec<String> = match params.get("user_id") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        Value::Number(n) => Ok(n.to_string()),
                        _ => Err(PolicyError::Invalid("user_id items are ids".into())),
                    })
                    .collect::<Result<_, _>>()?,
                _ => vec![user()?],
            };
            if users.is_empty() {
                return Err(PolicyError::Invalid(format!("`{name}` names nobody")));
            }
            vec![Request::new(
                Capability::Kick,
                users.iter().map(|u| Target::member(&g, u)).collect(),
            )]
        }
        "set_group_anonymous_ban"
        | "set_group_whole_ban"
        | "set_group_anonymous"
        | "set_group_name"
        | "set_group_leave" => {
            let capability = standard_capability(name).unwrap_or(Capability::Ban);
            vec![Request::new(capability, vec![Target::group(&group()?)])]
        }
        "delete_friend" | "delete_unidirectional_friend" => {
            vec![Request::new(Capability::DeleteFriend, vec![Target::user(&user()?)])]
        }
        "send_like" => vec![Request::new(Capability::SendLike, vec![Target::user(&user()?)])],
        "set_friend_add_request" | "set_group_add_request" | "set_doubt_friends_add_request" => {
            vec![Request::new(Capability::HandleRequest, vec![Target::default()])]
        }
        // The implementation itself: NapCat's `bot_exit`, LLOneBot's `set_config` and `llonebot_debug` (any
        // internal API by name).
        "bot_exit" | "set_config" | "llonebot_debug" => {
            vec![Request::new(Capability::Restart, vec![Target::default()])]
        }
        // The account's web session: NapCat's and Lagrange's `get_clientkey`, Lagrange's `get_skey`, LLOneBot's
        // `get_config` (its tokens).
        "get_clientkey" | "get_skey" | "get_config" => {
            vec![Request::new(Capability::Credentials, vec![Target::default()])]
        }
        // Files written on the implementation's machine at a path the plugin steers: NapCat joins `filename`
        // (`upload_file_stream`, and `stream_id`) or `name` (`download_file`, whose `base64` is the content) to its
        // temp folder unchecked, and answers with the path.
        "upload_file_stream" | "download_file" => {
            let mut request = Request::new(Capability::CallApi(name.to_string()), vec![Target::default()]);
            request.content.needs.insert(Capability::LocalFile);
            vec![request]
        }
        // Reading history is reading.
        "get_group_msg_history" => vec![Request::new(Capability::Query, vec![Target::group(&group()?)])],
        "get_friend_msg_history" => vec![Request::new(Capability::Query, vec![Target::user(&user()?)])],
        other => {
            // The rest of the standard set (queries, credentials, restart), and everything else under its own
            // `call-api:<name>` only; either way scoped by the ids it names and the chat of a message it names.
            let capability = standard_capability(other).unwrap_or_else(|| Capability::CallApi(other.to_string()));
            let mut targets = vec![Target {
                group: id(params, "group_id"),
                user: id(params, "user_id"),
            }];
            if params.get("message_id").is_some() {
                targets.push(message_target("message_id"));
            }
            let mut request = Request::new(capability, targets);
            request.chat = match (id(params, "group_id"), id(params, "user_id")) {
                (Some(g), _) => Some(Chat::Group(g)),
                (None, Some(u)) => Some(Chat::Private(u)),
                _ => None,
            };
            vec![request]
        }
    };
    if is_no_reply(name) {
        requests[0].reply = false;
    }
    // Every parameter that can carry content is judged, whatever the action (it lands on the first request).
    requests[0].content.params(params, 0).map_err(invalid)?;
    Ok(requests)
}

/// `.handle_quick_operation {context, operation}`: what the implementation will do with the event in `context`.
/// The ids it acts on are the context's; where two fields of it disagree, refuse.
fn quick_operation(params: &Value, messages: &dyn MessageLookup) -> Result<Vec<Request>, PolicyError> {
    let bad = |why: &str| PolicyError::Invalid(format!("`.handle_quick_operation`: {why}"));
    let context = params
        .get("context")
        .filter(|c| c.is_object())
        .ok_or_else(|| bad("needs a context object"))?;
    let operation = params
        .get("operation")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("needs an operation object"))?;
    let group = id(context, "group_id");
    let user = id(context, "user_id");
    if let (Some(u), Some(sender)) = (&user, context.get("sender").and_then(|s| id(s, "user_id")))
        && *u != sender
    {
        return Err(bad("context user_id and sender.user_id differ"));
    }
    let post_type = data::opt_str(context, "post_type").unwrap_or_default();
    let chat = match (data::opt_str(context, "message_type").as_deref(), &group, &user) {
        (Some("group"), Some(g), _) => Some(Chat::Group(g.clone())),
        (Some("private"), _, Some(u)) => Some(Chat::Private(u.clone())),
        _ => None,
    };
    let mut requests = Vec::new();
    for (key, value) in operation {
        match key.as_str() {
            "reply" => {
                let chat = chat
                    .clone()
                    .ok_or_else(|| bad("a reply needs message_type and the chat's id"))?;
                let mut request = Request::send(chat.clone());
                request.content.message(value, 0).map_err(invalid)?;
                if matches!(chat, Chat::Group(_)) {
                    // `at_sender` (on by default in the spec) mentions the context's sender: its `user_id` for
                    // NapCat and the spec, its `sender.user_id` for go-cqhttp, which reads a missing one as 0 (@all).
                    let at_sender = operation.get("at_sender");
                    if at_sender.is_none_or(|v| v.as_bool() != Some(false)) {
                        request.content.at(user.as_deref().unwrap_or_default());
                    }
                    if at_sender.is_some_and(is_on) {
                        let sender = context.get("sender").and_then(|s| id(s, "user_id"));
                        request.content.at(sender.as_deref().unwrap_or_default());
                    }
                    // NapCat quotes the context's message in a group reply.
                    if let Some(message_id) = id(context, "message_id") {
                        request.content.refs.push(message_id);
                    }
                }
                requests.push(request);
            }
            "delete" if is_on(value) => {
                let target = id(context, "message_id")
                    .and_then(|m| messages.chat_of(&m))
                    .map(|c| Target::of_chat(&c))
                    .unwrap_or_default();
                requests.push(Request::new(Capability::Recall, vec![target]));
            }
            "kick" | "ban" if is_on(value) => {
                let (Some(g), Some(u)) = (&group, &user) else {
                    return Err(bad("kick and ban need the context's group_id and user_id"));
                };
                let capability = if key == "kick" {
                    Capability::Kick
                } else {
                    Capability::Ban
                };
                requests.push(Request::new(capability, vec![Target::member(g, u)]));
            }
            "approve" if post_type == "request" => {
                requests.push(Request::new(Capability::HandleRequest, vec![Target::default()]));
            }
            "auto_escape" | "at_sender" | "ban_duration" | "remark" | "reason" | "delete" | "kick" | "ban"
            | "approve" => {}
            other => return Err(bad(&format!("unknown operation `{}`", super::escape(other)))),
        }
    }
    if requests.is_empty() {
        return Err(bad("the operation does nothing"));
    }
    Ok(requests)
}

/// Whether a quick-operation flag is on for some implementation: go-cqhttp's `gjson.Bool` takes non-zero numbers and
/// `"1"` / `"true"` / `"t"`, NapCat any truthy JavaScript value. Only `false`, `null`, `0` and `""` are off for all.
fn is_on(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_before_any_check() {
        for alias in [
            "set_group_kick",
            "SET_GROUP_KICK",
            "Set_Group_Kick_Async",
            ".set_group_kick",
            "..set_group_kick_rate_limited",
            "set_group_kick_async_rate_limited",
            "set_group_kick_rate_limited_async_async",
        ] {
            assert_eq!(normalise_name(alias).unwrap(), "set_group_kick", "{alias}");
        }
        assert_eq!(
            normalise_name(".handle_quick_operation").unwrap(),
            "handle_quick_operation"
        );
        for bad in ["", "_async", "..", "kick\n", "a b", "x\u{1b}[31m", &"x".repeat(200)] {
            assert!(matches!(normalise_name(bad), Err(PolicyError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn typed_shortcuts_match_the_wire_judge() {
        let segments = ["all", " ALL ", "All", "42", "", "all2", "\tall\n", "-1"]
            .iter()
            .map(|w| Segment::At(w.to_string()))
            .chain(["7", "", " 8 "].iter().map(|id| Segment::Reply(id.to_string())));
        for segment in segments {
            let mut shortcut = Content::default();
            judge_segments(std::slice::from_ref(&segment), &mut shortcut).unwrap();
            let mut wire = Content::default();
            wire.segment(&coral_model::wire::segment::segment_to_json(&segment), 0)
                .unwrap();
            assert_eq!(shortcut, wire, "{segment:?}");
        }
    }
}
