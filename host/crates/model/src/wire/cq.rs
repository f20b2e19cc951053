//! CQ code: OneBot V11's string message form (`[CQ:face,id=178]看看[CQ:image,file=1.jpg]`), converted to and
//! from the array form (`[{"type": "face", "data": {"id": "178"}}, …]`). Pure functions, no I/O.
//!
//! The rules are those of OneBot V11 `message/string.md`:
//! - a code is `[CQ:<type>,<key>=<value>,…]`; the key is the text before the **first** `=`, so values may contain
//!   `=`; `[CQ:<type>]` has no parameters (`data: {}`);
//! - in text, `&` `[` `]` are written `&amp;` `&#91;` `&#93;`; in parameter values `,` is also written `&#44;`;
//! - everything between codes is text; consecutive text is one `text` segment.
//!
//! Parsing never fails: a malformed code (no closing `]`, an empty type, a parameter without `=`, a `[` inside
//! the code) is kept as text, exactly as written.

use serde_json::{Map, Value};

/// The opening of every code.
const OPEN: &str = "[CQ:";

/// Escape plain text for a CQ string: `&` → `&amp;`, `[` → `&#91;`, `]` → `&#93;` (and nothing else).
pub fn escape_text(s: &str) -> String {
    escape(s, false)
}

/// Escape a CQ parameter value: as [`escape_text`], plus `,` → `&#44;`.
pub fn escape_param(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, comma: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            ',' if comma => out.push_str("&#44;"),
            c => out.push(c),
        }
    }
    out
}

/// Undo [`escape_text`] / [`escape_param`]: `&amp;` `&#91;` `&#93;` `&#44;` become `&` `[` `]` `,`.
///
/// One left-to-right pass, so `&amp;#91;` becomes the literal `&#91;` (never `[`). Any other `&` is kept as is.
pub fn unescape(s: &str) -> String {
    const ESCAPES: [(&str, char); 4] = [("&amp;", '&'), ("&#91;", '['), ("&#93;", ']'), ("&#44;", ',')];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        match ESCAPES.iter().find(|(seq, _)| rest.starts_with(seq)) {
            Some((seq, c)) => {
                out.push(*c);
                rest = &rest[seq.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parse a CQ string into array-form segments (`{"type": …, "data": {…}}`, every data value a string).
///
/// The empty string gives no segments. Never panics; malformed codes become text (see the module docs).
pub fn parse(s: &str) -> Vec<Value> {
    let mut segments = Vec::new();
    // Start of the pending text run (always a contiguous slice of `s`) and where to look for the next code.
    let mut text_start = 0;
    let mut search = 0;
    while let Some(found) = s[search..].find(OPEN) {
        let open = search + found;
        let body_start = open + OPEN.len();
        // The body ends at the first `]`; a `[` before it means this `[CQ:` is not a code.
        let Some(end) = s[body_start..].find(['[', ']']).map(|i| body_start + i) else {
            break; // no `]` (or `[`) at all: nothing after this can be a code either
        };
        if s.as_bytes()[end] == b'[' {
            search = end;
            continue;
        }
        // A malformed code stays part of the text run.
        if let Some(segment) = code(&s[body_start..end]) {
            push_text(&mut segments, &s[text_start..open]);
            segments.push(segment);
            text_start = end + 1;
        }
        search = end + 1;
    }
    push_text(&mut segments, &s[text_start..]);
    segments
}

/// One code's body (between `[CQ:` and `]`) as a segment, or `None` if it is malformed.
fn code(body: &str) -> Option<Value> {
    let mut parts = body.split(',');
    let kind = parts.next().filter(|k| !k.is_empty())?;
    let mut data = Map::new();
    for param in parts {
        let (key, value) = param.split_once('=')?;
        if key.is_empty() {
            return None;
        }
        data.insert(unescape(key), Value::String(unescape(value)));
    }
    Some(segment(unescape(kind), data))
}

fn segment(kind: String, data: Map<String, Value>) -> Value {
    let mut seg = Map::new();
    seg.insert("type".into(), Value::String(kind));
    seg.insert("data".into(), Value::Object(data));
    Value::Object(seg)
}

fn push_text(segments: &mut Vec<Value>, raw: &str) {
    if raw.is_empty() {
        return;
    }
    let mut data = Map::new();
    data.insert("text".into(), Value::String(unescape(raw)));
    segments.push(segment("text".into(), data));
}

/// Write array-form segments as a CQ string: `text` segments as escaped text, every other segment as a code with
/// its `data` entries in order (values escaped; numbers and booleans printed; nulls left out; a nested message,
/// such as a `node`'s array `content`, written as its own CQ string; any other object as JSON text).
///
/// Items that are not objects with a string `type` are skipped.
pub fn serialize(segments: &[Value]) -> String {
    let mut out = String::new();
    for seg in segments {
        let Some(kind) = seg.get("type").and_then(Value::as_str) else {
            continue;
        };
        let data = seg.get("data").and_then(Value::as_object);
        if kind == "text" {
            if let Some(text) = data.and_then(|d| d.get("text")).and_then(scalar) {
                out.push_str(&escape_text(&text));
            }
            continue;
        }
        out.push_str(OPEN);
        out.push_str(&escape_param(kind));
        for (key, value) in data.into_iter().flatten() {
            let value = match value {
                Value::Null => continue,
                Value::Array(items) => serialize(items),
                Value::Object(_) => value.to_string(),
                other => scalar(other).unwrap_or_default(),
            };
            out.push(',');
            out.push_str(&escape_param(key));
            out.push('=');
            out.push_str(&escape_param(&value));
        }
        out.push(']');
    }
    out
}

/// A string, number or boolean as text.
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::fixtures_dir;
    use serde_json::json;

    fn cases() -> Vec<Value> {
        let path = fixtures_dir().join("cq/cases.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let cases: Value = serde_json::from_str(&text).expect("cases.json is JSON");
        cases.as_array().expect("cases.json is an array").clone()
    }

    /// Whether this build's `serde_json::Map` keeps insertion order (the `preserve_order` feature). Without it,
    /// `data` keys come back sorted and a serialized code's parameter order cannot follow the fixture's.
    fn map_keeps_order() -> bool {
        let mut m = Map::new();
        m.insert("b".into(), Value::Null);
        m.insert("a".into(), Value::Null);
        m.keys().next().is_some_and(|k| k == "b")
    }

    #[test]
    fn every_fixture_case_parses_to_its_array() {
        let cases = cases();
        assert!(cases.len() > 40, "expected the whole fixture set");
        for case in cases {
            let cq = case["cq"].as_str().expect("cq is a string");
            assert_eq!(
                Value::Array(parse(cq)),
                case["array"],
                "parse({cq:?}) [{}]",
                case["note"]
            );
        }
    }

    #[test]
    fn every_fixture_array_serializes_to_its_cq_string() {
        let exact = map_keeps_order();
        for case in cases() {
            let cq = case["cq"].as_str().expect("cq is a string");
            let array = case["array"].as_array().expect("array is an array");
            let written = serialize(array);
            if exact {
                assert_eq!(written, cq, "serialize [{}]", case["note"]);
            } else {
                // Same segments and parameters; only the order of a code's parameters may differ.
                assert_eq!(parse(&written), parse(cq), "serialize [{}]", case["note"]);
                assert_eq!(written.len(), cq.len(), "serialize [{}]", case["note"]);
            }
        }
    }

    #[test]
    fn parameter_order_follows_data_order_when_the_map_keeps_it() {
        let seg = json!({"type": "share", "data": {"url": "http://a", "title": "t"}});
        let written = serialize(&[seg]);
        if map_keeps_order() {
            assert_eq!(written, "[CQ:share,url=http://a,title=t]");
        } else {
            assert_eq!(written, "[CQ:share,title=t,url=http://a]");
        }
    }

    #[test]
    fn escapes_are_exactly_the_spec_ones() {
        assert_eq!(escape_text("a&b[c]d,e=f"), "a&amp;b&#91;c&#93;d,e=f");
        assert_eq!(escape_param("a&b[c]d,e=f"), "a&amp;b&#91;c&#93;d&#44;e=f");
        assert_eq!(unescape("&amp;&#91;&#93;&#44;"), "&[],");
        assert_eq!(unescape("&amp;#91; &lt; & &#92;"), "&#91; &lt; & &#92;");
        assert_eq!(unescape("trailing &"), "trailing &");
    }

    #[test]
    fn malformed_codes_stay_text() {
        let text = |s: &str| vec![json!({"type": "text", "data": {"text": s}})];
        assert_eq!(parse("[CQ:face,id=1"), text("[CQ:face,id=1"));
        assert_eq!(parse("[CQ:]"), text("[CQ:]"));
        assert_eq!(parse("[CQ:,id=1]"), text("[CQ:,id=1]"));
        assert_eq!(parse("[CQ:face,id]"), text("[CQ:face,id]"));
        assert_eq!(parse("[CQ:face,=1]"), text("[CQ:face,=1]"));
        assert_eq!(parse("[CQ:face,]"), text("[CQ:face,]"));
        assert_eq!(parse("a]b[c"), text("a]b[c"));
        assert_eq!(parse("x[CQ:face,id=1 &amp;"), text("x[CQ:face,id=1 &"));
        // A `[` inside a code ends it as malformed, but a real code after it is still found.
        assert_eq!(
            parse("[CQ:a,b=[CQ:face,id=1]!"),
            vec![
                json!({"type": "text", "data": {"text": "[CQ:a,b="}}),
                json!({"type": "face", "data": {"id": "1"}}),
                json!({"type": "text", "data": {"text": "!"}}),
            ]
        );
        // Malformed code between texts: still one text segment.
        assert_eq!(
            parse("[CQ:at,qq=1]a[CQ:]b"),
            vec![
                json!({"type": "at", "data": {"qq": "1"}}),
                json!({"type": "text", "data": {"text": "a[CQ:]b"}}),
            ]
        );
    }

    #[test]
    fn serialize_writes_scalars_nested_messages_and_skips_junk() {
        let segs = [
            json!({"type": "text", "data": {"text": "[hi]"}}),
            json!("not a segment"),
            json!({"data": {"text": "no type"}}),
            json!({"type": "image", "data": {"file": "a,b.jpg", "cache": 0, "flash": true, "url": null}}),
            json!({"type": "node", "data": {"content": [
                {"type": "face", "data": {"id": "1"}}, {"type": "text", "data": {"text": "[x]"}}
            ]}}),
            json!({"type": "dice"}),
        ];
        let written = serialize(&segs);
        assert!(written.starts_with("&#91;hi&#93;[CQ:image,"), "{written}");
        assert!(written.contains("file=a&#44;b.jpg"), "{written}");
        assert!(
            written.contains(",cache=0") && written.contains(",flash=true"),
            "{written}"
        );
        assert!(!written.contains("url"), "{written}");
        assert!(
            written.ends_with("[CQ:node,content=&#91;CQ:face&#44;id=1&#93;&amp;#91;x&amp;#93;][CQ:dice]"),
            "{written}"
        );
        // The nested content reads back as the CQ string of the inner message.
        let node = &parse(&written)[2];
        assert_eq!(
            parse(node["data"]["content"].as_str().expect("content")),
            vec![
                json!({"type": "face", "data": {"id": "1"}}),
                json!({"type": "text", "data": {"text": "[x]"}}),
            ]
        );
    }

    /// A small deterministic generator (xorshift64*) over an alphabet rich in CQ syntax characters.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn string(&mut self, max_len: usize) -> String {
            // Pieces separated by `|`: CQ syntax, escapes and near-escapes, text, multi-byte and NUL.
            const PIECES: &str =
                "[|]|&|,|=|[CQ:|[CQ:at,qq=1]|&amp;|&#91;|&#93;|&#44;|&#|;|a|b|CQ|:| |\n|多|😀|\0|[CQ:face|id=";
            let pieces: Vec<&str> = PIECES.split('|').collect();
            let len = self.below(max_len + 1);
            (0..len).map(|_| pieces[self.below(pieces.len())]).collect()
        }
    }

    #[test]
    fn escaped_text_always_parses_back_to_one_text_segment() {
        let mut g = Gen(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let s = g.string(16);
            let parsed = parse(&escape_text(&s));
            if s.is_empty() {
                assert!(parsed.is_empty());
            } else {
                assert_eq!(parsed, vec![json!({"type": "text", "data": {"text": s}})], "{s:?}");
            }
        }
    }

    #[test]
    fn escaped_params_always_parse_back_to_their_values() {
        let mut g = Gen(0x0123_4567_89AB_CDEF);
        for _ in 0..10_000 {
            let value = g.string(8);
            let seg = json!({"type": "share", "data": {"url": value}});
            let parsed = parse(&serialize(std::slice::from_ref(&seg)));
            assert_eq!(parsed, vec![seg], "{value:?}");
        }
    }

    #[test]
    fn parsing_arbitrary_input_never_panics_and_is_stable() {
        let mut g = Gen(0xDEAD_BEEF_CAFE_F00D);
        for _ in 0..20_000 {
            let s = g.string(24);
            let parsed = parse(&s);
            // No empty or adjacent text segments.
            for pair in parsed.windows(2) {
                assert!(!(pair[0]["type"] == "text" && pair[1]["type"] == "text"), "{s:?}");
            }
            assert!(parsed.iter().all(|p| p["data"]["text"] != ""), "{s:?}");
            // What was parsed survives a write and a second read unchanged.
            assert_eq!(parse(&serialize(&parsed)), parsed, "{s:?}");
        }
        // Arbitrary bytes made into text, including every ASCII character.
        let all: String = (0u8..128).map(char::from).collect();
        let _ = parse(&all);
        let _ = parse(&"[CQ:".repeat(10_000));
    }
}
