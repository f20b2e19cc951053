//! Messages on OneBot's wire: WIT segments → OneBot's array form ([`segments_to_json`], what adapters send and
//! the policy judges), and a raw call's message params with every CQ string replaced by the array Coral parsed
//! from it ([`normalise_message_params`]), so what was judged is what is sent.

use super::cq;
use crate::bindings::coral::bot::types::{ContactKind, ForwardNode, Music};
use crate::bindings::{Media, Segment};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Parameter names whose value is a message (string CQ code, array, or one segment), in any action.
pub const MESSAGE_KEYS: &[&str] = &["message", "messages", "reply", "content"];

/// A segment type as implementations compare it: trimmed, ASCII case-insensitive.
pub fn normalise_kind(kind: &str) -> std::borrow::Cow<'_, str> {
    let trimmed = kind.trim();
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(trimmed)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Messages: WIT segments → OneBot array form
// ---------------------------------------------------------------------------------------------------------------

/// A message in OneBot's array form, for sending: `[{"type": …, "data": {…}}, …]`.
///
/// Every `data` value is a string, as the spec requires for CQ compatibility (booleans as `"0"`/`"1"`, numbers
/// printed), except a custom `node`'s `content`, which is the node's message as an array. Absent optional fields
/// are left out, and so are flags at their default (`image` `type` only for flash, `record` `magic` and
/// `anonymous` `ignore` only when true). `other` segments pass their data object through unchanged.
pub fn segments_to_json(segments: &[Segment]) -> Value {
    Value::Array(segments.iter().map(segment_to_json).collect())
}

/// One segment in array form (see [`segments_to_json`]).
pub fn segment_to_json(segment: &Segment) -> Value {
    match wire_form(segment) {
        Wire::Tree(tree) => tree,
        // Only string keys and values: serialising into a tree cannot fail.
        strings => serde_json::to_value(&strings).unwrap_or(Value::Null),
    }
}

/// A message in OneBot's array form written as it is serialised, without a tree: what a send puts in its frame.
/// The same JSON as [`segments_to_json`] (which is built from it).
pub struct WireMessage<'a>(pub &'a [Segment]);

impl Serialize for WireMessage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(WireSegment))
    }
}

/// One segment of a [`WireMessage`].
struct WireSegment<'a>(&'a Segment);

impl Serialize for WireSegment<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        wire_form(self.0).serialize(serializer)
    }
}

/// A segment as it goes on the wire.
enum Wire<'a> {
    /// Its type and `data` fields, all strings (`None`s are left out).
    Strings(&'static str, Data<'a>),
    /// A custom node (its `content` is a message) or an `other` segment (its data object passed through).
    Tree(Value),
}

impl Serialize for Wire<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (kind, data) = match self {
            Wire::Strings(kind, data) => (kind, data),
            Wire::Tree(tree) => return tree.serialize(serializer),
        };
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", kind)?;
        map.serialize_entry("data", &StringData(data))?;
        map.end()
    }
}

/// A segment's `data` whose values are all strings; `None` values are left out.
struct StringData<'d, 'a>(&'d [(&'static str, Option<Cow<'a, str>>)]);

impl Serialize for StringData<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().filter_map(|(k, v)| Some((k, v.as_deref()?))))
    }
}

type Data<'a> = Vec<(&'static str, Option<Cow<'a, str>>)>;

/// A segment's wire form: its type and string fields, or a tree for the two kinds whose data is more than strings.
fn wire_form(segment: &Segment) -> Wire<'_> {
    fn s(v: &str) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(v))
    }
    fn opt(v: &Option<String>) -> Option<Cow<'_, str>> {
        v.as_deref().map(Cow::Borrowed)
    }
    fn flag(on: bool, text: &'static str) -> Option<Cow<'static, str>> {
        on.then_some(Cow::Borrowed(text))
    }
    let (kind, data) = match segment {
        Segment::Text(text) => ("text", vec![("text", s(text))]),
        Segment::Face(face) => ("face", vec![("id", s(face))]),
        Segment::Image(image) => {
            let mut fields = media_fields(&image.media, ("type", flag(image.flash, "flash")));
            // NapCat/LLOneBot read these when sending (a sticker, the text shown in chat lists); received-only
            // fields (`file_size`, `filename`) are not sent back.
            fields.push(("sub_type", image.sub_type.map(|t| Cow::Owned(t.to_string()))));
            fields.push(("summary", opt(&image.summary)));
            ("image", fields)
        }
        Segment::Record(voice) => ("record", media_fields(&voice.media, ("magic", flag(voice.magic, "1")))),
        Segment::Video(media) => ("video", media_fields(media, ("", None))),
        Segment::At(qq) => ("at", vec![("qq", s(qq))]),
        Segment::Rps => ("rps", Vec::new()),
        Segment::Dice => ("dice", Vec::new()),
        Segment::Shake => ("shake", Vec::new()),
        Segment::Poke(poke) => (
            "poke",
            vec![("type", s(&poke.kind)), ("id", s(&poke.id)), ("name", opt(&poke.name))],
        ),
        Segment::Anonymous(ignore) => ("anonymous", vec![("ignore", flag(*ignore, "1"))]),
        Segment::Share(share) => (
            "share",
            vec![
                ("url", s(&share.url)),
                ("title", s(&share.title)),
                ("content", opt(&share.content)),
                ("image", opt(&share.image)),
            ],
        ),
        Segment::Contact(contact) => {
            let kind = match contact.kind {
                ContactKind::User => "qq",
                ContactKind::Group => "group",
            };
            ("contact", vec![("type", s(kind)), ("id", s(&contact.id))])
        }
        Segment::Location(location) => (
            "location",
            vec![
                ("lat", Some(Cow::Owned(location.lat.to_string()))),
                ("lon", Some(Cow::Owned(location.lon.to_string()))),
                ("title", opt(&location.title)),
                ("content", opt(&location.content)),
            ],
        ),
        Segment::Music(Music::Catalogue(song)) => ("music", vec![("type", s(&song.platform)), ("id", s(&song.id))]),
        Segment::Music(Music::Custom(card)) => (
            "music",
            vec![
                ("type", s("custom")),
                ("url", s(&card.url)),
                ("audio", s(&card.audio)),
                ("title", s(&card.title)),
                ("content", opt(&card.content)),
                ("image", opt(&card.image)),
            ],
        ),
        Segment::Reply(id) => ("reply", vec![("id", s(id))]),
        Segment::Forward(id) => ("forward", vec![("id", s(id))]),
        Segment::Node(ForwardNode::Existing(id)) => ("node", vec![("id", s(id))]),
        Segment::Xml(xml) => ("xml", vec![("data", s(xml))]),
        Segment::Json(json) => ("json", vec![("data", s(json))]),
        Segment::Node(ForwardNode::Custom(node)) => {
            let mut data = Map::new();
            data.insert("user_id".into(), Value::String(node.user_id.clone()));
            data.insert("nickname".into(), Value::String(node.nickname.clone()));
            data.insert("content".into(), node_content(&node.content_json));
            // Nested nodes may carry CQ strings too: they go out as the arrays Coral parsed (and judged).
            let mut node = segment_value("node", data);
            normalise_message_params(&mut node, 0);
            return Wire::Tree(node);
        }
        Segment::Other(other) => {
            let data = match serde_json::from_str(&other.data_json) {
                Ok(Value::Object(data)) => data,
                _ => Map::new(),
            };
            // A message inside (a node's `content`) given as a CQ string goes out as the array Coral parsed.
            let mut segment = segment_value(&other.kind, data);
            normalise_message_params(&mut segment, 0);
            return Wire::Tree(segment);
        }
    };
    Wire::Strings(kind, data)
}

/// The fields of an image, voice or video: `file`, then `extra` (the flash/magic flag; a `None` is left out), then
/// the optional ones.
fn media_fields<'a>(media: &'a Media, extra: (&'static str, Option<Cow<'a, str>>)) -> Data<'a> {
    let bit = |b: bool| Cow::Borrowed(if b { "1" } else { "0" });
    vec![
        ("file", Some(Cow::Borrowed(media.file.as_str()))),
        extra,
        ("url", media.url.as_deref().map(Cow::Borrowed)),
        ("cache", media.cache.map(bit)),
        ("proxy", media.proxy.map(bit)),
        ("timeout", media.timeout_secs.map(|t| Cow::Owned(t.to_string()))),
    ]
}

fn segment_value(kind: &str, data: Map<String, Value>) -> Value {
    let mut seg = Map::new();
    seg.insert("type".into(), Value::String(kind.to_string()));
    seg.insert("data".into(), Value::Object(data));
    Value::Object(seg)
}

/// A custom node's `content-json` as an array message: a JSON array as is, a single segment object wrapped, a
/// JSON string read as CQ code. Text that is not JSON at all is sent as one text segment (so the mistake shows).
fn node_content(content_json: &str) -> Value {
    match serde_json::from_str::<Value>(content_json) {
        Ok(message @ Value::Array(_)) => message,
        Ok(segment @ Value::Object(_)) => Value::Array(vec![segment]),
        Ok(Value::String(cq_string)) => Value::Array(cq::parse(&cq_string)),
        _ => segments_to_json(&[Segment::Text(content_json.to_string())]),
    }
}

/// A `message` param or field in any of its three forms (CQ string, array, single segment) as an array.
pub fn message_array(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(items) => Some(items.clone()),
        Value::Object(_) => Some(vec![v.clone()]),
        Value::String(s) => Some(cq::parse(s)),
        _ => None,
    }
}

/// Parameter names whose CQ strings are replaced by arrays before sending (a node's `content` too). Other
/// parameters (a notice's `content`) are judged as messages but sent as written.
const REWRITTEN_KEYS: &[&str] = &["message", "messages", "reply"];

/// How deep [`normalise_message_params`] goes. It counts levels differently from the judge (a single nested segment
/// object is two of its levels and one of the judge's), so it must never stop where the judge still reads: a string
/// judged by Coral's parse but sent as written would be parsed by the implementation's own. JSON parsed by
/// `serde_json` nests at most 128 levels, so this bound only guards the stack.
const MAX_NORMALISE_DEPTH: u32 = 4 * 128;

/// Replace every message given as a CQ string in a raw call's parameters by the array Coral parsed from it (with
/// `auto_escape`, one text segment), at any depth and inside forward nodes, so what was judged is what is sent.
pub fn normalise_message_params(params: &mut Value, depth: u32) {
    if depth > MAX_NORMALISE_DEPTH {
        return;
    }
    let escape = params.get("auto_escape").is_some_and(truthy);
    match params {
        Value::Object(map) => {
            let is_node = map.get("type").and_then(Value::as_str).map(normalise_kind).as_deref() == Some("node")
                && map.get("data").is_some_and(Value::is_object);
            if is_node && let Some(Value::Object(data)) = map.get_mut("data") {
                for (key, value) in data.iter_mut() {
                    if MESSAGE_KEYS.contains(&key.to_ascii_lowercase().as_str()) {
                        normalise_message(value, false, depth + 1);
                    }
                }
            }
            // Whatever else the object holds (a node-shaped parameter object's `message`, too).
            for (key, value) in map.iter_mut() {
                if is_node && key == "data" {
                    continue;
                }
                if REWRITTEN_KEYS.contains(&key.to_ascii_lowercase().as_str()) {
                    normalise_message(value, escape, depth + 1);
                } else {
                    normalise_message_params(value, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                normalise_message_params(item, depth + 1);
            }
        }
        _ => {}
    }
}

/// One message value: a CQ string becomes its array (or one text segment when `auto_escape`); arrays and segments
/// are walked for nested messages (forward nodes' `content`).
pub fn normalise_message(message: &mut Value, auto_escape: bool, depth: u32) {
    if depth > MAX_NORMALISE_DEPTH {
        return;
    }
    match message {
        Value::String(cq) => {
            let segments = if auto_escape {
                vec![serde_json::json!({"type": "text", "data": {"text": cq}})]
            } else {
                super::cq::parse(cq)
            };
            *message = Value::Array(segments);
        }
        Value::Array(items) => {
            for item in items {
                normalise_message_params(item, depth + 1);
            }
        }
        Value::Object(_) => normalise_message_params(message, depth + 1),
        _ => {}
    }
}

/// OneBot's booleans: `true`, non-zero numbers, `"1"`, `"true"`, `"yes"`.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"),
        _ => false,
    }
}
