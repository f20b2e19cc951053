//! Building messages ([`MessageChain`], [`MessageSegment`]) and reading received ones.
//!
//! ```no_run
//! use coral_sdk::{MessageChain, MessageSegment};
//! let message = MessageChain::new()
//!     .text("你好!")
//!     .push(MessageSegment::at("987654321"))
//!     .push(MessageSegment::image("https://example.com/image.png"));
//! ```

use crate::bindings::coral::bot::types::{
    Chat, ChatType, Contact, ContactKind, CustomMusic, CustomNode, ForwardNode, Image, Location, Media, MessageEvent,
    Music, MusicRef, OtherSegment, Poke, Segment, Share, Voice,
};

/// A message: segments in display order. Converts from `&str`, `String`, a [`Segment`] or a `Vec<Segment>`,
/// so every send function also takes plain text.
#[derive(Debug, Clone, Default)]
pub struct MessageChain(pub Vec<Segment>);

impl MessageChain {
    /// An empty message.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Append a segment.
    pub fn push(mut self, segment: Segment) -> Self {
        self.0.push(segment);
        self
    }

    /// Append text.
    pub fn text(self, text: impl Into<String>) -> Self {
        self.push(MessageSegment::text(text))
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The text segments joined together.
    pub fn plain_text(&self) -> String {
        plain_text(&self.0)
    }

    /// The message as a JSON array of OneBot-style segments (used for forward nodes).
    pub fn to_json(&self) -> String {
        serde_json::Value::Array(self.0.iter().map(segment_json).collect()).to_string()
    }
}

impl From<&str> for MessageChain {
    fn from(text: &str) -> Self {
        Self(vec![Segment::Text(text.to_string())])
    }
}

impl From<String> for MessageChain {
    fn from(text: String) -> Self {
        Self(vec![Segment::Text(text)])
    }
}

impl From<Segment> for MessageChain {
    fn from(segment: Segment) -> Self {
        Self(vec![segment])
    }
}

impl From<Vec<Segment>> for MessageChain {
    fn from(segments: Vec<Segment>) -> Self {
        Self(segments)
    }
}

impl From<MessageChain> for Vec<Segment> {
    fn from(chain: MessageChain) -> Self {
        chain.0
    }
}

/// Constructors for every segment type, named as in the original Coral document (`MessageSegment.text(...)`).
pub struct MessageSegment;

fn media(file: impl Into<String>) -> Media {
    Media {
        file: file.into(),
        url: None,
        cache: None,
        proxy: None,
        timeout_secs: None,
    }
}

fn image(file: impl Into<String>, flash: bool) -> Segment {
    Segment::Image(Image {
        media: media(file),
        flash,
        sub_type: None,
        summary: None,
        file_size: None,
        filename: None,
    })
}

impl MessageSegment {
    /// Plain text (always sent as text, never parsed as CQ code).
    pub fn text(text: impl Into<String>) -> Segment {
        Segment::Text(text.into())
    }
    /// A platform face by id.
    pub fn face(id: impl Into<String>) -> Segment {
        Segment::Face(id.into())
    }
    /// An image from a URL, `base64://…` data, or (with its grant) a `file:///` path.
    pub fn image(file: impl Into<String>) -> Segment {
        image(file, false)
    }
    /// A flash image (shown once).
    pub fn flash_image(file: impl Into<String>) -> Segment {
        image(file, true)
    }
    /// A voice message (OneBot `record`).
    pub fn record(file: impl Into<String>) -> Segment {
        Segment::Record(Voice {
            media: media(file),
            magic: false,
        })
    }
    /// A short video.
    pub fn video(file: impl Into<String>) -> Segment {
        Segment::Video(media(file))
    }
    /// Mention a user.
    pub fn at(user_id: impl Into<String>) -> Segment {
        Segment::At(user_id.into())
    }
    /// Mention everyone (needs its own grant).
    pub fn at_all() -> Segment {
        Segment::At("all".into())
    }
    /// Rock-paper-scissors.
    pub fn rps() -> Segment {
        Segment::Rps
    }
    /// A dice.
    pub fn dice() -> Segment {
        Segment::Dice
    }
    /// A window shake.
    pub fn shake() -> Segment {
        Segment::Shake
    }
    /// A poke of the given type and id.
    pub fn poke(kind: impl Into<String>, id: impl Into<String>) -> Segment {
        Segment::Poke(Poke {
            kind: kind.into(),
            id: id.into(),
            name: None,
        })
    }
    /// Send anonymously (`ignore_failure`: send anyway when anonymity is unavailable).
    pub fn anonymous(ignore_failure: bool) -> Segment {
        Segment::Anonymous(ignore_failure)
    }
    /// A link share card.
    pub fn share(url: impl Into<String>, title: impl Into<String>) -> Segment {
        Segment::Share(Share {
            url: url.into(),
            title: title.into(),
            content: None,
            image: None,
        })
    }
    /// Recommend a user.
    pub fn contact_user(user_id: impl Into<String>) -> Segment {
        Segment::Contact(Contact {
            kind: ContactKind::User,
            id: user_id.into(),
        })
    }
    /// Recommend a group.
    pub fn contact_group(group_id: impl Into<String>) -> Segment {
        Segment::Contact(Contact {
            kind: ContactKind::Group,
            id: group_id.into(),
        })
    }
    /// A location.
    pub fn location(lat: f64, lon: f64, title: impl Into<String>) -> Segment {
        Segment::Location(Location {
            lat,
            lon,
            title: Some(title.into()),
            content: None,
        })
    }
    /// A song from a catalogue (`qq`, `163`, `xm`).
    pub fn music(platform: impl Into<String>, id: impl Into<String>) -> Segment {
        Segment::Music(Music::Catalogue(MusicRef {
            platform: platform.into(),
            id: id.into(),
        }))
    }
    /// A custom music card.
    pub fn custom_music(url: impl Into<String>, audio: impl Into<String>, title: impl Into<String>) -> Segment {
        Segment::Music(Music::Custom(CustomMusic {
            url: url.into(),
            audio: audio.into(),
            title: title.into(),
            content: None,
            image: None,
        }))
    }
    /// Quote a message.
    pub fn reply(message_id: impl Into<String>) -> Segment {
        Segment::Reply(message_id.into())
    }
    /// A forward node re-sending an existing message.
    pub fn node(message_id: impl Into<String>) -> Segment {
        Segment::Node(ForwardNode::Existing(message_id.into()))
    }
    /// A forward node with your own author and content.
    pub fn node_custom(
        user_id: impl Into<String>,
        nickname: impl Into<String>,
        content: impl Into<MessageChain>,
    ) -> Segment {
        Segment::Node(ForwardNode::Custom(CustomNode {
            user_id: user_id.into(),
            nickname: nickname.into(),
            content_json: content.into().to_json(),
        }))
    }
    /// An XML card.
    pub fn xml(data: impl Into<String>) -> Segment {
        Segment::Xml(data.into())
    }
    /// A JSON card.
    pub fn json(data: impl Into<String>) -> Segment {
        Segment::Json(data.into())
    }
    /// Any other segment type, with its data as a JSON object.
    pub fn other(kind: impl Into<String>, data_json: impl Into<String>) -> Segment {
        Segment::Other(OtherSegment {
            kind: kind.into(),
            data_json: data_json.into(),
        })
    }
}

/// The text segments of a message joined together.
pub fn plain_text(segments: &[Segment]) -> String {
    segments
        .iter()
        .filter_map(|s| match s {
            Segment::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn opt(v: &Option<String>) -> serde_json::Value {
    v.as_ref()
        .map_or(serde_json::Value::Null, |s| serde_json::Value::String(s.clone()))
}

/// One segment as OneBot-style JSON (`{"type": ..., "data": {...}}`).
fn segment_json(segment: &Segment) -> serde_json::Value {
    use serde_json::json;
    let media_json = |m: &Media| json!({"file": m.file, "url": opt(&m.url)});
    let (kind, data) = match segment {
        Segment::Text(t) => ("text", json!({"text": t})),
        Segment::Face(id) => ("face", json!({"id": id})),
        Segment::Image(i) => {
            let mut d = media_json(&i.media);
            if i.flash {
                d["type"] = json!("flash");
            }
            if let Some(sub_type) = i.sub_type {
                d["sub_type"] = json!(sub_type.to_string());
            }
            if let Some(summary) = &i.summary {
                d["summary"] = json!(summary);
            }
            ("image", d)
        }
        Segment::Record(v) => {
            let mut d = media_json(&v.media);
            d["magic"] = json!(if v.magic { "1" } else { "0" });
            ("record", d)
        }
        Segment::Video(m) => ("video", media_json(m)),
        Segment::At(qq) => ("at", json!({"qq": qq})),
        Segment::Rps => ("rps", json!({})),
        Segment::Dice => ("dice", json!({})),
        Segment::Shake => ("shake", json!({})),
        Segment::Poke(p) => ("poke", json!({"type": p.kind, "id": p.id})),
        Segment::Anonymous(ignore) => ("anonymous", json!({"ignore": if *ignore { "1" } else { "0" }})),
        Segment::Share(s) => (
            "share",
            json!({"url": s.url, "title": s.title, "content": opt(&s.content), "image": opt(&s.image)}),
        ),
        Segment::Contact(c) => (
            "contact",
            json!({"type": match c.kind { ContactKind::User => "qq", ContactKind::Group => "group" }, "id": c.id}),
        ),
        Segment::Location(l) => (
            "location",
            json!({"lat": l.lat.to_string(), "lon": l.lon.to_string(), "title": opt(&l.title), "content": opt(&l.content)}),
        ),
        Segment::Music(Music::Catalogue(m)) => ("music", json!({"type": m.platform, "id": m.id})),
        Segment::Music(Music::Custom(m)) => (
            "music",
            json!({"type": "custom", "url": m.url, "audio": m.audio, "title": m.title,
                   "content": opt(&m.content), "image": opt(&m.image)}),
        ),
        Segment::Reply(id) => ("reply", json!({"id": id})),
        Segment::Forward(id) => ("forward", json!({"id": id})),
        Segment::Node(ForwardNode::Existing(id)) => ("node", json!({"id": id})),
        Segment::Node(ForwardNode::Custom(n)) => {
            let content: serde_json::Value = serde_json::from_str(&n.content_json).unwrap_or(json!([]));
            (
                "node",
                json!({"user_id": n.user_id, "nickname": n.nickname, "content": content}),
            )
        }
        Segment::Xml(d) => ("xml", json!({"data": d})),
        Segment::Json(d) => ("json", json!({"data": d})),
        Segment::Other(o) => {
            let data: serde_json::Value = serde_json::from_str(&o.data_json).unwrap_or(json!({}));
            return json!({"type": o.kind, "data": data});
        }
    };
    json!({"type": kind, "data": data})
}

impl MessageEvent {
    /// The chat this message came from (where a reply goes).
    pub fn chat(&self) -> Chat {
        match (&self.message_type, &self.group_id) {
            (ChatType::Group, Some(group)) => Chat::Group(group.clone()),
            _ => Chat::Private(self.user_id.clone()),
        }
    }

    /// True for a group message.
    pub fn is_group(&self) -> bool {
        self.message_type == ChatType::Group
    }

    /// The fields the platform sent in segment `index`'s data that its typed fields do not carry (an `at`'s
    /// `name`, a `face`'s `raw`, NapCat's sticker `key`…), as a JSON object; none when there were none.
    pub fn segment_extra(&self, index: usize) -> Option<serde_json::Value> {
        self.segment_extras
            .iter()
            .find(|e| e.index as usize == index)
            .and_then(|e| serde_json::from_str(&e.json).ok())
    }

    /// The users this message mentions (not `all`).
    pub fn mentions(&self) -> Vec<&str> {
        self.message
            .iter()
            .filter_map(|s| match s {
                Segment::At(id) if id != "all" => Some(id.as_str()),
                _ => None,
            })
            .collect()
    }
}

impl crate::Event {
    /// The fields of the platform's event that no typed field carries (see the WIT `event.extra`), parsed; none
    /// when everything was mapped.
    pub fn extra_json(&self) -> Option<serde_json::Value> {
        self.extra.as_deref().and_then(|e| serde_json::from_str(e).ok())
    }
}
