//! The OneBot V11 protocol as pure functions (no I/O): incoming event JSON → WIT [`Event`] ([`decode_event`]),
//! message segments → OneBot's array form ([`segments_to_json`]), and each [`Action`] → its OneBot action name
//! and `params` object ([`action_request`]).
//!
//! Decoding is lenient the way real implementations need: ids may be numbers or strings, messages may be CQ
//! strings, arrays or a single segment object, and missing optional fields get defaults. Anything Coral has no
//! case for is kept as JSON (`other` variants), never dropped.

use coral_model::Action;
use coral_model::bindings::coral::bot::types::{
    AnonymousSender, FriendRecall, FriendRequest, GroupAdmin, GroupBan, GroupFile, GroupRecall, GroupRequest,
    GroupUpload, Heartbeat, HonorNotice, Lifecycle, LuckyKing, MemberChange, MetaEvent, NoticeEvent, OtherNotice,
    PokeNotice, RequestEvent,
};
use coral_model::bindings::{Chat, ChatType, Event, EventKind, GroupRequestKind, MessageEvent, Segment};
use coral_model::wire::cq;
use coral_model::wire::json::{self as data, id, int, opt_str};
use coral_model::wire::segment::{message_array, segments_to_json};
use serde_json::{Map, Value, json};

/// The `platform` of every event this module decodes.
pub const PLATFORM: &str = "onebot";
// ---------------------------------------------------------------------------------------------------------------
// Events: OneBot JSON → WIT
// ---------------------------------------------------------------------------------------------------------------

/// Why an event could not be decoded. Everything else decodes (unknown kinds as `other`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The event is not a JSON object.
    #[error("a OneBot event must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    /// The event has no `post_type`.
    #[error("the event has no `post_type`")]
    MissingPostType,
    /// `post_type` is not a string.
    #[error("the event's `post_type` is not a string: {0}")]
    InvalidPostType(String),
    /// A message event whose `message` (and `raw_message`) is missing or not a CQ string, array or segment.
    #[error("the message event has no usable `message`")]
    NoMessage,
}

/// Decode one OneBot V11 event (the JSON pushed over WebSocket or HTTP POST) into a WIT [`Event`].
///
/// - `message`, and go-cqhttp/NapCat's `message_sent`, become [`EventKind::Message`]; the bot's own messages are
///   `self-sent`, whether reported as `message_sent` or (go-cqhttp) as a `message` whose `user_id` is the
///   `self_id` (compared as text, numbers printed exactly); a `message_type` other than `private`/`group`
///   (e.g. go-cqhttp's `guild`) becomes [`EventKind::Other`];
/// - the 11 V11 notice kinds, friend/group requests, lifecycle and heartbeat meta events get their own cases;
///   unknown notice, request, meta and post types are kept whole as JSON in the `other` cases;
/// - `time` is Unix seconds, given as a number or a string of digits; a `time` above 10^11 is milliseconds
///   (NapCat's fallback path) and is divided down to seconds.
///
/// Ids are kept as the text the implementation sent: strings as they are, numbers printed exactly (every
/// integer that fits 64 bits, signed or unsigned, so also ids beyond 2^53 and negative ones).
///
/// Errors only for a non-object, a missing or non-string `post_type`, or a message event without a usable
/// message (`message`, falling back to `raw_message`).
pub fn decode_event(v: &Value) -> Result<Event, DecodeError> {
    if !v.is_object() {
        return Err(DecodeError::NotAnObject(json_type(v)));
    }
    let post_type = match v.get("post_type") {
        None | Some(Value::Null) => return Err(DecodeError::MissingPostType),
        Some(Value::String(p)) => p.as_str(),
        Some(other) => return Err(DecodeError::InvalidPostType(other.to_string())),
    };
    let self_id = id(v, "self_id");
    let kind = match post_type {
        "message" => message_event(v, &self_id, false)?,
        "message_sent" => message_event(v, &self_id, true)?,
        "notice" => EventKind::Notice(notice_event(v)),
        "request" => EventKind::Request(request_event(v)),
        "meta_event" => EventKind::Meta(meta_event(v)),
        _ => EventKind::Other(v.to_string()),
    };
    Ok(Event {
        platform: PLATFORM.to_string(),
        self_id,
        time: event_time(v),
        extra: extra_fields(v, &kind),
        kind,
    })
}

/// The keys every event's typed fields carry.
const EVENT_KEYS: &[&str] = &["time", "self_id", "post_type"];
/// The keys a message event's typed fields carry.
const MESSAGE_KEYS: &[&str] = &[
    "message_type",
    "sub_type",
    "message_id",
    "user_id",
    "group_id",
    "sender",
    "anonymous",
    "message",
    "raw_message",
    "font",
    "message_seq",
    "real_id",
    "target_id",
];
/// The keys of a message's `sender` that `sender` (and `source-group-id`) carry.
const SENDER_KEYS: &[&str] = &[
    "user_id", "nickname", "card", "sex", "age", "area", "level", "role", "title", "group_id",
];
const NOTICE_KEYS: &[&str] = &["notice_type", "sub_type", "user_id", "group_id"];
const REQUEST_KEYS: &[&str] = &[
    "request_type",
    "sub_type",
    "user_id",
    "comment",
    "flag",
    "group_id",
    "invitor_id",
];

/// Object fields whose own keys are partly mapped: (field, the keys of it that are mapped).
type Nested = &'static [(&'static str, &'static [&'static str])];

/// The event's `extra`: the fields no typed field carries, as a JSON object (a nested object keeps only its
/// unmapped keys); none when every field was mapped, and none for the `other` cases, which carry the whole JSON.
fn extra_fields(v: &Value, kind: &EventKind) -> Option<String> {
    use coral_model::bindings::coral::bot::types::{MetaEvent, NoticeEvent as N, RequestEvent};
    const NONE: Nested = &[];
    let (own, specific, nested): (&[&str], &[&str], Nested) = match kind {
        EventKind::Message(_) => (
            MESSAGE_KEYS,
            &[],
            &[("sender", SENDER_KEYS), ("anonymous", &["id", "name", "flag"])],
        ),
        EventKind::Notice(notice) => {
            let specific: &[&str] = match notice {
                N::GroupUpload(_) => &[],
                N::GroupDecrease(_) | N::GroupIncrease(_) => &["operator_id"],
                N::GroupBan(_) => &["operator_id", "duration"],
                N::GroupRecall(_) => &["operator_id", "message_id"],
                N::FriendRecall(_) => &["message_id"],
                N::Poke(_) => &["target_id", "action", "suffix", "raw_info"],
                N::LuckyKing(_) => &["target_id"],
                N::Honor(_) => &["honor_type"],
                N::GroupAdmin(_) | N::FriendAdd(_) => &[],
                N::Other(_) => return None,
            };
            let nested: Nested = match notice {
                N::GroupUpload(_) => &[("file", &["id", "name", "size", "busid"])],
                _ => NONE,
            };
            (NOTICE_KEYS, specific, nested)
        }
        EventKind::Request(RequestEvent::Other(_)) => return None,
        EventKind::Request(_) => (REQUEST_KEYS, &[], NONE),
        EventKind::Meta(MetaEvent::Other(_)) => return None,
        EventKind::Meta(_) => (&["meta_event_type", "sub_type", "interval", "status"], &[], NONE),
        EventKind::Other(_) | EventKind::Timer(_) => return None,
    };
    let extra = unmapped(v, &[EVENT_KEYS, own, specific], nested)?;
    Some(Value::Object(extra).to_string())
}

/// The fields of object `v` not named in `mapped`; an object field named in `nested` keeps only the keys not
/// named there (and is left out when none remain). None when nothing remains.
fn unmapped(v: &Value, mapped: &[&[&str]], nested: Nested) -> Option<Map<String, Value>> {
    let object = v.as_object()?;
    let mut extra = Map::new();
    for (key, value) in object {
        let key_str = key.as_str();
        if let Some((_, inner)) = nested.iter().find(|(name, _)| *name == key_str)
            && value.is_object()
        {
            if let Some(rest) = unmapped(value, &[inner], &[]) {
                extra.insert(key.clone(), Value::Object(rest));
            }
            continue;
        }
        if !mapped.iter().any(|keys| keys.contains(&key_str)) {
            extra.insert(key.clone(), value.clone());
        }
    }
    (!extra.is_empty()).then_some(extra)
}

/// The largest `time` read as seconds: 10^11 s is the year 5138, while milliseconds passed it in 1973.
const LAST_SECOND: i64 = 100_000_000_000;

/// An event's `time` in Unix seconds: a number or a string of digits (missing or unreadable → 0); above
/// [`LAST_SECOND`] it is milliseconds, and is divided (rounding down) to seconds.
fn event_time(v: &Value) -> i64 {
    let time = int(v, "time");
    if time > LAST_SECOND { time / 1000 } else { time }
}

/// Whether two ids (as [`id`] reads them: strings as sent, numbers printed exactly) name the same account: the
/// same text, so `10001` and `"10001"` match while `9007199254740993` and `9007199254740992` (one float apart)
/// do not. An empty id (unknown) matches nothing.
fn same_id(a: &str, b: &str) -> bool {
    !a.is_empty() && a == b
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn message_event(v: &Value, self_id: &str, self_sent: bool) -> Result<EventKind, DecodeError> {
    let message_type = match v.get("message_type").and_then(Value::as_str) {
        Some("private") => ChatType::Private,
        Some("group") => ChatType::Group,
        // Absent: infer it, as `send_msg` does.
        None if v.get("group_id").is_some_and(|g| !g.is_null()) => ChatType::Group,
        None => ChatType::Private,
        // Another kind of chat (go-cqhttp `guild`, …): answering it as a private chat would be wrong.
        Some(_) => return Ok(EventKind::Other(v.to_string())),
    };
    let raw = v.get("raw_message").and_then(Value::as_str);
    let message_json = match v.get("message") {
        None | Some(Value::Null) => raw.map(|r| Value::String(r.to_string())),
        Some(m) => Some(m.clone()),
    };
    let message_json = message_json
        .filter(|m| m.is_string() || m.is_array() || m.is_object())
        .ok_or(DecodeError::NoMessage)?;
    let (message, segment_extras) = data::message_with_extras(&message_json);
    let raw_message = match (raw, &message_json) {
        (Some(raw), _) => raw.to_string(),
        (None, Value::String(s)) => s.clone(),
        (None, m) => cq::serialize(&message_array(m).unwrap_or_default()),
    };

    let sender_json = v.get("sender").filter(|s| s.is_object()).unwrap_or(&Value::Null);
    let mut sender = data::sender(sender_json);
    let user_id = opt_str(v, "user_id").unwrap_or_else(|| sender.user_id.clone());
    if sender.user_id.is_empty() {
        sender.user_id = user_id.clone();
    }
    let group = message_type == ChatType::Group;
    if !group {
        // Roles exist only in groups.
        sender.role = None;
    }
    // go-cqhttp reports the bot's own messages as plain `message` events from the bot's account.
    let self_sent = self_sent || same_id(&user_id, self_id);
    let mentions_me = message
        .iter()
        .any(|s| matches!(s, Segment::At(qq) if same_id(qq, self_id)));
    let to_me = !self_sent && (!group || mentions_me);

    Ok(EventKind::Message(MessageEvent {
        message_type,
        sub_type: id(v, "sub_type"),
        message_id: id(v, "message_id"),
        user_id,
        group_id: group.then(|| id(v, "group_id")),
        sender,
        anonymous: v.get("anonymous").filter(|a| a.is_object()).map(|a| AnonymousSender {
            id: id(a, "id"),
            name: id(a, "name"),
            flag: id(a, "flag"),
        }),
        plain_text: plain_text(&message),
        message,
        raw_message,
        to_me,
        self_sent,
        segment_extras,
        font: v.get("font").filter(|f| !f.is_null()).map(|_| int(v, "font") as i32),
        message_seq: opt_str(v, "message_seq"),
        real_id: opt_str(v, "real_id"),
        target_id: opt_str(v, "target_id"),
        // A temporary chat's group: go-cqhttp and NapCat put it in `sender.group_id` (some also at the top).
        source_group_id: (!group)
            .then(|| opt_str(sender_json, "group_id").or_else(|| opt_str(v, "group_id")))
            .flatten()
            .filter(|g| !g.is_empty() && g != "0"),
    }))
}

/// The text segments joined and trimmed. Mentions are segments, not text, so a leading @-mention of the bot is
/// never part of it (`[CQ:at,qq=<bot>] ping x` gives `ping x`).
fn plain_text(message: &[Segment]) -> String {
    let text: String = message
        .iter()
        .filter_map(|s| match s {
            Segment::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    text.trim().to_string()
}

fn notice_event(v: &Value) -> NoticeEvent {
    let notice_type = id(v, "notice_type");
    let sub_type = id(v, "sub_type");
    let user_id = id(v, "user_id");
    let group_id = id(v, "group_id");
    match (notice_type.as_str(), sub_type.as_str()) {
        ("group_upload", _) => {
            let file = v.get("file").unwrap_or(&Value::Null);
            NoticeEvent::GroupUpload(GroupUpload {
                group_id,
                user_id,
                file: GroupFile {
                    id: id(file, "id"),
                    name: id(file, "name"),
                    size: int(file, "size").max(0) as u64,
                    busid: int(file, "busid"),
                },
            })
        }
        ("group_admin", "set" | "unset") => NoticeEvent::GroupAdmin(GroupAdmin {
            group_id,
            user_id,
            set: sub_type == "set",
        }),
        ("group_decrease" | "group_increase", _) => {
            // The spec: on `leave` the operator is the member themself.
            let operator_id = opt_str(v, "operator_id").unwrap_or_else(|| {
                if sub_type == "leave" {
                    user_id.clone()
                } else {
                    String::new()
                }
            });
            let change = MemberChange {
                group_id,
                user_id,
                operator_id,
                sub_type,
            };
            if notice_type == "group_increase" {
                NoticeEvent::GroupIncrease(change)
            } else {
                NoticeEvent::GroupDecrease(change)
            }
        }
        ("group_ban", _) => {
            let duration_secs = int(v, "duration");
            NoticeEvent::GroupBan(GroupBan {
                group_id,
                user_id,
                operator_id: id(v, "operator_id"),
                duration_secs,
                lifted: sub_type == "lift_ban" || (sub_type.is_empty() && duration_secs == 0),
            })
        }
        ("friend_add", _) => NoticeEvent::FriendAdd(user_id),
        ("group_recall", _) => NoticeEvent::GroupRecall(GroupRecall {
            group_id,
            operator_id: opt_str(v, "operator_id").unwrap_or_else(|| user_id.clone()),
            user_id,
            message_id: id(v, "message_id"),
        }),
        ("friend_recall", _) => NoticeEvent::FriendRecall(FriendRecall {
            user_id,
            message_id: id(v, "message_id"),
        }),
        ("notify", "poke") => NoticeEvent::Poke(PokeNotice {
            // Friend pokes (an extension) have no group.
            group_id: Some(group_id).filter(|g| !g.is_empty()),
            user_id,
            target_id: id(v, "target_id"),
            action: opt_str(v, "action"),
            suffix: opt_str(v, "suffix"),
            raw_info_json: v.get("raw_info").filter(|r| !r.is_null()).map(Value::to_string),
        }),
        ("notify", "lucky_king") => NoticeEvent::LuckyKing(LuckyKing {
            group_id,
            user_id,
            target_id: id(v, "target_id"),
        }),
        ("notify", "honor") => NoticeEvent::Honor(HonorNotice {
            group_id,
            user_id,
            honor_type: id(v, "honor_type"),
        }),
        _ => NoticeEvent::Other(OtherNotice {
            notice_type,
            sub_type: opt_str(v, "sub_type"),
            json: v.to_string(),
        }),
    }
}

fn request_event(v: &Value) -> RequestEvent {
    let kind = match (
        v.get("request_type").and_then(Value::as_str),
        v.get("sub_type").and_then(Value::as_str),
    ) {
        (Some("friend"), _) => {
            return RequestEvent::Friend(FriendRequest {
                user_id: id(v, "user_id"),
                comment: id(v, "comment"),
                flag: id(v, "flag"),
            });
        }
        (Some("group"), Some("add")) => GroupRequestKind::Add,
        (Some("group"), Some("invite")) => GroupRequestKind::Invite,
        _ => return RequestEvent::Other(v.to_string()),
    };
    RequestEvent::Group(GroupRequest {
        kind,
        group_id: id(v, "group_id"),
        user_id: id(v, "user_id"),
        comment: id(v, "comment"),
        flag: id(v, "flag"),
        invitor_id: opt_str(v, "invitor_id").filter(|i| !i.is_empty() && i != "0"),
    })
}

fn meta_event(v: &Value) -> MetaEvent {
    match (
        v.get("meta_event_type").and_then(Value::as_str),
        v.get("sub_type").and_then(Value::as_str),
    ) {
        (Some("lifecycle"), Some("enable")) => MetaEvent::Lifecycle(Lifecycle::Enable),
        (Some("lifecycle"), Some("disable")) => MetaEvent::Lifecycle(Lifecycle::Disable),
        (Some("lifecycle"), Some("connect")) => MetaEvent::Lifecycle(Lifecycle::Connect),
        (Some("heartbeat"), _) => MetaEvent::Heartbeat(Heartbeat {
            interval_ms: int(v, "interval").max(0) as u64,
            // No status (absent or `null`) stays no status, never an empty status object.
            status_json: v.get("status").filter(|s| !s.is_null()).map(Value::to_string),
        }),
        _ => MetaEvent::Other(v.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Actions: Action → (action name, params)
// ---------------------------------------------------------------------------------------------------------------

/// The OneBot action name and `params` object for an [`Action`] (OneBot V11 `api/public.md`; `delete_friend` as
/// go-cqhttp and NapCat name it).
///
/// Ids are sent as JSON numbers when they are canonical integers (`"100100"`, `"-2147483000"`) and as strings
/// otherwise; the forward-message id is always a string. Messages are always arrays ([`segments_to_json`]), so
/// `auto_escape` (which only affects string messages) is never sent. `send_msg` puts a `reply` segment first for
/// `reply_to`, then an `at` segment and a space for `at_sender`. `set_group_add_request` sends the kind as both
/// `sub_type` (the spec) and `type` (older implementations). A raw action's params pass through as they are
/// (`null` becomes `{}`).
pub fn action_request(action: &Action) -> (String, Value) {
    let params = match action {
        Action::SendPrivateMsg { user_id, message } => json!({
            "user_id": num(user_id),
            "message": segments_to_json(message),
        }),
        Action::SendGroupMsg { group_id, message } => json!({
            "group_id": num(group_id),
            "message": segments_to_json(message),
        }),
        Action::SendMsg {
            target,
            message,
            options,
        } => {
            let message_json = segments_to_json(&coral_model::send_segments(message, Some(options)));
            match target {
                Chat::Private(user_id) => json!({
                    "message_type": "private",
                    "user_id": num(user_id),
                    "message": message_json,
                }),
                Chat::Group(group_id) => json!({
                    "message_type": "group",
                    "group_id": num(group_id),
                    "message": message_json,
                }),
            }
        }
        Action::DeleteMsg { message_id } => json!({ "message_id": num(message_id) }),
        Action::GetMsg { message_id } => json!({ "message_id": num(message_id) }),
        Action::GetForwardMsg { id } => json!({ "id": id }),
        Action::SendLike { user_id, times } => json!({ "user_id": num(user_id), "times": times }),
        Action::SetGroupKick {
            group_id,
            user_id,
            reject_add_request,
        } => json!({
            "group_id": num(group_id),
            "user_id": num(user_id),
            "reject_add_request": reject_add_request,
        }),
        Action::SetGroupBan {
            group_id,
            user_id,
            duration_secs,
        } => json!({
            "group_id": num(group_id),
            "user_id": num(user_id),
            "duration": duration_secs,
        }),
        Action::SetGroupAnonymousBan {
            group_id,
            flag,
            duration_secs,
        } => json!({
            "group_id": num(group_id),
            // The spec names it `anonymous_flag` and accepts `flag`; implementations read one or the other.
            "anonymous_flag": flag,
            "flag": flag,
            "duration": duration_secs,
        }),
        Action::SetGroupWholeBan { group_id, enable } => {
            json!({ "group_id": num(group_id), "enable": enable })
        }
        Action::SetGroupAdmin {
            group_id,
            user_id,
            enable,
        } => json!({ "group_id": num(group_id), "user_id": num(user_id), "enable": enable }),
        Action::SetGroupAnonymous { group_id, enable } => {
            json!({ "group_id": num(group_id), "enable": enable })
        }
        Action::SetGroupCard {
            group_id,
            user_id,
            card,
        } => json!({ "group_id": num(group_id), "user_id": num(user_id), "card": card }),
        Action::SetGroupName { group_id, name } => {
            json!({ "group_id": num(group_id), "group_name": name })
        }
        Action::SetGroupLeave { group_id, is_dismiss } => {
            json!({ "group_id": num(group_id), "is_dismiss": is_dismiss })
        }
        Action::SetGroupSpecialTitle {
            group_id,
            user_id,
            title,
            duration_secs,
        } => json!({
            "group_id": num(group_id),
            "user_id": num(user_id),
            "special_title": title,
            "duration": duration_secs,
        }),
        Action::SetFriendAddRequest { flag, approve, remark } => {
            json!({ "flag": flag, "approve": approve, "remark": remark })
        }
        Action::SetGroupAddRequest {
            flag,
            kind,
            approve,
            reason,
        } => {
            let kind = match kind {
                GroupRequestKind::Add => "add",
                GroupRequestKind::Invite => "invite",
            };
            json!({ "flag": flag, "sub_type": kind, "type": kind, "approve": approve, "reason": reason })
        }
        Action::DeleteFriend { user_id } => json!({ "user_id": num(user_id) }),
        Action::GetStrangerInfo { user_id, no_cache } => {
            json!({ "user_id": num(user_id), "no_cache": no_cache })
        }
        Action::GetGroupInfo { group_id, no_cache } => {
            json!({ "group_id": num(group_id), "no_cache": no_cache })
        }
        Action::GetGroupMemberInfo {
            group_id,
            user_id,
            no_cache,
        } => json!({ "group_id": num(group_id), "user_id": num(user_id), "no_cache": no_cache }),
        Action::GetGroupMemberList { group_id } => json!({ "group_id": num(group_id) }),
        Action::GetGroupHonorInfo { group_id, honor_type } => json!({ "group_id": num(group_id), "type": honor_type }),
        Action::GetCookies { domain } | Action::GetCredentials { domain } => {
            json!({ "domain": domain })
        }
        Action::GetRecord { file, out_format } => json!({ "file": file, "out_format": out_format }),
        Action::GetImage { file } => json!({ "file": file }),
        Action::SetRestart { delay_ms } => json!({ "delay": delay_ms }),
        Action::GetLoginInfo
        | Action::GetFriendList
        | Action::GetGroupList
        | Action::GetCsrfToken
        | Action::CanSendImage
        | Action::CanSendRecord
        | Action::GetStatus
        | Action::GetVersionInfo
        | Action::CleanCache => json!({}),
        Action::Raw { params, .. } => match params {
            Value::Null => json!({}),
            params => params.clone(),
        },
    };
    (action.name().to_string(), params)
}

/// An id as OneBot wants it: a JSON number when the string is a canonical integer, otherwise the string.
fn num(id: &str) -> Value {
    if let Ok(n) = id.parse::<i64>()
        && n.to_string() == id
    {
        return Value::from(n);
    }
    if let Ok(n) = id.parse::<u64>()
        && n.to_string() == id
    {
        return Value::from(n);
    }
    Value::String(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::fixtures_dir;
    use coral_model::bindings::coral::bot::types::{
        Contact, ContactKind, CustomMusic, CustomNode, ForwardNode, Image, Location, Music, OtherSegment, Poke, Share,
        Voice,
    };
    use coral_model::bindings::{Media, Role, SendOptions};
    use coral_model::wire::json::uint;
    use std::collections::BTreeSet;

    /// Every `*.json` file of a fixture folder, as (file name, JSON), sorted by name.
    fn fixture_dir(dir: &str) -> Vec<(String, Value)> {
        let dir = fixtures_dir().join(dir);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        let mut files: Vec<(String, Value)> = entries
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .map(|path| {
                let text = std::fs::read_to_string(&path).expect("fixture is readable");
                let name = path.file_name().expect("file name").to_string_lossy();
                let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                (name.into_owned(), json)
            })
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        files
    }

    fn decode(v: &Value) -> Event {
        decode_event(v).unwrap_or_else(|e| panic!("decoding {v}: {e}"))
    }

    fn message_of(event: &Event) -> &MessageEvent {
        match &event.kind {
            EventKind::Message(m) => m,
            other => panic!("expected a message event, got {other:?}"),
        }
    }

    fn notice_of(event: &Event) -> &NoticeEvent {
        match &event.kind {
            EventKind::Notice(n) => n,
            other => panic!("expected a notice, got {other:?}"),
        }
    }

    fn request_of(event: &Event) -> &RequestEvent {
        match &event.kind {
            EventKind::Request(r) => r,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    fn meta_of(event: &Event) -> &MetaEvent {
        match &event.kind {
            EventKind::Meta(m) => m,
            other => panic!("expected a meta event, got {other:?}"),
        }
    }

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
                let status: Value =
                    serde_json::from_str(h.status_json.as_deref().expect("a status")).expect("status JSON");
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

    /// A fixture message, segment or `node` content with every message in array form.
    fn normalise_segment(seg: &Value) -> Value {
        let mut seg = seg.clone();
        if seg["type"] == "node"
            && let Some(content) = seg["data"].get("content").and_then(message_array)
        {
            seg["data"]["content"] = Value::Array(content);
        }
        seg
    }

    #[test]
    fn every_segment_fixture_survives_decode_and_encode() {
        let files = fixture_dir("segments");
        assert_eq!(files.len(), 20, "all 20 V11 segment types");
        for (name, segments) in files {
            let segments = segments.as_array().expect("a list of segments");
            for seg in segments {
                let decoded = data::segment(seg);
                assert!(!matches!(decoded, Segment::Other(_)), "{name}: {seg} is a V11 segment");
                assert_eq!(segments_to_json(&[decoded]), json!([normalise_segment(seg)]), "{name}");
            }
        }
    }

    #[test]
    fn segments_encode_flags_as_strings_and_leave_out_absent_fields() {
        let media = |file: &str| Media {
            file: file.into(),
            url: None,
            cache: Some(false),
            proxy: Some(true),
            timeout_secs: Some(30),
        };
        let message = vec![
            Segment::Image(Image {
                media: media("https://a/b.png"),
                flash: true,
                sub_type: None,
                summary: None,
                file_size: None,
                filename: None,
            }),
            Segment::Record(Voice {
                media: media("base64://AAAA"),
                magic: true,
            }),
            Segment::Anonymous(true),
            Segment::Anonymous(false),
            Segment::Poke(Poke {
                kind: "1".into(),
                id: "-1".into(),
                name: None,
            }),
            Segment::Share(Share {
                url: "u".into(),
                title: "t".into(),
                content: None,
                image: Some("i".into()),
            }),
            Segment::Contact(Contact {
                kind: ContactKind::User,
                id: "7".into(),
            }),
            Segment::Location(Location {
                lat: 39.8969426,
                lon: -116.5,
                title: None,
                content: None,
            }),
            Segment::Music(Music::Custom(CustomMusic {
                url: "u".into(),
                audio: "a".into(),
                title: "t".into(),
                content: Some("c".into()),
                image: None,
            })),
            Segment::Other(OtherSegment {
                kind: "mface".into(),
                data_json: r#"{"emoji_id": "x", "n": 3}"#.into(),
            }),
            Segment::Other(OtherSegment {
                kind: "markdown".into(),
                data_json: "not json".into(),
            }),
        ];
        assert_eq!(
            segments_to_json(&message),
            json!([
                {"type": "image", "data": {"file": "https://a/b.png", "type": "flash", "cache": "0",
                    "proxy": "1", "timeout": "30"}},
                {"type": "record", "data": {"file": "base64://AAAA", "magic": "1", "cache": "0",
                    "proxy": "1", "timeout": "30"}},
                {"type": "anonymous", "data": {"ignore": "1"}},
                {"type": "anonymous", "data": {}},
                {"type": "poke", "data": {"type": "1", "id": "-1"}},
                {"type": "share", "data": {"url": "u", "title": "t", "image": "i"}},
                {"type": "contact", "data": {"type": "qq", "id": "7"}},
                {"type": "location", "data": {"lat": "39.8969426", "lon": "-116.5"}},
                {"type": "music", "data": {"type": "custom", "url": "u", "audio": "a", "title": "t",
                    "content": "c"}},
                {"type": "mface", "data": {"emoji_id": "x", "n": 3}},
                {"type": "markdown", "data": {}},
            ])
        );
    }

    #[test]
    fn custom_node_content_is_always_sent_as_an_array() {
        let node = |content_json: &str| {
            segments_to_json(&[Segment::Node(ForwardNode::Custom(CustomNode {
                user_id: "1".into(),
                nickname: "n".into(),
                content_json: content_json.into(),
            }))])[0]["data"]["content"]
                .clone()
        };
        let face = json!({"type": "face", "data": {"id": "1"}});
        assert_eq!(node(r#"[{"type":"face","data":{"id":"1"}}]"#), json!([face]));
        assert_eq!(node(r#"{"type":"face","data":{"id":"1"}}"#), json!([face]));
        assert_eq!(node(r#""[CQ:face,id=1]""#), json!([face]));
        assert_eq!(node("oops"), json!([{"type": "text", "data": {"text": "oops"}}]));
        // Received nodes store their content as an array, whatever form it came in.
        let received = data::segment(&json!({"type": "node", "data": {"user_id": 1, "nickname": "n",
            "content": "[CQ:face,id=1]hi"}}));
        let Segment::Node(ForwardNode::Custom(n)) = received else {
            panic!("{received:?}");
        };
        assert_eq!(
            serde_json::from_str::<Value>(&n.content_json).ok(),
            Some(json!([face, {"type": "text", "data": {"text": "hi"}}]))
        );
    }

    #[test]
    fn string_messages_are_parsed_as_cq_code() {
        let m = data::message(&json!("[CQ:at,qq=10001] hi &#91;x&#93;"));
        assert!(matches!(&m[..], [Segment::At(q), Segment::Text(t)] if q == "10001" && t == " hi [x]"));
        assert!(data::message(&json!("")).is_empty());
    }

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
            let (_, params) = action_request(&action);
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
            let (got_name, mut got) = action_request(&fixture_action(name, &want));
            assert_eq!(got_name, name);
            names.insert(got_name);

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
        let (name, params) = action_request(&Action::SendMsg {
            target: Chat::Group("100100".into()),
            message: vec![Segment::Text("pong".into())],
            options: SendOptions {
                at_sender: Some("1000004".into()),
                reply_to: Some("-2147483000".into()),
            },
        });
        assert_eq!(name, "send_msg");
        assert_eq!(
            params,
            json!({"message_type": "group", "group_id": 100100, "message": [
                {"type": "reply", "data": {"id": "-2147483000"}},
                {"type": "at", "data": {"qq": "1000004"}},
                {"type": "text", "data": {"text": " "}},
                {"type": "text", "data": {"text": "pong"}},
            ]})
        );
        let (_, params) = action_request(&Action::SendMsg {
            target: Chat::Private("u-1".into()),
            message: vec![],
            options: SendOptions {
                at_sender: None,
                reply_to: None,
            },
        });
        assert_eq!(
            params,
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
        let (_, params) = action_request(&Action::DeleteMsg {
            message_id: "a1b2".into(),
        });
        assert_eq!(params, json!({"message_id": "a1b2"}));
        // The forward id is a string in the spec, even when it looks like a number.
        let (_, params) = action_request(&Action::GetForwardMsg { id: "123".into() });
        assert_eq!(params, json!({"id": "123"}));
    }

    #[test]
    fn extension_and_raw_actions() {
        assert_eq!(
            action_request(&Action::DeleteFriend {
                user_id: "1000001".into()
            }),
            ("delete_friend".to_string(), json!({"user_id": 1000001}))
        );
        let params = json!({"message_id": 5, "emoji_id": "76", "set": true});
        assert_eq!(
            action_request(&Action::Raw {
                action: "set_msg_emoji_like".into(),
                params: params.clone(),
            }),
            ("set_msg_emoji_like".to_string(), params)
        );
        assert_eq!(
            action_request(&Action::Raw {
                action: "get_online_clients".into(),
                params: Value::Null,
            }),
            ("get_online_clients".to_string(), json!({}))
        );
        let (_, params) = action_request(&Action::SetGroupAddRequest {
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
}
