//! What a message carries, judged on its wire form: the one place that decides which content capabilities
//! (`at-all`, `local-file`, `media-url`) a message needs and which other messages it points at.
//!
//! Every path that sends content ends here with OneBot's array form (`[{"type": …, "data": {…}}]`): typed
//! segments are judged on the JSON the adapter will send ([`coral_model::wire::segment::segment_to_json`]),
//! raw calls on their parameters after [`coral_model::wire::segment::normalise_message`] turned every CQ string into the array Coral sends
//! instead (so the implementation never parses a CQ string Coral did not parse the same way), `other` segments
//! and forward nodes on their data like any other segment. Type names are compared trimmed and case-insensitively,
//! so `" AT"` is an `at` here even if no implementation would read it so.

use super::Capability;
use coral_model::wire::cq::scalar;
use coral_model::wire::segment::{MESSAGE_KEYS, normalise_kind};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// How deep forward nodes and nested parameters may go before a message is refused.
pub const MAX_DEPTH: u32 = 8;

/// What one message (or one raw call's parameters) carries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Content {
    /// Content capabilities it needs.
    pub needs: BTreeSet<Capability>,
    /// Message ids it points at (`reply`, `node` by id, `forward`), which must be known in the target chat.
    pub refs: Vec<String>,
}

/// Why content could not be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// Nesting beyond [`MAX_DEPTH`].
    #[error("the message nests forward nodes or parameters more than {MAX_DEPTH} levels deep")]
    TooDeep,
    /// A segment type that is not a plain name (an implementation that turns arrays into CQ strings could read
    /// `at,qq=all` as a code).
    #[error("segment types are ASCII letters, digits, `_` and `-`, not {0:?}")]
    BadType(String),
    /// A `reply` carrying its own quoted content or sender (`text`, `qq`, `seq`, …): a forged quote.
    #[error("a reply quotes a message by its id only, not with `{0}` (a custom quote)")]
    CustomQuote(String),
}

/// What a media reference (an image, voice or video `file`, a `url`, a path parameter) makes the platform do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaRef {
    /// Inline data (`base64://`, `data:`) or a name in the platform's own cache (`abc.image`): nothing outside.
    Inline,
    /// A file on the implementation's machine: `file:` in any case, `/x`, `\x`, `C:/x`, `c:\x`, `c:x`, `~/x`,
    /// `./x`, `../x`, `.x`, or any relative path with a separator (also once `%XX` escapes are decoded).
    Local,
    /// Something the platform fetches: `http(s)://` or any other `scheme://`, and `http:` / `https:` without the
    /// slashes.
    Url,
}

/// Whether text starts the way an absolute, home, dot or drive path or a `file:` reference does.
fn starts_like_a_path(reference: &str) -> bool {
    let s = reference.trim_matches(|c: char| c.is_whitespace() || c.is_control());
    let mut chars = s.chars();
    let drive = chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.next() == Some(':');
    drive || s.starts_with(['/', '\\', '~', '.']) || s.get(..5).is_some_and(|h| h.eq_ignore_ascii_case("file:"))
}

/// Classify a media reference the way the most lenient implementation (NapCat's `uri2local`, which falls back
/// to "a path that exists") would read it.
pub fn classify(reference: &str) -> MediaRef {
    let s = reference.trim_matches(|c: char| c.is_whitespace() || c.is_control());
    let head: String = s.chars().take(16).flat_map(char::to_lowercase).collect();
    if head.starts_with("base64:") || head.starts_with("data:") {
        return MediaRef::Inline;
    }
    if head.starts_with("file:") {
        return MediaRef::Local;
    }
    if let Some((scheme, _)) = head.split_once("://")
        && !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    {
        return MediaRef::Url;
    }
    // `http:` and `https:` without `//` too: NapCat hands `http:host` to `fetch`, whose URL parser reads it as
    // `http://host/`.
    if head.starts_with("http:") || head.starts_with("https:") {
        return MediaRef::Url;
    }
    let mut chars = s.chars();
    let (first, second) = (chars.next(), chars.next());
    let drive = first.is_some_and(|c| c.is_ascii_alphabetic()) && second == Some(':');
    if drive || s.starts_with(['/', '\\', '~', '.']) || s.contains(['/', '\\']) {
        return MediaRef::Local;
    }
    // go-cqhttp reads anything starting with `file` through `url.Parse(…).Path`, which decodes `%2F`: judge the
    // decoded form too (`file%2F..%2Fdevice.json` is `file/../device.json`).
    if s.contains('%') {
        let decoded = percent_decode(s);
        if decoded != s {
            return classify(&decoded);
        }
    }
    MediaRef::Inline
}

/// `%XX` escapes decoded (malformed ones kept as written), as text.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Content {
    fn media(&mut self, reference: &str, fetches: bool, file_field: bool) {
        let class = match classify(reference) {
            // Outside a file field, a relative name with a separator is just text.
            MediaRef::Local if !file_field && !starts_like_a_path(reference) => MediaRef::Inline,
            class => class,
        };
        match class {
            MediaRef::Inline => {}
            MediaRef::Local => {
                self.needs.insert(Capability::LocalFile);
            }
            MediaRef::Url if fetches => {
                self.needs.insert(Capability::MediaUrl);
            }
            MediaRef::Url => {}
        }
    }

    /// Judge a message in any of OneBot's three forms. A string is judged as CQ code ([`coral_model::wire::segment::normalise_message`]
    /// replaces it with exactly what this parse sees before anything is sent).
    pub fn message(&mut self, message: &Value, depth: u32) -> Result<(), ContentError> {
        if depth > MAX_DEPTH {
            return Err(ContentError::TooDeep);
        }
        match message {
            Value::String(cq) => {
                for segment in coral_model::wire::cq::parse(cq) {
                    self.segment(&segment, depth)?;
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.message(item, depth + 1)?;
                }
            }
            Value::Object(_) => self.segment(message, depth)?,
            _ => {}
        }
        Ok(())
    }

    /// Judge one array-form segment. Anything that is not `{type, data}` is judged as a parameter tree.
    pub fn segment(&mut self, segment: &Value, depth: u32) -> Result<(), ContentError> {
        if depth > MAX_DEPTH {
            return Err(ContentError::TooDeep);
        }
        let kind = segment.get("type").and_then(Value::as_str).map(normalise_kind);
        let (Some(kind), Some(data)) = (kind, segment.get("data").and_then(Value::as_object)) else {
            return self.params(segment, depth + 1);
        };
        if kind.is_empty()
            || !kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ContentError::BadType(
                coral_model::text::escape(kind.as_ref()).into_owned(),
            ));
        }
        match kind.as_ref() {
            // Literal text: an array `text` is never parsed as CQ code.
            "text" | "face" | "rps" | "dice" | "shake" | "anonymous" => {}
            "at" => {
                // `all` under any key is an @all to some reader.
                if data.values().any(|v| scalar(v).is_some_and(|s| is_all(&s))) {
                    self.needs.insert(Capability::AtAll);
                }
                // The account mentioned: `qq` (go-cqhttp falls back to `target` when it is empty). Missing, empty,
                // zero or not a number, it is an @all where implementations read it as 0: MiraiGo's `NewAt(0)` is
                // `AtAll()` and go-cqhttp reads a `qq` it cannot parse as 0; Lagrange's `Mention(0)` is @all and a
                // missing `qq` defaults to "0".
                let target = ["qq", "target"]
                    .iter()
                    .filter_map(|key| data.get(*key).and_then(scalar))
                    .find(|s| !s.is_empty())
                    .unwrap_or_default();
                self.at(&target);
            }
            // A quote points at a message by id, and only that. go-cqhttp builds a custom quote from `text` (read as
            // CQ code), `user_id` / `qq`, `seq` and `time` (with or without an id): a quote of nothing Coral can
            // check, attributed to anyone. Without an id it points at no message Coral knows.
            "reply" => {
                if let Some(key) = data.keys().find(|k| {
                    matches!(
                        k.to_ascii_lowercase().as_str(),
                        "text" | "seq" | "qq" | "user_id" | "time"
                    )
                }) {
                    return Err(ContentError::CustomQuote(coral_model::text::escape(key).into_owned()));
                }
                let before = self.refs.len();
                self.refs_of(data);
                if self.refs.len() == before {
                    self.refs.push(String::new());
                }
            }
            "forward" => self.refs_of(data),
            // A node forwards an existing message by id or carries a whole message; who it claims to be from is
            // just a name.
            "node" => {
                self.refs_of(data);
                for (key, value) in data {
                    if MESSAGE_KEYS.contains(&key.to_ascii_lowercase().as_str()) {
                        self.message(value, depth + 1)?;
                    }
                }
            }
            // Cards whose links the reader opens: the implementation fetches nothing, but a file named in one of
            // their file fields would still be read.
            "share" | "music" | "contact" | "location" | "poke" => {
                for (key, value) in data {
                    if is_file_key(&key.to_ascii_lowercase()) {
                        self.strings(value, false, true, depth + 1)?;
                    }
                }
            }
            // Documents: their text is the card itself.
            "xml" | "json" | "markdown" => {}
            // Media and every type Coral does not know: any path is a local file, any URL is fetched. Outside
            // file fields only what starts like a path or URL counts (a caption with a `/` in it is not a file).
            _ => {
                for (key, value) in data {
                    let file_field = is_file_key(&key.to_ascii_lowercase());
                    self.strings(value, true, file_field, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    /// A mention of `who`: anything but one account's number (`all` in any form, `0`, empty, a name) is an @all.
    pub fn at(&mut self, who: &str) {
        if !is_one_account(who) {
            self.needs.insert(Capability::AtAll);
        }
    }

    fn refs_of(&mut self, data: &Map<String, Value>) {
        for key in ["id", "message_id"] {
            if let Some(id) = data.get(key).and_then(scalar) {
                self.refs.push(id);
            }
        }
    }

    /// Every string in a value, as a media reference (`file_field`: a relative path with a separator counts).
    fn strings(&mut self, value: &Value, fetches: bool, file_field: bool, depth: u32) -> Result<(), ContentError> {
        if depth > MAX_DEPTH {
            return Err(ContentError::TooDeep);
        }
        match value {
            Value::String(s) => self.media(s, fetches, file_field),
            Value::Array(items) => {
                for item in items {
                    self.strings(item, fetches, file_field, depth + 1)?;
                }
            }
            Value::Object(map) => {
                for item in map.values() {
                    self.strings(item, fetches, file_field, depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Judge a raw call's whole parameter tree: message parameters as messages, segment-shaped objects as segments,
    /// file-like parameters as media, and any other string that contains CQ code as a message.
    pub fn params(&mut self, params: &Value, depth: u32) -> Result<(), ContentError> {
        if depth > MAX_DEPTH {
            return Err(ContentError::TooDeep);
        }
        match params {
            Value::Object(map) => {
                // A segment is judged as one; its other keys (a whole call's parameters can look like a segment:
                // `{"type": "text", "data": {}, "group_id": 1, "message": …}`) are still parameters.
                let segment =
                    map.get("type").is_some_and(Value::is_string) && map.get("data").is_some_and(Value::is_object);
                if segment {
                    self.segment(params, depth)?;
                }
                for (key, value) in map {
                    if segment && (key == "type" || key == "data") {
                        continue;
                    }
                    let key = key.to_ascii_lowercase();
                    if MESSAGE_KEYS.contains(&key.as_str()) {
                        self.message(value, depth + 1)?;
                    } else if is_file_key(&key) {
                        self.strings(value, true, true, depth + 1)?;
                    } else {
                        self.params(value, depth + 1)?;
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.params(item, depth + 1)?;
                }
            }
            Value::String(s) if s.contains("[CQ:") || s.contains("[cq:") => self.message(params, depth)?,
            _ => {}
        }
        Ok(())
    }
}

/// Parameter names that name a file or something the implementation fetches (and every `…_path`: NapCat's
/// `folder_path`, `thumb_path`, …).
fn is_file_key(key: &str) -> bool {
    key.ends_with("_path")
        || matches!(
            key,
            "file"
                | "files"
                | "filename"
                | "file_name"
                | "path"
                | "file_path"
                | "url"
                | "image"
                | "images"
                | "pic"
                | "picture"
                | "avatar"
                | "icon"
                | "cover"
                | "thumb"
                | "audio"
                | "voice"
                | "record"
                | "video"
                | "src"
        )
}

/// `all` as an @-target, as lenient implementations compare it.
fn is_all(s: &str) -> bool {
    s.trim().eq_ignore_ascii_case("all")
}

/// Whether an @-target names one account: ASCII digits, not all zero, nothing else (no sign, no space). Every
/// other target is read as 0 (@all) by some implementation, or is `all` itself.
pub fn is_one_account(who: &str) -> bool {
    !who.is_empty() && who.bytes().all(|b| b.is_ascii_digit()) && who.bytes().any(|b| b != b'0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use coral_model::wire::segment::normalise_message_params;
    use serde_json::json;

    #[test]
    fn every_path_form_is_a_local_file() {
        for local in [
            "/etc/passwd",
            "  /etc/passwd",
            "\u{1}/x",
            "C:/x",
            "c:\\x",
            "c:x",
            "\\\\server\\share",
            "../x",
            "./x",
            "..\\x",
            "~/x",
            "~root/.ssh/id_rsa",
            ".env",
            "a/../../etc/passwd",
            "data/images/x.jpg",
            "file:///etc/passwd",
            "FILE:///etc/passwd",
            "File:/etc/passwd",
            "file:etc/passwd",
        ] {
            assert_eq!(classify(local), MediaRef::Local, "{local:?}");
        }
        for url in ["http://x/y.png", "HTTPS://x", "ftp://x/y", "gopher://x"] {
            assert_eq!(classify(url), MediaRef::Url, "{url:?}");
        }
        for inline in [
            "base64://AAAA",
            "BASE64://AAAA",
            "data:image/png;base64,AAAA",
            "abc.image",
            "cat.jpg",
            "",
        ] {
            assert_eq!(classify(inline), MediaRef::Inline, "{inline:?}");
        }
    }

    fn needs(message: Value) -> BTreeSet<Capability> {
        let mut c = Content::default();
        c.message(&message, 0).unwrap();
        c.needs
    }

    #[test]
    fn at_all_is_found_in_every_form() {
        let all: BTreeSet<_> = [Capability::AtAll].into();
        assert_eq!(needs(json!([{"type": "at", "data": {"qq": "all"}}])), all);
        assert_eq!(needs(json!([{"type": " AT ", "data": {"qq": " ALL"}}])), all);
        assert_eq!(needs(json!({"type": "at", "data": {"qq": "all"}})), all);
        assert_eq!(needs(json!("hi [CQ:at,qq=all]")), all);
        assert_eq!(needs(json!("hi [CQ:at,qq=all,a=1]")), all);
        assert_eq!(needs(json!([{"type": "at", "data": {"id": "all"}}])), all, "any key");
        // Inside a forward node's content, in any form.
        let node = json!([{"type": "node", "data": {"user_id": "1", "nickname": "n",
            "content": [{"type": "at", "data": {"qq": "all"}}]}}]);
        assert_eq!(needs(node), all);
        let node = json!([{"type": "node", "data": {"content": "[CQ:at,qq=all]"}}]);
        assert_eq!(needs(node), all);
        // Text is text.
        assert!(needs(json!([{"type": "text", "data": {"text": "[CQ:at,qq=all]"}}])).is_empty());
        assert!(needs(json!([{"type": "at", "data": {"qq": "42"}}])).is_empty());
    }

    #[test]
    fn files_and_urls_in_any_segment() {
        let local: BTreeSet<_> = [Capability::LocalFile].into();
        let url: BTreeSet<_> = [Capability::MediaUrl].into();
        assert_eq!(needs(json!([{"type": "image", "data": {"file": "C:/x.png"}}])), local);
        assert_eq!(
            needs(json!([{"type": "image", "data": {"file": "x.png", "url": "/etc/passwd"}}])),
            local
        );
        assert_eq!(needs(json!([{"type": "mface", "data": {"path": "../x"}}])), local);
        assert_eq!(needs(json!([{"type": "file", "data": {"file": "~/x"}}])), local);
        assert_eq!(
            needs(json!([{"type": "record", "data": {"file": "http://10.0.0.1/x"}}])),
            url
        );
        assert_eq!(
            needs(json!([{"type": "weird", "data": {"nested": {"src": "https://x"}}}])),
            url
        );
        assert_eq!(needs(json!("[CQ:image,file=file:///etc/passwd]")), local);
        // A share's link is opened by the reader, not fetched; a path in it is still a file.
        assert!(needs(json!([{"type": "share", "data": {"url": "https://x", "title": "~t"}}])).is_empty());
        // Names and captions are not files.
        let node = json!([{"type": "node", "data": {"nickname": "~/me", "content": "hi"}}]);
        assert!(needs(node).is_empty());
        assert!(needs(json!([{"type": "mface", "data": {"summary": "a/b", "url": "https://x"}}])) == url);
        assert_eq!(
            needs(json!([{"type": "share", "data": {"url": "https://x", "image": "/x.png"}}])),
            local
        );
    }

    #[test]
    fn references_are_collected() {
        let mut c = Content::default();
        c.message(
            &json!([{"type": "reply", "data": {"id": "7"}}, {"type": "node", "data": {"id": 8}},
                    {"type": "forward", "data": {"id": "f"}}]),
            0,
        )
        .unwrap();
        assert_eq!(c.refs, ["7", "8", "f"]);
        let mut c = Content::default();
        c.message(&json!("[CQ:reply,id=9]x"), 0).unwrap();
        assert_eq!(c.refs, ["9"]);
    }

    #[test]
    fn raw_parameters_are_judged_wherever_content_is() {
        let mut c = Content::default();
        c.params(
            &json!({"group_id": 1, "file": "/etc/passwd", "name": "x",
                    "messages": [{"type": "node", "data": {"content": "[CQ:at,qq=all]"}}],
                    "other": {"deep": [{"type": "image", "data": {"file": "https://x"}}]},
                    "notice": "see [CQ:image,file=file:///x]"}),
            0,
        )
        .unwrap();
        assert_eq!(
            c.needs,
            [Capability::AtAll, Capability::LocalFile, Capability::MediaUrl].into()
        );
        assert!(matches!(
            Content::default().message(&json!([{"type": "at,qq=all", "data": {}}]), 0),
            Err(ContentError::BadType(_))
        ));
        let mut deep = json!("x");
        for _ in 0..20 {
            deep = json!({ "a": deep });
        }
        assert_eq!(Content::default().params(&deep, 0), Err(ContentError::TooDeep));
    }

    #[test]
    fn cq_strings_become_the_array_that_was_judged() {
        let mut params = json!({"group_id": 1, "message": "hi [CQ:at,qq=all,a=[]"});
        normalise_message_params(&mut params, 0);
        // Coral's parser keeps the malformed code as text, and that text is what goes out: no implementation
        // parses an array `text` as CQ code.
        assert_eq!(
            params["message"],
            json!([{"type": "text", "data": {"text": "hi [CQ:at,qq=all,a=[]"}}])
        );
        let mut params = json!({"message": "[CQ:at,qq=all]", "auto_escape": true});
        normalise_message_params(&mut params, 0);
        assert_eq!(
            params["message"],
            json!([{"type": "text", "data": {"text": "[CQ:at,qq=all]"}}])
        );
        let mut params = json!({"messages": [{"type": "node", "data": {"content": "[CQ:face,id=1]"}}]});
        normalise_message_params(&mut params, 0);
        assert_eq!(
            params["messages"][0]["data"]["content"],
            json!([{"type": "face", "data": {"id": "1"}}])
        );
    }
}
