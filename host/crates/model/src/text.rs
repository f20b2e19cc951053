//! Plugin-controlled text on its way to an operator: control characters, newlines and ANSI escapes shown as
//! visible escapes, so nothing a plugin chose can move a terminal's cursor, colour it, or forge a line.

use crate::bindings::Segment;
use crate::bindings::coral::bot::types::{ForwardNode, Music};
use std::borrow::Cow;

/// `text` with every control character written as an escape (`\n`, `\r`, `\t`, `\u{1b}`, …) and backslashes
/// doubled, so the escaped form cannot be confused with an escape the plugin typed itself. Text without control
/// characters or backslashes is returned as is.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_with(text, true)
}

/// As [`escape`], but backslashes stay single (text for reading, such as console output, where a doubled `\` in
/// `C:\x` would only confuse).
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    escape_with(text, false)
}

fn escape_with(text: &str, backslashes: bool) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() || (backslashes && c == '\\') || is_invisible_format(c))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' if backslashes => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_invisible_format(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `text` escaped ([`escape`]) and cut to at most `max` bytes (on a character boundary, marked with `…`).
pub fn bounded(text: &str, max: usize) -> String {
    // Escaping only lengthens: the first `max` bytes are all that can show (+1 so a cut is still marked).
    let mut out = escape(prefix(text, max + 1)).into_owned();
    cut(&mut out, max);
    out
}

/// The longest start of `text` of at most `max` bytes that ends on a character boundary.
pub fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Cut `text` to at most `max` bytes on a character boundary, marking the cut with `…`.
pub fn cut(text: &mut String, max: usize) {
    if text.len() > max {
        text.truncate(prefix(text, max).len());
        text.push('…');
    }
}

/// Characters that reorder or hide text on a terminal (bidirectional overrides and isolates).
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Longest line of plugin text a log or terminal gets (bytes); longer ones are cut with a note.
pub const MAX_LOG_LINE: usize = 4096;

/// Strip control characters (ANSI escapes, terminal tricks) from plugin text before it reaches a log or terminal,
/// and cut it at [`MAX_LOG_LINE`] bytes.
pub fn sanitize(text: &str) -> String {
    let cut = text.len() > MAX_LOG_LINE;
    let mut out: String = prefix(text, MAX_LOG_LINE)
        .chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect();
    if cut {
        // Say so: the reader should know the line went on.
        out.push_str(&format!("… ({} bytes in all; cut at {MAX_LOG_LINE})", text.len()));
    }
    out
}

/// A readable one-line rendering of a message.
pub fn message_line(message: &[Segment]) -> String {
    let mut text = String::new();
    for segment in message {
        match segment {
            Segment::Text(t) => text.push_str(t),
            Segment::Face(id) => text.push_str(&format!("[face:{id}]")),
            Segment::Image(i) => text.push_str(&format!("[image:{}]", i.media.file)),
            Segment::Record(v) => text.push_str(&format!("[voice:{}]", v.media.file)),
            Segment::Video(m) => text.push_str(&format!("[video:{}]", m.file)),
            Segment::At(who) => text.push_str(&format!("@{who}")),
            Segment::Rps => text.push_str("[rps]"),
            Segment::Dice => text.push_str("[dice]"),
            Segment::Shake => text.push_str("[shake]"),
            Segment::Poke(p) => text.push_str(&format!("[poke:{}]", p.id)),
            Segment::Anonymous(_) => text.push_str("[anonymous]"),
            Segment::Share(s) => text.push_str(&format!("[share:{} {}]", s.title, s.url)),
            Segment::Contact(c) => text.push_str(&format!("[contact:{}]", c.id)),
            Segment::Location(l) => text.push_str(&format!("[location:{},{}]", l.lat, l.lon)),
            Segment::Music(Music::Catalogue(m)) => text.push_str(&format!("[music:{}:{}]", m.platform, m.id)),
            Segment::Music(Music::Custom(m)) => text.push_str(&format!("[music:{}]", m.title)),
            Segment::Reply(id) => text.push_str(&format!("[reply #{id}]")),
            Segment::Forward(id) => text.push_str(&format!("[forward:{id}]")),
            Segment::Node(ForwardNode::Existing(id)) => text.push_str(&format!("[node #{id}]")),
            Segment::Node(ForwardNode::Custom(n)) => text.push_str(&format!("[node {}]", n.nickname)),
            Segment::Xml(_) => text.push_str("[xml]"),
            Segment::Json(_) => text.push_str("[json]"),
            Segment::Other(o) => text.push_str(&format!("[{}]", o.kind)),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes_become_visible() {
        assert_eq!(escape("set_group_kick"), "set_group_kick");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape("a\nb\r\t\u{1b}[31m\u{7}"), "a\\nb\\r\\t\\u{1b}[31m\\u{7}");
        assert_eq!(
            escape("a\\nb"),
            "a\\\\nb",
            "a typed backslash cannot pass for an escape"
        );
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
        assert!(!escape("\u{9b}2J\u{0}").chars().any(char::is_control));
        assert_eq!(bounded("ab\ncd", 4), "ab\\n…");
        assert_eq!(bounded("é".repeat(10).as_str(), 3), "é…");
        assert_eq!(escape_controls("C:\\x\u{1b}"), "C:\\x\\u{1b}");
    }
}
