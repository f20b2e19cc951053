//! The OneBot V11 protocol as pure functions (no I/O): incoming event JSON → WIT [`Event`] ([`decode_event`]),
//! message segments → OneBot's array form ([`segments_to_json`]), and each [`Action`] → its OneBot action name
//! and `params` object ([`action_request`]).
//!
//! Decoding is lenient the way real implementations need: ids may be numbers or strings, messages may be CQ
//! strings, arrays or a single segment object, and missing optional fields get defaults. Anything Coral has no
//! case for is kept as JSON (`other` variants), never dropped.
//!
//! [`segments_to_json`]: coral_model::wire::segment::segments_to_json
//! [`Action`]: coral_model::Action

mod actions;
#[cfg(test)]
mod tests;

pub use actions::{Params, SendParams, action_request};

use coral_model::bindings::coral::bot::types::{
    AnonymousSender, FriendRecall, FriendRequest, GroupAdmin, GroupBan, GroupFile, GroupRecall, GroupRequest,
    GroupUpload, Heartbeat, HonorNotice, Lifecycle, LuckyKing, MemberChange, MetaEvent, NoticeEvent, OtherNotice,
    PokeNotice, RequestEvent,
};
use coral_model::bindings::{ChatType, Event, EventKind, GroupRequestKind, MessageEvent, Segment};
use coral_model::wire::cq;
use coral_model::wire::json::{self as data, id, int, opt_str};
use coral_model::wire::object::{Field, Json, NULL, Obj, Object};
use coral_model::wire::segment::message_array;
use serde_json::{Map, Value};

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
    /// A message event whose `message` (and `raw_message`) is missing or not a CQ string, array or segment (or
    /// nested deeper than a JSON tree may be).
    #[error("the message event has no usable `message`")]
    NoMessage,
    /// An event (other than a message) nested deeper than a JSON tree may be (128 levels).
    #[error("the event is nested too deeply")]
    TooDeep,
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
    decode_object(v)
}

/// [`decode_event`] for an object read from a parsed tree or in place from a frame
/// ([`Fields`](coral_model::wire::object::Fields)): message events, the hot path, are read field by field where they
/// are; the other kinds are read from a tree (parsed now if the object is read in place).
pub fn decode_object<O: Object>(v: &O) -> Result<Event, DecodeError> {
    let post_type = match v.field("post_type") {
        Field::Missing | Field::Null => return Err(DecodeError::MissingPostType),
        Field::Str(p) => p,
        other => return Err(DecodeError::InvalidPostType(other.to_value().to_string())),
    };
    let self_id = id(v, "self_id");
    let time = event_time(v);
    let (kind, extra) = match post_type.as_ref() {
        "message" | "message_sent" => {
            let kind = message_event(v, &self_id, post_type == "message_sent")?;
            let extra = extra_fields(v, &kind);
            (kind, extra)
        }
        other_type => {
            let tree = v.to_value();
            let tree = tree.as_ref();
            // Read in place, any depth is fine; as a tree it is not (and then reads as `null`).
            if !tree.is_object() {
                return Err(DecodeError::TooDeep);
            }
            let kind = match other_type {
                "notice" => EventKind::Notice(notice_event(tree)),
                "request" => EventKind::Request(request_event(tree)),
                "meta_event" => EventKind::Meta(meta_event(tree)),
                _ => EventKind::Other(tree.to_string()),
            };
            let extra = extra_fields(tree, &kind);
            (kind, extra)
        }
    };
    Ok(Event {
        platform: PLATFORM.to_string(),
        self_id,
        time,
        extra,
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
fn extra_fields(v: &impl Object, kind: &EventKind) -> Option<String> {
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
/// named there (and is left out when none remain). None when nothing remains. Nothing is allocated when every
/// field is mapped (the common case).
fn unmapped(v: &impl Object, mapped: &[&[&str]], nested: Nested) -> Option<Map<String, Value>> {
    let mut extra = Map::new();
    for key in v.keys() {
        if extra.contains_key(key) {
            // A repeated key: the last value counts, in the first one's place (as a parsed tree has it).
            continue;
        }
        if let Some((_, inner)) = nested.iter().find(|(name, _)| *name == key)
            && let Field::Object(object) = v.field(key)
        {
            if let Some(rest) = unmapped(&object, &[inner], &[]) {
                extra.insert(key.to_string(), Value::Object(rest));
            }
            continue;
        }
        if !mapped.iter().any(|keys| keys.contains(&key)) {
            extra.insert(key.to_string(), v.field(key).to_value());
        }
    }
    (!extra.is_empty()).then_some(extra)
}

/// The largest `time` read as seconds: 10^11 s is the year 5138, while milliseconds passed it in 1973.
const LAST_SECOND: i64 = 100_000_000_000;

/// An event's `time` in Unix seconds: a number or a string of digits (missing or unreadable → 0); above
/// [`LAST_SECOND`] it is milliseconds, and is divided (rounding down) to seconds.
fn event_time(v: &impl Object) -> i64 {
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

fn message_event(v: &impl Object, self_id: &str, self_sent: bool) -> Result<EventKind, DecodeError> {
    let message_type = match v.field("message_type") {
        Field::Str(t) if t == "private" => ChatType::Private,
        Field::Str(t) if t == "group" => ChatType::Group,
        // Absent: infer it, as `send_msg` does.
        Field::Str(_) => return Ok(EventKind::Other(v.to_value().to_string())),
        _ if v.field("group_id").present() => ChatType::Group,
        _ => ChatType::Private,
    };
    let raw = match v.field("raw_message") {
        Field::Str(raw) => Some(raw),
        _ => None,
    };
    // An array read in place (a frame's) is decoded where it is; the other forms through a tree. Without a
    // `raw_message` (real implementations send one) it is made from the message.
    let (message, segment_extras, raw_message) = match v.field("message") {
        Field::Array(Json::Raw(array)) => {
            let (message, extras) = data::message_with_extras_in_place(array).ok_or(DecodeError::NoMessage)?;
            let raw_message = match raw {
                Some(raw) => raw.into_owned(),
                None => cq::serialize(&message_array(&Json::Raw(array).to_value()).unwrap_or_default()),
            };
            (message, extras, raw_message)
        }
        field => {
            let message_json = match field {
                Field::Missing | Field::Null => raw.as_ref().map(|r| Value::String(r.to_string())),
                Field::Str(s) => Some(Value::String(s.into_owned())),
                Field::Array(json) => Some(json.to_value().into_owned()),
                Field::Object(object) => Some(object.to_value().into_owned()),
                Field::Bool(_) | Field::Number(_) => None,
            };
            // `null`: an array or object that could not become a tree (nested too deeply).
            let message_json = message_json.filter(|m| !m.is_null()).ok_or(DecodeError::NoMessage)?;
            let (message, extras) = data::message_with_extras(&message_json);
            let raw_message = match (raw, message_json) {
                (Some(raw), _) => raw.into_owned(),
                (None, Value::String(s)) => s,
                (None, m) => cq::serialize(&message_array(&m).unwrap_or_default()),
            };
            (message, extras, raw_message)
        }
    };

    let sender_json = match v.field("sender") {
        Field::Object(object) => object,
        _ => Obj::Tree(&NULL),
    };
    let mut sender = data::sender(&sender_json);
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
        anonymous: match v.field("anonymous") {
            Field::Object(a) => Some(AnonymousSender {
                id: id(&a, "id"),
                name: id(&a, "name"),
                flag: id(&a, "flag"),
            }),
            _ => None,
        },
        plain_text: plain_text(&message),
        message,
        raw_message,
        to_me,
        self_sent,
        segment_extras,
        font: v.field("font").present().then(|| int(v, "font") as i32),
        message_seq: opt_str(v, "message_seq"),
        real_id: opt_str(v, "real_id"),
        target_id: opt_str(v, "target_id"),
        // A temporary chat's group: go-cqhttp and NapCat put it in `sender.group_id` (some also at the top).
        source_group_id: (!group)
            .then(|| opt_str(&sender_json, "group_id").or_else(|| opt_str(v, "group_id")))
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
