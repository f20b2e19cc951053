//! Fixture: a plugin built against the frozen `coral:bot@0.1.0` contract (`wit/v0.1.0`) with plain wit-bindgen,
//! no SDK, as a plugin compiled before 0.2.0 was. It must keep loading and answering beside 0.2.0 plugins:
//! `ping` → `pong from 0.1.0`; `v01 kick` → the error a kick without grant returns; `v01 get-msg <id>` → the
//! quoted message's text and its sender; `v01 heartbeat` → the last heartbeat's status as this plugin saw it.

wit_bindgen::generate!({
    path: "../../../wit/v0.1.0",
    world: "plugin",
});

use coral::bot::bot;
use coral::bot::types::{Chat, ChatType, EventCategory, EventKind, MessageEvent, MetaEvent, Segment};
use std::cell::RefCell;

thread_local! {
    static LAST_HEARTBEAT: RefCell<String> = const { RefCell::new(String::new()) };
}

struct PingV01;

fn text(message: &[Segment]) -> String {
    message
        .iter()
        .filter_map(|s| match s {
            Segment::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn chat(m: &MessageEvent) -> Chat {
    match (&m.message_type, &m.group_id) {
        (ChatType::Group, Some(group)) => Chat::Group(group.clone()),
        _ => Chat::Private(m.user_id.clone()),
    }
}

fn reply(self_id: &str, m: &MessageEvent, text: String) -> Result<(), String> {
    let options = bot::SendOptions {
        at_sender: None,
        reply_to: None,
    };
    bot::send_msg(self_id, &chat(m), &[Segment::Text(text)], &options)
        .map(|_| ())
        .map_err(|e| e.message)
}

impl Guest for PingV01 {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "ping-v01".into(),
            version: "0.1.0".into(),
            description: "A plugin built against coral:bot@0.1.0".into(),
            capabilities: vec!["send".into(), "query".into()],
            events: vec![EventCategory::Message, EventCategory::Meta],
            config_schema: None,
        }
    }

    fn setup(_config_json: String) -> Result<(), String> {
        Ok(())
    }

    fn on_event(event: Event) -> Result<(), String> {
        let m = match event.kind {
            EventKind::Meta(MetaEvent::Heartbeat(heartbeat)) => {
                LAST_HEARTBEAT.with(|last| *last.borrow_mut() = heartbeat.status_json);
                return Ok(());
            }
            EventKind::Message(m) => m,
            _ => return Ok(()),
        };
        if m.self_sent {
            return Ok(());
        }
        let said = m.plain_text.clone();
        if said == "ping" {
            reply(&event.self_id, &m, "pong from 0.1.0".into())
        } else if said == "v01 kick" {
            let group = m.group_id.clone().unwrap_or_default();
            let answer = match bot::set_group_kick(&event.self_id, &group, &m.user_id, false) {
                Ok(()) => "v01 kick ok".to_string(),
                Err(e) => format!("v01 kick err {:?} {}", e.code, e.retcode),
            };
            reply(&event.self_id, &m, answer)
        } else if let Some(id) = said.strip_prefix("v01 get-msg ") {
            let answer = match bot::get_msg(&event.self_id, id) {
                Ok(info) => format!("v01 got {} from {}", text(&info.message), info.sender.user_id),
                Err(e) => format!("v01 get-msg err {:?} {}", e.code, e.retcode),
            };
            reply(&event.self_id, &m, answer)
        } else if said == "v01 heartbeat" {
            let status = LAST_HEARTBEAT.with(|last| last.borrow().clone());
            reply(&event.self_id, &m, format!("v01 heartbeat {status}"))
        } else {
            Ok(())
        }
    }
}

export!(PingV01);
