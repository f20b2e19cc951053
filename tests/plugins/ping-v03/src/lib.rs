//! Fixture: a plugin built against the frozen `coral:bot@0.3.0` contract (`wit/v0.3.0`) with plain wit-bindgen,
//! no SDK, as a plugin compiled before 0.4.0 added `post-msg` was. The host serves its imports with the current
//! functions under the 0.3.0 names and calls its exports (commands included) as the current ones: `ping` →
//! `pong from 0.3.0` (awaited `send-msg`, answering with the new message's id); `/v03 <n>` (a command with an
//! `int` argument) → `v03 got <n>`.

wit_bindgen::generate!({
    path: "../../../wit/v0.3.0",
    world: "plugin",
});

use coral::bot::bot;
use coral::bot::command::{ArgKind, ArgSpec, ArgValue, Permission, Scope};
use coral::bot::types::{Chat, ChatType, EventCategory, EventKind, MessageEvent, Segment};

struct PingV03;

fn chat_of(m: &MessageEvent) -> Chat {
    match (&m.message_type, &m.group_id) {
        (ChatType::Group, Some(group)) => Chat::Group(group.clone()),
        _ => Chat::Private(m.user_id.clone()),
    }
}

fn send(self_id: &str, m: &MessageEvent, text: String) -> Result<String, String> {
    let options = bot::SendOptions {
        at_sender: None,
        reply_to: None,
    };
    bot::send_msg(self_id, &chat_of(m), &[Segment::Text(text)], &options).map_err(|e| e.message)
}

impl Guest for PingV03 {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "ping-v03".into(),
            version: "0.3.0".into(),
            description: "A plugin built against coral:bot@0.3.0".into(),
            capabilities: vec!["send".into()],
            events: vec![EventCategory::Message],
            config_schema: None,
        }
    }

    fn setup(_config_json: String) -> Result<(), String> {
        Ok(())
    }

    fn commands() -> Vec<CommandSpec> {
        vec![CommandSpec {
            name: "v03".into(),
            aliases: Vec::new(),
            args: vec![ArgSpec {
                name: "n".into(),
                kind: ArgKind::Int,
                optional: false,
            }],
            description: "answer with the number".into(),
            permission: Permission::Everyone,
            scope: Scope::Both,
            user_cooldown_secs: 0,
            group_cooldown_secs: 0,
        }]
    }

    fn on_event(event: Event) -> Result<Flow, String> {
        let EventKind::Message(m) = event.kind else {
            return Ok(Flow::Next);
        };
        if !m.self_sent && m.plain_text == "ping" {
            let id = send(&event.self_id, &m, "pong from 0.3.0".into())?;
            // Awaited: the platform's message id came back.
            if id.is_empty() {
                return Err("no message id".into());
            }
        }
        Ok(Flow::Next)
    }

    fn on_command(call: Invocation) -> Result<Flow, String> {
        let n = match call.args.first() {
            Some(Some(ArgValue::Int(n))) => *n,
            _ => return Err("no number".into()),
        };
        send(&call.self_id, &call.message, format!("v03 got {n}"))?;
        Ok(Flow::Stop)
    }

    fn on_prompt(_reply: PromptReply) -> Result<(), String> {
        Ok(())
    }
}

export!(PingV03);
