//! Reading platform answers: the OneBot `data` JSON of each API, leniently (ids as numbers or strings, missing
//! optional fields), into the WIT records plugins receive; and message segments from OneBot's array form.

use super::object::{Field, Fields, NULL, Obj, Object};
use crate::bindings::coral::bot::types::{
    Contact, ContactKind, CustomMusic, CustomNode, ForwardNode, Image, Location, Music, MusicRef, OtherSegment, Poke,
    SegmentExtra, Share, Voice,
};
use crate::bindings::{
    ChatType, Credentials, ForwardMessageNode, FriendInfo, GroupInfo, HonorInfo, HonorMember, LoginInfo, Media,
    MemberInfo, MessageInfo, Role, Segment, Sender, Status, StrangerInfo, Talkative, VersionInfo,
};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A field as a string: strings as they are, numbers and booleans printed; missing or null → empty.
pub fn id(v: &impl Object, key: &str) -> String {
    opt_str(v, key).unwrap_or_default()
}

/// A field as a string, if present and not null.
pub fn opt_str(v: &impl Object, key: &str) -> Option<String> {
    match v.field(key) {
        Field::Str(s) => Some(s.into_owned()),
        Field::Number(n) => Some(n.to_string()),
        Field::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A field as an i64 (numbers or numeric strings); missing → 0.
pub fn int(v: &impl Object, key: &str) -> i64 {
    match v.field(key) {
        Field::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).unwrap_or(0),
        Field::Str(s) => s.trim().parse().unwrap_or(0),
        Field::Bool(b) => i64::from(b),
        _ => 0,
    }
}

/// A field as a u32, clamped; missing → 0.
pub fn uint(v: &impl Object, key: &str) -> u32 {
    int(v, key).clamp(0, u32::MAX as i64) as u32
}

/// A field as a bool (true/false, 1/0, "yes"/"no", "true"/"false"); missing → `default`.
pub fn flag(v: &impl Object, key: &str, default: bool) -> bool {
    match v.field(key) {
        Field::Bool(b) => b,
        Field::Number(n) => n.as_i64().is_some_and(|n| n != 0),
        Field::Str(s) => matches!(s.as_ref(), "1" | "true" | "yes"),
        _ => default,
    }
}

/// A group role from its OneBot name.
pub fn role(name: &str) -> Role {
    match name {
        "owner" => Role::Owner,
        "admin" => Role::Admin,
        _ => Role::Member,
    }
}

/// The `sender` object of a message.
pub fn sender(v: &impl Object) -> Sender {
    let age = has(v, "age").then(|| uint(v, "age"));
    Sender {
        user_id: id(v, "user_id"),
        nickname: id(v, "nickname"),
        card: opt_str(v, "card").filter(|c| !c.is_empty()),
        sex: opt_str(v, "sex"),
        age,
        area: opt_str(v, "area"),
        level: opt_str(v, "level"),
        role: match v.field("role") {
            Field::Str(name) => Some(role(&name)),
            Field::Number(_) | Field::Bool(_) => Some(Role::Member),
            _ => None,
        },
        title: opt_str(v, "title").filter(|t| !t.is_empty()),
    }
}

/// Whether the object has the field, `null` included.
fn has(v: &impl Object, key: &str) -> bool {
    !matches!(v.field(key), Field::Missing)
}

fn media(d: &impl Object) -> Media {
    Media {
        file: id(d, "file"),
        url: opt_str(d, "url"),
        // Present (`null` included): the flag, `null` read as its default.
        cache: has(d, "cache").then(|| flag(d, "cache", true)),
        proxy: has(d, "proxy").then(|| flag(d, "proxy", true)),
        timeout_secs: has(d, "timeout").then(|| uint(d, "timeout")),
    }
}

/// One OneBot array-form segment (`{"type": ..., "data": {...}}`).
pub fn segment(seg: &impl Object) -> Segment {
    let (kind, data) = parts(seg);
    segment_of(kind, &data)
}

/// A segment and its extra (see [`extra_of`]), its `data` read once for both.
fn segment_with_extra(seg: &impl Object) -> (Segment, Option<String>) {
    let (kind, data) = parts(seg);
    let extra = extra_of(&kind, &data);
    (segment_of(kind, &data), extra)
}

/// A segment's `type` (`""` when not a string) and `data` (not an object: one without fields).
fn parts(seg: &impl Object) -> (Cow<'_, str>, Obj<'_>) {
    let kind = seg.field("type").into_str();
    let data = match seg.field("data") {
        Field::Object(data) => data,
        _ => Obj::Tree(&NULL),
    };
    (kind, data)
}

fn segment_of(kind: Cow<'_, str>, d: &Obj<'_>) -> Segment {
    match kind.as_ref() {
        "text" => Segment::Text(id(d, "text")),
        "face" => Segment::Face(id(d, "id")),
        "image" => Segment::Image(Image {
            media: media(d),
            flash: id(d, "type") == "flash",
            sub_type: d.field("sub_type").present().then(|| int(d, "sub_type") as i32),
            summary: opt_str(d, "summary"),
            file_size: d
                .field("file_size")
                .present()
                .then(|| int(d, "file_size").max(0) as u64),
            filename: opt_str(d, "filename"),
        }),
        "record" => Segment::Record(Voice {
            media: media(d),
            magic: flag(d, "magic", false),
        }),
        "video" => Segment::Video(media(d)),
        "at" => Segment::At(id(d, "qq")),
        "rps" => Segment::Rps,
        "dice" => Segment::Dice,
        "shake" => Segment::Shake,
        "poke" => Segment::Poke(Poke {
            kind: id(d, "type"),
            id: id(d, "id"),
            name: opt_str(d, "name"),
        }),
        "anonymous" => Segment::Anonymous(flag(d, "ignore", false)),
        "share" => Segment::Share(Share {
            url: id(d, "url"),
            title: id(d, "title"),
            content: opt_str(d, "content"),
            image: opt_str(d, "image"),
        }),
        "contact" => Segment::Contact(Contact {
            kind: if id(d, "type") == "group" {
                ContactKind::Group
            } else {
                ContactKind::User
            },
            id: id(d, "id"),
        }),
        "location" => Segment::Location(Location {
            lat: id(d, "lat").parse().unwrap_or(0.0),
            lon: id(d, "lon").parse().unwrap_or(0.0),
            title: opt_str(d, "title"),
            content: opt_str(d, "content"),
        }),
        "music" if id(d, "type") == "custom" => Segment::Music(Music::Custom(CustomMusic {
            url: id(d, "url"),
            audio: id(d, "audio"),
            title: id(d, "title"),
            content: opt_str(d, "content"),
            image: opt_str(d, "image"),
        })),
        "music" => Segment::Music(Music::Catalogue(MusicRef {
            platform: id(d, "type"),
            id: id(d, "id"),
        })),
        "reply" => Segment::Reply(id(d, "id")),
        "forward" => Segment::Forward(id(d, "id")),
        "node" if d.field("content").present() => {
            // `content-json` is always an array of segments, whichever form the platform used.
            let content = match d.field("content") {
                Field::Str(cq_string) => Value::Array(super::cq::parse(&cq_string)),
                Field::Object(segment) => Value::Array(vec![segment.to_value().into_owned()]),
                Field::Array(message) => message.to_value().into_owned(),
                _ => Value::Array(Vec::new()),
            };
            Segment::Node(ForwardNode::Custom(CustomNode {
                user_id: opt_str(d, "user_id").unwrap_or_else(|| id(d, "uin")),
                nickname: opt_str(d, "nickname").unwrap_or_else(|| id(d, "name")),
                content_json: content.to_string(),
            }))
        }
        "node" => Segment::Node(ForwardNode::Existing(id(d, "id"))),
        "xml" => Segment::Xml(id(d, "data")),
        "json" => Segment::Json(id(d, "data")),
        _ => Segment::Other(OtherSegment {
            kind: kind.into_owned(),
            data_json: match d {
                Obj::Tree(tree) if !tree.is_object() => "{}".to_string(),
                d => d.to_value().to_string(),
            },
        }),
    }
}

/// The `data` keys each segment type's typed fields carry; the others are the segment's extra (see
/// [`extra_of`]).
fn mapped_keys(kind: &str) -> &'static [&'static str] {
    const MEDIA: &[&str] = &["file", "url", "cache", "proxy", "timeout"];
    match kind {
        "text" => &["text"],
        "face" | "reply" | "forward" => &["id"],
        "image" => &[
            "file",
            "url",
            "cache",
            "proxy",
            "timeout",
            "type",
            "sub_type",
            "summary",
            "file_size",
            "filename",
        ],
        "record" => &["file", "url", "cache", "proxy", "timeout", "magic"],
        "video" => MEDIA,
        "at" => &["qq"],
        "poke" => &["type", "id", "name"],
        "anonymous" => &["ignore"],
        "share" => &["url", "title", "content", "image"],
        "contact" => &["type", "id"],
        "location" => &["lat", "lon", "title", "content"],
        "music" => &["type", "id", "url", "audio", "title", "content", "image"],
        "node" => &["id", "user_id", "uin", "nickname", "name", "content"],
        "xml" | "json" => &["data"],
        _ => &[],
    }
}

/// The keys of a known segment's `data` that its typed fields do not carry, as a JSON object (none when there
/// are none, and none for `other` segments, whose whole data travels in `data-json`).
fn extra_of(kind: &str, data: &Obj<'_>) -> Option<String> {
    let mapped = mapped_keys(kind);
    if mapped.is_empty() && !matches!(kind, "rps" | "dice" | "shake") {
        return None;
    }
    let mut extra = serde_json::Map::new();
    for key in data.keys() {
        // A repeated key: the last value counts, in the first one's place (as a parsed tree has it).
        if !mapped.contains(&key) && !extra.contains_key(key) {
            extra.insert(key.to_string(), data.value(key));
        }
    }
    (!extra.is_empty()).then(|| Value::Object(extra).to_string())
}

/// A message (as [`message`] reads it) with the extra fields of its segments (see [`extra_of`]).
pub fn message_with_extras(v: &Value) -> (Vec<Segment>, Vec<SegmentExtra>) {
    let items = segment_values(v);
    collect_message(items.iter().map(|seg| Some(segment_with_extra(seg)))).unwrap_or_default()
}

/// Decoded segments (and their extras, indexed by position) as a message; `None` if any item is.
fn collect_message(
    decoded: impl ExactSizeIterator<Item = Option<(Segment, Option<String>)>>,
) -> Option<(Vec<Segment>, Vec<SegmentExtra>)> {
    let mut message = Vec::with_capacity(decoded.len());
    let mut extras = Vec::new();
    for (index, item) in decoded.enumerate() {
        let (seg, extra) = item?;
        message.push(seg);
        extras.extend(extra.map(|json| SegmentExtra {
            index: index as u32,
            json,
        }));
    }
    Some((message, extras))
}

/// A message given as the text of an array (from a frame read in place), its segments read where they are: no
/// tree of the array or its segments. The same as [`message_with_extras`] on its tree; `None` where that tree could
/// not be built (nested deeper than [`MAX_DEPTH`], or not an array of JSON values).
pub fn message_with_extras_in_place(array: &RawValue) -> Option<(Vec<Segment>, Vec<SegmentExtra>)> {
    if shape(array.get()).depth >= MAX_DEPTH {
        return None;
    }
    let items: Vec<&RawValue> = serde_json::from_str(array.get()).ok()?;
    collect_message(items.iter().map(|item| {
        Some(if item.get().starts_with('{') {
            segment_with_extra(&Fields::parse(item.get()).ok()?)
        } else {
            segment_with_extra(&serde_json::from_str::<Value>(item.get()).ok()?)
        })
    }))
}

/// How deep a JSON text may nest and still be parsed into a tree (`serde_json`'s limit is 128 levels).
pub const MAX_DEPTH: usize = 128;

/// The arrays and objects of a JSON text, counted on the text without parsing it (brackets inside strings do not
/// count): how many it opens, and how deep they nest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Arrays and objects opened.
    pub containers: usize,
    /// The deepest nesting.
    pub depth: usize,
}

/// The [`Shape`] of a JSON text.
pub fn shape(json: &str) -> Shape {
    let mut shape = Shape {
        containers: 0,
        depth: 0,
    };
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in json.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                shape.containers += 1;
                depth += 1;
                shape.depth = shape.depth.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    shape
}

/// A message's segments as JSON values, from any of OneBot's three forms: an array of segments, a single segment
/// object, or a CQ-code string (parsed by [`super::cq::parse`]). Anything else has none.
fn segment_values(v: &Value) -> std::borrow::Cow<'_, [Value]> {
    match v {
        Value::Array(items) => items.as_slice().into(),
        Value::Object(_) => std::slice::from_ref(v).into(),
        Value::String(s) => super::cq::parse(s).into(),
        _ => (&[][..]).into(),
    }
}

/// A message in any of OneBot's three forms (see `segment_values`); anything else is an empty message.
pub fn message(v: &Value) -> Vec<Segment> {
    segment_values(v).iter().map(segment).collect()
}

/// `data.message_id` of a send.
pub fn message_id(v: &Value) -> String {
    id(v, "message_id")
}

/// `get_msg`.
pub fn message_info(v: &Value) -> MessageInfo {
    let (message, segment_extras) = v.get("message").map(message_with_extras).unwrap_or_default();
    MessageInfo {
        time: int(v, "time"),
        message_type: if id(v, "message_type") == "group" {
            ChatType::Group
        } else {
            ChatType::Private
        },
        message_id: id(v, "message_id"),
        real_id: opt_str(v, "real_id").unwrap_or_else(|| id(v, "message_id")),
        sender: v.get("sender").map(sender).unwrap_or_else(|| sender(&Value::Null)),
        message,
        segment_extras,
    }
}

/// `get_forward_msg`: `data.message` (or `data.messages`) is a list of nodes.
pub fn forward_nodes(v: &Value) -> Vec<ForwardMessageNode> {
    let nodes = v.get("message").or_else(|| v.get("messages")).and_then(Value::as_array);
    nodes
        .map(|nodes| {
            nodes
                .iter()
                .map(|node| {
                    // Either a `node` segment ({type, data: {user_id, nickname, content}}) or a flat object
                    // with `sender` (go-cqhttp).
                    let d = node.get("data").unwrap_or(node);
                    let who = d.get("sender").unwrap_or(d);
                    let (content, segment_extras) = d
                        .get("content")
                        .or_else(|| d.get("message"))
                        .map(message_with_extras)
                        .unwrap_or_default();
                    ForwardMessageNode {
                        user_id: opt_str(who, "user_id").unwrap_or_else(|| id(who, "uin")),
                        nickname: opt_str(who, "nickname").unwrap_or_else(|| id(who, "name")),
                        time: d.get("time").map(|_| int(d, "time")),
                        content,
                        segment_extras,
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `get_login_info`.
pub fn login_info(v: &Value) -> LoginInfo {
    LoginInfo {
        user_id: id(v, "user_id"),
        nickname: id(v, "nickname"),
    }
}

/// `get_stranger_info`.
pub fn stranger_info(v: &Value) -> StrangerInfo {
    StrangerInfo {
        user_id: id(v, "user_id"),
        nickname: id(v, "nickname"),
        sex: opt_str(v, "sex").unwrap_or_else(|| "unknown".into()),
        age: uint(v, "age"),
    }
}

fn list<T>(v: &Value, item: impl Fn(&Value) -> T) -> Vec<T> {
    v.as_array()
        .map(|items| items.iter().map(item).collect())
        .unwrap_or_default()
}

/// `get_friend_list`.
pub fn friend_list(v: &Value) -> Vec<FriendInfo> {
    list(v, |f| FriendInfo {
        user_id: id(f, "user_id"),
        nickname: id(f, "nickname"),
        remark: id(f, "remark"),
    })
}

/// `get_group_info`.
pub fn group_info(v: &Value) -> GroupInfo {
    GroupInfo {
        group_id: id(v, "group_id"),
        group_name: id(v, "group_name"),
        member_count: uint(v, "member_count"),
        max_member_count: uint(v, "max_member_count"),
    }
}

/// `get_group_list`.
pub fn group_list(v: &Value) -> Vec<GroupInfo> {
    list(v, group_info)
}

/// `get_group_member_info`.
pub fn member_info(v: &Value) -> MemberInfo {
    MemberInfo {
        group_id: id(v, "group_id"),
        user_id: id(v, "user_id"),
        nickname: id(v, "nickname"),
        card: id(v, "card"),
        sex: opt_str(v, "sex").unwrap_or_else(|| "unknown".into()),
        age: uint(v, "age"),
        area: opt_str(v, "area"),
        join_time: int(v, "join_time"),
        last_sent_time: int(v, "last_sent_time"),
        level: id(v, "level"),
        role: role(&id(v, "role")),
        unfriendly: flag(v, "unfriendly", false),
        title: opt_str(v, "title"),
        title_expire_time: int(v, "title_expire_time"),
        card_changeable: flag(v, "card_changeable", false),
    }
}

/// `get_group_member_list`.
pub fn member_list(v: &Value) -> Vec<MemberInfo> {
    list(v, member_info)
}

fn honor_members(v: &Value, key: &str) -> Vec<HonorMember> {
    v.get(key)
        .map(|l| {
            list(l, |m| HonorMember {
                user_id: id(m, "user_id"),
                nickname: id(m, "nickname"),
                avatar: id(m, "avatar"),
                description: id(m, "description"),
            })
        })
        .unwrap_or_default()
}

/// `get_group_honor_info`.
pub fn honor_info(v: &Value) -> HonorInfo {
    HonorInfo {
        group_id: id(v, "group_id"),
        current_talkative: v.get("current_talkative").filter(|t| t.is_object()).map(|t| Talkative {
            user_id: id(t, "user_id"),
            nickname: id(t, "nickname"),
            avatar: id(t, "avatar"),
            day_count: uint(t, "day_count"),
        }),
        talkative_list: honor_members(v, "talkative_list"),
        performer_list: honor_members(v, "performer_list"),
        legend_list: honor_members(v, "legend_list"),
        strong_newbie_list: honor_members(v, "strong_newbie_list"),
        emotion_list: honor_members(v, "emotion_list"),
    }
}

/// `get_credentials`.
pub fn credentials(v: &Value) -> Credentials {
    Credentials {
        cookies: id(v, "cookies"),
        csrf_token: int(v, "csrf_token"),
    }
}

/// `get_status`.
pub fn status(v: &Value) -> Status {
    Status {
        online: v.get("online").map(|_| flag(v, "online", false)),
        good: flag(v, "good", true),
        json: v.to_string(),
    }
}

/// `get_version_info`.
pub fn version_info(v: &Value) -> VersionInfo {
    VersionInfo {
        app_name: id(v, "app_name"),
        app_version: id(v, "app_version"),
        protocol_version: id(v, "protocol_version"),
        json: v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_read_from_numbers_and_strings() {
        let v = json!({"a": 1234567890123_i64, "b": "42", "c": null});
        assert_eq!(id(&v, "a"), "1234567890123");
        assert_eq!(id(&v, "b"), "42");
        assert_eq!(id(&v, "c"), "");
        assert_eq!(int(&v, "b"), 42);
    }

    #[test]
    fn member_info_from_the_spec_shape() {
        let m = member_info(
            &json!({"group_id": 1000001, "user_id": 42, "nickname": "n", "card": "c",
            "sex": "male", "age": 20, "join_time": 1, "last_sent_time": 2, "level": "3", "role": "admin",
            "unfriendly": false, "title_expire_time": -1, "card_changeable": true}),
        );
        assert_eq!(m.group_id, "1000001");
        assert_eq!(m.role, Role::Admin);
        assert_eq!(m.area, None);
        assert!(m.card_changeable);
        assert_eq!(m.title_expire_time, -1);
    }

    #[test]
    fn unknown_segments_pass_through() {
        let segs = message(&json!([{"type": "text", "data": {"text": "hi"}},
            {"type": "mface", "data": {"emoji_id": "x"}}, {"type": "at", "data": {"qq": 10001}}]));
        assert_eq!(segs.len(), 3);
        assert!(matches!(&segs[0], Segment::Text(t) if t == "hi"));
        assert!(matches!(&segs[1], Segment::Other(o) if o.kind == "mface" && o.data_json.contains("emoji_id")));
        assert!(matches!(&segs[2], Segment::At(q) if q == "10001"));
    }
}
