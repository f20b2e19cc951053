//! Message segments: every V11 segment fixture survives decoding and encoding, flags are sent as strings, absent
//! fields are left out, and `node` content and CQ strings are read the way OneBot means them.

use super::fixture_dir;
use coral_model::bindings::coral::bot::types::{
    Contact, ContactKind, CustomMusic, CustomNode, ForwardNode, Image, Location, Music, OtherSegment, Poke, Share,
    Voice,
};
use coral_model::bindings::{Media, Segment};
use coral_model::wire::json as data;
use coral_model::wire::segment::{WireMessage, message_array, segments_to_json};
use serde_json::{Value, json};

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
            let want = json!([normalise_segment(seg)]);
            let one = std::slice::from_ref(&decoded);
            assert_eq!(segments_to_json(one), want, "{name}");
            // As a send writes it into its frame (no tree): the same JSON.
            let written = serde_json::to_string(&WireMessage(one)).unwrap();
            assert_eq!(
                serde_json::from_str::<Value>(&written).unwrap(),
                want,
                "{name}: {written}"
            );
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
    // Written into a frame, a custom node and an `other` segment are what their trees say.
    let message = [
        Segment::Node(ForwardNode::Custom(CustomNode {
            user_id: "1".into(),
            nickname: "n".into(),
            content_json: r#""[CQ:face,id=1]""#.into(),
        })),
        Segment::Other(OtherSegment {
            kind: "mface".into(),
            data_json: r#"{"emoji_id": "1", "content": "[CQ:face,id=1]"}"#.into(),
        }),
    ];
    let written = serde_json::to_string(&WireMessage(&message)).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&written).unwrap(),
        segments_to_json(&message)
    );
    assert_eq!(segments_to_json(&message)[0]["data"]["content"], json!([face]));
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
