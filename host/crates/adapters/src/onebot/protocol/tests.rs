//! Tests of the event decoding and of messages in array form, by topic (the spec-derived event fixtures, events
//! written out by hand, segments); the helpers they share are here.

mod event_fixtures;
mod events;
mod segments;

use super::{decode_event, decode_object};
use crate::test_fixtures::fixtures_dir;
use coral_model::bindings::coral::bot::types::{MetaEvent, NoticeEvent, RequestEvent};
use coral_model::bindings::{Event, EventKind, MessageEvent};
use coral_model::wire::object::Fields;
use serde_json::Value;

/// Every `*.json` file of a fixture folder, as (file name, JSON), sorted by name.
pub(super) fn fixture_dir(dir: &str) -> Vec<(String, Value)> {
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

/// Decode `v` from its tree, and check that reading it in place from its text (compact and pretty-printed, as a
/// frame is read) decodes the same.
fn decode(v: &Value) -> Event {
    let event = decode_event(v).unwrap_or_else(|e| panic!("decoding {v}: {e}"));
    for text in [v.to_string(), serde_json::to_string_pretty(v).expect("a value prints")] {
        let fields = Fields::parse(&text).unwrap_or_else(|e| panic!("reading {text}: {e}"));
        let in_place = decode_object(&fields).unwrap_or_else(|e| panic!("decoding {text} in place: {e}"));
        assert_eq!(format!("{in_place:?}"), format!("{event:?}"), "{text}");
    }
    event
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
