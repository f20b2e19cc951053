//! Size limits on what a plugin asks the platform to carry: text bytes, media bytes, segments and forward nodes
//! per call, checked first in [`super::Policy::check`] (before CQ strings are parsed, before anything is turned
//! into JSON), on every path. Oversize is a `too-large` error value; nothing is sent.
//!
//! Why: implementations close the connection on a frame over their limit (16 MiB is common), taking every
//! plugin's messages with it, and QQ itself refuses long messages; a message of 400k tiny segments costs the host
//! far more memory than it costs the plugin. The host also never copies more than the plugin's own memory cap out
//! of a plugin in one call (wasmtime's hostcall fuel, set per store): a call past that traps.

use super::PolicyError;
use coral_model::Action;
use coral_model::bindings::coral::bot::types::{ForwardNode, Music};
use coral_model::bindings::{Media, Segment};
use serde::Deserialize;
use serde_json::Value;

/// Default: text bytes per call (all text of all segments, cards included).
pub const DEFAULT_MESSAGE_KB: u64 = 64;
/// Default: segments per message, forward-node contents included.
pub const DEFAULT_SEGMENTS: usize = 200;
/// Default: forward nodes per call (QQ shows at most 100 in one forwarded bundle).
pub const DEFAULT_FORWARD_NODES: usize = 100;
/// Default: media bytes per call (`base64://` data and file names of images, voice, video, files).
pub const DEFAULT_MEDIA_MB: u64 = 10;
/// Room for ids, keys and JSON syntax around the text and media of a raw call's parameters.
const SYNTAX_SLACK: usize = 64 * 1024;

/// A plugin's size limits (`[plugins.<name>] sizes = { … }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimits {
    /// Text bytes per call.
    pub message_bytes: usize,
    /// Segments per call.
    pub segments: usize,
    /// Forward nodes per call.
    pub forward_nodes: usize,
    /// Media bytes per call.
    pub media_bytes: usize,
}

impl Default for SizeLimits {
    fn default() -> Self {
        SizeLimits {
            message_bytes: (DEFAULT_MESSAGE_KB << 10) as usize,
            segments: DEFAULT_SEGMENTS,
            forward_nodes: DEFAULT_FORWARD_NODES,
            media_bytes: (DEFAULT_MEDIA_MB << 20) as usize,
        }
    }
}

/// `[plugins.<name>] sizes = { max_message_kb, max_segments, max_forward_nodes, max_media_mb }` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizesConfig {
    /// Text bytes per call, KiB (default 64).
    pub max_message_kb: Option<u64>,
    /// Segments per message (default 200).
    pub max_segments: Option<usize>,
    /// Forward nodes per call (default 100).
    pub max_forward_nodes: Option<usize>,
    /// Media bytes per call, MiB (default 10; keep the whole frame under the implementation's limit).
    pub max_media_mb: Option<u64>,
}

impl SizesConfig {
    /// The limits, or which key is out of range.
    pub fn resolve(&self) -> Result<SizeLimits, (&'static str, String)> {
        let d = SizeLimits::default();
        let positive = |key: &'static str, v: Option<u64>, max: u64| match v {
            Some(0) => Err((key, "must be at least 1".to_string())),
            Some(v) if v > max => Err((key, format!("must be at most {max}"))),
            _ => Ok(v),
        };
        let message_kb = positive("max_message_kb", self.max_message_kb, 16 * 1024)?;
        let segments = positive("max_segments", self.max_segments.map(|v| v as u64), 100_000)?;
        let nodes = positive("max_forward_nodes", self.max_forward_nodes.map(|v| v as u64), 10_000)?;
        let media_mb = positive("max_media_mb", self.max_media_mb, 15)?;
        Ok(SizeLimits {
            message_bytes: message_kb.map_or(d.message_bytes, |kb| (kb << 10) as usize),
            segments: segments.map_or(d.segments, |n| n as usize),
            forward_nodes: nodes.map_or(d.forward_nodes, |n| n as usize),
            media_bytes: media_mb.map_or(d.media_bytes, |mb| (mb << 20) as usize),
        })
    }
}

/// What one call carries.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Text bytes.
    pub text: usize,
    /// Media bytes.
    pub media: usize,
    /// Segments.
    pub segments: usize,
    /// Forward nodes.
    pub nodes: usize,
}

impl SizeLimits {
    /// Refuse `action` as `too-large` if it carries more than the limits allow.
    pub fn check(&self, action: &Action) -> Result<(), PolicyError> {
        let mut tally = Tally::default();
        match action {
            Action::SendPrivateMsg { message, .. }
            | Action::SendGroupMsg { message, .. }
            | Action::SendMsg { message, .. } => {
                tally.segments(message);
                // The target and the send options' ids go out too: a megabyte group id is text like any other.
                tally.text += action.text_bytes();
            }
            Action::Raw { params, .. } => tally.json(params, None),
            // Everything else has a handful of strings (ids, a card, a title, a file name), counted in place.
            other => tally.text = other.text_bytes(),
        }
        self.admit(&tally)
    }

    /// Refuse a raw call's parameter text before it is parsed: longer than any admissible call, or with more
    /// JSON objects and arrays than its segments could need (each takes a few, and parsing makes each a map).
    pub fn check_params_text(&self, params_json: &str) -> Result<(), PolicyError> {
        let max_len = self.message_bytes + self.media_bytes + SYNTAX_SLACK;
        if params_json.len() > max_len {
            return Err(PolicyError::TooLarge(format!(
                "params-json is {} bytes; at most {max_len} are accepted (max_message_kb + max_media_mb)",
                params_json.len()
            )));
        }
        let max_containers = 8 * (self.segments + self.forward_nodes) + 256;
        let containers = json_containers(params_json);
        if containers > max_containers {
            return Err(PolicyError::TooLarge(format!(
                "params-json has {containers} objects and arrays; at most {max_containers} for {} segments",
                self.segments
            )));
        }
        Ok(())
    }

    fn admit(&self, tally: &Tally) -> Result<(), PolicyError> {
        let over = |what: &str, n: usize, max: usize, key: &str| {
            Err(PolicyError::TooLarge(format!(
                "{n} {what}; at most {max} per call (`{key}`)"
            )))
        };
        if tally.segments > self.segments {
            return over("segments", tally.segments, self.segments, "max_segments");
        }
        if tally.nodes > self.forward_nodes {
            return over("forward nodes", tally.nodes, self.forward_nodes, "max_forward_nodes");
        }
        if tally.text > self.message_bytes {
            return over("bytes of text", tally.text, self.message_bytes, "max_message_kb");
        }
        if tally.media > self.media_bytes {
            return over("bytes of media", tally.media, self.media_bytes, "max_media_mb");
        }
        Ok(())
    }
}

impl Tally {
    fn media(&mut self, media: &Media) {
        self.media += media.file.len() + media.url.as_ref().map_or(0, String::len);
    }

    fn text<'a>(&mut self, texts: impl IntoIterator<Item = &'a str>) {
        self.text += texts.into_iter().map(str::len).sum::<usize>();
    }

    /// Typed segments, without converting them.
    pub fn segments(&mut self, message: &[Segment]) {
        for segment in message {
            self.segments += 1;
            match segment {
                Segment::Text(s)
                | Segment::Face(s)
                | Segment::At(s)
                | Segment::Reply(s)
                | Segment::Forward(s)
                | Segment::Xml(s)
                | Segment::Json(s) => self.text += s.len(),
                Segment::Rps | Segment::Dice | Segment::Shake | Segment::Anonymous(_) => {}
                Segment::Image(image) => {
                    self.media(&image.media);
                    self.text([image.summary.as_deref().unwrap_or_default()]);
                }
                Segment::Record(voice) => self.media(&voice.media),
                Segment::Video(media) => self.media(media),
                Segment::Poke(p) => self.text([p.kind.as_str(), &p.id, p.name.as_deref().unwrap_or_default()]),
                Segment::Share(s) => self.text([
                    s.url.as_str(),
                    &s.title,
                    s.content.as_deref().unwrap_or_default(),
                    s.image.as_deref().unwrap_or_default(),
                ]),
                Segment::Contact(c) => self.text([c.id.as_str()]),
                Segment::Location(l) => self.text([
                    l.title.as_deref().unwrap_or_default(),
                    l.content.as_deref().unwrap_or_default(),
                ]),
                Segment::Music(Music::Catalogue(m)) => self.text([m.platform.as_str(), &m.id]),
                Segment::Music(Music::Custom(m)) => self.text([
                    m.url.as_str(),
                    &m.audio,
                    &m.title,
                    m.content.as_deref().unwrap_or_default(),
                    m.image.as_deref().unwrap_or_default(),
                ]),
                Segment::Node(ForwardNode::Existing(id)) => {
                    self.nodes += 1;
                    self.text += id.len();
                }
                Segment::Node(ForwardNode::Custom(node)) => {
                    self.nodes += 1;
                    // The content travels as the JSON the plugin wrote: its text counts whole, and its segments
                    // are counted without building them.
                    self.text([node.user_id.as_str(), &node.nickname, &node.content_json]);
                    self.segments += json_segments(&node.content_json);
                }
                Segment::Other(o) => self.text([o.kind.as_str(), &o.data_json]),
            }
        }
    }

    /// A raw call's parameters, before CQ strings are parsed: every `{type, data}` object is a segment (a
    /// `node` also a forward node), every `[CQ:` in a string is one, strings under file keys are media, all other
    /// strings text.
    pub fn json(&mut self, value: &Value, key: Option<&str>) {
        match value {
            Value::String(s) => {
                if key.is_some_and(is_media_key) {
                    self.media += s.len();
                } else {
                    self.text += s.len();
                    let codes = s.matches("[CQ:").count();
                    self.segments += codes;
                    self.nodes += s.matches("[CQ:node").count();
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.json(item, key);
                }
            }
            Value::Object(map) => {
                if let (Some(Value::String(kind)), Some(_)) = (map.get("type"), map.get("data")) {
                    self.segments += 1;
                    if kind.trim().eq_ignore_ascii_case("node") {
                        self.nodes += 1;
                    }
                }
                for (k, v) in map {
                    self.json(v, Some(k));
                }
            }
            Value::Number(_) | Value::Bool(_) | Value::Null => {}
        }
    }
}

/// Keys whose string values are media (files and their addresses), not text.
fn is_media_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    matches!(key.as_str(), "file" | "url" | "path" | "files") || key.ends_with("_path") || key.ends_with("_file")
}

/// How many segment-shaped objects (`"type"` keys) a JSON text has, counted on the text.
fn json_segments(json: &str) -> usize {
    json.matches("\"type\"").count()
}

/// How many objects and arrays a JSON text opens (outside strings), without parsing it.
fn json_containers(json: &str) -> usize {
    coral_model::wire::json::shape(json).containers
}

#[cfg(test)]
mod tests {
    use super::*;
    use coral_model::bindings::Chat;
    use serde_json::json;

    fn send(message: Vec<Segment>) -> Action {
        Action::SendMsg {
            target: Chat::Group("1".into()),
            message,
            options: coral_model::bindings::SendOptions {
                at_sender: None,
                reply_to: None,
            },
        }
    }

    fn too_large(result: Result<(), PolicyError>) -> String {
        match result {
            Err(PolicyError::TooLarge(why)) => why,
            other => panic!("expected too-large, got {other:?}"),
        }
    }

    #[test]
    fn typed_messages_are_limited_by_text_and_segments() {
        let limits = SizeLimits::default();
        // The target id ("1") counts: 64 KiB in all.
        assert!(
            limits
                .check(&send(vec![Segment::Text("x".repeat(64 * 1024 - 1))]))
                .is_ok()
        );
        let why = too_large(limits.check(&send(vec![Segment::Text("x".repeat(64 * 1024))])));
        assert!(why.contains("65537 bytes of text"), "{why}");
        assert!(limits.check(&send(vec![Segment::Face("1".into()); 200])).is_ok());
        let why = too_large(limits.check(&send(vec![Segment::Face("1".into()); 201])));
        assert!(why.contains("201 segments"), "{why}");
    }

    #[test]
    fn a_typed_send_s_ids_count_as_text() {
        let limits = SizeLimits::default();
        let huge = "9".repeat(1 << 20);
        for action in [
            Action::SendGroupMsg {
                group_id: huge.clone(),
                message: vec![Segment::Text("hi".into())],
            },
            Action::SendPrivateMsg {
                user_id: huge.clone(),
                message: Vec::new(),
            },
            Action::SendMsg {
                target: Chat::Group("1".into()),
                message: Vec::new(),
                options: coral_model::bindings::SendOptions {
                    at_sender: None,
                    reply_to: Some(huge.clone()),
                },
            },
        ] {
            let why = too_large(limits.check(&action));
            assert!(why.contains("bytes of text"), "{why}");
        }
    }

    #[test]
    fn raw_calls_count_cq_codes_segments_nodes_and_media() {
        let limits = SizeLimits::default();
        let check = |params: Value| {
            limits.check(&Action::Raw {
                action: "send_msg".into(),
                params,
            })
        };
        assert!(check(json!({"message": "[CQ:face,id=1]".repeat(200)})).is_ok());
        too_large(check(json!({"message": "[CQ:face,id=1]".repeat(201)})));
        let seg = json!({"type": "face", "data": {"id": "1"}});
        too_large(check(json!({"message": vec![seg; 201]})));
        let node = json!({"type": "node", "data": {"id": "1"}});
        too_large(check(json!({"messages": vec![node; 101]})));
        // A 9 MiB picture is media, not text; 11 MiB is over.
        let image = |mb: usize| json!({"message": [{"type": "image", "data": {"file": "x".repeat(mb << 20)}}]});
        assert!(check(image(9)).is_ok());
        too_large(check(image(11)));
    }

    #[test]
    fn raw_parameter_text_is_refused_before_it_is_parsed() {
        let limits = SizeLimits::default();
        assert!(limits.check_params_text(&json!({"message": "hi"}).to_string()).is_ok());
        too_large(limits.check_params_text(&"[{}]".repeat(5000)));
        // Braces inside strings (a JSON card) are text, not structure.
        assert!(
            limits
                .check_params_text(
                    &json!({"message": [{"type": "json", "data": {"data": "{}".repeat(5000)}}]}).to_string()
                )
                .is_ok()
        );
        too_large(limits.check_params_text(&" ".repeat(11 << 20)));
    }

    #[test]
    fn a_custom_node_counts_its_content() {
        let limits = SizeLimits::default();
        let content = serde_json::to_string(&vec![json!({"type": "text", "data": {"text": "x"}}); 250]).unwrap();
        let node = Segment::Node(ForwardNode::Custom(
            coral_model::bindings::coral::bot::types::CustomNode {
                user_id: "1".into(),
                nickname: "n".into(),
                content_json: content,
            },
        ));
        let why = too_large(limits.check(&send(vec![node])));
        assert!(why.contains("251 segments"), "{why}");
    }

    #[test]
    fn sizes_config_resolves_and_rejects_zero() {
        let config: SizesConfig = toml::from_str("max_segments = 10\nmax_media_mb = 2").unwrap();
        let limits = config.resolve().unwrap();
        assert_eq!(limits.segments, 10);
        assert_eq!(limits.media_bytes, 2 << 20);
        assert_eq!(limits.message_bytes, 64 << 10);
        let zero: SizesConfig = toml::from_str("max_forward_nodes = 0").unwrap();
        assert_eq!(zero.resolve().unwrap_err().0, "max_forward_nodes");
        assert!(toml::from_str::<SizesConfig>("max_bytes = 1").is_err());
    }
}
