//! Fixture: a plugin built against the frozen `coral:bot@0.2.0` contract (`wit/v0.2.0`) with plain wit-bindgen,
//! no SDK, as a plugin compiled before 0.3.0 was. The host serves its imports with the current functions under
//! the 0.2.0 names: `ping` → `pong from 0.2.0`; `v02 kick` → the error a kick without grant returns; `v02 get-msg
//! <id>` → the quoted message's text and its sender.

wit_bindgen::generate!({
    path: "../../../wit/v0.2.0",
    world: "plugin",
});

use coral::bot::bot;
use coral::bot::types::{Chat, ChatType, EventCategory, EventKind, MessageEvent, Segment};

struct PingV02;

fn text(message: &[Segment]) -> String {
    message
        .iter()
        .filter_map(|s| match s {
            Segment::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn reply(self_id: &str, m: &MessageEvent, text: String) -> Result<(), String> {
    let chat = match (&m.message_type, &m.group_id) {
        (ChatType::Group, Some(group)) => Chat::Group(group.clone()),
        _ => Chat::Private(m.user_id.clone()),
    };
    let options = bot::SendOptions {
        at_sender: None,
        reply_to: None,
    };
    bot::send_msg(self_id, &chat, &[Segment::Text(text)], &options)
        .map(|_| ())
        .map_err(|e| e.message)
}

impl Guest for PingV02 {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "ping-v02".into(),
            version: "0.2.0".into(),
            description: "A plugin built against coral:bot@0.2.0".into(),
            capabilities: vec!["send".into(), "query".into()],
            events: vec![EventCategory::Message],
            config_schema: None,
        }
    }

    fn setup(_config_json: String) -> Result<(), String> {
        Ok(())
    }

    fn on_event(event: Event) -> Result<(), String> {
        let EventKind::Message(m) = event.kind else {
            return Ok(());
        };
        if m.self_sent {
            return Ok(());
        }
        let said = m.plain_text.clone();
        if said == "ping" {
            reply(&event.self_id, &m, "pong from 0.2.0".into())
        } else if said == "v02 kick" {
            let group = m.group_id.clone().unwrap_or_default();
            let answer = match bot::set_group_kick(&event.self_id, &group, &m.user_id, false) {
                Ok(()) => "v02 kick ok".to_string(),
                Err(e) => format!("v02 kick err {:?} {}", e.code, e.retcode),
            };
            reply(&event.self_id, &m, answer)
        } else if let Some(id) = said.strip_prefix("v02 get-msg ") {
            let answer = match bot::get_msg(&event.self_id, id) {
                Ok(info) => format!("v02 got {} from {}", text(&info.message), info.sender.user_id),
                Err(e) => format!("v02 get-msg err {:?} {}", e.code, e.retcode),
            };
            reply(&event.self_id, &m, answer)
        } else {
            Ok(())
        }
    }
}

export!(PingV02);
